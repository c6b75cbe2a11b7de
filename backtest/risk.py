"""Risk figures of daily returns and trade statistics of a ledger, computed by libraries.

`risk_figures` hands the returns to vectorbt's returns accessor (and pandas for the moments),
annualised on 252 sessions, so the figures are the library's, not a hand-rolled formula;
tests compare them with quantstats on the same returns. Returns and drawdowns are fractions
per session, ratios plain numbers, `consecutive_losses` a count of sessions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from backtest.jsonable import number
from backtest.stats import YEAR

#: The value-at-risk tail: the worst 5% of sessions (historical, not a normal fit).
TAIL = 0.05


def consecutive_losses(returns: np.ndarray) -> int:
    """Return the longest run of sessions with a negative return."""
    longest = run = 0
    for losing in returns < 0:
        run = run + 1 if losing else 0
        longest = max(longest, run)
    return longest


def risk_figures(returns: np.ndarray, bench: np.ndarray, dates: list[str]) -> dict[str, Any]:
    """Return the risk figures of daily `returns` against `bench` over the same `dates`.

    Total return, CAGR, volatility, Sharpe, Sortino, Calmar, max drawdown, VaR and CVaR (95%,
    one session, historical), skew, excess kurtosis, best and worst session, the longest
    losing streak, and beta, alpha (annualised) and correlation to `bench`. None where a
    figure is undefined (e.g. no variation).
    """
    import pandas as pd
    import vectorbt  # noqa: F401  # registers the .vbt accessor

    index = pd.DatetimeIndex(pd.to_datetime(dates))
    series, other = pd.Series(returns, index=index), pd.Series(bench, index=index)
    acc = series.vbt.returns(benchmark_rets=other, freq="1D", year_freq=f"{YEAR}D")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # flat series: undefined ratios
        figures = {
            "total_return": acc.total(),
            "cagr": acc.annualized(),
            "volatility": acc.annualized_volatility(),
            "sharpe": acc.sharpe_ratio(),
            "sortino": acc.sortino_ratio(),
            "calmar": acc.calmar_ratio(),
            "max_drawdown": acc.max_drawdown(),
            "var_95": acc.value_at_risk(cutoff=TAIL),
            "cvar_95": acc.cond_value_at_risk(cutoff=TAIL),
            "skew": series.skew(),
            "kurtosis": series.kurt(),
            "best_day": series.max(),
            "worst_day": series.min(),
            "beta": acc.beta(),
            "alpha": acc.alpha(),
            "correlation": series.corr(other),
        }
    out: dict[str, Any] = {k: number(float(v)) for k, v in figures.items()}
    out["consecutive_losses"] = consecutive_losses(returns)
    return out


def trade_figures(pnl: np.ndarray, returns: np.ndarray, held: np.ndarray) -> dict[str, Any]:
    """Return the trade statistics of a ledger: count, win rate, profit factor, expectancy.

    `pnl` ($) and `returns` (fractions of the account at entry) per trade; `held`: whether a
    position was open at each reported session's close. Win rate and time in market are
    fractions; profit factor is gross profit over gross loss ($; None without a loss);
    expectancy is the mean trade return (fraction) and the mean P&L ($).
    """
    losses = float(-pnl[pnl < 0].sum())
    return {
        "trades": int(pnl.size),
        "win_rate": number(float((pnl > 0).mean())) if pnl.size else None,
        "profit_factor": number(float(pnl[pnl > 0].sum()) / losses) if losses > 0 else None,
        "expectancy": number(float(returns.mean())) if pnl.size else None,
        "expectancy_usd": number(float(pnl.mean())) if pnl.size else None,
        "time_in_market": number(float(held.mean())) if held.size else None,
    }
