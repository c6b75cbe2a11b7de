"""Studies: hand-checked pieces, and the planted synthetic effect found (or not) as it should."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from backtest.panel import load_panel
from backtest.study import (
    ALERT_KINDS,
    after_breach,
    by_alert_kind,
    forward,
    partial_rank_correlation,
    run_study,
    vol_ratio,
    wall_holds,
    wilson,
    with_quantiles,
)
from pipeline.sources.synthetic import SyntheticMarket
from tests.backtest.conftest import synthetic_history
from tests.conftest import METHOD

SYMBOLS = ["SPY", "QQQ", "IWM"]
FIRST, LAST = date(2023, 1, 3), date(2024, 12, 31)


def test_wall_holds_by_hand() -> None:
    frame = pl.DataFrame(
        {
            "spot": [100.0, 100.0, 100.0, 100.0],
            "call_wall": [102.0, 102.0, 102.0, None],
            "put_wall": [98.0, 98.0, 98.0, 98.0],
            "high": [101.0, 101.5, 103.0, 102.5],
            "low": [99.0, 97.0, 99.0, 99.5],
            "close": [100.0, 99.0, 101.0, 102.5],
        }
    )
    rows = {(r["wall"], r["held"]): r for r in wall_holds(frame).to_dicts()}
    # Walls of sessions 0..2 are judged by the next session (1..3); session 3 has no next.
    assert rows[("call_wall", "intraday")]["rate"] == pytest.approx(1 / 3)  # 101.5 only
    assert rows[("call_wall", "close")]["rate"] == pytest.approx(2 / 3)  # 102.5 broke
    assert rows[("put_wall", "intraday")]["rate"] == pytest.approx(2 / 3)  # 97 broke
    assert rows[("put_wall", "close")]["sessions"] == 3


def test_after_breach_by_hand() -> None:
    frame = pl.DataFrame(
        {
            "spot": [100.0, 103.0, 104.0, 99.0],
            "call_wall": [102.0, 105.0, 105.0, 105.0],
            "put_wall": [95.0, 95.0, 95.0, 95.0],
            "r1": [0.03, 0.01, -0.05, None],
            "r5": [None, None, None, None],
        },
        schema_overrides={"r5": pl.Float64},
    )
    rows = {r["event"]: r for r in after_breach(frame).to_dicts()}
    assert rows["call wall breach"]["sessions"] == 1  # session 1 closed above 102
    assert rows["call wall breach"]["mean_1d_pct"] == pytest.approx(1.0)
    assert rows["put wall breach"]["sessions"] == 0
    assert rows["all sessions"]["mean_1d_pct"] == pytest.approx(100 * (-0.01 / 3))


def _utc(day: int, hour: int) -> datetime:
    return datetime(2024, 3, day, hour, tzinfo=UTC)


def test_alert_rates_and_what_followed_by_hand() -> None:
    frame = pl.DataFrame(
        {
            "trade_date": [date(2024, 3, d) for d in (4, 5, 6, 7, 8)],
            "decided_at": [_utc(d, 21) for d in (4, 5, 6, 7, 8)],  # 16:30 New York
            "r1": [0.01, -0.02, 0.03, 0.005, None],
            "r5": [None, None, None, None, None],
        },
        schema_overrides={"r5": pl.Float64},
    )
    stored = pl.DataFrame(
        {
            "trade_date": [date(2024, 3, d) for d in (4, 6, 6, 5, 7, 8)],
            "as_of": [_utc(d, 21) for d in (4, 6, 6)] + [_utc(5, 22), _utc(7, 21), _utc(8, 20)],
            "kind": [*["near_call_wall"] * 3, "gex_sign_flip", *["flip_cross_up"] * 2],
        }
    )
    rows = {r["kind"]: r for r in by_alert_kind(frame, stored).to_dicts()}
    assert list(rows) == ["all sessions", *ALERT_KINDS]
    near = rows["near_call_wall"]  # sessions 0 and 2 (two alerts on 2 count once)
    assert (near["sessions"], near["rate"]) == (2, pytest.approx(2 / 5))
    assert near["mean_1d_pct"] == pytest.approx(2.0) and near["mean_abs_1d_pct"] == 2.0
    assert near["realised_vol_pct"] == pytest.approx(
        100 * math.sqrt(252) * np.std([0.01, 0.03], ddof=1)
    )
    # Stamped after its session's decision (16:30 New York): not known, not counted.
    assert rows["gex_sign_flip"]["sessions"] == 0 and rows["gex_sign_flip"]["mean_1d_pct"] is None
    cross = rows["flip_cross_up"]  # sessions 3 and 4; the last has no next-day return yet
    assert (cross["sessions"], cross["with_return"]) == (2, 1)
    assert cross["mean_1d_pct"] == pytest.approx(0.5) and cross["realised_vol_pct"] is None
    assert near["vol_ci_low"] is None  # fewer than 5 returns: no interval
    every = rows["all sessions"]
    assert (every["sessions"], every["rate"], every["with_return"]) == (5, 1.0, 4)
    assert near["vol_vs_all"] == pytest.approx(near["realised_vol_pct"] / every["realised_vol_pct"])
    assert rows["put_wall_moved"]["sessions"] == 0 and rows["put_wall_moved"]["rate"] == 0.0


def test_wilson_interval_known_value() -> None:
    low, high = wilson(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson(0, 0) == (None, None)


def test_partial_rank_correlation_removes_the_shared_driver() -> None:
    rng = np.random.default_rng(9)
    iv = rng.normal(size=2000)
    gex = -iv + 0.3 * rng.normal(size=2000)  # GEX only mirrors IV
    move = iv + 0.3 * rng.normal(size=2000)  # moves follow IV
    assert partial_rank_correlation(gex, move, iv) == pytest.approx(0.0, abs=0.06)
    assert abs(np.corrcoef(gex, move)[0, 1]) > 0.8
    # By hand: ranks, then Pearson of the residuals after regressing out the control's rank.
    ranks = [np.argsort(np.argsort(v)).astype(float) for v in (gex, move, iv)]
    resid = [r - np.polyval(np.polyfit(ranks[2], r, 1), ranks[2]) for r in ranks[:2]]
    assert partial_rank_correlation(gex, move, iv) == pytest.approx(
        np.corrcoef(*resid)[0, 1], abs=1e-9
    )


def test_quantiles_split_evenly() -> None:
    frame = with_quantiles(pl.DataFrame({"net_gex": [float(i) for i in range(10)] + [None]}))
    assert frame.get_column("gex_bucket").to_list() == [
        "Q1",
        "Q1",
        "Q2",
        "Q2",
        "Q3",
        "Q3",
        "Q4",
        "Q4",
        "Q5",
        "Q5",
        None,
    ]


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[float, Path]:
    """Return synthetic histories with the regime effect planted (1.6) and switched off (1.0)."""
    out = {}
    for ratio in (1.6, 1.0):
        home = tmp_path_factory.mktemp(f"planted{ratio}")
        synthetic_history(home, SyntheticMarket(gamma_vol_ratio=ratio), SYMBOLS, FIRST, LAST)
        out[ratio] = home
    return out


def planted_ratio(home: Path, market: SyntheticMarket, symbol: str) -> float:
    """Return the vol ratio the study should find: the planted variances over its own groups.

    Each session's next-day return spans one weekday step or more (weekends, holidays); its
    planted variance is the sum of those steps' variances, whatever the engine called the day.
    """
    frame = forward(load_panel(home, symbol, FIRST, LAST, method=METHOD)).drop_nulls(
        ["gamma", "r1"]
    )
    days = frame.get_column("trade_date").to_list()
    planted = []
    for day in days:
        nxt, var = day, 0.0
        while True:
            nxt += timedelta(days=1)
            if nxt.weekday() < 5:
                var += market.step_volatility(symbol, nxt) ** 2 / 252
            if nxt in set(days) or nxt > LAST:
                break
        planted.append(var)
    frame = frame.with_columns(pl.Series("var", planted))
    means = dict(frame.group_by("gamma").agg(pl.col("var").mean()).iter_rows())
    return math.sqrt(means["negative"] / means["positive"])


def _check(home: Path, ratio: float) -> list[tuple[float, dict]]:
    """Return (planted ratio, study vol ratio) per symbol."""
    market = SyntheticMarket(gamma_vol_ratio=ratio)
    result = run_study(home, SYMBOLS, FIRST, LAST, method=METHOD)
    return [(planted_ratio(home, market, s), result["symbols"][s]["vol_ratio"]) for s in SYMBOLS]


def _inside(target: float, found: dict) -> bool:
    """Say whether `target` lies in the study's 95% interval."""
    return found["ci_low"] <= target <= found["ci_high"]


