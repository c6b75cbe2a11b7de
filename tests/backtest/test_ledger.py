"""The trade ledger adds up: compounding its trades, fees included, gives the reported total.

Every built-in strategy, walked forward or not, on a small synthetic history whose levels
make each of them trade (long and short, stops and take-profits firing, a few close-only bars).
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from backtest.ledger import BOUNDARY_RULE, in_force, ledger, reconciliation, replay
from backtest.panel import Panel, Timing
from backtest.portfolio import Costs
from backtest.report import backtest_sections, write_report
from backtest.run import Request, run_backtest
from backtest.strategies import STRATEGIES, Known, Strategy, Value
from tests.backtest.conftest import sessions, write_history

SPAN = (date(2000, 1, 1), date(2100, 1, 1))
DAYS = 180
NAN = np.nan
#: Walk-forward windows of the tests: 40 sessions to train on, then 20 out-of-sample each.
TRAIN, TEST = 40, 20
#: Sessions with a close only (fills meant for the open use the close).
CLOSE_ONLY = range(90, 94)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return 180 sessions of a random walk with levels and exposures that keep changing."""
    home = tmp_path_factory.mktemp("ledger")
    rng = np.random.default_rng(19)
    steps = np.arange(DAYS)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.012, DAYS)))
    opens = close * (1 + rng.normal(0, 0.004, DAYS))
    full = [i not in CLOSE_ONLY for i in steps]
    factor = rng.normal(0, 1, DAYS)  # a common sign, so that the four exposures often agree
    exposure = {
        name: (1e9 * (factor + 0.6 * rng.normal(0, 1, DAYS))).tolist()
        for name in ("net_gex", "net_dex", "net_vex", "net_chex")
    }
    bars = {
        "open": [o if f else None for o, f in zip(opens, full, strict=True)],
        "high": [
            max(o, c) * 1.006 if f else None for o, c, f in zip(opens, close, full, strict=True)
        ],
        "low": [
            min(o, c) * 0.994 if f else None for o, c, f in zip(opens, close, full, strict=True)
        ],
        "close": close.tolist(),
    }
    known = {
        "underlying_price": close.tolist(),
        "gamma_flip": (
            close * (1 + 0.02 * np.sin(steps / 6) + rng.normal(0, 0.004, DAYS))
        ).tolist(),
        "call_wall": (close * (1 + rng.uniform(0.001, 0.03, DAYS))).tolist(),
        "put_wall": (close * (1 - rng.uniform(0.001, 0.03, DAYS))).tolist(),
        **exposure,
    }
    write_history(home, sessions(DAYS), bars, known)
    return home


def grid_of(name: str) -> str:
    """Return the strategy's default grid with stop-losses and take-profits added."""
    axes = ";".join(
        f"{k}={','.join(str(v) for v in vs)}" for k, vs in STRATEGIES[name].grid.items()
    )
    return f"{axes};sl=0,1.5;tp=0,2.5"


def compounded(trades: list[dict[str, Any]]) -> float:
    """Return the ledger's trade returns (fractions, fees included) compounded."""
    return math.prod(1.0 + t["return"] for t in trades) - 1.0


def reported_total(figures: dict[str, Any]) -> float:
    """Return the total return the report gives the strategy (fraction)."""
    return next(r for r in figures["stats"] if r["series"] == "strategy")["total_return"]


#: (walk-forward mode, grid?, fill) -> the selection status the report must carry.
MODES = {
    ("expanding", True, "next_open"): "walk-forward",
    ("rolling", True, "next_open"): "walk-forward",
    ("expanding", True, "same_close"): "walk-forward",
    ("none", True, "next_open"): "off",
    ("expanding", False, "next_open"): "one configuration",
}


@pytest.mark.parametrize(
    "mode", list(MODES), ids=lambda m: f"{m[0]}-{'grid' if m[1] else 'one'}-{m[2]}"
)
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_the_ledger_compounds_to_the_reported_total(
    home: Path, name: str, mode: tuple[str, bool, str]
) -> None:
    walk, gridded, fill = mode
    timing = Timing(fill=fill, decide=time(15, 45)) if fill == "same_close" else Timing()
    request = Request(
        name,
        ["TEST"],
        *SPAN,
        "vendor",
        grid=grid_of(name) if gridded else None,
        walk_forward=walk,
        train=TRAIN,
        test=TEST,
        timing=timing,
        costs=Costs(fees=0.001, slippage=0.0005),
    )
    figures = run_backtest(home, request)["symbols"]["TEST"]
    assert figures["walk_forward_status"] == MODES[mode]
    trades = figures["trades"]
    assert trades, f"{name} should trade on this history"
    assert abs(compounded(trades) - reported_total(figures)) <= 1e-9
    # The ledger lies inside the reported sessions, one trade after the other.
    first, last = figures["span"]
    assert all(first <= t["entry"] and t["exit"] <= last for t in trades)
    assert all(a["exit"] <= b["entry"] for a, b in itertools.pairwise(trades))
    money = sum(t["pnl"] for t in trades)
    growth = figures["equity"]["strategy"][-1]
    assert money == pytest.approx(request.costs.init_cash * (growth - 1), abs=0.05 * len(trades))


