"""The tearsheet figures of a report: what a quantstats tearsheet shows, from daily returns.

Every function takes daily returns as fractions per session (and their ISO session dates) and
returns fractions too; annualised figures use 252 sessions a year, like `backtest.stats`.
`tearsheet` turns one symbol's equity curves (growth of 1, strategy and buy and hold) into the
JSON-ready figures the report draws: drawdowns, monthly and yearly returns, rolling Sharpe and
volatility, the worst drawdown periods and the distribution of daily returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from backtest.jsonable import floats, number
from backtest.stats import YEAR, drawdowns

#: The series of a backtest's figures, as named in its `equity` block.
SERIES = ("strategy", "buy_and_hold")


def daily_returns(growth: Sequence[float | None]) -> np.ndarray:
    """Return the daily returns (fractions) behind a growth-of-1 curve (first: growth[0] - 1)."""
    values = np.array([math.nan if v is None else v for v in growth], dtype=float)
    before = np.concatenate([[1.0], values[:-1]])
    return values / before - 1.0


def rolling_window(sessions: int) -> int:
    """Return the rolling window (sessions): 126 (6 months) from 378 sessions, else 63."""
    return 126 if sessions >= 3 * 126 else 63


def _windows(returns: np.ndarray, window: int) -> np.ndarray:
    """Return every trailing `window` of `returns` as rows (sessions - window + 1 of them)."""
    if returns.size < window:
        return np.empty((0, window))
    return np.lib.stride_tricks.sliding_window_view(returns, window)


def _padded(values: np.ndarray, sessions: int) -> np.ndarray:
    """Return per-window values placed at each window's last session, NaN before the first."""
    return np.concatenate([np.full(sessions - values.size, math.nan), values])


def rolling_sharpe(returns: np.ndarray, window: int) -> np.ndarray:
    """Return the annualised Sharpe (risk-free 0) of each trailing `window` (NaN before it).

    A window with no variation has Sharpe 0, as in `backtest.stats.sharpe`.
    """
    parts = _windows(returns, window)
    mean, std = parts.mean(axis=1), parts.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(std > 0, mean / std * math.sqrt(YEAR), 0.0)
    return _padded(values, returns.size)


def rolling_volatility(returns: np.ndarray, window: int) -> np.ndarray:
    """Return the annualised volatility (fraction) of each trailing `window` (NaN before it)."""
    parts = _windows(returns, window)
    return _padded(parts.std(axis=1, ddof=1) * math.sqrt(YEAR), returns.size)


def period_returns(dates: Sequence[str], returns: np.ndarray, unit: str) -> list[dict[str, Any]]:
    """Return compounded returns per calendar `unit` ("month": YYYY-MM, "year": YYYY)."""
    if not len(dates):
        return []
    width = {"month": 7, "year": 4}[unit]
    frame = pl.DataFrame({"period": [d[:width] for d in dates], "r": returns})
    grouped = frame.group_by("period", maintain_order=True).agg(
        ((pl.col("r") + 1).product() - 1).alias("return")
    )
    return [{"period": p, "return": number(r)} for p, r in grouped.iter_rows()]


def drawdown_periods(
    dates: Sequence[str], returns: np.ndarray, top: int = 5
) -> list[dict[str, Any]]:
    """Return the `top` deepest drawdown periods, deepest first.

    Each: `start` (first session below the previous peak), `trough` (its lowest session),
    `recovery` (first session back at the peak; None while under water), `depth` (fraction
    below the peak at the trough, <= 0) and `sessions` (sessions under water: start up to the
    recovery, or to the last session when not recovered).
    """
    below = drawdowns(returns[:, None])[:, 0]
    periods: list[tuple[float, dict[str, Any]]] = []
    for start, stop in _runs(below < 0):
        trough = start + int(np.argmin(below[start:stop]))
        record = {
            "start": dates[start],
            "trough": dates[trough],
            "recovery": dates[stop] if stop < len(dates) else None,
            "depth": number(below[trough]),
            "sessions": int(stop - start),
        }
        periods.append((float(below[trough]), record))
    return [record for _, record in sorted(periods, key=lambda p: p[0])[:top]]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Return the [start, stop) index ranges where `flags` is True."""
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def histogram(series: dict[str, np.ndarray], bins: int = 40) -> dict[str, Any]:
    """Return counts of sessions per return bin, the same bin edges (fractions) for every series.

    Sessions with a return of exactly 0 (out of the market) are left out and counted under
    `flat`. Edges split [lowest, highest] of the other returns into `bins` equal bins; the
    last bin includes its upper edge (numpy's convention).
    """
    moved = {name: v[np.isfinite(v) & (v != 0)] for name, v in series.items()}
    flat = {name: int(np.sum(v == 0)) for name, v in series.items()}
    values = np.concatenate(list(moved.values()))
    if values.size == 0:
        return {"edges": [], "flat": flat, **{name: [] for name in series}}
    low, high = float(values.min()), float(values.max())
    edges = np.linspace(low, high if high > low else low + 1e-4, bins + 1)
    counts = {name: np.histogram(v, edges)[0].tolist() for name, v in moved.items()}
    return {"edges": floats(edges), "flat": flat, **counts}


def tearsheet(equity: dict[str, Any]) -> dict[str, Any]:
    """Return the tearsheet figures of an `equity` block (dates, strategy, buy_and_hold growth).

    Fractions throughout; `rolling` holds the window (sessions) and the annualised rolling
    Sharpe and volatility of each series.
    """
    dates = equity["dates"]
    daily = {name: daily_returns(equity[name]) for name in SERIES}
    window = rolling_window(len(dates))
    sharpes = {name: floats(rolling_sharpe(r, window)) for name, r in daily.items()}
    vols = {name: floats(rolling_volatility(r, window)) for name, r in daily.items()}
    return {
        "drawdown": {name: floats(drawdowns(r[:, None])[:, 0]) for name, r in daily.items()},
        "monthly": {name: period_returns(dates, r, "month") for name, r in daily.items()},
        "yearly": {name: period_returns(dates, r, "year") for name, r in daily.items()},
        "rolling": {"window": window, "sharpe": sharpes, "volatility": vols},
        "worst_drawdowns": drawdown_periods(dates, daily["strategy"]),
        "distribution": histogram(daily),
    }
