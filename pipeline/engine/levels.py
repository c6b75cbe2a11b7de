"""Key levels: walls, max positive and negative gamma strikes, highest OI, 0DTE magnet."""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np

from pipeline.engine.book import DealerBook
from pipeline.engine.exposures import StrikeTable, by_strike
from pipeline.engine.flip import FlipResult
from pipeline.engine.greeks import FloatArray

# The magnet's proximity scale never shrinks below 0.25% of spot, so a last-minute 0DTE
# chain with near-zero remaining variance still ranks more than the single nearest strike.
_MIN_MAGNET_SCALE = 0.0025


class ExposureLevels(TypedDict):
    """The seven levels of FlashAlpha's ExposureLevels, as strikes (or None)."""

    gamma_flip: float | None
    gamma_flip_status: str
    max_positive_gamma: float | None
    max_negative_gamma: float | None
    call_wall: float | None
    put_wall: float | None
    highest_oi_strike: float | None
    zero_dte_magnet: float | None


def strongest(strikes: FloatArray, score: FloatArray, spot: float) -> float | None:
    """Return the strike with the largest positive score; ties go to the strike nearest spot."""
    if strikes.size == 0 or not np.any(score > 0):
        return None
    best = score.max()
    tied = strikes[score == best]
    return float(tied[np.argmin(np.abs(tied - spot))])


def zero_dte_magnet(book: DealerBook) -> float | None:
    """Return the same-day strike with the largest |net GEX| weighted by nearness to spot.

    Weight exp(-((K - S) / m)^2 / 2), m the expected remaining move S * sigma_atm * sqrt(T)
    (at least 0.25% of S). None when the snapshot has no unexpired same-day expiry.
    """
    same_day = book.same_day & (book.position != 0)
    if not same_day.any():
        return None
    table = by_strike(book, same_day)
    s = book.spot
    priced = same_day & np.isfinite(book.sigma)
    scale = _MIN_MAGNET_SCALE * s
    if priced.any():
        c = book.contracts
        atm = np.argmin(np.where(priced, np.abs(c.strike - s), np.inf))
        scale = max(scale, s * book.sigma[atm] * math.sqrt(book.years[atm]))
    weight = np.exp(-0.5 * ((table.strike - s) / scale) ** 2)
    return strongest(table.strike, np.abs(table.net("gex")) * weight, s)


def key_levels(book: DealerBook, table: StrikeTable, flip: FlipResult) -> ExposureLevels:
    """Return the key levels of a book (walls from per-strike call and put GEX magnitudes)."""
    s = book.spot
    net = table.net("gex")
    return ExposureLevels(
        gamma_flip=flip.level,
        gamma_flip_status=flip.status,
        max_positive_gamma=strongest(table.strike, net, s),
        max_negative_gamma=strongest(table.strike, -net, s),
        call_wall=strongest(table.strike, np.abs(table.exposure[("call", "gex")]), s),
        put_wall=strongest(table.strike, np.abs(table.exposure[("put", "gex")]), s),
        highest_oi_strike=strongest(table.strike, table.oi["call"] + table.oi["put"], s),
        zero_dte_magnet=zero_dte_magnet(book),
    )
