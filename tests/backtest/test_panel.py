"""Point-in-time panels: what each decision could know, and the leak it must not have."""

from __future__ import annotations

import math
from datetime import date, time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from backtest.panel import Panel, Timing, load_panel
from backtest.portfolio import Costs, returns, simulate
from backtest.stats import sharpe
from backtest.strategies import Known, strategy
from tests.backtest.conftest import sessions, write_history
from warehouse.errors import WarehouseInputError

FREE = Costs(fees=0.0, slippage=0.0)
SPAN = (date(2000, 1, 1), date(2100, 1, 1))
VENDOR = "vendor"


def _leaky_returns(home: Path, timing: Timing) -> np.ndarray:
    """Return daily returns of 'long when the leaked overnight move is up, short when down'."""
    panel = load_panel(home, "TEST", *SPAN, method=VENDOR, timing=timing)
    rule = strategy("regime")
    targets = rule.positions(Known.of(panel), {"basis": "gex", "short": 1})
    return returns(simulate(panel, targets[:, None], FREE))[:, 0]


def test_after_close_snapshot_is_seen_by_an_after_close_decision(leaky_walk) -> None:
    home, days, _ = leaky_walk
    frame = load_panel(home, "TEST", *SPAN, method=VENDOR).frame
    seen = frame.get_column("known_as_of").dt.convert_time_zone("America/New_York")
    assert seen.dt.date().to_list() == days  # 16:30 decisions see that session's 16:15 one
    assert (seen.dt.time() == time(16, 15)).all()


def test_a_1615_snapshot_never_reaches_that_sessions_close(leaky_walk) -> None:
    home, days, _ = leaky_walk
    panel = load_panel(
        home, "TEST", *SPAN, method=VENDOR, timing=Timing(time(15, 45), "same_close")
    )
    seen = panel.column("known_as_of").dt.convert_time_zone("America/New_York").dt.date()
    assert panel.column("trade_date")[0] == days[1]  # the first session knew nothing yet
    assert seen.to_list() == days[:-1]  # always the previous session's snapshot
    assert (panel.column("known_as_of") < panel.column("closed_at")).all()


def test_leaky_signal_does_not_profit_when_filled_at_the_next_open(leaky_walk) -> None:
    home, _, prices = leaky_walk
    honest = _leaky_returns(home, Timing())
    # The bug this guards against: the same 16:15 rows traded at that session's 16:00 close.
    after_close = load_panel(home, "TEST", *SPAN, method=VENDOR)
    leaked = Panel("TEST", "hand", VENDOR, Timing(time(16, 0), "same_close"), after_close.frame)
    targets = strategy("regime").positions(Known.of(leaked), {"basis": "gex", "short": 1})
    cheat = returns(simulate(leaked, targets[:, None], FREE))[:, 0]
    by_hand = np.sign(prices["leak"][:-1]) * np.diff(prices["close"]) / prices["close"][:-1]
    assert sharpe(cheat[:, None])[0] == pytest.approx(sharpe(by_hand[:, None])[0], rel=0.02)
    assert sharpe(cheat[:, None])[0] > 8
    honest_sharpe = sharpe(honest[1:, None])[0]
    assert abs(honest_sharpe) < 2.5 / math.sqrt(len(honest) / 252)  # noise: |t| < 2.5


def test_leaky_signal_does_not_profit_at_the_close_either(leaky_walk) -> None:
    home, _, _ = leaky_walk
    for timing in (Timing(time(15, 45), "same_close"), Timing(fill="next_close")):
        daily = _leaky_returns(home, timing)
        assert abs(sharpe(daily[1:, None])[0]) < 2.5 / math.sqrt(len(daily) / 252)


def test_same_bar_and_next_open_fills_differ_by_one_session(leaky_walk) -> None:
    home, _, prices = leaky_walk
    # Long from the first decision that knew a snapshot. At 16:30 that is day 0 (filled at day
    # 1's open or close); at 16:00 it is day 1, which knew day 0's snapshot and fills at its
    # own close.
    for timing, price in (
        (Timing(time(16, 0), "same_close"), prices["close"][1]),
        (Timing(), prices["open"][1]),
        (Timing(fill="next_close"), prices["close"][1]),
    ):
        panel = load_panel(home, "TEST", *SPAN, method=VENDOR, timing=timing)
        targets = np.ones((panel.frame.height, 1))
        orders = simulate(panel, targets, FREE).orders.records_readable
        assert len(orders) == 1
        assert orders["Price"].iloc[0] == pytest.approx(price)


def test_stale_snapshots_are_unknown(tmp_path: Path) -> None:
    days = sessions(12)
    bars = {k: [100.0] * 12 for k in ("open", "high", "low", "close")}
    write_history(
        tmp_path,
        days[:3],
        {k: v[:3] for k, v in bars.items()},
        {"underlying_price": [100.0] * 3, "gamma_flip": [99.0] * 3},
    )
    only_bars = pl.DataFrame({"symbol": "TEST", "source": "bars", "trade_date": days[3:]})
    from pipeline.sessions import close_times
    from warehouse.lake import Lake

    Lake(tmp_path).write(
        "prices",
        only_bars.with_columns(
            pl.Series("as_of", close_times(days[3:])).dt.convert_time_zone("UTC"),
            *(pl.lit(100.0).alias(k) for k in bars),
        ),
    )
    frame = load_panel(tmp_path, "TEST", *SPAN, method=VENDOR, timing=Timing(max_age_days=4)).frame
    flip = frame.get_column("gamma_flip").to_list()
    assert flip[:3] == [99.0] * 3
    assert flip[-1] is None  # days past the last snapshot: no levels, not stale ones


def test_bad_requests_name_what_is_wrong(leaky_walk) -> None:
    home, _, _ = leaky_walk
    with pytest.raises(WarehouseInputError, match="cannot fill at that session's 16:00 close"):
        Timing(time(16, 30), "same_close")
    with pytest.raises(WarehouseInputError, match="fill 'tomorrow' unknown"):
        Timing(fill="tomorrow")
    with pytest.raises(WarehouseInputError, match="no snapshots of SPY"):
        load_panel(home, "SPY", *SPAN, method=VENDOR)
    with pytest.raises(WarehouseInputError, match="no price bars of TEST between"):
        load_panel(home, "TEST", date(1990, 1, 1), date(1990, 2, 1), method=VENDOR)
    with pytest.raises(WarehouseInputError, match="no flashalpha snapshots of TEST"):
        load_panel(home, "TEST", *SPAN, method=VENDOR, source="flashalpha")
