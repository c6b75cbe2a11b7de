"""The gamma flip: where dealers' net gamma exposure changes sign, by three methods."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.engine.book import DealerBook
from pipeline.engine.config import FlipConfig
from pipeline.engine.exposures import StrikeTable
from pipeline.engine.greeks import FloatArray

# Bounds the level-by-contract matrix so a 100k-contract chain stays within ~16 MB.
_MATRIX_CELLS = 2_000_000


@dataclass(frozen=True)
class FlipResult:
    """A gamma flip search: the chosen level (None when missing), why, and every crossing."""

    level: float | None
    status: str
    method: str
    crossings: list[float] = field(default_factory=list)


class GammaProfile:
    """Total dealer GEX ($ per 1% move) re-priced at hypothetical spots, other inputs fixed."""

    def __init__(self, book: DealerBook, span: tuple[float, float] | None = None) -> None:
        """Precompute per-contract terms so each spot costs one exp per contract.

        `span` (spots, default the flip search range) lets contracts whose d1 stays beyond
        +-8.5 over all of it be left out: their weight there is below e^-36 of their peak, so
        every value in the span is unchanged to double precision.
        """
        m = book.priced
        cfg = book.config
        k, t, sigma = book.contracts.strike[m], book.years[m], book.sigma[m]
        vol_t = sigma * np.sqrt(t)
        # d1 = a + b*ln(S); GEX(S) = S * sum(w * exp(-d1^2 / 2)).
        a = (-np.log(k) + (cfg.rate - cfg.dividend_yield + 0.5 * sigma**2) * t) / vol_t
        b = 1.0 / vol_t
        low, high = span or (cfg.flip.range_low * book.spot, cfg.flip.range_high * book.spot)
        d_low, d_high = a + b * math.log(low), a + b * math.log(high)
        keep = (np.sign(d_low) != np.sign(d_high)) | (np.minimum(abs(d_low), abs(d_high)) < 8.5)
        self._a, self._b = a[keep], b[keep]
        carry = np.exp(-cfg.dividend_yield * t[keep])
        self._w = book.position[m][keep] * carry * 0.01 / (vol_t[keep] * math.sqrt(2.0 * math.pi))

    @property
    def empty(self) -> bool:
        """Return True when no contract can be re-priced."""
        return self._w.size == 0

    def __call__(self, spots: FloatArray) -> FloatArray:
        """Return total GEX at each spot in `spots`, in dollars per 1% move."""
        return self.with_slope(spots)[0]

    def with_slope(self, spots: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return total GEX at each spot and its derivative in spot ($ per 1% per unit S)."""
        spots = np.atleast_1d(np.asarray(spots, dtype=np.float64))
        value, slope = np.empty_like(spots), np.empty_like(spots)
        step = max(1, _MATRIX_CELLS // max(1, self._w.size))
        for i in range(0, spots.size, step):
            part = spots[i : i + step]
            d1 = np.multiply.outer(np.log(part), self._b) + self._a
            bell = np.exp(-0.5 * d1 * d1)
            value[i : i + step] = part * (bell @ self._w)
            # d/dS [S e^(-d1^2/2)] = e^(-d1^2/2) (1 - d1 b), as d(d1)/dS = b / S.
            slope[i : i + step] = (bell * (1.0 - d1 * self._b)) @ self._w
        return value, slope

    def gross(self, spots: FloatArray) -> FloatArray:
        """Return the sum of |GEX| over contracts at each spot ($ per 1% move, >= 0).

        The scale against which a net value counts as rounding noise: calls and puts that
        cancel exactly (same strike, size and opposite dealer sides) must not yield crossings.
        """
        d1 = np.multiply.outer(np.log(spots), self._b) + self._a
        return spots * (np.exp(-0.5 * d1 * d1) @ np.abs(self._w))


def _sign_changes(values: FloatArray) -> np.ndarray:
    """Return indices i where values[i] and values[i+1] have strictly opposite signs.

    Strict, so a run of exact zeros (no exposure that far out) is not mistaken for a crossing.
    """
    signs = np.sign(values)
    return np.nonzero(signs[:-1] * signs[1:] < 0)[0]


def _interpolate(x: FloatArray, y: FloatArray, idx: np.ndarray) -> FloatArray:
    """Return the linear zero between (x[i], y[i]) and (x[i+1], y[i+1]) for each i in idx."""
    x0, x1, y0, y1 = x[idx], x[idx + 1], y[idx], y[idx + 1]
    return x1 - (x1 - x0) * y1 / (y1 - y0)


def _newton(
    profile: GammaProfile, lo: FloatArray, hi: FloatArray, x: FloatArray, tol: float
) -> FloatArray:
    """Return roots of `profile` in brackets [lo, hi], starting at x, all brackets at once.

    Newton steps that leave the bracket become bisections, so every root stays bracketed;
    the profile is smooth, so a handful of steps reach `tol`.
    """
    sign_lo = np.sign(profile(lo))
    for _ in range(60):
        value, slope = profile.with_slope(x)
        below = np.sign(value) == sign_lo
        lo, hi = np.where(below, x, lo), np.where(below, hi, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = x - value / slope
        inside = np.isfinite(step) & (step > lo) & (step < hi)
        new = np.where(inside, step, 0.5 * (lo + hi))
        done = np.all(np.abs(new - x) < tol) or np.all(value == 0)
        x = new
        if done:
            break
    return x


def _choose(crossings: FloatArray, spot: float, cfg: FlipConfig, method: str) -> FlipResult:
    """Return the flip chosen among `crossings` (ascending) by the configured pick."""
    found = sorted({float(x) for x in crossings})
    if not found:
        return FlipResult(None, "no_boundary", method, [])
    level = found[0] if cfg.pick == "first" else min(found, key=lambda x: abs(x - spot))
    return FlipResult(level, "available", method, found)


def profile_flip(book: DealerBook, cfg: FlipConfig) -> FlipResult:
    """Return the spot in [range_low, range_high] x spot where re-priced total GEX is zero."""
    profile = GammaProfile(book)
    if profile.empty:
        return FlipResult(None, "no_exposure", "profile")
    s = book.spot
    levels = np.linspace(cfg.range_low * s, cfg.range_high * s, cfg.levels)
    values = profile(levels)
    values = np.where(np.abs(values) <= 1e-9 * profile.gross(levels), 0.0, values)
    idx = _sign_changes(values)
    roots = _interpolate(levels, values, idx)
    if cfg.refine and idx.size:
        roots = _newton(profile, levels[idx], levels[idx + 1], roots, tol=1e-10 * s)
    return _choose(roots, s, cfg, "profile")


def strike_flip(table: StrikeTable, spot: float, cfg: FlipConfig, method: str) -> FlipResult:
    """Return the `cumulative` or `adjacent` flip from per-strike net GEX, within the range.

    cumulative: where the running sum of net GEX from the lowest strike changes sign;
    adjacent: where net GEX changes sign between neighbouring strikes (zero strikes skipped).
    """
    net = table.net("gex")
    strikes = table.strike
    if method == "cumulative":
        values = np.cumsum(net)
    else:
        nonzero = net != 0
        strikes, values = strikes[nonzero], net[nonzero]
    if strikes.size < 2:
        return FlipResult(None, "no_exposure", method)
    roots = _interpolate(strikes, values, _sign_changes(values))
    inside = roots[(roots >= cfg.range_low * spot) & (roots <= cfg.range_high * spot)]
    return _choose(inside, spot, cfg, method)


def gamma_flip(book: DealerBook, table: StrikeTable) -> FlipResult:
    """Return the gamma flip by the method in the book's configuration."""
    cfg = book.config.flip
    if cfg.method == "profile":
        return profile_flip(book, cfg)
    return strike_flip(table, book.spot, cfg, cfg.method)
