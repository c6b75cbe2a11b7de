"""Cboe DataShop Option EOD Summary day files (with or without Calcs).

One row per contract of every underlying of a session. gammalake reads the 15:45 snapshot
columns: bid_1545/ask_1545, implied_volatility_1545, delta_1545 and gamma_1545 (Calcs files
only; files without Calcs import with iv null, and the engine solves IV from the 15:45 mid
when its preset allows), the underlying price, trade_volume and open_interest.

Point in time: as_of is 15:45 New York, 12:45 on half days (the columns keep their `_1545`
names; the snapshot is 15 minutes before the close). The open interest is the previous
session's (Cboe publishes the OCC figure of the prior close), so oi_as_of is the NYSE
session before quote_date.

Spot: implied_underlying_price_1545 of the nearest expiry (median over its rows); where that
is 0 (old years), the mid of underlying_bid_1545/underlying_ask_1545, else
active_underlying_price_1545. Underlying names lose DataShop's '^' (`^SPX` -> SPX); the
`root` column is kept (SPX vs SPXW, NDX vs NDXP).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import polars as pl

from pipeline.sources.formats.base import (
    DayRules,
    Layout,
    ReadOptions,
    VendorChain,
    clean_symbol,
    load_layout,
    register,
    rights,
    vendor_chains,
    where_of,
    with_dates,
)

_F: pl.DataType = pl.Float64()
_S: pl.DataType = pl.String()
#: File column -> (internal name, type). Dates are read as text and parsed after.
_COLUMNS: dict[str, tuple[str, pl.DataType]] = {
    "underlying_symbol": ("symbol", _S),
    "quote_date": ("session", _S),
    "root": ("root", _S),
    "expiration": ("expiration", _S),
    "strike": ("strike", _F),
    "option_type": ("right", _S),
    "trade_volume": ("volume", _F),
    "bid_1545": ("bid", _F),
    "ask_1545": ("ask", _F),
    "underlying_bid_1545": ("underlying_bid", _F),
    "underlying_ask_1545": ("underlying_ask", _F),
    "implied_underlying_price_1545": ("implied_underlying", _F),
    "active_underlying_price_1545": ("active_underlying", _F),
    "implied_volatility_1545": ("iv", _F),
    "delta_1545": ("delta", _F),
    "gamma_1545": ("gamma", _F),
    "open_interest": ("open_interest", _F),
}
LAYOUT = Layout(
    columns={name: internal for name, (internal, _) in _COLUMNS.items()},
    types={internal: dtype for internal, dtype in _COLUMNS.values()},
    required=frozenset(
        {"symbol", "session", "root", "expiration", "strike", "right", "bid", "ask"}
        | {"underlying_bid", "underlying_ask", "open_interest"}
    ),
)
#: Columns only a "with Calcs" file has (their absence means iv is null throughout).
CALCS_COLUMNS = ("implied_volatility_1545", "delta_1545", "gamma_1545")
#: DataShop's snapshot is 15 minutes before the close; its OI is the previous session's.
RULES = DayRules(close_offset=timedelta(minutes=-15), oi_previous=True)
_LABELS = {internal: name for name, (internal, _) in _COLUMNS.items()} | {"spot": "underlying"}


class DataShop:
    """The Cboe DataShop Option EOD Summary format."""

    name = "datashop"
    title = "Cboe DataShop Option EOD Summary"
    help = "Cboe DataShop Option EOD Summary day files (15:45 quotes; Calcs optional)"

    def matches(self, header: Sequence[str]) -> bool:
        """Return True for a DataShop header (underlying_symbol, quote_date, bid_1545, ...)."""
        names = {h.strip().lower() for h in header}
        return {"underlying_symbol", "quote_date", "option_type", "bid_1545"} <= names

    def read(self, path: Path, options: ReadOptions) -> Iterator[VendorChain]:
        """Yield one VendorChain per underlying of the day file `path`, in symbol order."""
        where = where_of(path, options)
        frame = normalise(load_layout(self, path, LAYOUT, where))
        yield from vendor_chains(frame, where, options, RULES, _LABELS)


def has_calcs(header: Sequence[str]) -> bool:
    """Return True when a DataShop header carries the Calcs columns (IV and greeks)."""
    names = {h.strip().lower() for h in header}
    return all(c in names for c in CALCS_COLUMNS)


def normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """Return DataShop rows in the normalised vendor frame of base.vendor_chains."""
    for optional in ("iv", "delta", "gamma", "volume", "implied_underlying", "active_underlying"):
        if optional not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(optional))
    return with_dates(frame, "session", "expiration").with_columns(
        clean_symbol("symbol"),
        pl.col("root").str.strip_chars().str.to_uppercase().str.strip_chars_start("^"),
        rights("right"),
        _spot().alias("spot"),
    )


def _spot() -> pl.Expr:
    """Return each row's underlying price: implied, else the quote mid, else active (0: none)."""
    bid, ask = pl.col("underlying_bid"), pl.col("underlying_ask")
    quoted = (bid > 0) & (ask >= bid)
    return (
        pl.when(pl.col("implied_underlying") > 0)
        .then(pl.col("implied_underlying"))
        .when(quoted)
        .then((bid + ask) / 2)
        .when(pl.col("active_underlying") > 0)
        .then(pl.col("active_underlying"))
    )


FORMAT = register(DataShop())
