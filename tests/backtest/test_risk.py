"""Risk figures and trade statistics: the library's figures, checked against quantstats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.risk import consecutive_losses, risk_figures, trade_figures

#: Our figure -> quantstats' function of (returns, benchmark) for the same figure.
SAME = {
    "total_return": lambda qs, r, b: qs.stats.comp(r),
    "cagr": lambda qs, r, b: qs.stats.cagr(r),
    "volatility": lambda qs, r, b: qs.stats.volatility(r),
    "sharpe": lambda qs, r, b: qs.stats.sharpe(r),
    "sortino": lambda qs, r, b: qs.stats.sortino(r),
    "calmar": lambda qs, r, b: qs.stats.calmar(r),
    "max_drawdown": lambda qs, r, b: qs.stats.max_drawdown(r),
    "skew": lambda qs, r, b: qs.stats.skew(r),
    "kurtosis": lambda qs, r, b: qs.stats.kurtosis(r),
    "best_day": lambda qs, r, b: qs.stats.best(r),
    "worst_day": lambda qs, r, b: qs.stats.worst(r),
    "consecutive_losses": lambda qs, r, b: qs.stats.consecutive_losses(r),
    "beta": lambda qs, r, b: qs.stats.greeks(r, b)["beta"],
}


def _returns() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return 300 sessions of a strategy (out of the market a third of the time) and a market."""
    rng = np.random.default_rng(19)
    market = rng.normal(0.0004, 0.011, 300)
    held = (np.arange(300) // 20) % 3 != 0
    strategy = np.where(held, 0.8 * market + rng.normal(0.0002, 0.004, 300), 0.0)
    dates = [str(d.date()) for d in pd.bdate_range("2024-01-02", periods=300)]
    return strategy, market, dates


def test_risk_figures_agree_with_quantstats() -> None:
    qs = pytest.importorskip("quantstats")
    strategy, market, dates = _returns()
    ours = risk_figures(strategy, market, dates)
    index = pd.DatetimeIndex(dates)
    r, b = pd.Series(strategy, index=index), pd.Series(market, index=index)
    for name, theirs in SAME.items():
        assert ours[name] == pytest.approx(float(theirs(qs, r, b)), rel=1e-6), name
    assert ours["correlation"] == pytest.approx(np.corrcoef(strategy, market)[0, 1])
    worst = np.sort(strategy)[: int(0.05 * 300)]
    assert ours["cvar_95"] == pytest.approx(worst.mean(), rel=0.05)  # historical tail mean
    assert ours["var_95"] == pytest.approx(np.quantile(strategy, 0.05), rel=0.05)


def test_a_flat_series_has_no_ratios_rather_than_infinities() -> None:
    _, market, dates = _returns()
    flat = risk_figures(np.zeros(300), market, dates)
    assert flat["total_return"] == 0.0 and flat["consecutive_losses"] == 0
    assert flat["sharpe"] is flat["sortino"] is flat["calmar"] is flat["correlation"] is None


def test_consecutive_losses_and_trade_statistics_by_hand() -> None:
    assert consecutive_losses(np.array([0.01, -0.01, -0.02, 0.0, -0.01, -0.01, -0.03])) == 3
    pnl = np.array([100.0, -50.0, 30.0, -20.0])
    returns = np.array([0.01, -0.005, 0.003, -0.002])
    held = np.array([True, True, False, True, False, False, True, True])
    stats = trade_figures(pnl, returns, held)
    assert stats == {
        "trades": 4,
        "win_rate": 0.5,
        "profit_factor": pytest.approx(130 / 70),
        "expectancy": pytest.approx(0.0015),
        "expectancy_usd": 15.0,
        "time_in_market": 0.625,
    }
    assert trade_figures(np.array([5.0]), np.array([0.001]), held)["profit_factor"] is None
