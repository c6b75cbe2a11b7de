"""Statistics, multiple-testing corrections, grids and walk-forward selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from backtest.stats import (
    _bootstrap_counts,
    deflated_sharpe,
    drawdowns,
    expected_max_sharpe,
    reality_check,
    sharpe,
    summary,
)
from backtest.strategies import strategy
from backtest.sweep import parse_grid, parse_params, splits, walk_forward
from warehouse.errors import WarehouseInputError


def test_sharpe_and_summary_by_hand() -> None:
    daily = np.array([[0.01, -0.005, 0.02, 0.0]]).T
    mean, sd = daily.mean(), daily.std(ddof=1)
    assert sharpe(daily)[0] == pytest.approx(mean / sd * math.sqrt(252))
    row = summary(daily).row(0, named=True)
    assert row["total_return"] == pytest.approx(1.01 * 0.995 * 1.02 - 1)
    assert row["max_drawdown"] == pytest.approx(-0.005)
    assert drawdowns(np.array([[0.1, -0.5, 0.2]]).T)[:, 0] == pytest.approx([0, -0.5, -0.4])
    assert sharpe(np.zeros((5, 1)))[0] == 0.0


def test_expected_maximum_sharpe_matches_simulated_luck() -> None:
    rng = np.random.default_rng(3)
    trials = rng.normal(0, 0.05, (4000, 100))  # 4000 worlds of 100 unskilled Sharpes
    simulated = trials.max(axis=1).mean()
    assert expected_max_sharpe(trials[0]) == pytest.approx(simulated, rel=0.15)
    assert expected_max_sharpe(np.array([0.1])) == 0.0


def test_deflated_sharpe_falls_with_the_number_of_trials() -> None:
    rng = np.random.default_rng(4)
    best = rng.normal(0.0008, 0.01, 2520)  # Sharpe ~1.3 over 10 years
    few = deflated_sharpe(best, rng.normal(0, 0.3, 3))
    many = deflated_sharpe(best, rng.normal(0, 0.3, 1000))
    assert 0 < many < few < 1
    # With one trial the benchmark is 0: DSR is the probabilistic Sharpe ratio.
    sr = best.mean() / best.std(ddof=1)
    assert deflated_sharpe(best, np.array([1.0])) == pytest.approx(
        norm.cdf(sr * math.sqrt(2519)), abs=0.02
    )


def test_reality_check_separates_skill_from_luck() -> None:
    rng = np.random.default_rng(5)
    bench = rng.normal(0.0003, 0.01, 1500)
    noise = bench[:, None] + rng.normal(0, 0.005, (1500, 50))
    assert reality_check(noise, bench) > 0.1
    skilled = noise.copy()
    skilled[:, 7] += 0.002  # a real edge of 0.2% a day
    assert reality_check(skilled, bench) < 0.01


def test_bootstrap_counts_resample_every_session_once_on_average() -> None:
    counts = _bootstrap_counts(300, 200, 10.0, np.random.default_rng(0))
    assert counts.sum(axis=1).tolist() == [300.0] * 200
    assert counts.mean() == pytest.approx(1.0)


def test_grids_parse_lists_ranges_words_and_stops() -> None:
    regime = strategy("regime")
    combos = parse_grid("band=0:1:0.5;basis=flip,gex;sl=0,2", regime)
    assert len(combos) == 12
    assert combos[0] == {"band": 0.0, "basis": "flip", "sl": 0.0}
    assert {c["band"] for c in combos} == {0.0, 0.5, 1.0}
    assert len(parse_grid("default", regime)) == 10
    assert parse_grid(None, regime) == [{}]
    assert parse_params("band=0.5;short=1", regime) == {"band": 0.5, "short": 1.0}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bandwidth=1", "--grid: regime has no 'bandwidth'"),
        ("band", "--grid entry 'band' is not name=values"),
        ("=1,2", "--grid entry '=1,2' is not name=values"),
        ("band=", "--grid entry 'band=' is not name=values"),
        (";", "--grid ';' names no parameter"),
        ("band=a,b", "--grid band=a is not a number"),
        ("band=1,,2", "--grid band=1,,2: an empty value"),
        ("band=nan", "--grid band=nan is not a finite number"),
        ("band=0,inf", "--grid band=inf is not a finite number"),
        ("band=-1", "--grid band=-1 is outside >= 0"),
        ("basis=flip,spot", "--grid basis=spot is not one of flip, gex"),
        ("short=0,2", "--grid short=2 is outside 0 .. 1"),
        ("band=2:1:0.5", "--grid band=2:1:0.5: a range needs start <= stop and a step > 0"),
        ("band=1:0:0.5", "--grid band=1:0:0.5: a range needs start <= stop"),
        ("band=0:1:0", "a step > 0"),
        ("band=0:1:-0.5", "a step > 0"),
        ("band=0:1", "--grid band=0:1: a range is start:stop:step, three numbers"),
        ("band=a:b:c", "a range is start:stop:step, three numbers"),
        ("band=0:1:0.1:2", "three numbers"),
        ("band=0:nan:1", "a range needs start <= stop"),
        ("band=0:1e9:1", "--grid band=0:1e9:1 makes 1,000,000,001 values; the most is 5,000"),
        ("band=0:49.99:0.01;short=0,1", r"makes 10,000 configurations \(5000 band x 2 short\)"),
        ("band=1;band=2", "--grid gives band twice"),
        ("sl=-2", "--grid sl=-2 is outside >= 0"),
        ("sl=x", "--grid sl=x is not a number"),
    ],
)
def test_bad_grids_name_the_entry(spec: str, message: str) -> None:
    with pytest.raises(WarehouseInputError, match=message) as caught:
        parse_grid(spec, strategy("regime"))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("regime", "band=abc", "--params band=abc is not a number"),
        ("regime", "basis=spot", "--params basis=spot is not one of flip, gex"),
        ("regime", "band=0,1", "--params takes one value per name"),
        ("wall_break", "hold=2.5", "--params hold=2.5 is not a whole number"),
        ("wall_break", "hold=0", "--params hold=0 is outside >= 1"),
        ("alignment", "agree=5", "--params agree=5 is outside 1 .. 4"),
        ("wall_fade", "width=1", "--params: wall_fade has no 'width'"),
    ],
)
def test_bad_params_name_the_parameter_and_value(name: str, spec: str, message: str) -> None:
    with pytest.raises(WarehouseInputError, match=message):
        parse_params(spec, strategy(name))


def test_grids_within_the_limit_parse() -> None:
    combos = parse_grid("band=0:4.99:0.01;short=0,1;sl=0,2,4,6,8", strategy("regime"))
    assert len(combos) == 500 * 2 * 5
    assert parse_grid("band=1,1,2", strategy("regime")) == [{"band": 1.0}, {"band": 2.0}]
    assert parse_grid("hold=1:3:1", strategy("wall_break")) == [
        {"hold": 1.0},
        {"hold": 2.0},
        {"hold": 3.0},
    ]


def test_splits_roll_and_expand_to_the_last_session() -> None:
    assert splits(50, 20, 15, "expanding") == [((0, 20), (20, 35)), ((0, 35), (35, 50))]
    assert splits(51, 20, 15, "rolling") == [
        ((0, 20), (20, 35)),
        ((15, 35), (35, 50)),
        ((30, 50), (50, 51)),
    ]
    with pytest.raises(WarehouseInputError, match="train >= 20"):
        splits(100, 10, 5)
    with pytest.raises(WarehouseInputError, match="rolling or expanding"):
        splits(100, 20, 5, "anchored")


def test_walk_forward_reports_only_what_followed_each_choice() -> None:
    rng = np.random.default_rng(6)
    daily = rng.normal(0, 0.01, (200, 3))
    daily[:100, 1] += 0.01  # config 1 shines in the first half only
    daily[100:, 2] += 0.01  # config 2 in the second half only
    picked, oos = walk_forward(daily, 60, 40, "rolling")
    assert picked[0].chosen == 1
    assert picked[-1].chosen == 2
    expected = np.concatenate([daily[s.test[0] : s.test[1], s.chosen] for s in picked])
    np.testing.assert_array_equal(oos, expected)
    assert len(oos) == 140
