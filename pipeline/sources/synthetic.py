"""A deterministic simulated options market: spot paths and full option chains, no network.

Everything is a pure function of (seed, symbol, date): the same call returns the same chain on
any machine, so tests, the demo and benchmarks can rely on it. Each symbol's history (closes,
step volatilities, dealer positioning, implied-vol level) is drawn once, vectorised, from one
counter-based generator keyed by (seed, symbol), and cached. The numbers are calibrated against
18 real CBOE chains (docs/methodology.md, "Calibration of the synthetic market").

- Prices: the log close is a trend through a realistic level (the 2024-01-02 close of well-known
  symbols, a hashed level for others) plus a mean-reverting deviation, so no symbol wanders off
  over the simulated decades.
- Implied vols: a slowly moving ATM level, a term structure that inverts when vol is high, and a
  put skew whose curvature flattens as vol rises, like listed index options.
- Open interest: calls clustered just above where spot was when the series traded (recently for
  short expiries, up to three months ago for long ones), puts below with a far tail, more at
  round strikes and monthly expirations. Dealer positioning sets the call/put balance, so the
  gamma regime follows it. Under the default dealer model net DEX is positive by construction
  (long calls and short puts both hold positive delta), and net VEX > 0, CHEX < 0 on almost
  every day, as on all 18 real chains.

One effect is planted on purpose, so studies have something true to find: when dealers are
long gamma (positioning above `LONG_GAMMA_TILT`) the next weekday's return has volatility
`volatility / sqrt(gamma_vol_ratio)`, otherwise `volatility * sqrt(gamma_vol_ratio)`. A ratio
of 1 switches it off.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from pipeline.chain import Chain
from pipeline.engine.greeks import FloatArray, bsm_greeks, bsm_price
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sources.base import Fetched, Ledgers, Plan, SourceSpec, register

#: First day of the simulated history.
SYNTHETIC_START = date(2000, 1, 3)
_START = SYNTHETIC_START
#: Positioning above which the market counts as dealers-long-gamma for the planted effect. The
#: call/put balance puts net GEX at spot to 0 at this tilt, so the engine's spot-above-flip
#: regime agrees with it on (nearly) every day under the default dealer model.
LONG_GAMMA_TILT = 0.55
#: The day the realistic levels below describe.
ANCHOR_DAY = date(2024, 1, 2)
#: Well-known symbols: (close near ANCHOR_DAY, annual log-growth of the trend, total open
#: interest in contracts). Other symbols get a hashed level in [50, 450), the market's drift
#: and 1M contracts.
KNOWN: dict[str, tuple[float, float, float]] = {
    "SPY": (472.65, 0.049, 2.0e7),
    "SPX": (4742.83, 0.049, 1.7e7),
    "XSP": (474.28, 0.049, 5.0e5),
    "QQQ": (402.22, 0.061, 1.0e7),
    "NDX": (16543.94, 0.061, 1.0e5),
    "IWM": (197.45, 0.057, 8.0e6),
    "RUT": (2007.0, 0.057, 5.0e5),
    "DIA": (376.83, 0.049, 6.0e5),
    "AAPL": (185.64, 0.10, 5.0e6),
    "MSFT": (370.87, 0.10, 3.0e6),
    "NVDA": (48.17, 0.10, 1.5e7),
    "AMZN": (149.93, 0.10, 4.0e6),
    "META": (346.29, 0.10, 2.0e6),
    "GOOGL": (138.17, 0.10, 3.0e6),
    "GOOG": (139.60, 0.10, 2.0e6),
    "TSLA": (248.42, 0.10, 5.0e6),
}
#: Shift of the positioning cycle: dealers are long gamma on about 53% of days (10 of the 18
#: real chains are; SqueezeMetrics' GEX is positive on 91% of days since 2011).
_POSITIONING_BIAS = 0.65
#: Weekdays a symbol's history covers when first drawn (into 2032); later days extend it.
_HORIZON = 252 * 33
_DT = 1.0 / 252.0
#: Pull of the log close back to its trend, per year (half-life about a year).
_REVERSION = 0.7
#: Implied-vol level: mean as a fraction of `volatility`, log SD, half-life in weekdays.
_IV_MEAN, _IV_SD, _IV_HALF_LIFE = 0.9, 0.25, 60.0
#: 30-day smile: slope per unit log-moneyness, and curvature at ATM vols of 17% and below
#: (it falls to 0 at 25%: a high-vol smile is a straight skew).
_SMILE_SLOPE, _SMILE_CURVE = -0.55, 3.8
#: Generator streams of a symbol (one Philox counter range each).
_SHOCKS, _WOBBLE, _PHASE, _IV = range(4)
_YEAR_SECONDS = 365.0 * 86400.0
#: Open interest around an expiry's anchor, per unit strike: bell curves given as (weight,
#: centre, spread), centre and spread in profile widths (_WIDTH, in log-moneyness). Calls sit
#: just above the anchor with a tail further up; puts below, with a far tail of hedges.
Profile = tuple[tuple[float, float, float], ...]
_CALLS: Profile = ((1.0, 0.4, 1.0), (0.5, 2.0, 1.0))
_PUTS: Profile = ((1.0, -1.0, 0.8), (0.3, -2.0, 1.2))
#: Net / gross GEX at spot at the extremes of positioning (tilt 1 and -1).
_NET_LONG, _NET_SHORT = 0.12, 0.3
#: Profile width in log-moneyness: a + b sqrt(years to expiry).
_WIDTH = (0.03, 0.25)
#: Share of open interest gone from a series at expiry (fading over its last two days or so).
_LAST_DAYS = 0.7
#: Extra OI at round strikes (multiples of ten fine steps) near spot; share of the strikes
#: listed at the fine step.
_ROUND_BOOST, _FINE_SHARE = 3.0, 0.7


@dataclass(frozen=True)
class Track:
    """One symbol's simulated history, indexed by weekday number from SYNTHETIC_START.

    log_spot: log of the close; cum_log: its running sum (for averages over past days);
    vols: annualised volatility of the step into each weekday; positioning: dealer tilt in
    [-1, 1]; iv_level: long-dated ATM implied vol (fraction).
    """

    log_spot: FloatArray
    cum_log: FloatArray
    vols: FloatArray
    positioning: FloatArray
    iv_level: FloatArray

    @property
    def size(self) -> int:
        """Return the number of weekdays covered."""
        return int(self.log_spot.size)

    def mean_log_spot(self, n: int, lookback: np.ndarray) -> FloatArray:
        """Return the mean log close over the `lookback` weekdays ending at weekday `n`."""
        back = np.clip(lookback.astype(np.int64), 1, n + 1)
        before = np.where(n - back >= 0, self.cum_log[np.maximum(n - back, 0)], 0.0)
        return np.asarray((self.cum_log[n] - before) / back, dtype=np.float64)


@dataclass(frozen=True)
class SyntheticMarket:
    """Settings of the simulated market.

    Annual drift (trend growth of symbols without a known one) and volatility of spot, seed,
    risk-free rate, and the planted effect: short-gamma volatility over long-gamma volatility
    (1 = no effect).
    """

    seed: int = 7
    drift: float = 0.07
    volatility: float = 0.18
    rate: float = 0.04
    gamma_vol_ratio: float = 1.6

    def _rng(self, *parts: object) -> np.random.Generator:
        """Return a generator seeded by the market seed and `parts` (stable across runs)."""
        key = "|".join(str(p) for p in (self.seed, *parts)).encode()
        return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))

    def _stream(self, symbol: str, stream: int) -> np.random.Generator:
        """Return the symbol's counter-based generator for one stream (see _SHOCKS etc.)."""
        digest = hashlib.sha256(f"{self.seed}|{symbol}".encode()).digest()
        key = int.from_bytes(digest[:16], "little")
        return np.random.Generator(np.random.Philox(key=key, counter=[0, 0, 0, stream]))

    def track(self, symbol: str, day: date) -> tuple[Track, int]:
        """Return the symbol's history covering `day`, and `day`'s weekday number in it."""
        n = weekday_number(day)
        return _track(self, symbol, n), n

    def spot(self, symbol: str, day: date) -> float:
        """Return the simulated close of `symbol` on `day` (weekdays from 2000-01-03 on)."""
        track, n = self.track(symbol, day)
        return round(float(math.exp(track.log_spot[n])), 2)

    def step_volatility(self, symbol: str, day: date) -> float:
        """Return the annualised volatility of the return from the weekday before `day` to `day`.

        This is the planted effect: it depends on whether dealers were long gamma at the
        previous weekday's close.
        """
        track, n = self.track(symbol, day)
        return float(track.vols[n])

    def positioning(self, symbol: str, day: date) -> float:
        """Return the dealer-positioning tilt of a day in [-1, 1]: the higher, the more calls.

        A slow cycle (about six months) plus day-to-day noise, so the market drifts between
        positive and negative gamma regimes; above LONG_GAMMA_TILT dealers are long gamma (net
        GEX at spot above 0), on about half of the days.
        """
        track, n = self.track(symbol, day)
        return float(track.positioning[n])

    def iv_level(self, symbol: str, day: date) -> float:
        """Return the long-dated ATM implied volatility of `symbol` on `day` (annual fraction)."""
        track, n = self.track(symbol, day)
        return float(track.iv_level[n])

    def expirations(self, day: date, count: int) -> list[date]:
        """Return `count` expirations from `day`, nearest first.

        The next five sessions, twelve Fridays, then third Fridays; an expiry falling on an NYSE
        holiday moves to the session before.
        """
        fridays = [day + timedelta(days=(4 - day.weekday()) % 7 + 7 * n) for n in range(12)]
        monthly = [
            _third_friday(day.year + (day.month - 1 + n) // 12, (day.month - 1 + n) % 12 + 1)
            for n in range(36)
        ]
        dailies = [_session_on_or_before(day + timedelta(n)) for n in range(10)]
        dated = {_session_on_or_before(d) for d in [*fridays, *monthly]}
        ordered = sorted({d for d in [*sorted(set(dailies))[:5], *dated] if d >= day})
        return ordered[:count]

    def chain(
        self, symbol: str, as_of: datetime, *, expiries: int = 24, strikes: int = 81
    ) -> Chain:
        """Return the simulated chain of `symbol` at `as_of` (expiries x strikes x 2 contracts).

        Series whose session has closed by `as_of` (the day's expiry after the bell, 13:00 on
        half days) are no longer listed; the next expiration takes their place.
        """
        day = as_of.astimezone(NEW_YORK).date()
        spot = self.spot(symbol, day)
        ks = strike_grid(spot, strikes)
        days, closes = _listed(self.expirations(day, expiries + 1), as_of, expiries)
        years = np.maximum((closes - as_of.timestamp()) / _YEAR_SECONDS, 1 / (365 * 24 * 4))
        grid_k, grid_t = np.meshgrid(ks, years)  # (expiries, strikes)
        monthly = np.array(
            [d == _session_on_or_before(_third_friday(d.year, d.month)) for d in days]
        )
        factors = _strike_factors(self.seed, symbol, days, ks)
        iv = self._surface(symbol, day, spot, grid_k, grid_t)
        oi = self._open_interest(symbol, day, spot, grid_k, grid_t, iv, monthly, factors)
        previous = np.busday_offset(np.datetime64(day, "D"), -1, roll="backward").astype(date)
        prev_t = grid_t + (day - previous).days / 365.0
        prev_spot = self.spot(symbol, previous)
        prev_iv = self._surface(symbol, previous, prev_spot, grid_k, prev_t)
        prev_oi = self._open_interest(
            symbol, previous, prev_spot, grid_k, prev_t, prev_iv, monthly, factors
        )
        rng = self._rng("volume", symbol, day.isoformat())
        frames = [
            self._side(right, oi[i], prev_oi[i], grid_k, grid_t, iv, days, spot, rng)
            for i, right in enumerate(("C", "P"))
        ]
        return Chain(symbol, spot, as_of, pl.concat(frames), origin=f"synthetic:{symbol}")

    def _surface(
        self, symbol: str, day: date, spot: float, ks: np.ndarray, years: np.ndarray
    ) -> FloatArray:
        """Return implied vols (annual fractions) over the (expiry, strike) grid."""
        return implied_vols(self.iv_level(symbol, day), spot, ks, years)

    def _open_interest(
        self,
        symbol: str,
        day: date,
        spot: float,
        ks: np.ndarray,
        years: np.ndarray,
        iv: FloatArray,
        monthly: np.ndarray,
        factors: np.ndarray,
    ) -> np.ndarray:
        """Return call and put open interest (contracts) on `day` over the (expiry, strike) grid.

        Smooth profiles around each expiry's anchor (the mean log close over the weekdays its
        OI was built, see _lookback) times fixed per-strike factors, so day-over-day changes
        come from spot, time and positioning, not from noise; the call/put balance is set so
        that net over gross GEX at spot is net_share(positioning). The total is the symbol's
        open interest. Shape (2, expiries, strikes).
        """
        track, n = self.track(symbol, day)
        anchor = track.mean_log_spot(n, _lookback(years[:, 0]))[:, None]
        moneyness = np.log(ks) - anchor
        width = _width(years)
        size = _expiry_size(years, monthly[:, None]) * _strike_weight(ks, spot)
        calls = size * _profile(moneyness, width, _CALLS) * factors[0]
        puts = size * _profile(moneyness, width, _PUTS) * factors[1]
        gamma = bsm_greeks(spot, ks, years, iv, self.rate, 0.0, True).gamma
        tilt = float(track.positioning[n])
        call_scale, put_scale = _balance(calls, puts, gamma, net_share(tilt))
        total = _total_oi(symbol) / float(calls.sum() * call_scale + puts.sum() * put_scale)
        both = np.stack([calls * call_scale, puts * put_scale]) * total
        return np.round(both).astype(np.int64)

    def _side(
        self,
        right: str,
        oi: np.ndarray,
        prev_oi: np.ndarray,
        ks: np.ndarray,
        years: np.ndarray,
        iv: np.ndarray,
        days: list[date],
        spot: float,
        rng: np.random.Generator,
    ) -> pl.DataFrame:
        """Return the contract rows of one side over the whole grid."""
        value = bsm_price(spot, ks, years, iv, self.rate, 0.0, right == "C")
        half = np.maximum(0.01, 0.02 * value)
        return pl.DataFrame(
            {
                "expiration": np.repeat(np.array(days, dtype="datetime64[D]"), ks.shape[1]),
                "strike": ks.ravel(),
                "right": right,
                "open_interest": oi.ravel(),
                "volume": rng.poisson(oi.ravel() * 0.15),
                "iv": np.round(iv, 4).ravel(),
                "bid": np.round(np.maximum(value - half, 0.0), 2).ravel(),
                "ask": np.round(value + half, 2).ravel(),
                "prev_open_interest": prev_oi.ravel(),
            }
        )


def weekday_number(day: date) -> int:
    """Return the weekdays from SYNTHETIC_START to `day` (a weekend day counts as its Friday)."""
    n = int(np.busday_count(_START, day)) - (1 if day.weekday() >= 5 else 0)
    if n < 0:
        raise InputError(f"the synthetic market starts {_START}; {day} is before it")
    return n


@lru_cache(maxsize=128)
def _track_holder(market: SyntheticMarket, symbol: str) -> list[Track]:
    """Return a mutable holder of the symbol's Track, replaced whole when it must grow.

    One object, swapped in one assignment, so a thread never sees a path without its vols.
    """
    return [_build_track(market, symbol, _HORIZON)]


def _track(market: SyntheticMarket, symbol: str, n: int) -> Track:
    """Return the symbol's Track covering weekday `n` (a longer draw extends a shorter one)."""
    holder = _track_holder(market, symbol)
    if holder[0].size <= n:
        holder[0] = _build_track(market, symbol, n + 1 + 252 * 5)
    return holder[0]


def _build_track(market: SyntheticMarket, symbol: str, size: int) -> Track:
    """Draw `size` weekdays of the symbol's history (vectorised; about a millisecond).

    Every series is a prefix-stable draw from its own stream, so weekday n has the same value
    whatever `size` is.
    """
    phase = market._stream(symbol, _PHASE).uniform(0.0, 2.0 * math.pi)
    wobble = market._stream(symbol, _WOBBLE).normal(0.0, 0.15, size)
    cycle = np.sin(2.0 * math.pi * np.arange(size) / 126.0 + phase)
    positioning = np.clip(cycle + _POSITIONING_BIAS + wobble, -1.0, 1.0)
    vols = _step_vols(market, positioning)
    shocks = market._stream(symbol, _SHOCKS).standard_normal(size) * vols * math.sqrt(_DT)
    shocks[0] = 0.0
    log_spot = _trend(market, symbol, size) + _pinned(_ar1(shocks, math.exp(-_REVERSION * _DT)))
    return Track(
        log_spot=_frozen(log_spot),
        cum_log=_frozen(np.cumsum(log_spot)),
        vols=_frozen(vols),
        positioning=_frozen(positioning),
        iv_level=_frozen(_iv_levels(market, symbol, size)),
    )


def _frozen(values: np.ndarray) -> FloatArray:
    """Return `values` as a read-only float64 array (shared between threads)."""
    out = np.ascontiguousarray(values, dtype=np.float64)
    out.setflags(write=False)
    return out


def _step_vols(market: SyntheticMarket, positioning: FloatArray) -> FloatArray:
    """Return the annualised vol of each weekday step, set by the previous weekday's positioning."""
    if market.gamma_vol_ratio == 1.0:
        return np.full(positioning.size, market.volatility)
    root = math.sqrt(market.gamma_vol_ratio)
    long_gamma = positioning > LONG_GAMMA_TILT
    vols = np.where(long_gamma, market.volatility / root, market.volatility * root)
    return np.concatenate([[market.volatility], vols[:-1]])


def _ar1(shocks: FloatArray, phi: float, block: int = 256) -> FloatArray:
    """Return x with x[i] = phi * x[i-1] + shocks[i] (x[-1] = 0), vectorised in blocks.

    Within a block x[s+i] = phi^i * (phi * x[s-1] + sum_{j<=i} shocks[s+j] / phi^j); short
    blocks keep phi^-j small, so no precision is lost.
    """
    out = np.empty_like(shocks)
    powers = phi ** np.arange(block, dtype=np.float64)
    last = 0.0
    for start in range(0, shocks.size, block):
        part = shocks[start : start + block]
        p = powers[: part.size]
        out[start : start + part.size] = p * (phi * last + np.cumsum(part / p))
        last = float(out[start + part.size - 1])
    return out


def _pinned(deviation: FloatArray) -> FloatArray:
    """Return the deviation from trend held to 0 on ANCHOR_DAY, fading away from it.

    Subtracts deviation[anchor] * phi^|n - anchor| (the mean-reverting walk conditioned on
    passing through 0 there), so a known symbol closes at its real level on ANCHOR_DAY; a
    day's return moves by at most reversion/252 of that deviation (well under a basis point).
    """
    anchor = weekday_number(ANCHOR_DAY)
    if deviation.size <= anchor:
        return deviation
    phi = math.exp(-_REVERSION * _DT)
    fade = phi ** np.abs(np.arange(deviation.size) - anchor)
    return np.asarray(deviation - deviation[anchor] * fade, dtype=np.float64)


def _trend(market: SyntheticMarket, symbol: str, size: int) -> FloatArray:
    """Return the log trend of `symbol`: through its realistic level on ANCHOR_DAY."""
    level, growth, _ = KNOWN.get(symbol, (_hashed_level(symbol), market.drift, 0.0))
    years = (np.arange(size) - weekday_number(ANCHOR_DAY)) * _DT
    return np.asarray(math.log(level) + growth * years, dtype=np.float64)


def _hashed_level(symbol: str) -> float:
    """Return a stable price level in [50, 450) for a symbol without a known one."""
    return 50.0 + int(hashlib.md5(symbol.encode()).hexdigest(), 16) % 400


def _total_oi(symbol: str) -> float:
    """Return the symbol's total open interest over a full chain, in contracts."""
    return KNOWN[symbol][2] if symbol in KNOWN else 1.0e6


def _iv_levels(market: SyntheticMarket, symbol: str, size: int) -> FloatArray:
    """Return the long-dated ATM IV per weekday: a mean-reverting walk in log space."""
    phi = 0.5 ** (1.0 / _IV_HALF_LIFE)
    noise = market._stream(symbol, _IV).standard_normal(size)
    steps = noise * _IV_SD * math.sqrt(1.0 - phi * phi)
    steps[0] = noise[0] * _IV_SD  # start from the walk's stationary spread
    level = _IV_MEAN * market.volatility * np.exp(_ar1(steps, phi))
    return np.asarray(np.clip(level, 0.125, 0.6), dtype=np.float64)


def implied_vols(level: float, spot: float, ks: np.ndarray, years: np.ndarray) -> FloatArray:
    """Return IVs (annual fractions) on a grid of strikes and years to expiry.

    `level` is the long-dated ATM vol. The ATM term structure runs from `front_ratio(level)`
    of it at zero time to all of it over a few months; the smile is _SMILE_SLOPE per unit of
    log-moneyness (30-day terms) with a curvature that turns flat as vol rises, moneyness
    scaled by sqrt(30 days / T) so shorter expiries are steeper.
    """
    ratio = front_ratio(level)
    atm = level * (1.0 + (ratio - 1.0) * np.exp(-years / 0.1))
    z = np.log(ks / spot) * np.sqrt((30.0 / 365.0) / years)
    curvature = np.clip(_SMILE_CURVE * (0.25 - atm) / 0.08, -1.0, _SMILE_CURVE)
    smile = np.clip(_SMILE_SLOPE * z + curvature * z * z, -0.5 * atm, 1.5)
    return np.asarray(np.clip(atm + smile, 0.03, 2.0), dtype=np.float64)


def front_ratio(level: float) -> float:
    """Return front over long-dated ATM vol: below 1 in calm markets, above 1 when vol is high."""
    return float(np.clip(0.75 * (level / 0.15) ** 0.6, 0.55, 1.3))


def net_share(tilt: float) -> float:
    """Return the net / gross GEX at spot that dealer positioning `tilt` gives, in (-1, 1).

    Zero at LONG_GAMMA_TILT, rising to _NET_LONG at tilt 1 and falling to -_NET_SHORT at -1
    (the real chains' net / gross GEX runs from -0.34 to +0.25).
    """
    if tilt >= LONG_GAMMA_TILT:
        return _NET_LONG * (tilt - LONG_GAMMA_TILT) / (1.0 - LONG_GAMMA_TILT)
    return -_NET_SHORT * (LONG_GAMMA_TILT - tilt) / (1.0 + LONG_GAMMA_TILT)


def _balance(
    calls: np.ndarray, puts: np.ndarray, gamma: np.ndarray, share: float
) -> tuple[float, float]:
    """Return (call scale, put scale), product 1, giving net / gross GEX at spot = `share`.

    Dealers are long calls and short puts, so net = calls * gamma - puts * gamma.
    """
    call_gamma, put_gamma = float((calls * gamma).sum()), float((puts * gamma).sum())
    ratio = put_gamma * (1.0 + share) / (call_gamma * (1.0 - share))
    return math.sqrt(ratio), 1.0 / math.sqrt(ratio)


def _lookback(years: np.ndarray) -> np.ndarray:
    """Return the weekdays over which each expiry's open interest was built (its anchor)."""
    return np.asarray(np.clip(np.round(5.0 + 126.0 * years), 5, 126))


def _profile(moneyness: np.ndarray, width: np.ndarray, shape: Profile) -> np.ndarray:
    """Return OI per unit strike: a sum of bell curves (weight, centre, spread in widths)."""
    out = np.zeros_like(moneyness)
    for weight, centre, spread in shape:
        out += weight * np.exp(-0.5 * ((moneyness - centre * width) / (spread * width)) ** 2)
    return out


def _width(years: np.ndarray) -> np.ndarray:
    """Return the width of the OI profiles in log-moneyness: wider for longer expiries."""
    return np.asarray(_WIDTH[0] + _WIDTH[1] * np.sqrt(years))


def _expiry_size(years: np.ndarray, monthly: np.ndarray) -> np.ndarray:
    """Return the relative open interest per unit moneyness of each expiry.

    Monthly expirations hold three times a weekly's; longer series spread theirs over wider
    strikes (the profiles widen with sqrt(T)), so the total falls only gently with time; the
    last day or two hold less (much of a daily series' open interest is closed before it).
    """
    last_days = 1.0 - _LAST_DAYS * np.exp(-years * 365.0 / 1.5)
    return np.asarray((1.0 + 2.0 * monthly) * last_days / (1.0 + 1.5 * years) / _width(years))


def _strike_weight(ks: np.ndarray, spot: float) -> np.ndarray:
    """Return each strike's share of OI: the strike spacing it stands for, more at round ones."""
    step = fine_step(spot)
    spacing = np.gradient(ks, axis=-1) / step
    rounded = np.abs(ks / (10 * step) - np.round(ks / (10 * step))) < 1e-9
    return np.asarray(spacing * (1.0 + _ROUND_BOOST * (rounded & (spacing < 1.5))))


def fine_step(spot: float) -> float:
    """Return the listed strike spacing near spot, in price units.

    The largest of 0.5, 1, 2.5, 5, 10, 25, 50, 100 not above 0.25% of spot (SPY $1, SPX 10,
    IWM 0.5, NDX 25).
    """
    step = 0.5
    for candidate in (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0):
        if candidate <= 0.0025 * spot:
            step = candidate
    return step


def strike_grid(spot: float, count: int) -> FloatArray:
    """Return `count` ascending strikes like a listed chain's, all positive.

    _FINE_SHARE of them at the fine step around spot, the rest in the wings at five times it
    (81 strikes reach about +-20% of spot).
    """
    step = fine_step(spot)
    fine = max(1, round(_FINE_SHARE * count)) // 2
    wing_low = (count - 1 - 2 * fine) // 2
    wing_high = count - 1 - 2 * fine - wing_low
    centre = round(spot / step) * step
    offsets = np.concatenate(
        [
            -fine - 5 * np.arange(wing_low, 0, -1),
            np.arange(-fine, fine + 1),
            fine + 5 * np.arange(1, wing_high + 1),
        ]
    )
    ks = centre + step * offsets
    low = ks[0]
    if low <= 0:  # keep every strike positive: shift the grid up rather than drop any
        ks = ks - low + step
    return np.asarray(ks, dtype=np.float64)


def _listed(expirations: list[date], as_of: datetime, count: int) -> tuple[list[date], FloatArray]:
    """Return the first `count` expirations still trading at `as_of`, with their close epochs."""
    from pipeline.sessions import close_times

    closes = [c.timestamp() for c in close_times(expirations)]
    live = [(d, c) for d, c in zip(expirations, closes, strict=True) if c > as_of.timestamp()]
    kept = live[:count]
    return [d for d, _ in kept], np.array([c for _, c in kept], dtype=np.float64)


def _strike_factors(seed: int, symbol: str, days: list[date], ks: np.ndarray) -> np.ndarray:
    """Return fixed factors in [0.55, 1.8] per (side, expiry, strike), keyed by strike value.

    A strike keeps its factor from day to day whatever the grid around spot; shape
    (2, expiries, strikes).
    """
    keys = np.array(
        [
            int.from_bytes(
                hashlib.blake2b(f"{seed}|{symbol}|{d}".encode(), digest_size=4).digest(), "big"
            )
            for d in days
        ],
        dtype=np.float64,
    )
    cents = np.round(ks * 100)
    out = np.empty((2, len(days), ks.size))
    for side in range(2):
        # A sine hash: deterministic, vectorised, uniform enough for made-up open interest.
        x = (
            np.sin(
                np.outer(keys % 9973.0 + 1.0 + side * 0.5, np.ones_like(ks)) * 12.9898
                + cents * 78.233 * (side + 1)
            )
            * 43758.5453
        )
        out[side] = np.exp(1.2 * (x - np.floor(x) - 0.5))
    return out


def _session_on_or_before(day: date) -> date:
    """Return `day` if it is an NYSE session, else the session before.

    Weekdays past the calendar's horizon (about a year ahead) count as sessions.
    """
    from pipeline.sessions import session_table

    table = session_table()
    if day > table.last:
        return np.busday_offset(np.datetime64(day, "D"), 0, roll="backward").astype(date)
    return date.fromordinal(table.days[table.index_on_or_before(day)])


def _third_friday(year: int, month: int) -> date:
    """Return the third Friday of a month (standard monthly expiration)."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


# --- the source --------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticSource:
    """The simulated market's chains (`synthetic`: no key, no network)."""

    market: SyntheticMarket = field(default_factory=SyntheticMarket)
    expiries: int = 24
    strikes: int = 81
    name: str = "synthetic"
    computes: bool = True

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the simulated chain of `symbol` as the market stood at `at`.

        Stamped and priced at the moment it describes (`market_moment`): `at` itself during a
        session, else the last session's close, so a daily run at 16:15 gives the 16:00
        snapshot (13:00 on half days), as a feed's own timestamp would. Past the NYSE
        calendar's horizon (about a year ahead) no session is known: `at` itself.
        """
        from pipeline.sessions import calendar_span, market_moment

        beyond = at.astimezone(NEW_YORK).date() > calendar_span()[1]
        moment = at if beyond else market_moment(at)
        chain = self.market.chain(symbol, moment, expiries=self.expiries, strikes=self.strikes)
        return Fetched(symbol, moment, chain=chain)


def build(settings: Any, name: str, plan: Plan, ledgers: Ledgers) -> SyntheticSource:
    """Return the simulated market configured by settings (market, expiries, strikes)."""
    return SyntheticSource(
        market=settings.market(),
        expiries=settings.synthetic_expiries,
        strikes=settings.synthetic_strikes,
    )


SPEC = register(
    SourceSpec(
        name="synthetic",
        help="A deterministic simulated market (the default: no key, no network).",
        build=build,
        computes=True,
        history=True,
    )
)
