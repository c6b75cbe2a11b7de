"""Option strategies end to end on a small synthetic history: the legs add up, walked or not.

One symbol, 75 sessions of the synthetic market (snapshots, full chains, bars), walked forward
with 40 sessions to train on and 20 out-of-sample per window, so packages open in one window
cross into the next under another configuration.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from backtest.option_book import OptionCosts
from backtest.option_run import OPTION_BOUNDARY_RULE
from backtest.option_strategies import OPTION_STRATEGIES
from backtest.run import Request, run_backtest
from pipeline.sources.synthetic import SyntheticMarket
from tests.backtest.conftest import sessions, synthetic_history
from tests.conftest import METHOD

DAYS = sessions(75, date(2025, 3, 3))
TRAIN, TEST = 40, 20


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a lake of SPY from the synthetic market over DAYS (8 expiries x 41 strikes)."""
    home = tmp_path_factory.mktemp("option_walk")
    synthetic_history(home, SyntheticMarket(), ["SPY"], DAYS[0], DAYS[-1])
    return home


#: Results already run in this module, by (home, name, walk, fill): each is run once.
_DONE: dict[tuple[Path, str, str, str], dict[str, Any]] = {}


def backtest(home: Path, name: str, walk: str, fill: str = "cross") -> dict[str, Any]:
    """Return `run_backtest` of option strategy `name` over its default grid (run once)."""
    key = (home, name, walk, fill)
    if key not in _DONE:
        _DONE[key] = _backtest(home, name, walk, fill)
    return _DONE[key]


def _backtest(home: Path, name: str, walk: str, fill: str) -> dict[str, Any]:
    """Return `run_backtest` of option strategy `name` over its default grid."""
    request = Request(
        name,
        ["SPY"],
        DAYS[0],
        DAYS[-1],
        METHOD,
        grid="default",
        walk_forward=walk,
        train=TRAIN,
        test=TEST,
        options=OptionCosts(fill=fill),
    )
    return run_backtest(home, request)


@pytest.mark.parametrize("walk", ["expanding", "none"])
@pytest.mark.parametrize("name", sorted(OPTION_STRATEGIES))
def test_the_legs_compound_to_the_reported_total(home, name, walk):
    figures = backtest(home, name, walk)["symbols"]["SPY"]
    check = figures["ledger"]
    assert check["trades"] > 0
    assert abs(check["difference"]) < 1e-9
    total = figures["stats"][0]["total_return"]
    assert check["total_return"] == pytest.approx(total, abs=1e-12)
    grid = OPTION_STRATEGIES[name].grid
    tests = figures["multiple_testing"]
    assert (
        tests["configurations"]
        == len(figures["sweep"]["table"])
        == math.prod(len(v) for v in grid.values())
    )
    assert tests["deflated_sharpe"] is not None and tests["reality_check_p"] is not None
    if walk == "none":
        assert figures["walk_forward_status"] == "off" and figures["boundary_rule"] is None
    else:
        assert figures["walk_forward_status"] == "walk-forward"
        assert figures["boundary_rule"] == OPTION_BOUNDARY_RULE
        assert figures["span"][0] == str(DAYS[TRAIN])
        assert min(t["entry"] for t in figures["trades"]) >= str(DAYS[TRAIN])
        configs_traded = {t["config"] for t in figures["trades"]}
        assert configs_traded <= {w["config"] for w in figures["walk_forward"]}


def test_crossing_the_spread_costs_more_than_the_mid(home):
    mid = backtest(home, "wall_premium", "none", "mid")["symbols"]["SPY"]
    cross = backtest(home, "wall_premium", "none", "cross")["symbols"]["SPY"]
    rows = {r["config"]: r["total_return"] for r in mid["sweep"]["table"]}
    for row in cross["sweep"]["table"]:
        assert row["total_return"] < rows[row["config"]]
