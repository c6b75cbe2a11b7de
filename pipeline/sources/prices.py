"""Daily price bars: Yahoo-style or generic OHLCV files, and the synthetic market's bars.

Layouts (column names case-insensitive): Yahoo `Date,Open,High,Low,Close,Adj Close,Volume`,
or generic `date,open,high,low,close[,volume]`; CSV or Parquet. Every bad row is reported (line
and reason) and nothing is returned unless all rows are good. Each bar carries its session date
(`trade_date`) and its close time in America/New_York (`as_of`: 16:00, or the early close of a
half day), so a point-in-time join knows when the close was known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.errors import InputError
from pipeline.sessions import close_times, nyse
from pipeline.sources.synthetic import SyntheticMarket
from pipeline.sources.tabular import LINE

PRICE_COLUMNS = ("open", "high", "low", "close")
_MAX_LISTED = 20


class BarsError(InputError):
    """A price file with bad rows; the message lists them (line and reason)."""


def _load(path: Path) -> pl.DataFrame:
    """Return the file as text columns, lower-case names, with file line numbers."""
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            frame = pl.read_parquet(path).with_columns(pl.all().cast(pl.String))
            offset = 1
        else:
            frame = pl.read_csv(path, infer_schema=False)
            offset = 2
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise BarsError(f"{path}: cannot be read: {str(exc).splitlines()[0]}") from None
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    missing = [c for c in ("date", *PRICE_COLUMNS) if c not in frame.columns]
    if missing:
        raise BarsError(f"{path}, line 1: missing column(s) {', '.join(missing)}")
    return frame.with_row_index(LINE, offset=offset)


def _parsed(frame: pl.DataFrame) -> pl.DataFrame:
    """Return date and price columns parsed (nulls where unparseable)."""
    prices = [pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in PRICE_COLUMNS]
    volume = (
        pl.col("volume").str.strip_chars().cast(pl.Float64, strict=False)
        if "volume" in frame.columns
        else pl.lit(None, dtype=pl.Float64)
    )
    parsed = frame.select(
        pl.col(LINE),
        pl.col("date").str.strip_chars().str.to_date(strict=False).alias("trade_date"),
        *prices,
        volume.alias("volume"),
    )
    # Yahoo writes 0 for an open it does not know (^GSPC 1962-1982): that is a missing open.
    unknown_open = (pl.col("open") == 0) & (pl.min_horizontal("high", "low", "close") > 0)
    return parsed.with_columns(
        unknown_open.fill_null(False).alias("_unknown_open"),
        pl.when(unknown_open).then(None).otherwise(pl.col("open")).alias("open"),
    )


def bar_problems(bars: pl.DataFrame) -> list[str]:
    """Return one 'line N: reason' per bad row, in file order (empty when all are good)."""
    checks = [
        (pl.col("trade_date").is_null(), "missing or unreadable date"),
        (
            pl.col("trade_date").is_duplicated() & pl.col("trade_date").is_not_null(),
            "duplicate date",
        ),
        (
            pl.any_horizontal(pl.col(PRICE_COLUMNS).is_null()) & ~pl.col("_unknown_open"),
            "missing or non-numeric price",
        ),
        (pl.any_horizontal([pl.col(c) <= 0 for c in PRICE_COLUMNS]), "non-positive price"),
        (pl.col("high") < pl.col("low"), "high below low"),
        (
            (pl.col("open") > pl.col("high"))
            | (pl.col("open") < pl.col("low"))
            | (pl.col("close") > pl.col("high"))
            | (pl.col("close") < pl.col("low")),
            "open or close outside high-low",
        ),
        (pl.col("volume") < 0, "negative volume"),
    ]
    flagged = bars.select(
        pl.col(LINE), *(expr.fill_null(False).alias(reason) for expr, reason in checks)
    )
    problems = []
    for row in flagged.iter_rows(named=True):
        reasons = [r for r, bad in row.items() if r != LINE and bad]
        if reasons:
            problems.append(f"line {row[LINE]}: {', '.join(reasons)}")
    return problems


@dataclass(frozen=True)
class BarImport:
    """Rows for the `prices` dataset, and notes on what was read as missing."""

    rows: pl.DataFrame
    notes: list[str]


def read_bars(path: str | Path, symbol: str, source: str = "import") -> BarImport:
    """Return `prices` rows from a bar file; raise BarsError listing every bad row."""
    path = Path(path)
    if not path.is_file():
        raise BarsError(f"{path}: no such file")
    bars = _parsed(_load(path))
    if bars.height == 0:
        raise BarsError(f"{path}: no rows")
    problems = bar_problems(bars)
    if problems:
        listed = "; ".join(problems[:_MAX_LISTED])
        more = f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise BarsError(f"{path}: {len(problems)} bad row(s), nothing imported: {listed}{more}")
    unknown = bars.filter(pl.col("_unknown_open"))
    notes = []
    if unknown.height:
        span = f"{unknown['trade_date'].min()} .. {unknown['trade_date'].max()}"
        notes.append(
            f"{unknown.height} bars have open 0, Yahoo's mark for an unknown open "
            f"({span}): stored with no open"
        )
    bars = bars.drop("_unknown_open", LINE).sort("trade_date")
    days = bars.get_column("trade_date").to_list()
    rows = bars.with_columns(
        pl.lit(symbol).alias("symbol"),
        pl.lit(source).alias("source"),
        pl.Series("as_of", close_times(days)).dt.convert_time_zone("UTC"),
    )
    return BarImport(rows, notes)


def synthetic_bars(market: SyntheticMarket, symbol: str, start: date, end: date) -> pl.DataFrame:
    """Return `prices` rows of the synthetic market for NYSE sessions in [start, end].

    The close is the market's spot; the open is the previous session's close with a small gap;
    the high and low reach past both by a range that scales with that day's volatility. Each
    bar depends only on its own day, so overlapping requests agree.
    """
    import pandas as pd

    calendar = nyse()
    span_of = calendar.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    sessions = [s.date() for s in span_of]
    first = calendar.previous_session(pd.Timestamp(sessions[0])).date()
    closes = np.array([market.spot(symbol, d) for d in sessions])
    previous = np.concatenate([[market.spot(symbol, first)], closes[:-1]])
    noise = np.array([market._rng("bar", symbol, str(d)).standard_normal(2) for d in sessions])
    daily = np.array([market.step_volatility(symbol, d) for d in sessions]) / math.sqrt(252)
    opens = previous * np.exp(0.15 * daily * noise[:, 0])
    span = 0.5 * daily * np.abs(noise[:, 1]) * closes
    return pl.DataFrame(
        {
            "symbol": symbol,
            "source": "synthetic",
            "trade_date": sessions,
            "as_of": close_times(sessions),
            "open": opens.round(2),
            "close": closes,
            "high": (np.maximum(opens, closes) + span).round(2),
            "low": (np.minimum(opens, closes) - span).round(2),
            "volume": np.round(1e6 * (20 + 10 * np.abs(noise[:, 1]))),
        }
    ).with_columns(pl.col("as_of").dt.convert_time_zone("UTC"))
