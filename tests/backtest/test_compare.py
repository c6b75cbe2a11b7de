"""`backtest.compare`: disagreement figures of two methods, checked against hand-computed ones.

The hand-made lake holds TEST under two methods over overlapping sessions (d0..d4 and d1..d5),
spot 200 every day, so every figure below can be worked out on paper.
"""

from __future__ import annotations

import json
import math
from datetime import date, time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from backtest.compare import (
    compare_methods,
    partial_ci,
    partial_rank_draws,
    rank_correlation,
    write_compare_report,
)
from backtest.study import DRAWS, bootstrap_ci, partial_rank_correlation
from pipeline.engine.method import resolve_method
from tests.backtest.conftest import sessions, stamp, write_history
from warehouse import catalog
from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake

A, B = resolve_method("default"), resolve_method("all_short")
SPAN = (date(2000, 1, 1), date(2100, 1, 1))
#: Snapshot columns of hand-made levels.
Known = dict[str, list[float | None]]


def bars(count: int) -> dict[str, list[float]]:
    """Return flat bars at 200 (open, high, low, close) for `count` sessions."""
    return {k: [200.0] * count for k in ("open", "high", "low", "close")}


@pytest.fixture
def two_methods(tmp_path: Path) -> tuple[Path, list[date]]:
    """Return a lake of TEST under A (sessions d0..d4) and B (d1..d5) and the six sessions."""
    days = sessions(6)
    write_history(
        tmp_path,
        days[:5],
        bars(5),
        {
            "underlying_price": [200.0] * 5,
            "gamma_flip": [198.0, 202.0, 196.0, 204.0, 194.0],
            "call_wall": [210.0, 210.0, 215.0, 215.0, 220.0],
            "put_wall": [190.0] * 5,
            "net_gex": [5e9, 1e9, 2e9, 3e9, 4e9],
        },
        method=A,
        source="synthetic",
    )
    write_history(
        tmp_path,
        days[1:],
        bars(5),
        {
            "underlying_price": [200.0] * 5,
            "gamma_flip": [206.0, 192.0, 198.0, 194.0, 200.0],
            "call_wall": [210.0, 212.0, 215.0, 220.0, 220.0],
            "put_wall": [190.0, 190.0, 185.0, 185.0, 190.0],
            "net_gex": [10e9, 30e9, 20e9, 40e9, 1e9],
        },
        method=B,
        source="synthetic",
    )
    return tmp_path, days


def only_pair(home: Path, methods: list[str] | None = None) -> dict:
    result = compare_methods(home, ["TEST"], methods or [A, B], *SPAN)
    (pair,) = result["symbols"]["TEST"]["pairs"]
    return pair


def test_sessions_of_one_method_only_are_counted_and_named(two_methods) -> None:
    home, days = two_methods
    cover = only_pair(home)["coverage"]
    assert (cover["both"], cover["only_a"], cover["only_b"]) == (4, 1, 1)
    assert cover["only_a_dates"] == [str(days[0])] and cover["only_b_dates"] == [str(days[5])]


def test_regime_agreement_by_hand(two_methods) -> None:
    # d1: A flip 202 > spot (negative), B 206 (negative): agree; d2: 196, 192 both positive;
    # d3: A 204 negative, B 198 positive: differ; d4: 194, 194 both positive -> 3 of 4
    regime = only_pair(two_methods[0])["regime"]
    assert regime == {"sessions": 4, "agree": 3, "agreement_pct": 75.0}


def test_flip_distance_by_hand(two_methods) -> None:
    # |flip A - flip B| over d1..d4: 4, 4, 6, 0 -> sorted 0, 4, 4, 6: median 4; p90 at
    # position 0.9 * 3 = 2.7 -> 4 + 0.7 * (6 - 4) = 5.4 points; spot 200: 2.0% and 2.7%
    flip = only_pair(two_methods[0])["flip"]
    assert flip["sessions"] == 4 and flip["one_flip_only"] == 0
    assert flip["median_points"] == pytest.approx(4.0)
    assert flip["p90_points"] == pytest.approx(5.4)
    assert flip["median_spot_pct"] == pytest.approx(2.0)
    assert flip["p90_spot_pct"] == pytest.approx(2.7)


