"""Reports: an HTML page (plotly.js shared or embedded) and its JSON, read in a real browser."""

from __future__ import annotations

import copy
import html
import json
import math
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from backtest import charts
from backtest.prune import prune
from backtest.report import (
    Section,
    backtest_sections,
    backtest_subtitle,
    plotly_source,
    regimes,
    study_sections,
    write_report,
)
from backtest.run import Request, run_backtest
from backtest.study import run_study
from backtest.tearsheet import (
    daily_returns,
    drawdown_periods,
    histogram,
    period_returns,
    rolling_sharpe,
    rolling_volatility,
    tearsheet,
)
from gammalake.cli.commands.reports import reports_app
from tests.backtest.conftest import sessions, write_history
from warehouse.errors import WarehouseInputError

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
    assert re.findall(r"<script[^>]+src=\"([^\"]+)\"", text) == ["./plotly.min.js"]
    assert "cdn" not in text.lower() and not re.search(r"(src|href)=\"?https?:", text)
    assert "Plotly.newPlot" in text and len(text) < 1_000_000  # plotly.js is shared, not inside
    shared = page.parent / "plotly.min.js"
    assert shared.read_bytes() == plotly_source().read_bytes()  # the installed plotly's own


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
                subprocess.run(step, check=True, capture_output=True, timeout=900)
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
        [binary, *flags, *extra, page.as_uri()], capture_output=True, text=True, timeout=600
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


# -- a trader's report ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def walked(history: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Return a walk-forward regime backtest over SPAN, its sections and its written report."""
    request = Request(
        "regime", ["TEST"], *SPAN, "vendor", grid="band=0,0.5;short=0,1", train=200, test=50
    )
    result = run_backtest(history, request)
    sections, cautions = backtest_sections(result)
    out = tmp_path_factory.mktemp("walked") / "backtest-regime-20240101-000000"
    page, numbers = write_report(out, "t", backtest_subtitle(result), sections, result, cautions)
    return {
        "result": result,
        "sections": sections,
        "page": page,
        "text": page.read_text(),
        "data": json.loads(numbers.read_text()),
    }


def _figure(sections: list[Section], title: str) -> Any:
    """Return the figure of the first chart whose title starts with `title`."""
    for section in sections:
        for block in section.blocks:
            if block.get("chart") and block["title"].startswith(title):
                return section.figures[block["chart"]]
    raise AssertionError(f"no chart titled {title!r}")


