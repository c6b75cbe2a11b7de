"""The one chart module: colours, windows, regimes, trades, benchmarks, GEX views."""

from __future__ import annotations

import re
from datetime import date, timedelta

import plotly.graph_objects as go
import pytest

from backtest import charts

#: 300 weekdays from 2024-01-01.
DATES = [
    str(d) for d in (date(2024, 1, 1) + timedelta(days=i) for i in range(430)) if d.weekday() < 5
][:300]
CLOSE = [100 + (i % 40) - 20 + i * 0.1 for i in range(len(DATES))]


def _bars() -> dict[str, list[float | None]]:
    return {
        "open": [c - 0.5 for c in CLOSE],
        "high": [c + 1 for c in CLOSE],
        "low": [c - 1 for c in CLOSE],
        "close": list(CLOSE),
    }


def _levels() -> dict[str, list[float | None]]:
    return {
        "gamma_flip": [c - 3 for c in CLOSE],
        "call_wall": [c + 5 for c in CLOSE],
        "put_wall": [c - 5 for c in CLOSE],
    }


def _trace(fig: go.Figure, name: str) -> go.BaseTraceType:
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace {name!r} in {[t.name for t in fig.data]}"
    return found[0]


def test_walls_and_flip_have_their_own_colours_not_the_candles() -> None:
    fig = charts.price_chart(DATES, _bars(), _levels())
    candle = _trace(fig, "price")
    candle_colours = {candle.increasing.line.color, candle.decreasing.line.color}
    walls = {n: _trace(fig, n).line.color for n in ("call wall", "put wall", "gamma flip")}
    assert len(set(walls.values())) == 3  # each level its own colour
    assert not candle_colours & set(walls.values())  # none the candles' green or red
    assert walls["gamma flip"] == charts.COLOURS["gamma_flip"]
    assert all(_trace(fig, n).showlegend is not False for n in walls)  # named in the legend


def test_price_chart_opens_on_the_last_six_months_as_candles_with_a_slider() -> None:
    fig = charts.price_chart(DATES, _bars(), _levels())
    start, end = fig.layout.xaxis.range  # the last WINDOW sessions, whole bars at both ends
    assert DATES[-charts.WINDOW - 1] < start < DATES[-charts.WINDOW] and end > DATES[-1]
    assert fig.layout.xaxis.rangeslider.visible is True
    labels = [b.label for b in fig.layout.xaxis.rangeselector.buttons]
    assert labels == ["1m", "3m", "6m", "YTD", "1y", "all"]
    assert _trace(fig, "price").visible is True and _trace(fig, "close").visible is False
    low, high = fig.layout.yaxis.range  # fitted to the opening window, not the whole span
    shown = [v for series in (_bars()["low"], _bars()["high"]) for v in series[-charts.WINDOW :]]
    walls = [v for series in _levels().values() for v in series[-charts.WINDOW :]]
    assert low <= min(shown + walls) and high >= max(shown + walls)
    assert low > min(_bars()["low"]) - 5  # the early, lower prices are not in the window
    assert fig.layout.meta["gammalake"]["candle_days"] == charts.CANDLE_DAYS


def test_a_long_span_opens_as_a_line_and_the_page_script_switches() -> None:
    few = DATES[::3]  # 100 sessions over 14 months: all fit the window, too long for candles
    bars = {k: v[::3] for k, v in _bars().items()}
    fig = charts.price_chart(few, bars, {})
    assert _trace(fig, "price").visible is False and _trace(fig, "close").visible is True
    for needed in ("candle_days", '"candles"', '"close"', "yaxis.range", "plotly_relayout"):
        assert needed in charts.ZOOM_SCRIPT


def test_regime_shading_is_translucent_and_covers_each_run_without_gaps() -> None:
    regime = ["positive"] * 5 + ["negative"] * 3 + [None] * 2 + ["positive"] * 4
    dates = DATES[:14]
    fig = charts.price_chart(dates, {k: v[:14] for k, v in _bars().items()}, {}, regime=regime)
    shapes = fig.layout.shapes
    assert len(shapes) == 3  # positive, negative, (unknown: none), positive
    alphas = [float(re.findall(r"[\d.]+", s.fillcolor)[-1]) for s in shapes]
    assert all(0 < a < 0.2 for a in alphas)
    assert shapes[0].x1 == shapes[1].x0  # runs meet halfway: no gap over a weekend
    assert shapes[0].fillcolor != shapes[1].fillcolor
    assert {t.name for t in fig.data} >= {"positive gamma", "negative gamma"}  # legend keys
    assert charts.regime_runs(dates[:4], ["positive", None, "positive", "positive"]) == [
        ("positive", dates[0], dates[0]),
        (None, dates[1], dates[1]),
        ("positive", dates[2], dates[3]),
    ]