def test_wall_equality_by_hand(two_methods) -> None:
    # call walls d1..d4: 210=210, 215!=212, 215=215, 220=220 -> 3/4;
    # put walls: 190=190, 190=190, 190!=185, 190!=185 -> 2/4
    walls = only_pair(two_methods[0])["walls"]
    assert walls["call_wall"] == {"sessions": 4, "equal": 3, "equal_pct": 75.0}
    assert walls["put_wall"] == {"sessions": 4, "equal": 2, "equal_pct": 50.0}


def test_net_gex_rank_correlation_by_hand(two_methods) -> None:
    # d1..d4: A 1, 2, 3, 4 (ranks 1 2 3 4); B 10, 30, 20, 40 (ranks 1 3 2 4):
    # 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15) = 0.8
    gex = only_pair(two_methods[0])["net_gex"]
    assert gex == {"sessions": 4, "spearman": pytest.approx(0.8)}


def test_a_method_without_flips_takes_its_regime_from_the_net_gex_sign(tmp_path: Path) -> None:
    days = sessions(4)
    flips: Known = {
        "underlying_price": [200.0] * 4,
        "gamma_flip": [190.0, 210.0, 190.0, 210.0],
        "net_gex": [1.0] * 4,
    }
    write_history(tmp_path, days, bars(4), flips, method=A)
    signs: Known = {"underlying_price": [200.0] * 4, "net_gex": [1e9, 1e9, -1e9, -1e9]}
    write_history(tmp_path, days, bars(4), signs, method=B)
    # A: positive, negative, positive, negative; B: positive, positive, negative, negative
    result = compare_methods(tmp_path, ["TEST"], [A, B], *SPAN)
    figures = result["symbols"]["TEST"]
    assert figures["regime_basis"] == {
        A: "spot vs gamma flip",
        B: "net GEX sign (no flip stored)",
    }
    pair = figures["pairs"][0]
    assert pair["regime"] == {"sessions": 4, "agree": 2, "agreement_pct": 50.0}
    assert pair["flip"]["sessions"] == 0 and pair["flip"]["one_flip_only"] == 4
    assert pair["flip"]["median_points"] is None


def test_three_methods_give_every_pair(two_methods) -> None:
    home, days = two_methods
    third = resolve_method("perfiliev")
    level: Known = {
        "underlying_price": [200.0] * 6,
        "gamma_flip": [199.0] * 6,
        "net_gex": [1e9] * 6,
    }
    write_history(home, days, bars(6), level, method=third, source="synthetic")
    result = compare_methods(home, ["TEST"], [A, B, third], *SPAN)
    pairs = [(p["a"], p["b"]) for p in result["symbols"]["TEST"]["pairs"]]
    assert pairs == [(A, B), (A, third), (B, third)]
    assert result["symbols"]["TEST"]["sessions"] == {A: 5, B: 5, third: 6}


def test_a_method_not_stored_is_one_error_naming_it_and_the_stored_ones(two_methods) -> None:
    missing = resolve_method("perfiliev")
    with pytest.raises(WarehouseInputError) as caught:
        compare_methods(two_methods[0], ["TEST"], [A, missing], *SPAN)
    message = str(caught.value)
    assert f"method {missing} has no stored snapshot of TEST" in message
    assert f"stored for TEST: {', '.join(sorted([A, B]))}" in message
    assert "\n" not in message


def test_a_span_without_sessions_of_a_method_is_refused(two_methods) -> None:
    home, days = two_methods
    with pytest.raises(WarehouseInputError, match=f"method {A} has no snapshot of TEST from"):
        compare_methods(home, ["TEST"], [A, B], days[5], days[5])


def test_one_method_is_not_a_comparison(two_methods) -> None:
    with pytest.raises(WarehouseInputError, match="two or more different methods"):
        compare_methods(two_methods[0], ["TEST"], [A, A], *SPAN)