def _z(target: float, found: dict) -> float:
    """Return the study's miss of `target` in standard errors (log scale, from the 95% CI)."""
    se = (math.log(found["ci_high"]) - math.log(found["ci_low"])) / (2 * 1.96)
    return (math.log(found["ratio"]) - math.log(target)) / se


@pytest.mark.slow
def test_study_recovers_the_planted_regime_effect(lakes: dict[float, Path]) -> None:
    # Each 95% interval misses its target 1 time in 20 by design, so with three symbols the
    # test asks for at least two hits and every miss within 3 standard errors (a false
    # failure about 1 time in 140), and for the effect to be found everywhere.
    checks = _check(lakes[1.6], 1.6)
    assert sum(_inside(t, f) for t, f in checks) >= 2, checks
    assert all(abs(_z(t, f)) < 3 for t, f in checks), checks
    assert all(f["ci_low"] > 1.2 for _, f in checks), checks
    assert all(1.4 < t < 1.65 for t, _ in checks)  # planted 1.6, blurred a little by the engine


@pytest.mark.slow
def test_study_finds_nothing_when_the_effect_is_off(lakes: dict[float, Path]) -> None:
    checks = _check(lakes[1.0], 1.0)
    # Nothing planted; only holidays (two weekday steps in one return) stir the groups a little.
    assert all(t == pytest.approx(1.0, abs=0.05) for t, _ in checks), checks
    assert sum(_inside(1.0, f) for _, f in checks) >= 2, checks
    assert all(abs(_z(1.0, f)) < 3 for _, f in checks), checks


@pytest.mark.slow
def test_study_controls_for_implied_vol_when_chains_are_stored(lakes: dict[float, Path]) -> None:
    figures = run_study(lakes[1.6], ["SPY"], FIRST, LAST, method=METHOD)["symbols"]["SPY"][
        "gex_beyond_iv"
    ]
    assert figures["available"] and figures["sessions"] > 400
    # Higher GEX, calmer next day: the planted effect seen through GEX itself.
    assert figures["partial_gex_move_given_iv"] < 0
    assert figures["ci_low"] < figures["partial_gex_move_given_iv"] < figures["ci_high"]


def test_vol_ratio_needs_both_groups() -> None:
    frame = pl.DataFrame({"gamma": ["negative"] * 10, "r1": [0.01, -0.01] * 5})
    assert vol_ratio(frame)["ratio"] is None
