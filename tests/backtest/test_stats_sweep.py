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
        ("bandwidth=1", "regime has no 'bandwidth'"),
        ("band", "not name=values"),
        ("band=2:1:0.5", "start <= stop"),
    ],
)
def test_bad_grids_name_the_entry(spec: str, message: str) -> None:
    with pytest.raises(WarehouseInputError, match=message):
        parse_grid(spec, strategy("regime"))


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
