"""`gammalake backtest` and `gammalake study` as users run them, and the refdata history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.engine.method import resolve_method
from tests.backtest.conftest import sessions, write_history
from tests.flows.conftest import import_dix_and_sp500

BIN = Path(sys.executable).with_name("gammalake")


def run(
    home: Path, *args: str, cwd: Path | None = None, path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI on `home` (in `cwd`, with `path` on PYTHONPATH when given)."""
    env = {**os.environ, "PYTHONPATH": str(path)} if path is not None else None
    return subprocess.run(
        [str(BIN), "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )


#: A user's strategies module: a trend rule with a grid, and one that reads tomorrow's close.
USER_MODULE = """
import numpy as np
from backtest.strategies import Known, Params, Strategy, lag

def _trend(k: Known, p: Params) -> np.ndarray:
    before = lag(k.last_close, int(p["lookback"]))
    side = np.where(k.last_close > before, 1.0, -float(p["short"]))
    return np.where(np.isnan(before), 0.0, side)

def _tomorrow(k: Known, p: Params) -> np.ndarray:
    return np.where(np.roll(k.last_close, -1) > k.last_close, 1.0, 0.0)

trend = Strategy("trend", _trend, {"lookback": 5, "short": 0},
                 {"lookback": [3, 5, 10], "short": [0, 1]}, "follow the trend")
peek = Strategy("peek", _tomorrow, {})
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a lake of 300 sessions with a flip, walls and every net exposure."""
    home = tmp_path_factory.mktemp("cli")
    days = sessions(300)
    rng = np.random.default_rng(8)
    close = 50 * np.exp(np.cumsum(rng.normal(0.0002, 0.012, len(days))))
    flip = close * (1 + 0.03 * np.sin(np.arange(len(days)) / 9))
    bars = {k: close.tolist() for k in ("open", "high", "low", "close")}
    exposures = {
        f"net_{g}": (rng.normal(0, 1e8, len(days))).tolist() for g in ("gex", "dex", "vex", "chex")
    }
    known = {
        "underlying_price": close.tolist(),
        "gamma_flip": flip.tolist(),
        "call_wall": (close * 1.02).tolist(),
        "put_wall": (close * 0.98).tolist(),
        **exposures,
    }
    write_history(home, days, bars, known, symbol="ABC")
    return home


def test_backtest_writes_the_report_it_names(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run(
        home,
        "backtest",
        "--strategy",
        "alignment",
        "--symbols",
        "ABC",
        "--grid",
        "agree=3,4;short=0,1;sl=0,5",
        "--train",
        "150",
        "--test",
        "50",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "buy and hold" in result.stdout and "8 configuration(s) tried" in result.stdout
    figures = json.loads((tmp_path / "r.json").read_text())["symbols"]["ABC"]
    assert figures["multiple_testing"]["configurations"] == 8
    assert figures["selection"].startswith("walk-forward: 3 out-of-sample windows")
    assert f"report: {out}.html" in result.stdout.replace("\n", "")


def test_backtest_defaults_write_under_reports(home: Path) -> None:
    result = run(
        home,
        "backtest",
        "--strategy",
        "wall_break",
        "--symbols",
        "ABC",
        "--params",
        "hold=3;tp=4",
        "--fill",
        "next_close",
    )
    assert result.returncode == 0, result.stderr
    assert list((home / "reports").glob("backtest-wall_break-*.html"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "momentum", "--symbols", "ABC"], "unknown strategy 'momentum'"),
        (["--strategy", "regime", "--symbols", "XYZ"], "no snapshots of XYZ"),
        (["--strategy", "regime", "--symbols", "ABC", "--grid", "width=1"], "no 'width'"),
        (
            ["--strategy", "regime", "--symbols", "ABC", "--fill", "same_close"],
            "cannot fill at that session's 16:00 close",
        ),
        (["--strategy", "regime", "--symbols", "ABC", "--decide", "late"], "--decide 'late'"),
        (["--strategy", "regime"], "needs --strategy and --symbols"),
        (
            ["--strategy", "regime", "--symbols", "ABC", "--params", "band=abc"],
            "--params band=abc is not a number",
        ),
        (
            ["--strategy", "regime", "--symbols", "ABC", "--grid", "band=a,b"],
            "--grid band=a is not a number",
        ),
        (
            ["--strategy", "regime", "--symbols", "ABC", "--grid", "band=1:0:0.5"],
            "--grid band=1:0:0.5: a range needs start <= stop and a step > 0",
        ),
        (
            ["--strategy", "regime", "--symbols", "ABC", "--grid", "band=0:1:0"],
            "a step > 0",
        ),
        (
            ["--strategy", "regime", "--symbols", "ABC", "--grid", "=1"],
            "--grid entry '=1' is not name=values",
        ),
        (
            ["--strategy", "regime", "--symbols", "ABC", "--grid", "band=0:100:0.001"],
            "makes 100,001 values; the most is 5,000",
        ),
        (
            ["--strategy", "wall_break", "--symbols", "ABC", "--params", "hold=2.5"],
            "--params hold=2.5 is not a whole number",
        ),
        (
            ["--strategy", "regime", "--symbols", "ABC", "--walk-forward", "sideways"],
            "--walk-forward 'sideways' unknown",
        ),
        (
            ["--strategy", "regime", "--symbols", "ABC", "--method", "nosuch"],
            "unknown method 'nosuch'",
        ),
    ],
)
def test_bad_backtest_requests_exit_2_with_one_clear_line(home, args, message) -> None:
    result = run(home, "backtest", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_study_prints_the_regime_table_and_writes_the_report(home: Path, tmp_path: Path) -> None:
    result = run(home, "study", "--symbols", "ABC", "--out", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert "ratio neg/pos" in result.stdout and "call wall held intraday" in result.stdout
    page = (tmp_path / "s.html").read_text()
    assert "Method vendor; sessions 2024-01-02 .. " in page and "1900-01-01" not in page


def test_backtest_says_when_a_strategy_never_trades(tmp_path: Path) -> None:
    days = sessions(80)
    close = [50.0 + i / 10 for i in range(len(days))]
    bars = {k: close for k in ("open", "high", "low", "close")}
    known = {f"net_{g}": [1e8 if g == "gex" else -1e8] * len(days) for g in ("gex", "dex")}
    write_history(tmp_path, days, bars, {"underlying_price": close, **known}, symbol="ABC")
    result = run(
        tmp_path,
        "backtest",
        "--strategy",
        "alignment",
        "--symbols",
        "ABC",
        "--out",
        str(tmp_path / "r"),
    )
    assert result.returncode == 0, result.stderr
    line = f"alignment made no trade on ABC over {days[0]} .. {days[-1]}"
    assert line in result.stdout and "buy and hold" not in result.stdout


def test_walk_forward_none_is_labelled(home: Path, tmp_path: Path) -> None:
    result = run(
        home,
        "backtest",
        "--strategy",
        "regime",
        "--symbols",
        "ABC",
        "--grid",
        "band=0,1;short=0,1",
        "--walk-forward",
        "none",
        "--out",
        str(tmp_path / "r"),
    )
    assert result.returncode == 0, result.stderr
    assert "in-sample: --walk-forward none" in " ".join(result.stdout.split())
    page = (tmp_path / "r.html").read_text()
    assert "walk-forward none: the grid&#39;s best over the whole span, in-sample" in page


def test_backtest_and_study_take_a_method(tmp_path: Path) -> None:
    days = sessions(60)
    close = [50.0 + i / 10 for i in range(len(days))]
    bars = {k: close for k in ("open", "high", "low", "close")}
    default, perfiliev = resolve_method("default"), resolve_method("perfiliev")
    for method, sign in ((default, 1.0), (perfiliev, -1.0)):
        known = {"underlying_price": close, "net_gex": [sign * 1e9] * len(days)}
        write_history(tmp_path, days, bars, known, symbol="ABC", source="synthetic", method=method)
    args = ["--strategy", "regime", "--symbols", "ABC", "--params", "basis=gex;short=1"]
    result = run(
        tmp_path, "backtest", *args, "--method", "perfiliev", "--out", str(tmp_path / "bt")
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "bt.json").read_text())
    assert figures["method"] == perfiliev
    assert figures["symbols"]["ABC"]["trades"][0]["side"] == "Short"
    study = run(
        tmp_path, "study", "--symbols", "ABC", "--out", str(tmp_path / "st")
    )  # the settings' preset
    assert study.returncode == 0, study.stderr
    assert json.loads((tmp_path / "st.json").read_text())["method"] == default
    missing = run(tmp_path, "study", "--symbols", "ABC", "--method", "all_short")
    assert missing.returncode == 2
    stored = f"(stored: synthetic: {default}, {perfiliev})"
    assert f"no {resolve_method('all_short')} snapshots of ABC {stored}" in missing.stderr


@pytest.mark.refdata
@pytest.mark.slow
def test_dix_history_with_sp500_bars(refdata: Path, tmp_path: Path) -> None:
    dix, bars = import_dix_and_sp500(run, tmp_path, refdata)
    assert dix.returncode == 0, dix.stderr
    assert bars.returncode == 0, bars.stderr
    study = run(
        tmp_path,
        "study",
        "--symbols",
        "SPX",
        "--source",
        "squeezemetrics",
        "--out",
        str(tmp_path / "study"),
    )
    assert study.returncode == 0, study.stderr
    figures = json.loads((tmp_path / "study.json").read_text())["symbols"]["SPX"]
    assert figures["regime_basis"] == "net GEX sign (no flip stored)"
    groups = {r["gamma"]: r for r in figures["by_regime"]}
    assert groups["negative"]["sessions"] + groups["positive"]["sessions"] > 3000
    # The published fact the vendors' tables show: negative GEX days are the volatile ones.
    assert groups["negative"]["realised_vol_pct"] > 1.3 * groups["positive"]["realised_vol_pct"]
    report = run(
        tmp_path,
        "backtest",
        "--strategy",
        "regime",
        "--symbols",
        "SPX",
        "--source",
        "squeezemetrics",
        "--params",
        "basis=gex",
        "--out",
        str(tmp_path / "bt"),
    )
    assert report.returncode == 0, report.stderr
    stats = json.loads((tmp_path / "bt.json").read_text())["symbols"]["SPX"]["stats"]
    assert [s["series"] for s in stats] == ["strategy", "buy_and_hold"]
    assert stats[0]["volatility"] < stats[1]["volatility"]  # out of the market half the time


def test_a_user_strategy_runs_with_a_grid_and_walk_forward(home: Path, tmp_path: Path) -> None:
    (tmp_path / "cli_strats.py").write_text(USER_MODULE)
    args = ["--strategy", "cli_strats:trend", "--symbols", "ABC", "--grid", "default"]
    result = run(home, "backtest", *args, "--train", "150", "--test", "50", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6 configuration(s) tried" in result.stdout
    page = Path(result.stdout.split("report: ")[1].split("\n")[0])
    assert page.parent == home / "reports" and page.name.startswith("backtest-cli_strats-trend-")
    result_json = json.loads(page.with_suffix(".json").read_text())
    figures = result_json["symbols"]["ABC"]
    assert result_json["strategy"] == "trend"
    assert figures["selection"].startswith("walk-forward: 3 out-of-sample windows")
    assert figures["multiple_testing"]["configurations"] == 6
    assert figures["multiple_testing"]["reality_check_p"] is not None


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ("cli_strats:peek", "strategy peek (no parameters) reads the future: its position on"),
        ("cli_missing:trend", "no module cli_missing (looked in "),
        ("cli_strats:nothing", "cli_strats.py) has no attribute 'nothing'"),
        ("cli_strats:np", "cli_strats:np is a module, not a Strategy"),
    ],
)
def test_user_strategy_failures_exit_2_with_one_line(
    home: Path, tmp_path: Path, strategy: str, message: str
) -> None:
    (tmp_path / "cli_strats.py").write_text(USER_MODULE)
    result = run(home, "backtest", "--strategy", strategy, "--symbols", "ABC", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_entry_point_strategies_are_listed_and_run_by_name(home: Path, tmp_path: Path) -> None:
    info = tmp_path / "trend_pack-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trend_pack\nVersion: 1.0\n")
    points = "[gammalake.strategies]\ntrend = cli_ep:trend\npeek = cli_ep:peek\n"
    (info / "entry_points.txt").write_text(points)
    (tmp_path / "cli_ep.py").write_text(USER_MODULE)
    listed = run(home, "backtest", "--list", path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if line.startswith("│ trend ")]
    assert rows and "entry point" in rows[0] and "built in" in listed.stdout
    # Run by its entry-point name (cheaply: the leak check refuses it before any simulation).
    result = run(home, "backtest", "--strategy", "peek", "--symbols", "ABC", path=tmp_path)
    assert result.returncode == 2 and "strategy peek (no parameters) reads" in result.stderr
