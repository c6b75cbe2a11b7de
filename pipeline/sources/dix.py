"""SqueezeMetrics DIX.csv history (date, price, dix, gex) as snapshots and SPX closes.

One snapshot per day under source `squeezemetrics`, symbol SPX, method `vendor` (the figures
are SqueezeMetrics' own, not made by gammalake's engine): net_gex = gex (their dollar GEX; not
the same model as gammalake's), underlying_price = price, dix kept. The file has no strikes, so
there is no flip, wall or level (`gamma_flip_status` says so) and regime is "unknown".
`net_gex_label` is "long_gamma" when gex > 0, "short_gamma" when gex < 0, and "flat" when gex is
exactly 0: a day with no net gamma is neither long nor short (the engine's label for net GEX near
zero is the same "flat"; the file has no gross GEX, so only an exact zero is flat).
SqueezeMetrics publishes a day's figures the next morning, so `as_of` is the next weekday at
09:00 New York while `trade_date` is the day described: a backtest cannot use them early.
Every row is checked before anything is returned (dates as for price bars: sessions only, none
in the future; numbers finite, price > 0, dix within 0..1); a bad row refuses the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.errors import FileFormatError
from pipeline.sessions import close_times
from pipeline.sources.prices import calendar_checks
from pipeline.sources.tabular import LINE, load_csv, lower_name

SOURCE = "squeezemetrics"
SYMBOL = "SPX"
#: The method of every DIX row: figures made by the vendor, not by gammalake's engine.
METHOD = "vendor"
PUBLISHED_AT = time(9, 0)
#: gamma_flip_status of every DIX snapshot: the file has no strikes to find a flip in.
NO_FLIP = "no_strikes"
_MAX_LISTED = 20


class DixError(FileFormatError):
    """A DIX.csv that cannot be imported; the message lists the bad rows."""


@dataclass(frozen=True)
class DixImport:
    """Rows for `snapshots` and `prices`."""

    snapshots: pl.DataFrame
    prices: pl.DataFrame


def _value_checks() -> list[tuple[pl.Expr, str]]:
    """Return (failing-row expression, reason) pairs on a row's numbers."""
    numbers = pl.col("price", "dix", "gex")
    return [
        (pl.any_horizontal(numbers.is_null()), "missing or non-numeric value"),
        (pl.any_horizontal(numbers.is_nan() | numbers.is_infinite()), "non-finite value"),
        (pl.col("price") <= 0, "price <= 0"),
        ((pl.col("dix") < 0) | (pl.col("dix") > 1), "dix outside 0..1"),
    ]


def _problems(rows: pl.DataFrame, now: datetime | None) -> list[str]:
    """Return one 'line N: reason' per bad row (empty when all are good)."""
    checks = calendar_checks(rows.get_column("trade_date"), now) + _value_checks()
    reasons = [reason for _, reason in checks]
    flagged = rows.select(LINE, *(e.fill_null(False).alias(r) for e, r in checks))
    bad = flagged.filter(pl.any_horizontal(reasons))
    return [
        f"line {row[LINE]}: {', '.join(r for r in reasons if row[r])}"
        for row in bad.iter_rows(named=True)
    ]


def _require(path: Path, names: list[str]) -> None:
    """Refuse a file without one of the four DIX.csv columns."""
    missing = [c for c in ("date", "price", "dix", "gex") if c not in names]
    if missing:
        raise DixError(path, f"missing column(s) {', '.join(missing)}", line=1)


def _rows(path: Path, now: datetime | None) -> pl.DataFrame:
    """Return the parsed file, raising once with every bad row listed."""
    raw = load_csv(path, DixError, lower_name, lambda names: _require(path, names))
    if raw.height == 0:
        raise DixError(path, "no rows")
    rows = raw.select(
        pl.col(LINE),
        pl.col("date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False).alias("trade_date"),
        *(
            pl.col(c).str.strip_chars().cast(pl.Float64, strict=False)
            for c in ("price", "dix", "gex")
        ),
    )
    problems = _problems(rows, now)
    if problems:
        listed = "; ".join(problems[:_MAX_LISTED])
        more = f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise DixError(path, f"{len(problems)} bad row(s), nothing imported: {listed}{more}")
    return rows.drop(LINE).sort("trade_date")


def _published(days: pl.Series) -> pl.Series:
    """Return when each day's figures were published: the next weekday, 09:00 New York, in UTC."""
    weekdays = np.busday_offset(days.to_numpy().astype("datetime64[D]"), 1, roll="forward")
    stamp = pl.Series("as_of", weekdays).cast(pl.Date).dt.combine(PUBLISHED_AT)
    return stamp.dt.replace_time_zone("America/New_York").dt.convert_time_zone("UTC")


def gex_label() -> pl.Expr:
    """Return the net_gex_label of a DIX row: long_gamma (> 0), short_gamma (< 0), flat (0)."""
    gex = pl.col("gex")
    return (
        pl.when(gex > 0)
        .then(pl.lit("long_gamma"))
        .when(gex < 0)
        .then(pl.lit("short_gamma"))
        .otherwise(pl.lit("flat"))
    )


def read_dix(path: str | Path, *, now: datetime | None = None) -> DixImport:
    """Return snapshots (method `vendor`) and SPX closes from a DIX.csv file.

    Raises DixError naming every bad row; `now` (default the clock) decides what is future.
    """
    path = Path(path)
    if not path.is_file():
        raise DixError(path, "no such file")
    rows = _rows(path, now)
    snapshots = rows.select(
        pl.lit(SYMBOL).alias("symbol"),
        pl.lit(SOURCE).alias("source"),
        pl.lit(METHOD).alias("method"),
        _published(rows.get_column("trade_date")),
        "trade_date",
        pl.col("price").alias("underlying_price"),
        pl.col("gex").alias("net_gex"),
        gex_label().alias("net_gex_label"),
        pl.lit(NO_FLIP).alias("gamma_flip_status"),
        pl.lit("unknown").alias("regime"),
        "dix",
        pl.lit(0).alias("strike_count"),
    )
    days = rows.get_column("trade_date").to_list()
    prices = rows.select(
        pl.lit(SYMBOL).alias("symbol"),
        pl.lit(SOURCE).alias("source"),
        pl.Series("as_of", close_times(days)).dt.convert_time_zone("UTC"),
        "trade_date",
        pl.col("price").alias("close"),
    )
    return DixImport(snapshots, prices)
