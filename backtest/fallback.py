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

from backtest.ledger import Run
from backtest.panel import Panel
from backtest.portfolio import holdings
from backtest.strategies import Value
from backtest.sweep import STOP_KEYS


def missing_bars(panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    """Return per session whether the bar lacks an open, and whether it lacks open, high or low."""
    frame = panel.frame
    no_open = frame.get_column("open").is_null().to_numpy()
    no_range = frame.get_column("high").is_null() | frame.get_column("low").is_null()
    return no_open, no_open | no_range.to_numpy()


def close_fallback(
    panel: Panel, run: Run, combos: list[dict[str, Value]], index: np.ndarray
) -> dict[str, int]:
    """Return counts over the reported sessions `index` of the reported account `run`.

    `sessions_without_open` / `sessions_without_range`: reported bars lacking an open / any of
    open, high, low. `fills_at_close`: orders meant for an open (fill next_open) that filled at
    the close. `stop_checks_at_close`: sessions a stop watched an open position through a bar
    lacking its range (high = low = close). All counts are of sessions or orders.
    """
    no_open, no_range = missing_bars(panel)
    counts = {
        "sessions_without_open": int(no_open[index].sum()),
        "sessions_without_range": int(no_range[index].sum()),
        "fills_at_close": 0,
        "stop_checks_at_close": 0,
    }
    if not counts["sessions_without_range"]:
        return counts  # the common case: full bars, nothing fell back
    reported = np.zeros(no_open.size, dtype=bool)
    reported[index] = True
    if panel.timing.price == "open":
        counts["fills_at_close"] = orders_on(run.portfolio, reported & no_open)
    counts["stop_checks_at_close"] = _stop_checks_on(run, combos, reported & no_range)
    return counts


def orders_on(portfolio: Any, sessions: np.ndarray) -> int:
    """Return how many orders of a one-column portfolio filled on the `sessions` marked True."""
    return int(sessions[portfolio.orders.values["idx"].astype(int)].sum())


def _stop_checks_on(run: Run, combos: list[dict[str, Value]], sessions: np.ndarray) -> int:
    """Return the `sessions` where a stop watched a held position (set when it was entered)."""
    stopped = np.array([any(float(c.get(k, 0)) > 0 for k in STOP_KEYS) for c in combos])
    entries = np.sort(run.portfolio.trades.values["entry_idx"].astype(int))
    if not stopped.any() or not entries.size:
        return 0
    held = holdings(run.portfolio)[:, 0] != 0
    # The trade held after each session is the last one entered on or before it.
    latest = np.searchsorted(entries, np.arange(held.size), side="right") - 1
    config = run.configs[entries[np.maximum(latest, 0)]]
    guarded = held & (latest >= 0) & stopped[np.maximum(config, 0)]
    watched = np.concatenate([[False], guarded[:-1]])  # a stop watches the bar after
    return int((sessions & watched).sum())
