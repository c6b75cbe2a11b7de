"""SqueezeMetrics DIX.csv history (date, price, dix, gex) as snapshots and SPX closes.

One snapshot per day under source `squeezemetrics`, symbol SPX: net_gex = gex (their dollar
GEX; not the same model as gammalake's), underlying_price = price, dix kept. The file has no
strikes, so there is no flip, wall or level (`gamma_flip_status` says so) and regime is unknown.
SqueezeMetrics publishes a day's figures the next morning, so `as_of` is the next weekday at
09:00 New York while `trade_date` is the day described: a backtest cannot use them early.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sessions import close_times
from pipeline.sources.tabular import LINE

SOURCE = "squeezemetrics"
SYMBOL = "SPX"
PUBLISHED_AT = time(9, 0)
#: gamma_flip_status of every DIX snapshot: the file has no strikes to find a flip in.
NO_FLIP = "no_strikes"


@dataclass(frozen=True)
class DixImport:
    """Rows for `snapshots` and `prices`."""

    snapshots: pl.DataFrame
    prices: pl.DataFrame


def _rows(path: Path) -> pl.DataFrame:
    """Return the parsed file, raising once with every bad row listed."""
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: cannot be read: {str(exc).splitlines()[0]}") from None
    missing = [c for c in ("date", "price", "dix", "gex") if c not in raw.columns]
    if missing:
        raise InputError(f"{path}, line 1: missing column(s) {', '.join(missing)}")
    rows = raw.with_row_index(LINE, offset=2).select(
        pl.col(LINE),
        pl.col("date").str.to_date("%Y-%m-%d", strict=False).alias("trade_date"),
        *(pl.col(c).cast(pl.Float64, strict=False) for c in ("price", "dix", "gex")),
    )
    bad = rows.filter(
        pl.col("trade_date").is_null()
        | pl.col("trade_date").is_duplicated()
        | pl.any_horizontal(pl.col("price", "dix", "gex").is_null())
        | (pl.col("price") <= 0)
        | (pl.col("dix") < 0)
        | (pl.col("dix") > 1)
    )
    if bad.height:
        lines = ", ".join(str(x) for x in bad.get_column(LINE).head(20))
        raise InputError(
            f"{path}: {bad.height} bad row(s) (missing/duplicate date, non-numeric "
            f"value, price <= 0 or dix outside 0..1), nothing imported: lines "
            f"{lines}"
        )
    return rows.drop(LINE).sort("trade_date")


def read_dix(path: str | Path) -> DixImport:
    """Return snapshots and SPX closes from a DIX.csv file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows = _rows(path)
    days = rows.get_column("trade_date").to_list()
    published = np.busday_offset(np.array(days, dtype="datetime64[D]"), 1, roll="forward")
    as_of = [
        datetime.combine(
            d.astype(datetime).date() if hasattr(d, "astype") else d, PUBLISHED_AT, NEW_YORK
        )
        for d in published.astype(object)
    ]
    snapshots = rows.select(
        pl.lit(SYMBOL).alias("symbol"),
        pl.lit(SOURCE).alias("source"),
        pl.Series("as_of", as_of).dt.convert_time_zone("UTC"),
        "trade_date",
        pl.col("price").alias("underlying_price"),
        pl.col("gex").alias("net_gex"),
        pl.when(pl.col("gex") >= 0)
        .then(pl.lit("long_gamma"))
        .otherwise(pl.lit("short_gamma"))
        .alias("net_gex_label"),
        pl.lit(NO_FLIP).alias("gamma_flip_status"),
        pl.lit("unknown").alias("regime"),
        "dix",
        pl.lit(0).alias("strike_count"),
    )
    prices = rows.select(
        pl.lit(SYMBOL).alias("symbol"),
        pl.lit(SOURCE).alias("source"),
        pl.Series("as_of", close_times(days)).dt.convert_time_zone("UTC"),
        "trade_date",
        pl.col("price").alias("close"),
    )
    return DixImport(snapshots, prices)
