"""Reports: a self-contained HTML page and its JSON, rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from backtest.report import backtest_sections, study_sections, write_report
from backtest.run import Request, run_backtest
from backtest.study import run_study
from tests.backtest.conftest import sessions, write_history

SPAN = (date(2000, 1, 1), date(2100, 1, 1))


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a lake of 400 sessions with levels that move around a trending price."""
    import numpy as np

    home = tmp_path_factory.mktemp("report")
    days = sessions(400)
    rng = np.random.default_rng(2)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, len(days))))
    flip = close * (1 + 0.02 * np.sin(np.arange(len(days)) / 15))
    bars = {
        "open": (close * (1 + rng.normal(0, 0.002, len(days)))).tolist(),
        "high": (close * 1.01).tolist(),
        "low": (close * 0.99).tolist(),
        "close": close.tolist(),
    }
    known = {
        "underlying_price": close.tolist(),
        "gamma_flip": flip.tolist(),
        "call_wall": (close * 1.03).round(0).tolist(),
        "put_wall": (close * 0.97).round(0).tolist(),
        "net_gex": (1e9 * (close - flip)).tolist(),
    }
    write_history(home, days, bars, known)
    return home


def test_backtest_report_holds_every_figure(history: Path, tmp_path: Path) -> None:
    request = Request(
        "regime", ["TEST"], *SPAN, "vendor", grid="band=0,0.5,1;short=0,1", train=200, test=50
    )
    result = run_backtest(history, request)
    sections, cautions = backtest_sections(result)
    page, numbers = write_report(tmp_path / "bt", "t", "s", sections, result, cautions)
    data = json.loads(numbers.read_text())
    figures = data["symbols"]["TEST"]
    for key in ("equity", "drawdown", "monthly_returns", "trades", "stats", "sweep", "levels"):
        assert figures[key], key
    assert data["request"]["configurations"] == 6
    assert len(figures["walk_forward"]) == 4  # 200 training, then 50-session windows
    assert figures["sessions"] == 200  # only the out-of-sample sessions are reported
    assert figures["sweep"]["heatmap"]["x"] in ("band", "short")
    assert "deflated Sharpe" in cautions[0] and "6 configuration(s)" in cautions[0]
    text = page.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"?http", text)  # nothing fetched
    assert "Plotly.newPlot" in text and len(text) > 3_000_000  # plotly.js is inside


def test_study_report_writes_tables_and_json(history: Path, tmp_path: Path) -> None:
    result = run_study(history, ["TEST"], *SPAN, method="vendor")
    page, numbers = write_report(tmp_path / "study", "t", "s", study_sections(result), result)
    figures = json.loads(numbers.read_text())["symbols"]["TEST"]
    assert {r["gamma"] for r in figures["by_regime"]} == {"positive", "negative"}
    assert [r["gex_bucket"] for r in figures["by_gex_quantile"]] == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    assert figures["gex_beyond_iv"]["available"] is False  # no chains stored here
    assert "Did the walls hold" in page.read_text()


def chromium() -> str:
    """Return the chromium binary, installing Debian's package when missing, or skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip("chromium is not installed and apt-get is not available to install it")
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "chromium"]
    failure: Exception | None = None
    for steps in ([install], [[apt, "update", "-q"], install]):  # stale lists: update, retry
        try:
            for step in steps:
                subprocess.run(step, check=True, capture_output=True, timeout=400)
        except (subprocess.SubprocessError, OSError) as exc:
            failure = exc
        else:
            break
    else:
        pytest.skip(f"chromium is not installed and `apt-get install chromium` failed: {failure}")
    return shutil.which("chromium") or pytest.skip("apt-get ran but no chromium binary appeared")


def headless(binary: str, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Return the result of loading `page` in headless Chromium with console logging on."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=15000",
    ]
    return subprocess.run(
        [binary, *flags, *extra, page.as_uri()], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_report_renders_in_headless_chromium(history: Path, tmp_path: Path) -> None:
    binary = chromium()
    result = run_backtest(history, Request("wall_fade", ["TEST"], *SPAN, "vendor", grid="default"))
    sections, cautions = backtest_sections(result)
    page, _ = write_report(tmp_path / "bt", "t", "s", sections, result, cautions)
    charts = sum(len(s.figures) for s in sections)
    dom = headless(binary, page, "--dump-dom")
    assert ":CONSOLE" not in dom.stderr, dom.stderr  # no console errors or warnings
    assert dom.stdout.count('class="main-svg"') >= charts  # every chart drew its SVG
    shot = tmp_path / "bt.png"
    headless(binary, page, f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.stat().st_size > 50_000
