"""Dollar exposures aggregated per strike and per expiration, and the book's delta at any spot."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.engine.book import BoolArray, DealerBook
from pipeline.engine.greeks import FloatArray, bsm_greeks

GREEKS = ("gex", "dex", "vex", "chex")


@dataclass(frozen=True)
class StrikeTable:
    """Per-strike sums, strikes ascending.

    `exposure[("call", "gex")]` etc. hold dollars in each greek's unit; oi, volume and
    oi_change are contract counts (oi_change NaN where no previous open interest is known).
    """

    strike: FloatArray
    exposure: dict[tuple[str, str], FloatArray]
    oi: dict[str, FloatArray]
    volume: dict[str, FloatArray]
    oi_change: dict[str, FloatArray]

    def net(self, greek: str) -> FloatArray:
        """Return call + put exposure of `greek` per strike (puts carry their own sign)."""
        return self.exposure[("call", greek)] + self.exposure[("put", greek)]


def _weighted_count(index: NDArray[np.intp], weights: FloatArray, size: int) -> FloatArray:
    """Return the sums of `weights` grouped by `index` (0..size-1), as float64.

    np.bincount with weights returns float64, but NumPy's stub types every bincount as intp;
    asarray with the array's own dtype is a no-op that states the real type.
    """
    return np.asarray(np.bincount(index, weights=weights, minlength=size), dtype=np.float64)


def _sum_by(index: NDArray[np.intp], size: int, values: FloatArray, mask: BoolArray) -> FloatArray:
    """Return the sums of `values` over `mask` grouped by `index` (0..size-1)."""
    return _weighted_count(index[mask], values[mask], size)


def by_strike(book: DealerBook, mask: BoolArray | None = None) -> StrikeTable:
    """Return the book's exposures summed per strike, over `mask` (all contracts by default)."""
    c = book.contracts
    keep = np.ones(len(c.strike), dtype=bool) if mask is None else mask
    strikes, index = np.unique(c.strike[keep], return_inverse=True)
    full_index = np.zeros(len(c.strike), dtype=np.intp)
    full_index[keep] = index
    size = len(strikes)
    sides = {"call": keep & c.is_call, "put": keep & ~c.is_call}
    exposure = {
        (side, greek): _sum_by(full_index, size, getattr(book, greek), m)
        for side, m in sides.items()
        for greek in GREEKS
    }
    known_prev = np.isfinite(c.prev_open_interest)
    change = np.where(known_prev, c.open_interest - c.prev_open_interest, 0.0)
    oi_change = {}
    for side, m in sides.items():
        total = _sum_by(full_index, size, change, m & known_prev)
        seen = np.bincount(full_index[m & known_prev], minlength=size) > 0
        oi_change[side] = np.where(seen, total, np.nan)
    return StrikeTable(
        strike=strikes,
        exposure=exposure,
        oi={s: _sum_by(full_index, size, c.open_interest, m) for s, m in sides.items()},
        volume={s: _sum_by(full_index, size, c.volume, m) for s, m in sides.items()},
        oi_change=oi_change,
    )


def book_delta(book: DealerBook, spot: float) -> float:
    """Return the dealer book's option delta at a hypothetical `spot`, in units of underlying."""
    m = book.priced
    c = book.contracts
    cfg = book.config
    greeks = bsm_greeks(
        spot, c.strike[m], book.years[m], book.sigma[m], cfg.rate, cfg.dividend_yield, c.is_call[m]
    )
    return float(np.dot(book.position[m], greeks.delta))


def totals(book: DealerBook, mask: BoolArray | None = None) -> dict[str, float]:
    """Return net GEX, DEX, VEX and CHEX over `mask` (all contracts by default), in dollars."""
    keep = slice(None) if mask is None else mask
    return {greek: float(getattr(book, greek)[keep].sum()) for greek in GREEKS}


@dataclass(frozen=True)
class ExpiryTable:
    """Per-expiration sums: `totals[greek]` per expiry, `net_gex` per (expiry, strike).

    expiration ascending; strike ascending; oi[side] per expiry (contracts); years the
    longest time to expiry within each expiration (NaN when none was priced).
    """

    expiration: np.ndarray
    strike: FloatArray
    totals: dict[str, FloatArray]
    net_gex: FloatArray
    oi: dict[str, FloatArray]
    years: FloatArray


def by_expiry(book: DealerBook) -> ExpiryTable:
    """Return the book's exposures per expiration, and net GEX per expiration and strike."""
    c = book.contracts
    days, e = np.unique(c.expiration, return_inverse=True)
    strikes, k = np.unique(c.strike, return_inverse=True)
    ne, nk = days.size, strikes.size
    cell = _weighted_count(e * nk + k, book.gex, ne * nk).reshape(ne, nk)
    years = np.full(ne, np.nan)
    finite = np.isfinite(book.years)
    np.fmax.at(years, e[finite], book.years[finite])
    return ExpiryTable(
        expiration=days,
        strike=strikes,
        totals={g: _weighted_count(e, getattr(book, g), ne) for g in GREEKS},
        net_gex=cell,
        oi={
            side: _weighted_count(e, c.open_interest * m, ne)
            for side, m in (("call", c.is_call), ("put", ~c.is_call))
        },
        years=years,
    )