def test_rank_correlation_needs_three_varying_values() -> None:
    assert rank_correlation(np.array([1.0, 2.0]), np.array([2.0, 1.0])) is None
    assert rank_correlation(np.array([1.0, 2.0, 3.0]), np.array([5.0, 5.0, 5.0])) is None
    assert rank_correlation(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == -1.0


def test_partial_correlation_of_draws_equals_the_studys_on_each_drawn_sample() -> None:
    rng = np.random.default_rng(3)
    iv = rng.normal(size=80)
    gex = -iv + rng.normal(size=80)
    move = iv + 0.5 * rng.normal(size=80)
    table = np.column_stack([gex, move, iv])
    whole = partial_rank_draws(table, np.arange(80))
    assert whole == pytest.approx([partial_rank_correlation(gex, move, iv)], abs=1e-12)
    drawn = rng.integers(0, 80, (5, 80))  # with repeats: copies of a session tie
    for sample in (table, np.round(table)):  # and ties among the values themselves
        want = [partial_rank_correlation(*sample[d].T) for d in drawn]
        assert partial_rank_draws(sample, drawn) == pytest.approx(want, abs=1e-12)
    flat = np.column_stack([gex, move, np.ones(80)])  # a constant control: plain Spearman
    want = [partial_rank_correlation(*flat[d].T) for d in drawn]
    assert partial_rank_draws(flat, drawn) == pytest.approx(want, abs=1e-12)


def test_bootstrap_draws_with_an_undefined_partial_are_left_out_and_counted() -> None:
    iv = np.arange(8.0)
    gex = iv.copy()
    gex[[0, 1]] = gex[[1, 0]]  # ranks as IV does, but for one swap: a draw missing it is 0/0
    move = np.random.default_rng(5).normal(size=8)
    table = np.column_stack([gex, move, iv])
    low, high, undefined = partial_ci(table)
    assert 0 < undefined < DRAWS and low is not None and high is not None and low <= high
    assert partial_ci(np.column_stack([2 * iv, move, iv])) == (None, None, DRAWS)
    # the study's bootstrap on the same draws gives no interval at all
    whole = bootstrap_ci(np.arange(8), lambda drawn: partial_rank_draws(table, drawn))
    assert all(math.isnan(v) for v in whole)
    # where every draw is defined, the same interval as the study's bootstrap
    rng = np.random.default_rng(6)
    iv = rng.normal(size=60)
    table = np.column_stack([rng.normal(size=60) - iv, rng.normal(size=60), iv])
    expected = bootstrap_ci(np.arange(60), lambda drawn: partial_rank_draws(table, drawn))
    assert partial_ci(table) == (pytest.approx(expected[0]), pytest.approx(expected[1]), 0)


def test_information_reports_why_a_figure_is_missing(two_methods) -> None:
    result = compare_methods(two_methods[0], ["TEST"], [A, B], *SPAN)
    info = result["symbols"]["TEST"]["information"][A]
    assert info["available"] and info["vol_ratio"]["ratio"] is None  # 5 sessions: too few
    assert info["gex_beyond_iv"] == {
        "available": False,
        "why": "no implied volatility stored (chains dataset)",
    }


def test_report_holds_the_figures_and_both_flips(two_methods, tmp_path: Path) -> None:
    result = compare_methods(two_methods[0], ["TEST"], [A, B], *SPAN)
    page, numbers = write_compare_report(tmp_path / "out" / "cmp", result)
    text = page.read_text()
    assert f"{A} vs {B}" in text and "75.00%" in text and "50.00%" in text
    assert "5.40" in text and "0.800" in text
    assert f"flip {A}" in text and f"flip {B}" in text  # the flips-over-time chart's traces
    assert "have no" in text  # the one-sided sessions are named on the page
    assert (page.parent / "plotly.min.js").is_file()
    saved = json.loads(numbers.read_text())
    assert saved["symbols"]["TEST"]["pairs"][0]["regime"]["agreement_pct"] == 75.0
    assert not math.isnan(saved["symbols"]["TEST"]["pairs"][0]["flip"]["p90_points"])


def test_a_symbol_without_bars_still_gets_its_disagreement_figures(tmp_path: Path) -> None:
    days = sessions(3)
    rows = [
        pl.DataFrame(
            {
                "symbol": "TEST",
                "source": "synthetic",
                "method": method,
                "as_of": [stamp(d, time(16, 15)) for d in days],
                "trade_date": days,
                "underlying_price": [200.0] * 3,
                "net_gex": [1e9, 2e9, 3e9],
            }
        ).with_columns(pl.col("as_of").dt.convert_time_zone("UTC"))
        for method in (A, B)
    ]
    Lake(tmp_path).write_all({"snapshots": pl.concat(rows)})
    catalog.ensure(tmp_path)
    figures = compare_methods(tmp_path, ["TEST"], [A, B], *SPAN)["symbols"]["TEST"]
    assert figures["pairs"][0]["net_gex"] == {"sessions": 3, "spearman": pytest.approx(1.0)}
    for method in (A, B):
        info = figures["information"][method]
        assert not info["available"] and "no price bars of TEST" in info["why"]