def test_walked_forward_trades_name_their_windows_and_the_rule_is_stated(
    home: Path, tmp_path: Path
) -> None:
    request = Request(
        "wall_fade", ["TEST"], *SPAN, "vendor", grid=grid_of("wall_fade"), train=TRAIN, test=TEST
    )
    result = run_backtest(home, request)
    figures = result["symbols"]["TEST"]
    windows = figures["walk_forward"]
    assert len(windows) == math.ceil((DAYS - TRAIN) / TEST)
    assert figures["span"][0] == windows[0]["test_start"]
    for trade in figures["trades"]:
        entered = next(w for w in windows if w["test_start"] <= trade["entry"] <= w["test_end"])
        assert trade["config"] == entered["config"]
    growth = math.prod(1 + w["test_return"] for w in windows)
    assert growth - 1 == pytest.approx(figures["ledger"]["total_return"], abs=1e-9)
    assert figures["boundary_rule"] == BOUNDARY_RULE
    assert [r["series"] for r in figures["risk"]] == [
        "strategy, out-of-sample",
        "buy and hold, out-of-sample",
        "strategy, full span (grid's best, in-sample)",
        "buy and hold, full span",
    ]
    assert figures["risk"][0]["total_return"] == pytest.approx(growth - 1, abs=1e-9)
    assert figures["trade_stats"]["trades"] == len(figures["trades"])
    sections, _ = backtest_sections(result)
    page, numbers = write_report(tmp_path / "bt", "t", "s", sections, result)
    assert json.loads(numbers.read_text())["symbols"]["TEST"]["boundary_rule"] == BOUNDARY_RULE
    assert BOUNDARY_RULE.split(":")[0] in page.read_text()


def _hand_panel(sessions: int) -> Panel:
    """Return a panel of rising bars and no levels (hand-made targets need none)."""
    close = 100.0 + np.arange(sessions)
    frame = pl.DataFrame(
        {"trade_date": [date(2024, 3, 4) + timedelta(days=i) for i in range(sessions)]}
        | {k: close for k in ("open", "high", "low", "close")}
        | {name: [None] * sessions for name in Known.__dataclass_fields__},
        schema_overrides={name: pl.Float64 for name in Known.__dataclass_fields__},
    )
    return Panel("HAND", "hand", "vendor", Timing(), frame)


#: Two configurations by hand: 0 is long throughout, 1 long then short from decision 3 on.
HAND = {0: [1.0] + [NAN] * 7, 1: [1.0, NAN, NAN, -1.0, NAN, NAN, NAN, NAN]}
BY_HAND = Strategy("hand", lambda _k, p: np.array(HAND[int(float(p["which"]))]), {"which": 0})


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (0, [("2024-03-06", "2024-03-11", "Long", 0, 0)]),  # same side: carried, one trade
        (
            1,  # the other side: closed and reversed at the window's first fill
            [
                ("2024-03-06", "2024-03-09", "Long", 0, 1),
                ("2024-03-09", "2024-03-11", "Short", 1, 1),
            ],
        ),
    ],
)
def test_a_position_at_a_boundary_is_carried_under_the_next_configuration(
    second: int, expected: list[tuple[str, str, str, int, int]]
) -> None:
    panel = _hand_panel(8)
    configs = in_force(8, [(2, 5, 0), (5, 8, second)])
    combos: list[dict[str, Value]] = [{"which": 0}, {"which": 1}]
    run = replay(panel, BY_HAND, combos, configs, Costs(fees=0.001, slippage=0.0))
    # Flat before the first window: the order decided on session 1 fills at session 2's open.
    assert np.all(run.returns[:2] == 0)
    trades = ledger(run, panel, 100_000.0)
    got = trades.select("entry", "exit", "side", "config", "exit_config").rows()
    assert got == expected
    total = float(np.prod(1 + run.returns) - 1)
    assert reconciliation(trades, total)["difference"] == pytest.approx(0, abs=1e-12)
