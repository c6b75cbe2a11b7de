"""The vectorbt boundary: target positions in, simulated portfolios and their returns out.

Positions are decided on session d and filled `timing.lag` sessions later at that bar's open
or close (the panel's `Timing`). Every column of a position matrix is one configuration, so a
whole parameter grid runs in one vectorbt call. pandas appears only here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from backtest.panel import Panel

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Costs:
    """Trading frictions: `fees` and `slippage` are fractions of traded notional / price."""

    fees: float = 0.0005
    slippage: float = 0.0005
    init_cash: float = 100_000.0


@dataclass(frozen=True)
class Stops:
    """Stop-loss and take-profit as fractions of the entry price (None = none), per column."""

    sl: np.ndarray | None = None
    tp: np.ndarray | None = None


def signals(targets: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return (entries, exits, short_entries, short_exits) from targets (sessions x configs).

    Signals fire only where the held target changes, so a position a stop closed is not
    reopened until the rule signals afresh.
    """
    held = ffill(targets)
    before = np.vstack([np.full((1, held.shape[1]), np.nan), held[:-1]])
    changed = ~np.isnan(held) & ((held != before) | np.isnan(before))
    entries = changed & (held == 1)
    shorts = changed & (held == -1)
    flat = changed & (held == 0)
    return entries, flat | shorts, shorts, flat | entries


def ffill(values: np.ndarray) -> np.ndarray:
    """Return `values` with NaN replaced by the last non-NaN above it, per column."""
    rows = np.arange(values.shape[0])[:, None]
    last = np.maximum.accumulate(np.where(np.isnan(values), -1, rows), axis=0)
    filled = values[np.maximum(last, 0), np.arange(values.shape[1])]
    return np.where(last >= 0, filled, np.nan)


def _shift(values: np.ndarray, lag: int, fill: Any) -> np.ndarray:
    """Return `values` moved down `lag` rows (decision to fill), `fill` in the gap."""
    if lag == 0:
        return values
    out = np.full_like(values, fill)
    out[lag:] = values[:-lag]
    return out


def simulate(panel: Panel, targets: np.ndarray, costs: Costs, stops: Stops | None = None) -> Any:
    """Return the vectorbt Portfolio of `targets` (sessions x configs) traded on `panel`.

    All-in sizing: a long or short uses the whole equity; fees and slippage apply per fill.
    Stops are measured from the fill price and checked against the bars' open, high and low.
    """
    import vectorbt as vbt

    # vectorbt 1.2 calls DataFrame.rename(inplace=True), which pandas 3.1 deprecates.
    warnings.filterwarnings("ignore", "The inplace keyword in DataFrame.rename")
    bars = _bars(panel)
    lag = panel.timing.lag
    entries, exits, short_entries, short_exits = (
        _shift(s, lag, False) for s in signals(np.atleast_2d(targets.T).T)
    )
    stops = stops or Stops()
    extra = {k: v for k, v in (("sl_stop", stops.sl), ("tp_stop", stops.tp)) if v is not None}
    return vbt.Portfolio.from_signals(
        bars["close"],
        entries,
        exits,
        short_entries=short_entries,
        short_exits=short_exits,
        price=bars[panel.timing.price].to_numpy()[:, None],
        open=bars["open"],
        high=bars["high"],
        low=bars["low"],
        fees=costs.fees,
        slippage=costs.slippage,
        init_cash=costs.init_cash,
        upon_opposite_entry="reverse",
        stop_entry_price="fillprice",  # stops measured from the actual fill, not the bar close
        freq="1D",
        **extra,
    )


def _bars(panel: Panel) -> pd.DataFrame:
    """Return the panel's bars as a pandas frame indexed by session (the vectorbt boundary)."""
    import pandas as pd

    frame = panel.frame.select("trade_date", "open", "high", "low", "close").to_pandas()
    frame["open"] = frame["open"].fillna(frame["close"])  # some imported bars lack an open
    for column in ("high", "low"):
        frame[column] = frame[column].fillna(frame["close"])
    return frame.set_index(pd.DatetimeIndex(frame.pop("trade_date")))


def buy_and_hold(panel: Panel, costs: Costs) -> Any:
    """Return the Portfolio that buys at the first fill the strategy could make and holds."""
    targets = np.full((panel.frame.height, 1), np.nan)
    targets[0] = 1.0
    return simulate(panel, targets, costs)


def returns(portfolio: Any, units: np.ndarray | None = None) -> np.ndarray:
    """Return the daily returns of every column (sessions x configs, fractions).

    Computed from the simulated cash and holdings marked at each close, which is what
    vectorbt's own `returns()` does, without its per-call pandas overhead. Pass `units`
    (from `holdings`) when already at hand.
    """
    value = equity(portfolio, holdings(portfolio) if units is None else units)
    start = np.full((1, value.shape[1]), float(np.asarray(portfolio.init_cash).ravel()[0]))
    before = np.vstack([start, value[:-1]])
    return value / before - 1.0


def equity(portfolio: Any, units: np.ndarray) -> np.ndarray:
    """Return each column's account value at every close (cash + units x close)."""
    cash = np.atleast_2d(portfolio.cash().to_numpy().T).T
    close = np.asarray(portfolio.close.to_numpy(), dtype=float).reshape(len(cash), -1)
    return cash + units * close


def holdings(portfolio: Any) -> np.ndarray:
    """Return the units held after each session (sessions x configs; negative when short)."""
    return np.atleast_2d(portfolio.assets().to_numpy().T).T
