"""Performance statistics of daily return columns, and the multiple-testing corrections.

Returns are fractions per session; annualised figures use 252 sessions a year. The deflated
Sharpe ratio follows Bailey and Lopez de Prado (2014); the reality check is White's (2000)
with Politis and Romano's stationary bootstrap.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy.stats import kurtosis, norm, skew

YEAR = 252
_EULER = 0.5772156649015329


def sharpe(returns: np.ndarray) -> np.ndarray:
    """Return the annualised Sharpe ratio of each column (risk-free 0; 0 when flat)."""
    mean, std = returns.mean(axis=0), returns.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(std > 0, mean / std * math.sqrt(YEAR), 0.0)
    return out


def drawdowns(returns: np.ndarray) -> np.ndarray:
    """Return the drawdown of each column's equity curve from its running peak (fractions <= 0)."""
    equity = np.cumprod(1.0 + returns, axis=0)
    return equity / np.maximum.accumulate(np.maximum(equity, 1.0), axis=0) - 1.0


def summary(returns: np.ndarray) -> pl.DataFrame:
    """Return one row per column: total return, CAGR, volatility, Sharpe, Sortino, max drawdown.

    Fractions, annualised on 252 sessions.
    """
    sessions = returns.shape[0]
    total = np.prod(1.0 + returns, axis=0) - 1.0
    downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        sortino = np.where(downside > 0, returns.mean(axis=0) / downside * math.sqrt(YEAR), 0.0)
        cagr = np.where(total > -1, (1.0 + total) ** (YEAR / max(sessions, 1)) - 1.0, -1.0)
    return pl.DataFrame(
        {
            "total_return": total,
            "cagr": cagr,
            "volatility": returns.std(axis=0, ddof=1) * math.sqrt(YEAR),
            "sharpe": sharpe(returns),
            "sortino": sortino,
            "max_drawdown": drawdowns(returns).min(axis=0),
        }
    )


def expected_max_sharpe(trial_sharpes: np.ndarray) -> float:
    """Return the Sharpe (per session) the best of N unskilled trials reaches by luck alone.

    The DSR benchmark SR0: sqrt(var of the trials' Sharpes) times the expected maximum of N
    standard normals.
    """
    n = trial_sharpes.size
    if n < 2:
        return 0.0
    spread = float(np.std(trial_sharpes, ddof=1))
    top = (1 - _EULER) * norm.ppf(1 - 1 / n) + _EULER * norm.ppf(1 - 1 / (n * math.e))
    return spread * float(top)


def deflated_sharpe(best: np.ndarray, trial_sharpes: np.ndarray) -> float:
    """Return the probability (0..1) that the best column's true Sharpe beats luck over N trials.

    `best`: that column's daily returns; `trial_sharpes`: every trial's annualised Sharpe.
    """
    sessions = best.size
    std = best.std(ddof=1)
    if sessions < 3 or std == 0:
        return float("nan")
    observed = best.mean() / std
    benchmark = expected_max_sharpe(trial_sharpes / math.sqrt(YEAR))
    g3, g4 = float(skew(best)), float(kurtosis(best, fisher=False))
    spread = math.sqrt(max(1 - g3 * observed + (g4 - 1) / 4 * observed**2, 1e-12))
    return float(norm.cdf((observed - benchmark) * math.sqrt(sessions - 1) / spread))


def reality_check(
    returns: np.ndarray,
    benchmark: np.ndarray,
    *,
    draws: int = 500,
    block: float = 10.0,
    seed: int = 0,
) -> float:
    """Return White's reality-check p-value for the best column's edge over `benchmark`.

    Stationary bootstrap (mean block `block` sessions) of the excess returns, recentred; the
    p-value is the share of draws whose best recentred mean reaches the observed best.
    """
    excess = returns - benchmark[:, None]
    sessions = excess.shape[0]
    observed = math.sqrt(sessions) * excess.mean(axis=0).max()
    counts = _bootstrap_counts(sessions, draws, block, np.random.default_rng(seed))
    means = counts @ excess / sessions
    stats = math.sqrt(sessions) * (means - excess.mean(axis=0)).max(axis=1)
    return float((stats >= observed).mean())


def _bootstrap_counts(
    sessions: int, draws: int, block: float, rng: np.random.Generator
) -> np.ndarray:
    """Return how often each session is drawn in each stationary-bootstrap resample (draws x T)."""
    starts = rng.random((draws, sessions)) < 1.0 / block
    starts[:, 0] = True
    begin = rng.integers(0, sessions, (draws, sessions))
    step = np.arange(sessions)
    anchor = np.maximum.accumulate(np.where(starts, step, 0), axis=1)
    origin = np.take_along_axis(begin, anchor, axis=1)
    index = (origin + step - anchor) % sessions
    counts = np.zeros((draws, sessions))
    np.add.at(counts, (np.arange(draws)[:, None], index), 1.0)
    return counts
