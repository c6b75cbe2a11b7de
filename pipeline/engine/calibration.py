"""What a chain looks like, in a few unit-free statistics measured through the engine.

Used to calibrate the synthetic market against real chains (docs/methodology.md,
"Calibration of the synthetic market"): the same function measures a CBOE download and a
simulated chain, so the two can be compared figure for figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.chain import Chain
from pipeline.engine.book import DealerBook
from pipeline.engine.config import EngineConfig
from pipeline.engine.greeks import FloatArray
from pipeline.engine.snapshot import ExposureSnapshot

#: Strikes, as fractions of spot, at which the smile is read (IV there minus ATM IV).
SMILE_STRIKES = (0.90, 0.95, 1.05, 1.10)
#: Calendar days to expiry of the expiration whose smile is read (the nearest one).
SMILE_DAYS = 30.0
#: Calendar days to expiry of the front and back expirations of the term shape.
FRONT_DAYS, BACK_DAYS = 7.0, 91.0
#: Calendar days counted as the front week (0DTE included).
WEEK_DAYS = 7.0
#: Statistic name -> what it is, in which unit (the docs table's first column).
STATISTICS: dict[str, str] = {
    "flip_distance": "gamma flip - spot, % of spot",
    "net_gex_scaled": "net GEX / (spot^2 x total OI) x spot (unit-free)",
    "zero_dte_share": "0DTE share of gross GEX, %",
    "front_week_share": "share of gross GEX expiring within 7 days, %",
    "call_wall_distance": "call wall - spot, % of spot",
    "put_wall_distance": "put wall - spot, % of spot",
    "skew_90": "IV at 0.90 spot - ATM IV, 30-day expiry, vol points",
    "skew_95": "IV at 0.95 spot - ATM IV, 30-day expiry, vol points",
    "skew_105": "IV at 1.05 spot - ATM IV, 30-day expiry, vol points",
    "skew_110": "IV at 1.10 spot - ATM IV, 30-day expiry, vol points",
    "atm_iv": "ATM IV of the 30-day expiry, vol points",
    "term_ratio": "ATM IV 7-day / ATM IV 3-month",
}
#: Net exposures whose sign mix is measured (share of chains with a positive net figure).
SIGNED = ("gex", "dex", "vex", "chex")


@dataclass(frozen=True)
class ChainStats:
    """The calibration statistics of one chain (see STATISTICS for units; None: not measurable).

    `signs` maps gex, dex, vex, chex to the sign of the book's net figure (-1, 0 or 1).
    """

    symbol: str
    spot: float
    flip_distance: float | None
    net_gex_scaled: float | None
    zero_dte_share: float | None
    front_week_share: float | None
    call_wall_distance: float | None
    put_wall_distance: float | None
    skew_90: float | None
    skew_95: float | None
    skew_105: float | None
    skew_110: float | None
    atm_iv: float | None
    term_ratio: float | None
    signs: dict[str, int]

    def values(self) -> dict[str, float | None]:
        """Return the statistics by name (the keys of STATISTICS)."""
        record = asdict(self)
        return {name: record[name] for name in STATISTICS}


def measure(chain: Chain, config: EngineConfig | None = None) -> ChainStats:
    """Return the calibration statistics of `chain` priced under `config` (default preset)."""
    snapshot = ExposureSnapshot(chain, config or EngineConfig())
    book, spot = snapshot.book, chain.spot
    levels = snapshot.levels()["levels"]
    open_interest = float(book.contracts.open_interest.sum())
    smile = _smile(book)
    return ChainStats(
        symbol=chain.symbol,
        spot=spot,
        flip_distance=_percent_from(levels["gamma_flip"], spot),
        net_gex_scaled=snapshot.net["gex"] / (spot * open_interest) if open_interest else None,
        zero_dte_share=_gross_share(book, book.same_day),
        front_week_share=_gross_share(book, _days(book) <= WEEK_DAYS),
        call_wall_distance=_percent_from(levels["call_wall"], spot),
        put_wall_distance=_percent_from(levels["put_wall"], spot),
        skew_90=smile[0],
        skew_95=smile[1],
        skew_105=smile[2],
        skew_110=smile[3],
        atm_iv=_points(_atm_iv(book, SMILE_DAYS)),
        term_ratio=_ratio(_atm_iv(book, FRONT_DAYS), _atm_iv(book, BACK_DAYS)),
        signs={g: int(np.sign(snapshot.net[g])) for g in SIGNED},
    )


def _percent_from(level: float | None, spot: float) -> float | None:
    """Return (level - spot) as % of spot, None when there is no level."""
    return None if level is None else 100.0 * (level - spot) / spot


def _days(book: DealerBook) -> FloatArray:
    """Return each contract's calendar days to expiry (NaN where unpriced)."""
    return np.asarray(book.years * 365.0, dtype=np.float64)


