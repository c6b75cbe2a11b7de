"""Honest results: close-only bars counted, zero gamma in neither regime, idle strategies said,
walk-forward off labelled, and the sessions a report covers named."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backtest.panel import Timing, load_panel
from backtest.report import (
    backtest_sections,
    backtest_subtitle,
    study_sections,
    study_subtitle,
)
from backtest.run import Request, run_backtest
from backtest.study import forward, run_study
from gammalake.cli.research import backtest_command, make_request, study_command
from tests.backtest.conftest import sessions, write_history

#: What the CLI passes when neither --start nor --end is given.
ALL = (date(1900, 1, 1), date(2999, 12, 31))
VENDOR = "vendor"
DAYS = 60
#: Sessions 20..34 have a close only (like DIX.csv after 2023-12-28).
CLOSE_ONLY = range(20, 35)
#: Net GEX flips sign every three sessions: positive on sessions 0-2, 6-8, ...
GEX = [1e9 if (i // 3) % 2 == 0 else -1e9 for i in range(DAYS)]


@pytest.fixture(scope="module")
def close_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a lake of 60 sessions, 15 of them close-only bars, net GEX flipping sign."""
    home = tmp_path_factory.mktemp("close-only")
    close = 100 + np.arange(DAYS, dtype=float)
    full = [i not in CLOSE_ONLY for i in range(DAYS)]
    bars = {
        "open": [c - 0.5 if f else None for c, f in zip(close, full, strict=True)],
        "high": [c + 1 if f else None for c, f in zip(close, full, strict=True)],
        "low": [c - 1 if f else None for c, f in zip(close, full, strict=True)],
        "close": close.tolist(),
    }
    known = {"underlying_price": close.tolist(), "net_gex": GEX, "net_dex": [-1e9] * DAYS}
    write_history(home, sessions(DAYS), bars, known)
    return home


def _long_flat(home: Path, **extra: Any) -> dict[str, Any]:
    """Return the figures of 'long in positive net GEX, flat otherwise' (plus `extra`)."""
    timing = extra.pop("timing", Timing())
    params = {"basis": "gex", **extra}
    request = Request("regime", ["TEST"], *ALL, VENDOR, params=params, timing=timing)
    return run_backtest(home, request)


def test_fills_at_the_next_open_of_close_only_bars_are_counted(close_only: Path) -> None:
    result = _long_flat(close_only)
    counts = result["symbols"]["TEST"]["close_fallback"]
    # Targets change on decisions 0, 3, 6, ...: filled at the opens of sessions 1, 4, 7, ...
    fills = [d + 1 for d in range(0, DAYS - 1, 3)]
    assert counts == {
        "sessions_without_open": 15,
        "sessions_without_range": 15,
        "fills_at_close": sum(f in CLOSE_ONLY for f in fills),  # 22, 25, 28, 31, 34
        "stop_checks_at_close": 0,  # no stop set
    }
    trades = result["symbols"]["TEST"]["trades"]
    entry = next(t for t in trades if t["entry"] == str(sessions(DAYS)[25]))
    assert entry["entry_price"] == pytest.approx(125.0 * 1.0005)  # the close, plus slippage


def test_stop_checks_on_close_only_bars_are_counted(close_only: Path) -> None:
    counts = _long_flat(close_only, sl=50.0)["symbols"]["TEST"]["close_fallback"]
    # A stop watches bar i when the position decided at i - 2 was held into it.
    held = [i for i in CLOSE_ONLY if GEX[i - 2] > 0]
    assert counts["stop_checks_at_close"] == len(held) == 9
    closes = _long_flat(close_only, sl=50.0, timing=Timing(fill="next_close"))
    counts = closes["symbols"]["TEST"]["close_fallback"]
    assert counts["fills_at_close"] == 0  # fills meant for the close lost nothing
    assert counts["stop_checks_at_close"] == 9