def test_trade_markers_mark_entries_by_side_and_closed_exits() -> None:
    trades = [
        {"entry": DATES[3], "exit": DATES[9], "side": "Long", "entry_price": 101.0,
         "exit_price": 104.0, "status": "Closed", "return_pct": 2.97},
        {"entry": DATES[12], "exit": DATES[-1], "side": "Short", "entry_price": 99.0,
         "exit_price": 98.0, "status": "Open", "return_pct": 1.0},
    ]  # fmt: skip
    fig = charts.price_chart(DATES, _bars(), _levels(), trades=trades)
    entry, exit_ = _trace(fig, "entry"), _trace(fig, "exit")
    assert list(entry.x) == [DATES[3], DATES[12]] and list(entry.y) == [101.0, 99.0]
    assert list(entry.marker.symbol) == ["triangle-up", "triangle-down"]
    assert list(exit_.x) == [DATES[9]] and list(exit_.y) == [104.0]  # the open trade has none


def test_net_gex_over_time_is_in_billions_coloured_by_sign() -> None:
    fig = charts.net_gex_chart(DATES[:3], [2e9, -5e8, None])
    bar = _trace(fig, "net GEX")
    assert list(bar.y) == [2.0, -0.5, None]
    up, down = charts.COLOURS["up"], charts.COLOURS["down"]
    assert list(bar.marker.color) == [up, down, up]
    assert "$ bn" in fig.layout.yaxis.title.text


def test_drawdown_and_monthly_charts_draw_the_benchmark_too() -> None:
    dd = charts.drawdown_chart(
        DATES[:3], {"strategy": [0, -0.1, -0.05], "buy_and_hold": [0, 0, -0.2]}
    )
    assert [t.name for t in dd.data] == ["strategy", "buy and hold"]
    assert list(dd.data[1].y) == [0, 0, -20.0]  # fractions in, % drawn
    months = {
        "strategy": [
            {"period": "2024-01", "return": 0.0123},
            {"period": "2024-02", "return": -0.02},
        ],
        "buy_and_hold": [
            {"period": "2024-01", "return": 0.05},
            {"period": "2024-02", "return": None},
        ],
    }
    fig = charts.monthly_chart(months)
    assert [t.name for t in fig.data] == ["strategy", "buy and hold"]
    assert list(fig.data[0].z[0][:3]) == [pytest.approx(1.23), -2.0, None]
    assert list(fig.data[0].text[0][:3]) == ["1.23%", "-2.00%", ""]  # empty months say nothing
    assert fig.data[0].zmin == -fig.data[0].zmax == -5.0  # one colour scale for both


def test_distribution_rolling_and_yearly_charts() -> None:
    hist = {"edges": [-0.02, -0.01, 0.0, 0.01], "strategy": [1, 0, 3], "buy_and_hold": [0, 2, 2]}
    fig = charts.distribution_chart(hist)
    assert list(fig.data[0].x) == pytest.approx([-1.5, -0.5, 0.5])
    assert [t.name for t in fig.data] == ["strategy", "buy and hold"]
    roll = charts.rolling_chart(DATES[:2], {"strategy": [None, 0.2]}, "volatility", 100.0)
    assert list(roll.data[0].y) == [None, 20.0]
    years = {
        "strategy": [{"period": "2024", "return": 0.1}],
        "buy_and_hold": [{"period": "2024", "return": -0.05}],
    }
    bars = charts.yearly_chart(years)
    assert [list(t.y) for t in bars.data] == [[10.0], [-5.0]]


def test_gex_by_strike_and_gamma_profile_for_the_dashboard() -> None:
    fig = charts.gex_by_strike_chart(
        [95, 100, 105], [1e9, 2e9, 3e8], [-2e9, -1e9, -1e8], spot=101.0, flip=98.5
    )
    assert [t.name for t in fig.data] == ["call GEX", "put GEX", "net GEX"]
    assert list(fig.data[2].y) == pytest.approx([-1.0, 1.0, 0.2])
    assert fig.data[0].marker.color == charts.COLOURS["up"]
    assert fig.data[1].marker.color == charts.COLOURS["down"]
    lines = sorted(s.x0 for s in fig.layout.shapes)
    assert lines == [98.5, 101.0]
    profile = charts.gamma_profile_chart([90, 100, 110], [-1e9, 0, 2e9], spot=100.0, flip=100.0)
    assert list(profile.data[0].y) == [-1.0, 0.0, 2.0]
    for figure in (fig, profile):
        assert figure.to_plotly_json()["layout"]["template"]["layout"]["paper_bgcolor"] == "white"