def _gross_share(book: DealerBook, mask: np.ndarray) -> float | None:
    """Return the % of the book's gross GEX (sum of |GEX| over contracts) held by `mask`."""
    gross = float(np.abs(book.gex).sum())
    return 100.0 * float(np.abs(book.gex[mask]).sum()) / gross if gross else None


def _points(iv: float | None) -> float | None:
    """Return an IV (fraction) in vol points."""
    return None if iv is None else 100.0 * iv


def _ratio(top: float | None, bottom: float | None) -> float | None:
    """Return top / bottom, None when either is missing or bottom is zero."""
    return None if top is None or not bottom else top / bottom


def _expiry_near(book: DealerBook, days: float) -> np.datetime64 | None:
    """Return the priced expiration whose days to expiry are nearest `days` (None: none)."""
    to_expiry = _days(book)
    known = np.isfinite(to_expiry) & np.isfinite(book.sigma)
    if not known.any():
        return None
    best = np.argmin(np.abs(np.where(known, to_expiry, np.inf) - days))
    return book.contracts.expiration[best]


def _otm_curve(book: DealerBook, expiry: np.datetime64) -> tuple[FloatArray, FloatArray]:
    """Return (strikes ascending, IV) of one expiration's out-of-the-money contracts.

    Puts below spot, calls at and above it: the liquid side, whose quoted IV is the smile.
    """
    c, spot = book.contracts, book.spot
    otm = np.where(c.is_call, c.strike >= spot, c.strike < spot)
    keep = (c.expiration == expiry) & otm & np.isfinite(book.sigma) & (book.sigma > 0.005)
    order = np.argsort(c.strike[keep])
    return c.strike[keep][order], book.sigma[keep][order]


def _iv_at(strikes: FloatArray, ivs: FloatArray, strike: float) -> float | None:
    """Return the IV interpolated at `strike`, None outside the quoted strikes."""
    if strikes.size < 2 or not strikes[0] <= strike <= strikes[-1]:
        return None
    return float(np.interp(strike, strikes, ivs))


def _atm_iv(book: DealerBook, days: float) -> float | None:
    """Return the ATM IV (fraction) of the expiration nearest `days` calendar days."""
    expiry = _expiry_near(book, days)
    if expiry is None:
        return None
    return _iv_at(*_otm_curve(book, expiry), book.spot)


def _smile(book: DealerBook) -> list[float | None]:
    """Return IV minus ATM IV at SMILE_STRIKES x spot, in vol points, of the 30-day expiry."""
    expiry = _expiry_near(book, SMILE_DAYS)
    if expiry is None:
        return [None] * len(SMILE_STRIKES)
    strikes, ivs = _otm_curve(book, expiry)
    atm = _iv_at(strikes, ivs, book.spot)
    out: list[float | None] = []
    for fraction in SMILE_STRIKES:
        iv = _iv_at(strikes, ivs, fraction * book.spot)
        out.append(None if iv is None or atm is None else 100.0 * (iv - atm))
    return out


def ranges(stats: Sequence[ChainStats]) -> dict[str, tuple[float, float] | None]:
    """Return (min, max) of each statistic over `stats`, None where no chain measured it."""
    out: dict[str, tuple[float, float] | None] = {}
    for name in STATISTICS:
        found = [v for s in stats if (v := s.values()[name]) is not None and math.isfinite(v)]
        out[name] = (min(found), max(found)) if found else None
    return out


def sign_mix(stats: Sequence[ChainStats]) -> dict[str, float]:
    """Return the share of chains (0..1) whose net GEX, DEX, VEX, CHEX is positive."""
    if not stats:
        return {g: math.nan for g in SIGNED}
    return {g: sum(s.signs[g] > 0 for s in stats) / len(stats) for g in SIGNED}


def calibration_table(real: Sequence[ChainStats], synthetic: Sequence[ChainStats]) -> str:
    """Return a Markdown table: statistic, real min .. max, synthetic percentiles."""
    lines = [
        "| statistic | real chains: min .. max | synthetic: min / 10% / median / 90% / max |",
        "|---|---|---|",
    ]
    real_ranges = ranges(real)
    for name, label in STATISTICS.items():
        found = [v for s in synthetic if (v := s.values()[name]) is not None]
        spread = (
            " / ".join(f"{q:.3g}" for q in np.quantile(found, [0.0, 0.1, 0.5, 0.9, 1.0]))
            if found
            else "n/a"
        )
        lines.append(f"| {label} | {_span(real_ranges[name])} | {spread} |")
    mix_real, mix_synthetic = sign_mix(real), sign_mix(synthetic)
    for greek in SIGNED:
        lines.append(
            f"| net {greek.upper()} > 0, share of chains | {mix_real[greek]:.0%} "
            f"({len(real)} chains) | {mix_synthetic[greek]:.0%} ({len(synthetic)} chains) |"
        )
    return "\n".join(lines)


def _span(span: tuple[float, float] | None) -> str:
    """Return 'low .. high' to three significant figures, or 'n/a'."""
    return "n/a" if span is None else f"{span[0]:.3g} .. {span[1]:.3g}"