def test_close_only_bars_get_a_caution_in_the_report_json_and_cli(
    close_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = make_request("regime", ["TEST"], ALL, _options(params="basis=gex;sl=50"))
    page, numbers = backtest_command(close_only, request, tmp_path / "bt")
    line = (
        "TEST: 15 of 60 reported sessions have no open and 15 no high-low range (close-only "
        "bars): 5 fill(s) meant for the next open used the close instead, and 9 stop check(s) "
        "saw high = low = close."
    )
    assert line in capsys.readouterr().out
    assert line in page.read_text()
    figures = json.loads(numbers.read_text())["symbols"]["TEST"]
    assert figures["close_fallback"]["fills_at_close"] == 5


def test_full_bars_need_no_caution(close_only: Path, tmp_path: Path) -> None:
    days = sessions(40)
    close = [100.0 + i for i in range(40)]
    bars = {k: close for k in ("open", "high", "low", "close")}
    write_history(tmp_path, days, bars, {"net_gex": GEX[:40]})
    result = _long_flat(tmp_path, sl=5.0)
    assert set(result["symbols"]["TEST"]["close_fallback"].values()) == {0}
    _, cautions = backtest_sections(result)
    assert not any("close-only" in line for line in cautions)


def _options(**given: Any) -> dict[str, Any]:
    """Return the CLI's backtest options with `given` ones replaced."""
    options = {
        "grid": None,
        "params": None,
        "source": None,
        "method": None,
        "fill": "next_open",
        "decide": "16:30",
        "fees": 5.0,
        "slippage": 5.0,
        "walk_forward": "expanding",
        "train": 252,
        "test": 63,
    }
    return options | given


def test_a_strategy_that_never_trades_says_so(
    close_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Net DEX is always negative here, so GEX, DEX, VEX and CHEX never agree.
    request = make_request("alignment", ["TEST"], ALL, _options(grid="default"))
    page, numbers = backtest_command(close_only, request, tmp_path / "idle")
    line = (
        "alignment made no trade on TEST over 2024-01-02 .. 2024-03-27 in any of 4 configurations"
    )
    out = capsys.readouterr().out
    assert line in out and "buy and hold" not in out  # the line instead of a table of zeros
    figures = json.loads(numbers.read_text())["symbols"]["TEST"]
    assert figures["no_trade"] == line
    text = page.read_text()
    assert line in text
    assert "Equity: strategy against buy and hold" not in text and "Drawdown" not in text


def test_one_idle_configuration_says_so_without_a_grid(close_only: Path) -> None:
    result = run_backtest(close_only, Request("alignment", ["TEST"], *ALL, VENDOR))
    figures = result["symbols"]["TEST"]
    assert figures["no_trade"] == "alignment made no trade on TEST over 2024-01-02 .. 2024-03-27"
    sections, cautions = backtest_sections(result)
    assert cautions == [f"{figures['no_trade']}."]
    assert [b["title"] for b in sections[0].blocks] == [
        "Price with the known gamma flip and walls",
        "Net GEX known each session",
        "Every configuration tried, best Sharpe first",
    ]


def test_a_trading_strategy_has_no_idle_line(close_only: Path) -> None:
    assert _long_flat(close_only)["symbols"]["TEST"]["no_trade"] is None


@pytest.fixture(scope="module")
def long_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return 320 sessions of full bars with a flip moving around spot."""
    home = tmp_path_factory.mktemp("long")
    days = sessions(320)
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, len(days))))
    flip = close * (1 + 0.02 * np.sin(np.arange(len(days)) / 11))
    bars = {k: close.tolist() for k in ("open", "high", "low", "close")}
    write_history(home, days, bars, {"underlying_price": close.tolist(), "gamma_flip": flip})
    return home


def test_walk_forward_none_is_labelled_as_such(long_history: Path) -> None:
    grid = "band=0,0.5;short=0,1"
    off = run_backtest(
        long_history, Request("regime", ["TEST"], *ALL, VENDOR, grid=grid, walk_forward="none")
    )
    figures = off["symbols"]["TEST"]
    assert figures["walk_forward_status"] == "off" and figures["walk_forward"] == []
    assert figures["selection"] == (
        "best of the grid over the whole span (in-sample: --walk-forward none)"
    )
    assert "walk-forward none: the grid's best over the whole span, in-sample" in (
        backtest_subtitle(off)
    )
    on = run_backtest(long_history, Request("regime", ["TEST"], *ALL, VENDOR, grid=grid))
    assert on["symbols"]["TEST"]["walk_forward_status"] == "walk-forward"
    assert "walk-forward expanding: train 252 / test 63 sessions" in backtest_subtitle(on)
    short = Request("regime", ["TEST"], *ALL, VENDOR, grid=grid, train=300, test=63)
    figures = run_backtest(long_history, short)["symbols"]["TEST"]
    assert figures["walk_forward_status"] == "too short"
    assert (
        "320 sessions are too short for walk-forward of train 300 + test 63"
        in (figures["selection"])
    )


def test_an_unknown_walk_forward_mode_is_one_line() -> None:
    with pytest.raises(ValueError, match="--walk-forward 'anchored' unknown"):
        Request("regime", ["TEST"], *ALL, VENDOR, walk_forward="anchored")


def test_subtitles_name_the_sessions_covered_not_the_open_span(
    long_history: Path, tmp_path: Path
) -> None:
    result = run_backtest(long_history, Request("regime", ["TEST"], *ALL, VENDOR))
    last = str(sessions(320)[-1])
    subtitle = backtest_subtitle(result)
    assert f"sessions 2024-01-02 .. {last}" in subtitle
    assert "1900" not in subtitle and "2999" not in subtitle
    page, _ = study_command(long_history, ["TEST"], ALL, None, tmp_path / "s", method=VENDOR)
    text = page.read_text()
    assert f"sessions 2024-01-02 .. {last}" in text and "1900-01-01" not in text
    study = run_study(long_history, ["TEST"], date(2024, 3, 1), ALL[1], method=VENDOR)
    assert study_subtitle(study).startswith(f"Method vendor; sessions 2024-03-01 .. {last}")


def test_zero_net_gex_is_neither_regime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    days = sessions(30)
    rng = np.random.default_rng(3)
    close = (100 * np.exp(np.cumsum(rng.normal(0, 0.01, 30)))).tolist()
    bars = {k: close for k in ("open", "high", "low", "close")}
    gex = [1e9, -1e9] * 15
    gex[7] = 0.0  # one day of exactly zero net GEX (DIX.csv has them)
    write_history(tmp_path, days, bars, {"underlying_price": close, "net_gex": gex})
    frame = forward(load_panel(tmp_path, "TEST", *ALL, method=VENDOR))
    assert frame.get_column("gamma").to_list()[6:9] == ["positive", None, "positive"]
    study = run_study(tmp_path, ["TEST"], *ALL, method=VENDOR)
    figures = study["symbols"]["TEST"]
    assert "1 session(s) with net GEX of exactly 0: counted in neither regime." in (
        study_sections(study)[0].notes
    )
    groups = {r["gamma"]: r["sessions"] for r in figures["by_regime"]}
    # 29 next-day returns: 15 after positive days, 13 after negative ones, 1 after the zero
    # day (the last session, negative, has no next day).
    assert groups == {"negative": 13, "positive": 15}
    assert figures["neither_regime"] == 1
    assert figures["vol_ratio"]["negative"] == 13
    study_command(tmp_path, ["TEST"], ALL, None, tmp_path / "s", method="vendor")
    assert "neither (exactly 0) │        1" in capsys.readouterr().out


def test_spot_exactly_at_the_flip_is_neither_regime(tmp_path: Path) -> None:
    days = sessions(10)
    close = [100.0] * 10
    bars = {k: close for k in ("open", "high", "low", "close")}
    flip = [99.0, 101.0, 100.0, 99.0, 101.0, 100.0, 99.0, 101.0, 99.0, 101.0]
    write_history(tmp_path, days, bars, {"underlying_price": close, "gamma_flip": flip})
    frame = forward(load_panel(tmp_path, "TEST", *ALL, method=VENDOR))
    assert frame.get_column("gamma").to_list()[:3] == ["positive", "negative", None]
