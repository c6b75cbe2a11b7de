"""A deterministic simulated options market: spot paths and full option chains, no network.

Everything is a pure function of (seed, symbol, date): the same call returns the same chain on
any machine, so tests, the demo and benchmarks can rely on it. Prices follow a daily GBM from
a fixed start; implied vols follow a skewed smile with a term structure; open interest clusters
at round strikes, puts below spot and calls above, like listed index and ETF options.

One effect is planted on purpose, so studies have something true to find: when dealers are
long gamma (positioning above `LONG_GAMMA_TILT`) the next weekday's return has volatility
`volatility / sqrt(gamma_vol_ratio)`, otherwise `volatility * sqrt(gamma_vol_ratio)`. A ratio
of 1 switches it off.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import numpy as np
import polars as pl

from pipeline.chain import Chain
from pipeline.engine.greeks import bsm_price
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError

#: First day of the simulated history.
SYNTHETIC_START = date(2000, 1, 3)
_START = SYNTHETIC_START
# Levels on the first simulated day (2000-01-03), close to the real ones then.
_BASE_PRICES = {"SPY": 140.0, "QQQ": 90.0, "IWM": 50.0, "SPX": 1400.0, "NDX": 3700.0}
#: Positioning above which the market counts as dealers-long-gamma for the planted effect; the
#: engine's spot-above-flip regime agrees with it on about 98% of days (default dealer model).
LONG_GAMMA_TILT = 0.55


@dataclass(frozen=True)
class SyntheticMarket:
    """Settings of the simulated market.

    Annual drift and volatility of spot, seed, risk-free rate, and the planted effect:
    short-gamma volatility over long-gamma volatility (1 = no effect).
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

    def spot(self, symbol: str, day: date) -> float:
        """Return the simulated close of `symbol` on `day` (weekdays from 2000-01-03 on)."""
        days = int(np.busday_count(_START, day))
        if days < 0:
            raise InputError(f"the synthetic market starts {_START}; {day} is before it")
        path = _log_path(self, symbol, days)
        base = _BASE_PRICES.get(
            symbol, 50.0 + int(hashlib.md5(symbol.encode()).hexdigest(), 16) % 400
        )
        return round(float(base * math.exp(path[days])), 2)

    def step_volatility(self, symbol: str, day: date) -> float:
        """Return the annualised volatility of the return from the weekday before `day` to `day`.

        This is the planted effect: it depends on whether dealers were long gamma at the
        previous weekday's close.
        """
        days = int(np.busday_count(_START, day))
        return float(_path_and_vols(self, symbol, days)[1][days])

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

    def positioning(self, symbol: str, day: date) -> float:
        """Return the dealer-positioning tilt of a day in [-1, 1]: above 0 more calls.

        A slow cycle (about six months) plus day-to-day noise, so the market drifts between
        positive and negative gamma regimes.
        """
        n = int(np.busday_count(_START, day))
        phase = self._rng("phase", symbol).uniform(0, 2 * math.pi)
        wobble = self._rng("tilt", symbol, day.isoformat()).normal(0, 0.15)
        return float(np.clip(math.sin(2 * math.pi * n / 126 + phase) + wobble, -1, 1))

    def chain(
        self, symbol: str, as_of: datetime, *, expiries: int = 24, strikes: int = 81
    ) -> Chain:
        """Return the simulated chain of `symbol` at `as_of` (expiries x strikes x 2 contracts)."""
        day = as_of.astimezone(NEW_YORK).date()
        spot = self.spot(symbol, day)
        step = _strike_step(spot)
        centre = round(spot / step) * step
        ks = centre + step * (np.arange(strikes) - strikes // 2)
        if ks[0] <= 0:  # keep every strike positive: shift the grid up rather than drop any
            ks = step * (np.arange(strikes) + 1.0)
        days = self.expirations(day, expiries)
        closes = np.array([datetime.combine(d, time(16, 0), NEW_YORK).timestamp() for d in days])
        years = np.maximum((closes - as_of.timestamp()) / (365.0 * 86400.0), 1 / (365 * 24 * 4))
        grid_k, grid_t = np.meshgrid(ks, years)  # (expiries, strikes)
        moneyness = np.log(grid_k / spot)
        iv = np.clip(
            0.16 + 0.04 / np.sqrt(1 + grid_t * 12) - 0.35 * moneyness + 0.9 * moneyness**2,
            0.05,
            2.0,
        )
        previous = np.busday_offset(np.datetime64(day, "D"), -1, roll="backward").astype(date)
        factors = _strike_factors(self.seed, symbol, days, ks)
        oi = self._open_interest(symbol, day, grid_k, grid_t, factors)
        gap = (day - previous).days / 365.0
        prev_oi = self._open_interest(symbol, previous, grid_k, grid_t + gap, factors)
        rng = self._rng("volume", symbol, day.isoformat())
        frames = [
            self._side(right, oi[i], prev_oi[i], grid_k, grid_t, iv, days, spot, rng)
            for i, right in enumerate(("C", "P"))
        ]
        return Chain(symbol, spot, as_of, pl.concat(frames), origin=f"synthetic:{symbol}")

    def _open_interest(
        self, symbol: str, day: date, ks: np.ndarray, years: np.ndarray, factors: np.ndarray
    ) -> np.ndarray:
        """Return call and put open interest on `day` over the (expiry, strike) grid.

        A smooth profile times fixed per-strike factors, so day-over-day changes come from spot,
        time and positioning, not from noise. Shape (2, expiries, strikes).
        """
        spot = self.spot(symbol, day)
        moneyness = np.log(ks / spot)
        width = 0.04 + 0.12 * np.sqrt(years)
        weight = np.exp(-0.5 * (moneyness / width) ** 2) * (1.0 + 1.5 * _roundness(ks, spot))
        scale = 1500.0 / (1.0 + 3.0 * years)
        tilt = self.positioning(symbol, day)
        calls = weight * (0.8 + 1.5 * np.clip(moneyness, 0, None) / width) * math.exp(0.35 * tilt)
        puts = weight * (1.2 + 2.5 * np.clip(-moneyness, 0, None) / width) * math.exp(-0.35 * tilt)
        return np.round(scale * np.stack([calls, puts]) * factors).astype(np.int64)

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


@lru_cache(maxsize=64)
def _path_cache(market: SyntheticMarket, symbol: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return a mutable holder of the symbol's (log-price path, step vols), grown on demand.

    One tuple, replaced whole, so a thread never sees a path without its vols.
    """
    return [(np.zeros(1), np.zeros(1))]


def _log_path(market: SyntheticMarket, symbol: str, days: int) -> np.ndarray:
    """Return the cumulative log-price path of `symbol` covering at least `days` weekdays."""
    return _path_and_vols(market, symbol, days)[0]


def _path_and_vols(
    market: SyntheticMarket, symbol: str, days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the log-price path and per-step vols of `symbol`, covering at least `days`.

    Generated in one draw of 20 years (or more) from the symbol's seed, so every call and every
    date agrees with every other; a longer draw extends a shorter one.
    """
    holder = _path_cache(market, symbol)
    if holder[0][0].size <= days:
        size = max(days + 1 + 252 * 5, 252 * 20)  # grow in steps: a regrow costs ~0.5 s
        shocks = market._rng("spot", symbol).standard_normal(size)
        vols = _step_vols(market, symbol, size)
        dt = 1.0 / 252.0
        steps = (market.drift - 0.5 * vols**2) * dt + vols * math.sqrt(dt) * shocks
        steps[0] = 0.0
        holder[0] = (np.cumsum(steps), vols)
    return holder[0]


def _step_vols(market: SyntheticMarket, symbol: str, size: int) -> np.ndarray:
    """Return the annualised vol of each weekday step, set by the previous weekday's positioning."""
    if market.gamma_vol_ratio == 1.0:
        return np.full(size, market.volatility)
    weekdays = np.busday_offset(np.datetime64(_START, "D"), np.arange(size)).astype(date)
    long_gamma = np.array([market.positioning(symbol, d) > LONG_GAMMA_TILT for d in weekdays])
    root = math.sqrt(market.gamma_vol_ratio)
    vols = np.where(long_gamma, market.volatility / root, market.volatility * root)
    return np.concatenate([[market.volatility], vols[:-1]])


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
    import pandas as pd

    from pipeline.sessions import nyse

    calendar = nyse()
    stamp = pd.Timestamp(day)
    if stamp > calendar.last_session:
        return np.busday_offset(np.datetime64(day, "D"), 0, roll="backward").astype(date)
    return calendar.date_to_session(stamp, direction="previous").date()


def _third_friday(year: int, month: int) -> date:
    """Return the third Friday of a month (standard monthly expiration)."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _strike_step(spot: float) -> float:
    """Return a listed-option-like strike spacing for a price level."""
    for limit, step in ((25, 0.5), (200, 1.0), (1000, 5.0), (5000, 5.0)):
        if spot < limit:
            return step
    return 25.0


def _roundness(ks: np.ndarray, spot: float) -> np.ndarray:
    """Return 1 at 'round' strikes (multiples of ~1% of spot rounded), 0 elsewhere."""
    round_step = 10 ** math.floor(math.log10(max(spot * 0.02, 1e-9)))
    return (np.abs(ks / round_step - np.round(ks / round_step)) < 1e-9).astype(float)
