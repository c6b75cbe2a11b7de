"""historicaloptiondata.com (HOD) end-of-day files, Level 2 and Level 3.

One row per contract of every underlying of a session: UnderlyingSymbol, UnderlyingPrice,
Type (call/put), Expiration and DataDate (MM/DD/YYYY), Strike, Bid, Ask, Volume,
OpenInterest, IV, Delta, Gamma (L3 adds Flags, IVMean, IVBid, IVAsk, T1OpenInterest, which
gammalake does not read). The root is the OSI root of OptionSymbol (SPXW240105C04700000 ->
SPXW); the pre-2010 layout (OptionRoot/OptionExt, roots from before OSI such as SZP) gives no
such root, so the underlying's own (or, for SPX/NDX/RUT expiries other than the third
Friday, its weekly root SPXW/NDXP/RUTW) is used.

Point in time: as_of is the close of DataDate (16:00, 13:00 on half days): HOD's prices are
closing prices. HOD's OpenInterest is the OI after DataDate's close (oi_as_of = DataDate);
L3's T1OpenInterest (the session before) is not used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import polars as pl

from pipeline.roots import OSI_PATTERN
from pipeline.sources.formats.base import (
    DayRules,
    Layout,
    ReadOptions,
    VendorChain,
    clean_symbol,
    default_roots,
    load_layout,
    register,
    rights,
    vendor_chains,
    where_of,
    with_dates,
)

_F: pl.DataType = pl.Float64()
_S: pl.DataType = pl.String()
#: File column -> (internal name, type).
_COLUMNS: dict[str, tuple[str, pl.DataType]] = {
    "UnderlyingSymbol": ("symbol", _S),
    "UnderlyingPrice": ("spot", _F),
    "OptionSymbol": ("option_symbol", _S),
    "Type": ("right", _S),
    "Expiration": ("expiration", _S),
    "DataDate": ("session", _S),
    "Strike": ("strike", _F),
    "Bid": ("bid", _F),
    "Ask": ("ask", _F),
    "Volume": ("volume", _F),
    "OpenInterest": ("open_interest", _F),
    "IV": ("iv", _F),
    "Delta": ("delta", _F),
    "Gamma": ("gamma", _F),
}
LAYOUT = Layout(
    columns={name: internal for name, (internal, _) in _COLUMNS.items()},
    types={internal: dtype for internal, dtype in _COLUMNS.values()},
    required=frozenset(
        {"symbol", "spot", "right", "expiration", "session", "strike", "bid", "ask"}
        | {"open_interest"}
    ),
)
#: Prices are the close's; OpenInterest is the OI after DataDate's close.
RULES = DayRules(close_offset=timedelta(0), oi_previous=False)
_LABELS = {internal: name for name, (internal, _) in _COLUMNS.items()}


class Hod:
    """The historicaloptiondata.com L2/L3 format."""

    name = "hod"
    title = "historicaloptiondata.com L2/L3"
    help = "historicaloptiondata.com L2/L3 end-of-day files (closing prices)"

    def matches(self, header: Sequence[str]) -> bool:
        """Return True for an HOD header (UnderlyingSymbol, UnderlyingPrice, DataDate, ...)."""
        names = {h.strip().lower() for h in header}
        return {"underlyingsymbol", "underlyingprice", "type", "datadate", "strike"} <= names

    def read(self, path: Path, options: ReadOptions) -> Iterator[VendorChain]:
        """Yield one VendorChain per underlying of the day file `path`, in symbol order."""
        where = where_of(path, options)
        frame = normalise(load_layout(self, path, LAYOUT, where))
        yield from vendor_chains(frame, where, options, RULES, _LABELS)


def normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """Return HOD rows in the normalised vendor frame of base.vendor_chains."""
    for name in ("option_symbol", "volume", "iv", "delta", "gamma"):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=LAYOUT.types[name]).alias(name))
    frame = with_dates(frame, "session", "expiration").with_columns(
        clean_symbol("symbol"), rights("right")
    )
    osi = pl.col("option_symbol").str.replace_all(r"\s+", "").str.to_uppercase()
    root = osi.str.extract(OSI_PATTERN, 1)
    fallback = default_roots(pl.col("symbol"), pl.col("expiration"))
    return frame.with_columns(pl.coalesce(root, fallback).alias("root"))


FORMAT = register(Hod())
