"""ORATS strikes files (the history "strikes" layout and the near-EOD short names).

One row per (ticker, expiry, strike) with the call and the put side by side. Each row becomes
two contracts. What gammalake stores per side: bid/ask (callBidPrice/callAskPrice, short
cBidPx/cAskPx; puts alike), iv = the side's mid IV (callMidIv/putMidIv, short cMidIv/pMidIv),
else ORATS' smoothed vol (smvVol, short smoothSmvVol) where the side's is missing or 0,
volume and open interest. ORATS gives call-side greeks only: `gamma` is the same for both
sides, and the put's `delta` is stored as ORATS delta - 1 (ORATS' own convention: put delta =
call delta - 1, no carry term). Spot: stockPrice (stkPx), the price ORATS' IVs are solved
against, else spotPrice (spot_px). ORATS has no roots: the ticker is the root, except that
SPX, NDX and RUT expiries other than the third Friday get their weekly root (SPXW, ...).

Point in time: as_of is snapShotEstTime (HHMM New York) when the file has it, else 14
minutes before the session close (15:46, 12:46 on half days), when ORATS takes its snapshot.
OI is the previous session's close (as OCC publishes it in the morning). Dates may be
YYYY-MM-DD or MM/DD/YYYY. A file may hold several trade dates (one chain per ticker and date).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import polars as pl

from pipeline.engine.timing import NEW_YORK
from pipeline.errors import FileFormatError
from pipeline.sources.formats.base import (
    LINE,
    DayRules,
    Layout,
    ReadOptions,
    VendorChain,
    clean_symbol,
    default_roots,
    load_layout,
    register,
    vendor_chains,
    where_of,
    with_dates,
)

_F: pl.DataType = pl.Float64()
_S: pl.DataType = pl.String()
#: Internal name -> (type, the file spellings: history layout first, then near-EOD names).
_NAMES: dict[str, tuple[pl.DataType, tuple[str, ...]]] = {
    "symbol": (_S, ("ticker",)),
    "session": (_S, ("tradeDate",)),
    "expiration": (_S, ("expirDate",)),
    "strike": (_F, ("strike",)),
    "stock_price": (_F, ("stockPrice", "stkPx")),
    "spot_price": (_F, ("spotPrice", "spot_px")),
    "c_volume": (_F, ("callVolume", "cVolu")),
    "p_volume": (_F, ("putVolume", "pVolu")),
    "c_oi": (_F, ("callOpenInterest", "cOi")),
    "p_oi": (_F, ("putOpenInterest", "pOi")),
    "c_bid": (_F, ("callBidPrice", "cBidPx")),
    "c_ask": (_F, ("callAskPrice", "cAskPx")),
    "p_bid": (_F, ("putBidPrice", "pBidPx")),
    "p_ask": (_F, ("putAskPrice", "pAskPx")),
    "c_iv": (_F, ("callMidIv", "cMidIv")),
    "p_iv": (_F, ("putMidIv", "pMidIv")),
    "smv": (_F, ("smvVol", "smoothSmvVol")),
    "delta": (_F, ("delta",)),
    "gamma": (_F, ("gamma",)),
    "snap_time": (_S, ("snapShotEstTime",)),
}
LAYOUT = Layout(
    columns={s: name for name, (_, spellings) in _NAMES.items() for s in spellings},
    types={name: dtype for name, (dtype, _) in _NAMES.items()},
    required=frozenset(
        {"symbol", "session", "expiration", "strike", "stock_price", "c_oi", "p_oi"}
        | {"c_bid", "c_ask", "p_bid", "p_ask"}
    ),
)
#: ORATS snapshots 14 minutes before the close; its OI is the previous session's.
RULES = DayRules(close_offset=timedelta(minutes=-14), oi_previous=True, one_session=False)
#: Per-side internal columns -> the chain column they become.
_SIDE = {"volume": "volume", "oi": "open_interest", "bid": "bid", "ask": "ask", "iv": "iv"}
_LABELS = {
    "symbol": "ticker",
    "session": "tradeDate",
    "expiration": "expirDate",
    "strike": "strike",
    "open_interest": "callOpenInterest/putOpenInterest",
    "volume": "callVolume/putVolume",
    "bid": "callBidPrice/putBidPrice",
    "ask": "callAskPrice/putAskPrice",
    "iv": "callMidIv/putMidIv",
    "spot": "stockPrice",
}


class Orats:
    """The ORATS strikes format (history and near-EOD spellings)."""

    name = "orats"
    title = "ORATS strikes"
    help = "ORATS strikes files (one row per strike, call and put side by side)"

    def matches(self, header: Sequence[str]) -> bool:
        """Return True for an ORATS strikes header (ticker, tradeDate, expirDate, ...)."""
        names = {h.strip().lower() for h in header}
        sides = {"callbidprice", "cbidpx"}
        return {"ticker", "tradedate", "expirdate", "strike"} <= names and bool(names & sides)

    def read(self, path: Path, options: ReadOptions) -> Iterator[VendorChain]:
        """Yield one VendorChain per (ticker, trade date) of `path`, in symbol order."""
        where = where_of(path, options)
        frame = load_layout(self, path, LAYOUT, where)
        frame = _with_as_of(_filled(with_dates(frame, "session", "expiration")), where)
        yield from vendor_chains(split_sides(frame), where, options, RULES, _LABELS)


def _filled(frame: pl.DataFrame) -> pl.DataFrame:
    """Return `frame` with every optional column present (null where the file lacks it)."""
    missing = [n for n in _NAMES if n not in frame.columns]
    return frame.with_columns(
        pl.lit(None, dtype=_NAMES[n][0]).alias(n) for n in missing
    ).with_columns(clean_symbol("symbol"))


def _with_as_of(frame: pl.DataFrame, where: str) -> pl.DataFrame:
    """Return `frame` with `as_of` from snapShotEstTime (HHMM New York; null when absent)."""
    text = pl.col("snap_time").str.strip_chars().str.replace(r"\.0+$", "").str.zfill(4)
    hours = text.str.slice(0, 2).cast(pl.Int64, strict=False)
    minutes = text.str.slice(2, 2).cast(pl.Int64, strict=False)
    valid = text.str.contains(r"^\d{4}$") & (hours < 24) & (minutes < 60)
    bad = frame.filter(pl.col("snap_time").is_not_null() & ~valid.fill_null(False))
    if bad.height:
        row = bad.row(0, named=True)
        raise FileFormatError(
            where,
            f"{row['snap_time']!r} is not a time like 1546",
            line=row[LINE],
            column="snapShotEstTime",
        )
    start = pl.col("session").cast(pl.Datetime("us"))
    moment = start + pl.duration(hours=hours, minutes=minutes)
    as_of = moment.dt.replace_time_zone(str(NEW_YORK), ambiguous="earliest")
    return frame.with_columns(pl.when(valid).then(as_of).alias("as_of"))


def split_sides(frame: pl.DataFrame) -> pl.DataFrame:
    """Return two contract rows (call, put) per ORATS row, in the normalised vendor frame."""
    shared = [
        pl.col(c) for c in ("symbol", "session", "expiration", "strike", "gamma", "as_of", LINE)
    ]
    root = default_roots(pl.col("symbol"), pl.col("expiration")).alias("root")
    stock = pl.col("stock_price")
    spot = pl.when(stock > 0).then(stock).otherwise(pl.col("spot_price")).alias("spot")
    sides = []
    for prefix, right, delta in (("c", "C", pl.col("delta")), ("p", "P", pl.col("delta") - 1)):
        iv = pl.col(f"{prefix}_iv")
        per_side = [pl.col(f"{prefix}_{k}").alias(v) for k, v in _SIDE.items() if k != "iv"]
        side_iv = pl.when(iv > 0).then(iv).otherwise(pl.col("smv")).alias("iv")
        sides.append(
            frame.select(
                *shared, root, spot, *per_side, side_iv, delta.alias("delta"), right=pl.lit(right)
            )
        )
    return pl.concat(sides)


FORMAT = register(Orats())
