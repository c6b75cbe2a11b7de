"""The run a report shows, simulated once, and its trade ledger.

A sweep simulates every configuration over the whole span; walk-forward then picks one per
out-of-sample window. Stitching those columns' daily returns together would hand positions
from one configuration to another for free and leave trades that straddle windows out of the
ledger (or in it twice). Instead the reported sessions are simulated again as ONE account:
each session's orders come from the configuration in force there, the account starts flat at
the first reported session, and both the equity and the trade ledger come from that run, so
the ledger's trades compound to the reported total return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from backtest.panel import Panel
from backtest.portfolio import Costs, Stops, ffill, returns, simulate
from backtest.strategies import Known, Strategy, Value
from backtest.sweep import STOP_KEYS, stops_of

#: How positions cross walk-forward window boundaries (stated in reports and their JSON).
BOUNDARY_RULE = (
    "Walk-forward windows are simulated as one account, flat at the first out-of-sample "
    "session. Every order that fills inside a window comes from the configuration chosen for "
    "that window (on the sessions before it). A position open at the end of a window is "
    "carried into the next window under the next configuration: kept while that configuration "
    "holds the same side, closed or reversed at the first fill where it does not. A carried "
    "position keeps the stop-loss and take-profit levels set when it was entered."
)
#: What a trade's return is (stated under the trade table).
TRADE_RETURN = (
    "A trade's return is its P&L, fees and slippage included, over the account's value when "
    "it was entered, so the trades compound to the reported total return."
)


@dataclass(frozen=True)
class Run:
    """One simulated account: its portfolio, daily returns and configuration per session.

    `returns`: fractions for every session of the panel (0 before the first reported one);
    `configs`: the configuration whose orders fill on each session (-1 before the run starts).
    """

    portfolio: Any
    returns: np.ndarray
    configs: np.ndarray


def in_force(sessions: int, windows: list[tuple[int, int, int]]) -> np.ndarray:
    """Return the configuration in force on each session: `windows` of (start, stop, config).

    Sessions outside every half-open [start, stop) window get -1 (no order fills there).
    """
    configs = np.full(sessions, -1, dtype=np.int64)
    for start, stop, config in windows:
        configs[start:stop] = config
    return configs


def stitched_targets(
    panel: Panel, strategy: Strategy, combos: list[dict[str, Value]], configs: np.ndarray
) -> np.ndarray:
    """Return the target position decided on each session (+1/-1/0, NaN = keep).

    A decision belongs to the configuration in force on the session its order fills (the
    panel's fill lag later), and is the position that configuration holds then (its rule's
    last signal). Decisions whose order would fill before the run starts are 0 (flat).
    """
    lag, sessions = panel.timing.lag, configs.size
    deciding = configs[np.minimum(np.arange(sessions) + lag, sessions - 1)]
    known = Known.of(panel)
    targets = np.zeros(sessions)
    for config in np.unique(deciding[deciding >= 0]):
        params = {k: v for k, v in combos[config].items() if k not in STOP_KEYS}
        held = ffill(strategy.positions(known, params)[:, None])[:, 0]
        targets[deciding == config] = held[deciding == config]
    return targets


def stitched_stops(combos: list[dict[str, Value]], configs: np.ndarray) -> Stops:
    """Return per-session stop levels (fractions, NaN = none) of the configuration in force.

    vectorbt reads a stop on the session a position is entered and keeps it while it is held.
    """
    rows = np.maximum(configs, 0)  # before the run nothing fills: any level will do
    per_config = stops_of(combos)
    return Stops(
        sl=None if per_config.sl is None else per_config.sl[rows][:, None],
        tp=None if per_config.tp is None else per_config.tp[rows][:, None],
    )


def replay(
    panel: Panel,
    strategy: Strategy,
    combos: list[dict[str, Value]],
    configs: np.ndarray,
    costs: Costs,
) -> Run:
    """Return the one-account run of the configurations in force (`configs`, see `in_force`)."""
    targets = stitched_targets(panel, strategy, combos, configs)
    portfolio = simulate(panel, targets[:, None], costs, stitched_stops(combos, configs))
    return Run(portfolio, returns(portfolio)[:, 0], configs)


def ledger(run: Run, panel: Panel, init_cash: float) -> pl.DataFrame:
    """Return every trade of `run`, in entry order, as the report lists them.

    Columns: `config` / `exit_config` (in force at entry / at exit or the last session),
    `entry` / `exit` (ISO dates), `side`, prices (bar units), `pnl` ($, fees included),
    `return` (fraction: pnl over the account's value at entry, see TRADE_RETURN),
    `return_pct` (the same in %, 3 decimals) and `status` (Open or Closed).
    """
    trades = np.sort(run.portfolio.trades.values, order="entry_idx", kind="stable")
    pnl = trades["pnl"].astype(float)
    account = init_cash + np.concatenate([[0.0], np.cumsum(pnl)[:-1]])
    dates = panel.column("trade_date").cast(pl.String).to_numpy()
    entry, exit_ = trades["entry_idx"].astype(int), trades["exit_idx"].astype(int)
    return pl.DataFrame(
        {
            "config": run.configs[entry],
            "exit_config": run.configs[exit_],
            "entry": dates[entry],
            "exit": dates[exit_],
            "side": np.where(trades["direction"] == 0, "Long", "Short"),
            "entry_price": np.round(trades["entry_price"].astype(float), 4),
            "exit_price": np.round(trades["exit_price"].astype(float), 4),
            "pnl": np.round(pnl, 2),
            "return": pnl / account,
            "return_pct": np.round(100 * pnl / account, 3),
            "status": np.where(trades["status"] == 0, "Open", "Closed"),
        },
        schema_overrides={"config": pl.Int64, "exit_config": pl.Int64},
    )


def reconciliation(trades: pl.DataFrame, total: float) -> dict[str, Any]:
    """Return the ledger's trades compounded next to the reported total return (fractions)."""
    compounded = (
        float((trades.get_column("return") + 1.0).product() - 1.0) if trades.height else 0.0
    )
    return {
        "trades": trades.height,
        "compounded": compounded,
        "total_return": float(total),
        "difference": compounded - float(total),
    }
