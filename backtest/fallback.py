"""Bars without an open or a range, and what they did to the fills and stops reported.

Some histories have closes only (DIX.csv after 2023-12-28: about 17% of its sessions). The
simulation fills such a bar's missing open with its close, and its missing high and low too
(`portfolio._bars`), so an order meant for the next open fills at that close instead, and a
stop watched through that bar sees high = low = close. `close_fallback` counts both for the
returns a report shows, so the report can say how much of the result rests on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backtest.portfolio import holdings
from backtest.sweep import STOP_KEYS, Sweep


def missing_bars(sweep: Sweep) -> tuple[np.ndarray, np.ndarray]:
    """Return per session whether the bar lacks an open, and whether it lacks open, high or low."""
    frame = sweep.panel.frame
    no_open = frame.get_column("open").is_null().to_numpy()
    no_range = frame.get_column("high").is_null() | frame.get_column("low").is_null()
    return no_open, no_open | no_range.to_numpy()


def close_fallback(sweep: Sweep, index: np.ndarray, columns: np.ndarray) -> dict[str, int]:
    """Return counts over the reported sessions `index` (each reported from `columns`).

    `sessions_without_open` / `sessions_without_range`: reported bars lacking an open / any of
    open, high, low. `fills_at_close`: orders meant for an open (fill next_open) that filled at
    the close. `stop_checks_at_close`: sessions a stop watched an open position through a bar
    lacking its range (high = low = close). All counts are of sessions or orders.
    """
    no_open, no_range = missing_bars(sweep)
    counts = {
        "sessions_without_open": int(no_open[index].sum()),
        "sessions_without_range": int(no_range[index].sum()),
        "fills_at_close": 0,
        "stop_checks_at_close": 0,
    }
    if not counts["sessions_without_range"]:
        return counts  # the common case: full bars, nothing fell back
    reported = reported_cells(sweep.returns.shape, index, columns)
    if sweep.panel.timing.price == "open":
        counts["fills_at_close"] = orders_in(sweep.portfolio, reported, no_open)
    counts["stop_checks_at_close"] = _stop_checks_on(sweep, reported, no_range)
    return counts


def reported_cells(shape: tuple[int, ...], index: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Return a sessions x configurations mask of the cells a report shows."""
    reported = np.zeros(shape, dtype=bool)
    reported[index, columns] = True
    return reported


def orders_in(portfolio: Any, reported: np.ndarray, bars: np.ndarray | None = None) -> int:
    """Return how many orders fell in the reported cells (on one of `bars` when given)."""
    orders = portfolio.orders.values
    rows, cols = orders["idx"].astype(int), orders["col"].astype(int)
    hit = reported[rows, cols]
    return int((hit & bars[rows]).sum() if bars is not None else hit.sum())


def _stop_checks_on(sweep: Sweep, reported: np.ndarray, bars: np.ndarray) -> int:
    """Return the reported sessions where a stop watched a held position through `bars`."""
    stopped = np.array([any(float(c.get(k, 0)) > 0 for k in STOP_KEYS) for c in sweep.combos])
    if not stopped.any():
        return 0
    units = holdings(sweep.portfolio)
    carried = np.vstack([np.zeros((1, units.shape[1]), dtype=bool), units[:-1] != 0])
    return int((reported & carried & stopped[None, :] & bars[:, None]).sum())