def _headers(text: str) -> list[str]:
    """Return every table header of a page."""
    return [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", text)]


def test_subtitle_names_the_first_and_last_session_used(walked: dict[str, Any]) -> None:
    first = walked["data"]["symbols"]["TEST"]["levels"]["dates"][0]
    last = walked["data"]["symbols"]["TEST"]["levels"]["dates"][-1]
    assert first == "2024-01-02"
    subtitle = re.findall(r'<p class="meta">(.*?)</p>', walked["text"])[0]
    assert f"sessions {first} .. {last}" in subtitle
    for bound in ("1900-01-01", "2999-12-31", "2000-01-01", "2100-01-01"):
        assert bound not in subtitle


def test_tables_have_human_headers_and_percentages(walked: dict[str, Any]) -> None:
    text, data = walked["text"], walked["data"]
    headers = _headers(text)
    for wanted in ("Total return", "CAGR", "Sharpe (ann., 252 d)", "Max drawdown", "Entry price"):
        assert wanted in headers
    assert not [h for h in headers if "_" in h]  # no snake_case
    stats = data["symbols"]["TEST"]["stats"][0]
    assert 0 < abs(stats["total_return"]) < 1  # the JSON keeps fractions
    row = re.search(r"<tr><td>strategy</td>(.*?)</tr>", text)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells[0] == f"{100 * stats['total_return']:.2f}%"
    assert cells[3] == f"{stats['sharpe']:.2f}"  # a ratio, not a percentage
    assert re.search(r"keeps the raw values under their own keys: fractions", text)


def test_price_chart_shades_regimes_and_marks_the_reported_trades(walked: dict[str, Any]) -> None:
    fig = _figure(walked["sections"], "Price with the known gamma flip")
    trades = walked["result"]["symbols"]["TEST"]["trades"]
    assert trades
    entry = next(t for t in fig.data if t.name == "entry")
    assert list(entry.x) == [t["entry"] for t in trades]
    assert list(entry.y) == [t["entry_price"] for t in trades]
    colours = {s.fillcolor for s in fig.layout.shapes}
    assert colours == {charts.COLOURS["positive_gamma"], charts.COLOURS["negative_gamma"]}
    levels = walked["result"]["symbols"]["TEST"]["levels"]
    assert levels["close"][0] == levels["gamma_flip"][0]  # sin(0): at the flip, no regime
    assert regimes(levels)[:4] == [None] + [
        "positive" if c > f else "negative"
        for c, f in zip(levels["close"][1:4], levels["gamma_flip"][1:4], strict=True)
    ]


def test_a_net_gex_panel_when_the_levels_carry_net_gex(walked: dict[str, Any]) -> None:
    result = _with_net_gex(walked["result"])
    levels = result["symbols"]["TEST"]["levels"]
    sections, _ = backtest_sections(result)
    fig = _figure(sections, "Net GEX")
    bars = next(t for t in fig.data if t.name == "net GEX")
    assert list(bars.y) == pytest.approx([v / 1e9 for v in levels["net_gex"]])


def test_backtest_levels_carry_net_gex(walked: dict[str, Any]) -> None:
    levels = walked["data"]["symbols"]["TEST"]["levels"]
    assert len(levels["net_gex"]) == len(levels["dates"])
    assert sum(v is not None and v > 0 for v in levels["net_gex"]) > 10  # close above the flip
    assert sum(v is not None and v < 0 for v in levels["net_gex"]) > 10
    assert _figure(walked["sections"], "Net GEX")


def test_drawdown_and_monthly_charts_show_buy_and_hold(walked: dict[str, Any]) -> None:
    sections = walked["sections"]
    for title in ("Drawdown", "Monthly returns", "End-of-year returns", "Rolling Sharpe"):
        names = [t.name for t in _figure(sections, title).data]
        assert names == ["strategy", "buy and hold"], title
    sheet = walked["data"]["symbols"]["TEST"]["tearsheet"]
    equity = walked["data"]["symbols"]["TEST"]["equity"]
    bench = np.array(equity["buy_and_hold"])
    assert min(sheet["drawdown"]["buy_and_hold"]) == pytest.approx(
        (bench / np.maximum.accumulate(np.maximum(bench, 1)) - 1).min(), abs=1e-7
    )
    for heading in ("Worst drawdown periods", "End-of-year returns", "Distribution of daily"):
        assert heading in walked["text"]


def test_tearsheet_figures_match_a_hand_computation() -> None:
    dates = ["2023-12-28", "2023-12-29", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    r = np.array([0.10, -0.20, 0.05, 0.20, -0.10, 0.0])
    growth = np.cumprod(1 + r)  # 1.1, 0.88, 0.924, 1.1088, 0.99792, 0.99792
    assert daily_returns(list(growth)) == pytest.approx(r)
    assert period_returns(dates, r, "year") == [
        {"period": "2023", "return": pytest.approx(1.1 * 0.8 - 1)},
        {"period": "2024", "return": pytest.approx(1.05 * 1.2 * 0.9 - 1)},
    ]
    # Peak 1.1 on 12-28; under water from 12-29 (trough 0.88, -20%) until 01-03 (1.1088);
    # then from 01-04 (0.99792 / 1.1088 - 1 = -10%) to the end, not recovered.
    assert drawdown_periods(dates, r) == [
        {"start": "2023-12-29", "trough": "2023-12-29", "recovery": "2024-01-03",
         "depth": pytest.approx(-0.2), "sessions": 2},
        {"start": "2024-01-04", "trough": "2024-01-04", "recovery": None,
         "depth": pytest.approx(-0.1), "sessions": 2},
    ]  # fmt: skip
    window = r[-3:]  # 0.20, -0.10, 0.0: mean 1/30, sample sd sqrt(0.07/3)
    sd = math.sqrt(((0.2 - 1 / 30) ** 2 + (-0.1 - 1 / 30) ** 2 + (1 / 30) ** 2) / 2)
    assert rolling_sharpe(r, 3)[-1] == pytest.approx(window.mean() / sd * math.sqrt(252))
    assert rolling_volatility(r, 3)[-1] == pytest.approx(sd * math.sqrt(252))
    assert np.isnan(rolling_sharpe(r, 3)[:2]).all()
    hist = histogram({"strategy": r}, bins=3)  # lowest -0.2 to highest 0.2 in 3 bins
    assert hist["edges"] == pytest.approx([-0.2, -0.2 / 3, 0.2 / 3, 0.2])
    assert hist["strategy"] == [2, 1, 2]  # -0.2, -0.1 | 0.05 | 0.1, 0.2 (last bin closed)
    assert hist["flat"] == {"strategy": 1}  # the session at exactly 0, left out
    sheet = tearsheet({"dates": dates, "strategy": list(growth), "buy_and_hold": list(growth)})
    assert sheet["rolling"]["window"] == 63 and sheet["worst_drawdowns"][0]["sessions"] == 2


def test_self_contained_embeds_plotly_and_shares_nothing(history: Path, tmp_path: Path) -> None:
    result = run_backtest(history, Request("regime", ["TEST"], *SPAN, "vendor"))
    sections, cautions = backtest_sections(result)
    page, _ = write_report(
        tmp_path / "mail", "t", "s", sections, result, cautions, self_contained=True
    )
    text = page.read_text()
    assert "<script src=" not in text and "plotly.js v" in text and len(text) > 3_000_000
    assert not (tmp_path / "plotly.min.js").exists()
    assert "cdn" not in text[:2000].lower()


def _report_files(folder: Path, kind: str, stamps: list[str], shared: bool = True) -> None:
    """Write fake report pairs KIND-STAMP.html/.json (loading the shared plotly.js or not)."""
    for stamp in stamps:
        src = '<script src="./plotly.min.js"></script>' if shared else "<script>inline</script>"
        (folder / f"{kind}-{stamp}.html").write_text(src)
        (folder / f"{kind}-{stamp}.json").write_text("{}")


def test_prune_keeps_the_newest_reports_of_each_kind(tmp_path: Path) -> None:
    stamps = ["20240101-000000", "20240301-000000", "20240201-000000", "20240401-120000"]
    _report_files(tmp_path, "backtest-regime", stamps)
    _report_files(tmp_path, "study", stamps[:1])
    (tmp_path / "mine.html").write_text("kept: not a default name")
    (tmp_path / "plotly.min.js").write_text("//")
    removed = prune(tmp_path, 2)
    assert sorted(p.name for p in removed) == [
        "backtest-regime-20240101-000000.html",
        "backtest-regime-20240101-000000.json",
        "backtest-regime-20240201-000000.html",
        "backtest-regime-20240201-000000.json",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "backtest-regime-20240301-000000.html",
        "backtest-regime-20240301-000000.json",
        "backtest-regime-20240401-120000.html",
        "backtest-regime-20240401-120000.json",
        "mine.html",
        "plotly.min.js",  # kept reports load it
        "study-20240101-000000.html",
        "study-20240101-000000.json",
    ]
    with pytest.raises(WarehouseInputError, match="--keep 0: keep at least 1"):
        prune(tmp_path, 0)


def test_prune_removes_plotly_only_when_no_page_left_loads_it(tmp_path: Path) -> None:
    _report_files(tmp_path, "study", ["20240101-000000"])
    _report_files(tmp_path, "study", ["20240201-000000"], shared=False)
    (tmp_path / "plotly.min.js").write_text("//")
    assert prune(tmp_path, 1, dry_run=True)[-1].name == "plotly.min.js"
    assert (tmp_path / "plotly.min.js").exists()  # a dry run removes nothing
    removed = [p.name for p in prune(tmp_path, 1)]
    assert removed == ["study-20240101-000000.html", "study-20240101-000000.json", "plotly.min.js"]


def test_reports_prune_command(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def home(ctx: typer.Context) -> None:
        ctx.obj = tmp_path

    app.add_typer(reports_app, name="reports")
    folder = tmp_path / "reports"
    folder.mkdir()
    _report_files(folder, "study", ["20240101-000000", "20240201-000000"])
    done = CliRunner().invoke(app, ["reports", "prune", "--keep", "1"])
    assert done.exit_code == 0, done.output
    assert f"removed {folder / 'study-20240101-000000.html'}" in done.output
    assert "removed 2 file(s)" in done.output
    refused = CliRunner().invoke(app, ["reports", "prune", "--keep", "0"])
    assert isinstance(refused.exception, WarehouseInputError)  # main() prints it as one line


def _with_net_gex(result: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a backtest result whose levels carry net GEX ($, close minus flip)."""
    result = copy.deepcopy(result)
    levels = result["symbols"]["TEST"]["levels"]
    pairs = zip(levels["close"], levels["gamma_flip"], strict=True)
    levels["net_gex"] = [1e9 * (c - f) for c, f in pairs]
    return result


@pytest.mark.slow
def test_report_works_in_a_real_browser(walked: dict[str, Any], tmp_path: Path) -> None:
    """Playwright drives Debian's Chromium: no console error, nothing fetched, zoom switches
    candles to a line and net GEX follows the price chart."""
    sync_api = pytest.importorskip("playwright.sync_api")
    binary = chromium()
    result = _with_net_gex(walked["result"])
    sections, cautions = backtest_sections(result)
    page_path, _ = write_report(tmp_path / "bt", "t", "s", sections, result, cautions)
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: r.url.startswith("file:") or problems.append(r.url))
        page.goto(page_path.as_uri())
        page.wait_for_function("document.querySelectorAll('.main-svg').length > 10")
        price, net = page.locator(".chart").nth(0), page.locator(".chart").nth(1)
        shown = "el => el.data.filter(t => t.visible !== false).map(t => t.name)"
        assert "price" in price.evaluate(shown) and "close" not in price.evaluate(shown)
        assert net.evaluate("el => el.data[0].name") == "net GEX"
        price.locator(".rangeselector .button", has_text="all").first.click()
        page.wait_for_timeout(500)
        assert "close" in price.evaluate(shown) and "price" not in price.evaluate(shown)
        ranges = [c.evaluate("el => el.layout.xaxis.range") for c in (price, net)]
        assert ranges[0] == ranges[1]  # net GEX zoomed with the price
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert not problems, problems
