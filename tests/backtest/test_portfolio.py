"""Fills, P&L and stops on a hand-made panel, checked against a hand computation."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from backtest.panel import Panel, Timing
from backtest.portfolio import Costs, Stops, returns, signals, simulate

NAN = np.nan
#: Six sessions of open / high / low / close.
BARS = {
    "open": [100.0, 101.0, 103.0, 105.0, 102.0, 100.0],
    "high": [100.5, 102.5, 104.5, 105.5, 103.0, 100.5],
    "low": [99.5, 100.5, 102.5, 102.5, 100.5, 97.5],
    "close": [100.0, 102.0, 104.0, 103.0, 101.0, 98.0],
}
TARGETS = np.array([[1.0], [NAN], [NAN], [0.0], [-1.0], [NAN]])


def panel(bars: dict[str, list[float]] = BARS, timing: Timing | None = None) -> Panel:
    """Return a panel of the hand-made bars (no levels needed to trade given targets)."""
    days = [date(2024, 3, 4) + timedelta(days=i) for i in range(len(bars["close"]))]
    return Panel(
        "HAND", "hand", "vendor", timing or Timing(), pl.DataFrame({"trade_date": days, **bars})
    )


def test_entries_exits_and_pnl_match_the_hand_computation() -> None:
    pf = simulate(panel(), TARGETS, Costs(fees=0.0, slippage=0.0, init_cash=100_000))
    orders = pf.orders.records_readable
    # Decided d0 (long), d3 (flat), d4 (short): filled at the opens of d1, d4 and d5.
    assert orders["Price"].tolist() == [101.0, 102.0, 100.0]
    assert orders["Side"].astype(str).tolist() == ["Buy", "Sell", "Sell"]
    long_pnl = 100_000 * (102 / 101 - 1)  # 990.10
    short_pnl = (100_000 + long_pnl) * (1 - 98 / 100)  # short at 100, marked at 98
    trades = pf.trades.records_readable
    assert trades["PnL"].tolist() == pytest.approx([long_pnl, short_pnl])
    assert float(pf.value().to_numpy()[-1, 0]) == pytest.approx(100_000 + long_pnl + short_pnl)
    assert float(pf.value().to_numpy()[-1, 0]) == pytest.approx(103_009.90, abs=0.01)


def test_fees_and_slippage_cost_what_the_hand_computation_says() -> None:
    fee, slip = 0.001, 0.0005
    flat = np.array([[1.0], [NAN], [NAN], [0.0], [NAN], [NAN]])
    pf = simulate(panel(), flat, Costs(fees=fee, slippage=slip, init_cash=100_000))
    buy, sell = 101 * (1 + slip), 102 * (1 - slip)
    units = 100_000 / (buy * (1 + fee))
    cash = units * sell * (1 - fee)
    assert float(pf.value().to_numpy()[-1, 0]) == pytest.approx(cash)


def test_same_close_fills_on_the_decision_bar() -> None:
    pf = simulate(
        panel(timing=Timing(fill="same_close", decide=Timing().decide.replace(hour=15))),
        TARGETS,
        Costs(0.0, 0.0),
    )
    assert pf.orders.records_readable["Price"].tolist() == [100.0, 103.0, 101.0]


def test_stop_loss_exits_at_the_stop_and_does_not_reenter() -> None:
    bars = {**BARS, "low": [99.5, 100.5, 98.0, 102.5, 100.5, 97.5]}
    targets = np.array([[1.0], [NAN], [NAN], [NAN], [NAN], [NAN]])
    pf = simulate(panel(bars), targets, Costs(0.0, 0.0), Stops(sl=np.array([0.02])))
    orders = pf.orders.records_readable
    assert orders["Price"].tolist() == pytest.approx([101.0, 101 * 0.98])
    assert orders["Timestamp"].dt.date.tolist()[1] == date(2024, 3, 6)  # the bar that hit it


def test_signals_fire_only_on_changes() -> None:
    entries, exits, shorts, cover = signals(np.array([[NAN, 1, 1, NAN, 0, -1, -1, 1]]).T)
    assert entries[:, 0].tolist() == [False, True, False, False, False, False, False, True]
    assert exits[:, 0].tolist() == [False, False, False, False, True, True, False, False]
    assert shorts[:, 0].tolist() == [False, False, False, False, False, True, False, False]
    assert cover[:, 0].tolist() == [False, True, False, False, True, False, False, True]


def test_columns_are_independent_configurations() -> None:
    both = simulate(panel(), np.column_stack([TARGETS[:, 0], -TARGETS[:, 0]]), Costs(0.0, 0.0))
    alone = simulate(panel(), -TARGETS, Costs(0.0, 0.0))
    assert both.value().iloc[:, 1].tolist() == pytest.approx(alone.value().iloc[:, 0].tolist())


def test_returns_match_vectorbts_own() -> None:
    targets = np.column_stack([TARGETS[:, 0], -TARGETS[:, 0]])
    pf = simulate(panel(), targets, Costs(fees=0.001, slippage=0.001))
    np.testing.assert_allclose(returns(pf), pf.returns().to_numpy(), rtol=1e-12, atol=1e-15)
