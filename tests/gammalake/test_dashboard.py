"""The dashboard at `/` of `gammalake api`: its JSON equals the Lake's numbers, and the page works.

One synthetic home is made for the module with the CLI, as a user makes it: two months of SPY
and QQQ (`backfill`), their bars (`prices synthetic`), two intraday snapshots of the last
session (`snapshot --at`), three weeks more under a second method (`--preset perfiliev`) and
a study and a backtest report. The app (`create_app(lake,
extra_routes=routes(lake, reports))`) runs under uvicorn on 127.0.0.1, a free port, in a thread.

The browser tests drive Debian's Chromium with Playwright (skipped, saying why, when either is
missing). A console error, a failed request, an HTTP error or a request leaving the server fails
them. They save screenshots under a temporary folder and the README's under docs/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gammalake.api import dashboard
from gammalake.api.server import Running, create_app, start
from gammalake.lake import Lake
from pipeline.engine.method import ENGINE_VERSION, method_of, resolve_method
from pipeline.engine.presets import preset

BIN = Path(sys.executable).with_name("gammalake")
REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
START, END = "2024-01-29", "2024-03-28"
SECOND_METHOD_START = "2024-03-11"
DAY = "2024-03-15"
#: Intraday snapshots of the last session (New York), before its 16:00 daily one.
INTRADAY = ("2024-03-28T11:00", "2024-03-28T13:30")
#: How long a page may wait for anything (ms): a ceiling for a busy machine, not a budget.
#: Speed targets (a day switch under 300 ms) are bench/bench_dashboard.py's.
PATIENCE_MS = 600_000
#: The stored methods, under the running engine (its version is never written out).
DEFAULT, PERFILIEV, ALL_SHORT = (resolve_method(n) for n in ("default", "perfiliev", "all_short"))
STORED = ", ".join(sorted([DEFAULT, PERFILIEV, ALL_SHORT]))
#: A method that is not stored: the default of another engine version.
OLD = method_of(preset("default", ENGINE_VERSION - 1))


def cli(home: Path, *args: str) -> None:
    """Run `gammalake --home HOME ...` as a user does; fail showing its output when it fails."""
    done = subprocess.run(
        [str(BIN), "--home", str(home), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"gammalake {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a home with two months of SPY and QQQ, bars, two intraday snapshots of the last
    session, two more methods and two reports.

    perfiliev from SECOND_METHOD_START (a backfill), all_short over every session (a rebuild).
    """
    home = tmp_path_factory.mktemp("dashboard") / "home"
    symbols = ("--symbols", "SPY,QQQ")
    cli(home, "backfill", *symbols, "--start", START, "--end", END)
    cli(home, "prices", "synthetic", *symbols, "--start", START, "--end", END)
    for moment in INTRADAY:
        cli(home, "snapshot", *symbols, "--at", f"{moment}:00-04:00")
    cli(home, "study", "--symbols", "SPY", "--method", "default")
    cli(home, "backtest", "--strategy", "regime", "--symbols", "SPY", "--method", "default")
    second = ("--start", SECOND_METHOD_START, "--end", END, "--preset", "perfiliev")
    cli(home, "backfill", *symbols, *second)
    cli(home, "rebuild", "--preset", "all_short")
    return home


@pytest.fixture(scope="module")
def lake(home: Path) -> Lake:
    """Return the home's Lake reading the default preset's figures."""
    return Lake(home, "default")


@pytest.fixture(scope="module")
def server(home: Path, lake: Lake) -> Iterator[Running]:
    """Serve the API and the dashboard under uvicorn on 127.0.0.1, a free port, in a thread."""
    app = create_app(lake, extra_routes=dashboard.routes(lake, home / "reports"))
    running = start(app, "127.0.0.1", 0, wait=600.0)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: Running) -> Iterator[httpx.Client]:
    """Return an HTTP client of the running server."""
    with httpx.Client(base_url=server.url, timeout=600.0) as http:
        yield http


def get(client: httpx.Client, path: str) -> Any:
    """Return the JSON of a 200 answer."""
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


def approx_list(values: list[float], scale: float = 1.0) -> Any:
    """Return values divided by `scale`, for approximate comparison."""
    return pytest.approx([v / scale for v in values], rel=1e-12)


# --- the JSON endpoints -----------------------------------------------------------------------


def test_page_and_assets_come_from_the_server(client: httpx.Client) -> None:
    from backtest.charts import ZOOM_SCRIPT
    from backtest.report import plotly_source

    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert linked and all(url.startswith("/") for url in linked), linked
    for url in linked:
        assert client.get(url).status_code == 200, url
    plotly = client.get("/assets/plotly.min.js")
    assert plotly.content == plotly_source().read_bytes()
    assert "max-age" in plotly.headers["cache-control"]
    assert client.get("/assets/zoom.js").text == ZOOM_SCRIPT
    for name in ("app.js", "app.css"):
        text = client.get(f"/assets/{name}").text
        assert "http://" not in text and "https://" not in text, name


def test_meta_lists_symbols_methods_and_reports(client: httpx.Client, lake: Lake) -> None:
    meta = get(client, "/dashboard/meta")
    assert meta["symbols"] == lake.symbols() == ["QQQ", "SPY"]
    assert meta["method"] == meta["default_method"] == lake.method == DEFAULT
    assert meta["methods"] == sorted([DEFAULT, PERFILIEV, ALL_SHORT])
    kinds = {r["kind"] for r in meta["reports"]}
    assert kinds == {"backtest", "study"}
    for report in meta["reports"]:
        page = client.get(report["url"])
        assert page.status_code == 200 and report["title"] in page.text
        assert './plotly.min.js"' in page.text
    assert client.get("/reports/plotly.min.js").status_code == 200
    second = get(client, "/dashboard/meta?method=perfiliev")
    assert second["method"] == PERFILIEV and second["symbols"] == ["QQQ", "SPY"]


def test_day_figures_equal_the_lakes_numbers(client: httpx.Client, lake: Lake) -> None:
    day = get(client, f"/dashboard/day/SPY?at={DAY}")
    gex = lake.gex("SPY", at=DAY)
    rows = gex["strikes"]
    calls, puts, net = day["figures"]["gex"]["data"]
    assert calls["x"] == [r["strike"] for r in rows]
    assert calls["y"] == approx_list([r["call_gex"] for r in rows], 1e9)
    assert puts["y"] == approx_list([r["put_gex"] for r in rows], 1e9)
    assert net["y"] == approx_list([r["net_gex"] for r in rows], 1e9)
    assert calls["marker"]["color"] == "#1a7f37" and puts["marker"]["color"] == "#cf222e"
    lines = sorted(s["x0"] for s in day["figures"]["gex"]["layout"]["shapes"])
    assert lines == sorted([gex["underlying_price"], gex["gamma_flip"]])
    head = day["headline"]
    assert (head["spot"], head["gamma_flip"], head["net_gex"]) == (
        gex["underlying_price"],
        gex["gamma_flip"],
        gex["net_gex"],
    )
    spot, flip = gex["underlying_price"], gex["gamma_flip"]
    assert head["distance_to_flip_pct"] == pytest.approx(100 * (spot - flip) / spot)
    assert head["side"] == ("above" if spot > flip else "below")
    assert head["regime"] == lake.exposure_summary("SPY", at=DAY)["regime"]
    assert head["net_dex"] == lake.dex("SPY", at=DAY)["net_dex"]
    levels = lake.exposure_levels("SPY", at=DAY)["levels"]
    assert {r["key"]: r["value"] for r in day["levels"]} == {
        k: levels[k] for k, _ in dashboard.KEY_LEVELS
    }
    assert day["expiries"] == lake.expiries("SPY", at=DAY)
    assert day["as_of"] == gex["as_of"] and day["trade_date"] == DAY


def test_gamma_profile_crosses_zero_at_the_stored_flip(client: httpx.Client, lake: Lake) -> None:
    day = get(client, f"/dashboard/day/SPY?at={DAY}")
    curve = day["figures"]["profile"]["data"][0]
    spots, totals = curve["x"], curve["y"]
    flip = lake.gex("SPY", at=DAY)["gamma_flip"]
    crossings = [
        a - (b - a) * ya / (yb - ya)
        for a, b, ya, yb in zip(spots, spots[1:], totals, totals[1:], strict=False)
        if ya * yb < 0
    ]
    assert crossings and min(abs(c - flip) for c in crossings) < (spots[1] - spots[0])
    assert spots[0] < flip < spots[-1]


def test_greeks_equal_the_lakes_dex_vex_chex(client: httpx.Client, lake: Lake) -> None:
    greeks = get(client, f"/dashboard/greeks/QQQ?at={DAY}")
    for greek, divisor in (("dex", 1e9), ("vex", 1e6), ("chex", 1e6)):
        payload = getattr(lake, greek)("QQQ", at=DAY)
        calls, puts, net = greeks["figures"][greek]["data"]
        assert calls["x"] == [r["strike"] for r in payload["strikes"]]
        assert calls["y"] == approx_list([r[f"call_{greek}"] for r in payload["strikes"]], divisor)
        assert puts["y"] == approx_list([r[f"put_{greek}"] for r in payload["strikes"]], divisor)
        assert net["y"] == approx_list([r[f"net_{greek}"] for r in payload["strikes"]], divisor)


def test_one_lookup_gives_the_lakes_payloads(home: Path, lake: Lake) -> None:
    from warehouse.history import History

    history = History(home)
    for day in ("2024-01-29", DAY, END):
        levels = lake.exposure_levels("SPY", at=day)
        snap = dashboard.read_snapshot(lake, history, levels)
        assert snap.payloads["gex"] == lake.gex("SPY", at=day)
        assert snap.payloads["dex"] == lake.dex("SPY", at=day)
        assert snap.payloads["vex"] == lake.vex("SPY", at=day)
        assert snap.payloads["chex"] == lake.chex("SPY", at=day)
        assert snap.payloads["summary"] == lake.exposure_summary("SPY", at=day)
        assert snap.expiries == lake.expiries("SPY", at=day)
        assert snap.notes == {}


def test_scanner_and_alerts_equal_the_lakes(lake: Lake) -> None:
    watch = dashboard.Watchlist(lake)
    moments = [d.isoformat() for d in lake.sessions("SPY")] + ["2024-01-02", "2024-04-30", None]
    for at in moments:
        ours, theirs = watch.scanner(at), lake.scanner(at)
        assert [r["note"] is None for r in ours] == [r["note"] is None for r in theirs], at
        keys = [k for k in theirs[0] if k != "note"]  # the dashboard adds DEX, VEX, CHEX
        strip = [{k: r[k] for k in keys} for r in ours]
        assert strip == [{k: r[k] for k in keys} for r in theirs], at
    assert any(r["alerts"] for r in watch.scanner(DAY))
    feed = watch.feed(DAY)
    known = [a for a in lake.alerts(since="2024-03-01T23:59:59.999999", limit=None)]
    assert feed == [a for a in known if a["as_of"] <= f"{DAY}T23:59:59"][: dashboard.FEED_ROWS]
    assert watch.feed(None) == lake.alerts(limit=dashboard.FEED_ROWS)


def test_series_draws_every_session_with_known_levels(
    client: httpx.Client, lake: Lake, home: Path
) -> None:
    series = get(client, "/dashboard/series/SPY")
    frame = lake.history("SPY")
    assert series["sessions"] == [d.isoformat() for d in frame["trade_date"]]
    assert series["note"] is None  # every session has a stored bar
    price = series["figures"]["price"]
    traces = {t.get("name"): t for t in price["data"]}
    bars = lake.sql("SELECT trade_date, close FROM prices WHERE symbol = 'SPY' ORDER BY 1")
    closes = dict(bars.rows())
    assert traces["price"]["close"] == [closes[d] for d in frame["trade_date"]]
    assert traces["gamma flip"]["y"] == frame["gamma_flip"].to_list()
    assert traces["call wall"]["y"] == frame["call_wall"].to_list()
    assert traces["put wall"]["y"] == frame["put_wall"].to_list()
    shading = [s for s in price["layout"]["shapes"] if s["type"] == "rect"]
    assert shading and {s["fillcolor"] for s in shading} <= {
        "rgba(26, 127, 55, 0.08)",
        "rgba(207, 34, 46, 0.09)",
    }
    net = series["figures"]["net_gex"]["data"][0]
    assert net["y"] == approx_list(frame["net_gex"].to_list(), 1e9)


def test_second_method_is_its_own_history(client: httpx.Client, home: Path) -> None:
    other = Lake(home, "perfiliev")
    series = get(client, "/dashboard/series/SPY?method=perfiliev")
    assert series["sessions"][0] == SECOND_METHOD_START
    day = get(client, f"/dashboard/day/SPY?at={DAY}&method=perfiliev")
    assert day["method"] == PERFILIEV
    assert day["headline"]["gamma_flip"] == other.gex("SPY", at=DAY)["gamma_flip"]


#: The levels an overlay compares.
OVERLAID = ("gamma_flip", "call_wall", "put_wall")


def test_overlay_brings_a_second_methods_flip_and_walls(
    client: httpx.Client, lake: Lake, home: Path
) -> None:
    plain = get(client, f"/dashboard/day/SPY?at={DAY}")
    both = get(client, f"/dashboard/day/SPY?at={DAY}&overlay=all_short")
    over = both.pop("overlay")
    assert both == plain  # the views stay the shown method's
    short = Lake(home, "all_short").exposure_levels("SPY", at=DAY)
    assert (over["method"], over["as_of"], over["note"]) == (ALL_SHORT, short["as_of"], None)
    assert over["levels"] == {k: short["levels"][k] for k in OVERLAID}
    spot = plain["headline"]["spot"]
    for key, value in over["levels"].items():
        expected = None if value is None else 100 * (spot - value) / spot
        assert over["distance_pct"][key] == pytest.approx(expected)
    shown = lake.exposure_levels("SPY", at=DAY)["levels"]
    lines = over["figures"]["gex"]["data"]
    drawn = {(t["legendgroup"], t["x"][0]) for t in lines}
    assert drawn == {
        (method, levels[k])
        for method, levels in ((DEFAULT, shown), (ALL_SHORT, short["levels"]))
        for k in OVERLAID
        if levels[k] is not None
    }
    titles = [t["legendgrouptitle"]["text"] for t in lines if "legendgrouptitle" in t]
    assert titles == [DEFAULT, ALL_SHORT]  # the legend names both methods
    for line in lines:
        hover = line["hovertemplate"]
        assert hover.startswith(line["legendgroup"]) and "(price)" in hover and "% " in hover
        assert line["line"]["dash"] == "dot" or line["legendgroup"] == DEFAULT
    again = get(client, f"/dashboard/day/SPY?at={DAY}&overlay={ALL_SHORT}")["overlay"]
    assert again == over  # the exact method names the same overlay


def test_an_overlay_without_that_session_says_so(client: httpx.Client) -> None:
    early = get(client, "/dashboard/day/SPY?at=2024-02-14&overlay=perfiliev")["overlay"]
    assert early["method"] == PERFILIEV and early["as_of"] is None
    assert early["levels"] == dict.fromkeys(OVERLAID)
    assert early["note"].startswith("SPY: nothing stored at 2024-02-14; the stored history covers")
    assert [t["legendgroup"] for t in early["figures"]["gex"]["data"]] == [DEFAULT] * 3


def test_series_overlay_draws_the_second_methods_levels(client: httpx.Client, home: Path) -> None:
    series = get(client, "/dashboard/series/SPY?overlay=perfiliev")
    traces = {t["name"]: t for t in series["figures"]["price"]["data"]}
    other = Lake(home, "perfiliev").history("SPY")
    days = [d.isoformat() for d in other["trade_date"]]
    for key, label in (("gamma_flip", "gamma flip"), ("call_wall", "call wall")):
        known = dict(zip(days, other[key].to_list(), strict=True))
        line = traces[f"{label} ({PERFILIEV})"]
        assert line["y"] == [known.get(d) for d in series["sessions"]]
        assert line["line"]["dash"] == "dot" and "(price)" in line["hovertemplate"]
    assert traces["gamma flip"]["legendgrouptitle"]["text"] == DEFAULT
    assert traces[f"gamma flip ({PERFILIEV})"]["legendgrouptitle"]["text"] == PERFILIEV
    gaps = len(series["sessions"]) - len(days)
    assert series["overlay"] == {
        "method": PERFILIEV,
        "note": f"{PERFILIEV} has no snapshot in {gaps} of the {len(series['sessions'])} "
        "sessions shown",
    }
    assert get(client, "/dashboard/series/SPY")["overlay"] is None


def test_errors_carry_the_api_shape(client: httpx.Client) -> None:
    cases = {
        "/dashboard/day/AAPL": (404, "AAPL: not stored (stored symbols: QQQ, SPY)"),
        "/dashboard/day/SPY?at=2020-01-02": (404, "the stored history covers 2024-01-29"),
        "/dashboard/day/SPY?at=yesterday": (400, "at='yesterday'"),
        "/dashboard/day/SP%20Y": (400, "invalid symbol"),
        "/dashboard/series/AAPL": (404, "not stored"),
        "/dashboard/meta?method=nope": (400, "nope"),
        "/dashboard/day/SPY?overlay=nope": (400, f"stored methods: {STORED}"),
        "/dashboard/series/SPY?overlay=index_long_calls": (400, "is not stored in"),
        f"/dashboard/day/SPY?method={OLD}": (400, f"method '{OLD}' is not stored"),
        "/reports/..%2Fwarehouse.duckdb": (404, "no report"),
        "/reports/missing.html": (404, "no report"),
    }
    for path, (status, words) in cases.items():
        answer = client.get(path)
        assert answer.status_code == status, (path, answer.text)
        body = answer.json()
        assert body["status"] == status and words in body["message"], (path, body)


def test_greek_chart_and_line_labels() -> None:
    from backtest import charts

    fig = charts.greek_by_strike_chart(
        "vex", [95, 100, 105], [1e6, 2e6, -3e6], [-2e6, 1e6, 1e6], spot=101.0, flip=99.0
    )
    assert [t.name for t in fig.data] == ["calls", "puts", "net"]
    assert list(fig.data[2].y) == pytest.approx([-1.0, 3.0, -2.0])
    assert fig.layout.yaxis.title.text == "VEX, $ mn per vol point"
    assert sorted(s.x0 for s in fig.layout.shapes) == [99.0, 101.0]
    anchors = {a.text.split()[0]: a.xanchor for a in fig.layout.annotations}
    assert anchors == {"flip": "right", "spot": "left"}  # the left label ends at its line
    assert fig.layout.legend.yref == "container" and fig.layout.margin.t == 62
    alone = charts.keep_line_labels_apart(charts.gamma_profile_chart([1, 2], [1, 2], spot=1.5))
    assert [a.xanchor for a in alone.layout.annotations] == ["center"]


def test_key_levels_and_oi_movers_take_nulls() -> None:
    levels = dict.fromkeys(k for k, _ in dashboard.KEY_LEVELS)
    levels |= {"call_wall": 510.0, "gamma_flip": 500.0}
    panel = {r["key"]: r for r in dashboard.key_levels(levels, spot=505.0)}
    assert panel["zero_dte_magnet"] == {
        "key": "zero_dte_magnet",
        "label": "0DTE magnet (intraday)",
        "value": None,
        "distance_pct": None,
    }
    assert panel["call_wall"]["distance_pct"] == pytest.approx(100 * (505 - 510) / 505)
    strikes: list[dict[str, Any]] = [
        {"strike": 1.0, "call_oi_change": None, "put_oi_change": None},
        {"strike": 2.0, "call_oi_change": -50, "put_oi_change": None},
        {"strike": 3.0, "call_oi_change": 10, "put_oi_change": 20},
    ]
    movers = dashboard.oi_movers(strikes)
    assert [r["strike"] for r in movers["rows"]] == [2.0, 3.0] and movers["note"] is None
    unknown = dashboard.oi_movers(strikes[:1])
    assert unknown["rows"] == [] and "no OI change known" in unknown["note"]
    assert dashboard.headline(
        {
            "underlying_price": 100.0,
            "gamma_flip": None,
            "gamma_flip_status": "no_boundary",
            "net_gex": 1.0,
            "net_gex_label": "flat",
        },
        None,
    )["side"] == ("unknown")


def test_a_profile_that_cannot_be_priced_is_a_note(
    home: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = dashboard.Dashboard(lake, home / "reports")

    def no_chain(row: dict[str, Any]) -> Path:
        raise ValueError("raw/ holds payloads, no chain")

    with monkeypatch.context() as patch:
        patch.setattr(board.history, "raw_input_path", no_chain)
        day = json.loads(board.day("SPY", "2024-02-14", None))
    assert day["figures"]["profile"] is None
    assert "no gamma profile: raw/ holds payloads" in day["notes"]["profile"]
    assert day["figures"]["gex"] is not None
    newer = ENGINE_VERSION + 1
    monkeypatch.setattr("pipeline.engine.method.ENGINE_VERSION", newer)  # a newer engine
    day = json.loads(board.day("SPY", "2024-02-15", None))
    assert day["figures"]["profile"] is None
    assert f"priced as {DEFAULT} and this engine is v{newer}" in day["notes"]["profile"]


# --- intraday snapshots, the hedging estimate, the expiry filter, the scanner's flags ---------


def test_series_lists_the_snapshots_of_sessions_with_several(
    client: httpx.Client, lake: Lake
) -> None:
    series = get(client, "/dashboard/series/SPY")
    last = lake.exposure_levels("SPY", at=END)["as_of"]
    stamps = [lake.exposure_levels("SPY", at=m)["as_of"] for m in INTRADAY]
    assert series["moments"] == {END: [*stamps, last]}  # a one-snapshot session is left out
    assert [s[:16] for s in stamps] == list(INTRADAY)


def test_a_moment_shows_its_snapshot_its_magnet_and_hedges(
    client: httpx.Client, lake: Lake
) -> None:
    moment = f"{END}T12:00"  # the latest snapshot by then is the 11:00 one
    day = get(client, f"/dashboard/day/SPY?at={moment}")
    levels = lake.exposure_levels("SPY", at=moment)
    assert day["as_of"] == levels["as_of"] and day["as_of"][:16] == INTRADAY[0]
    magnet = levels["levels"]["zero_dte_magnet"]
    assert magnet is not None  # a same-day expiry trades at 11:00
    assert {r["key"]: r["value"] for r in day["levels"]}["zero_dte_magnet"] == magnet
    line = day["figures"]["gex"]["data"][-1]
    assert line["x"] == [magnet, magnet] and line["name"] == f"0DTE magnet {magnet:,.2f}"
    assert "(strike)" in line["hovertemplate"] and "% " in line["hovertemplate"]
    hedges = lake.exposure_summary("SPY", at=moment)["hedging_estimate"]
    by_move = {h["move_pct"]: h for h in day["hedging"]}
    assert sorted(by_move) == [-1.0, -0.5, 0.5, 1.0]
    for move, name in ((1.0, "spot_up_1pct"), (-1.0, "spot_down_1pct")):
        stored = hedges[name]
        assert by_move[move]["shares"] == stored["dealer_shares_to_trade"]
        assert by_move[move]["notional"] == stored["notional_usd"]
        assert by_move[move]["direction"] == stored["direction"]
    closing = get(client, f"/dashboard/day/SPY?at={END}")
    assert closing["as_of"] == lake.exposure_levels("SPY", at=END)["as_of"] != day["as_of"]


def test_the_expiry_filter_is_the_apis(client: httpx.Client, lake: Lake) -> None:
    """GEX by strike of one expiry: the numbers of /v1/exposure/gex?expiration= (Lake.gex)."""
    at = lake.exposure_levels("SPY", at=DAY)["as_of"]
    for row in lake.expiries("SPY", at=DAY)[:3]:
        expiry = row["expiration"]
        ours = get(client, f"/dashboard/gex/SPY?at={DAY}&expiration={expiry}")
        api = get(client, f"/v1/exposure/gex/SPY?at={DAY}&expiration={expiry}")
        assert (ours["as_of"], ours["expiration"], ours["net_gex"]) == (at, expiry, api["net_gex"])
        calls, _, net = ours["figure"]["data"][:3]
        assert calls["x"] == [r["strike"] for r in api["strikes"]]
        assert net["y"] == approx_list([r["net_gex"] for r in api["strikes"]], 1e9)
    assert ours["net_gex"] != lake.gex("SPY", at=DAY)["net_gex"]  # one expiry, not all
    missing = client.get(f"/dashboard/gex/SPY?at={DAY}")
    assert missing.status_code == 400 and "expiration=" in missing.json()["message"]


def test_the_scanner_gives_flip_net_gex_and_alignment(client: httpx.Client, lake: Lake) -> None:
    for at in (DAY, END, f"{END}T12:00"):
        rows = get(client, f"/dashboard/scanner?at={at}")["rows"]
        for row in rows:
            summary = lake.exposure_summary(row["symbol"], at=at)
            signs = {v > 0 for v in summary["exposures"].values()}
            assert row["gamma_flip"] == summary["gamma_flip"], (at, row["symbol"])
            assert row["net_gex"] == summary["exposures"]["net_gex"]
            assert row["net_chex"] == summary["exposures"]["net_chex"]
            assert row["aligned"] == (0 if len(signs) > 1 else (1 if signs.pop() else -1))
    row = {"net_gex": 2.0, "net_dex": 1.0, "net_vex": 3.0, "net_chex": 0.5}
    assert dashboard.exposures(row)["aligned"] == 1
    assert dashboard.exposures({k: -v for k, v in row.items()})["aligned"] == -1
    assert dashboard.exposures({**row, "net_vex": -3.0})["aligned"] == 0
    assert dashboard.exposures({**row, "net_chex": None})["aligned"] is None


def test_the_alerts_feed_filters_by_kind(client: httpx.Client) -> None:
    from warehouse.schema import ALERT_KINDS

    assert get(client, "/dashboard/meta")["alert_kinds"] == list(ALERT_KINDS)
    every = get(client, f"/dashboard/alerts?at={END}")["rows"]
    kinds = sorted({a["kind"] for a in every})
    assert len(kinds) > 1
    chosen = kinds[:2]
    feed = get(client, f"/dashboard/alerts?at={END}&kinds={','.join(chosen)}")
    assert feed["kinds"] == chosen
    expected = [a for a in every if a["kind"] in chosen]
    assert feed["rows"][: len(expected)] == expected and expected
    assert {a["kind"] for a in feed["rows"]} <= set(chosen)
    bad = client.get("/dashboard/alerts?kinds=near_wall")
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        f"alert kind 'near_wall' is not known; kinds: {', '.join(ALERT_KINDS)}"
    )


def test_hovers_say_their_units(client: httpx.Client) -> None:
    day = get(client, f"/dashboard/day/SPY?at={DAY}")
    greeks = get(client, f"/dashboard/greeks/SPY?at={DAY}")["figures"]
    series = get(client, "/dashboard/series/SPY")["figures"]
    expected = {
        "GEX": (day["figures"]["gex"]["data"][:3], "$ bn per 1% move", "strike "),
        "profile": (day["figures"]["profile"]["data"][:1], "$ bn per 1% move", "spot "),
        "DEX": (greeks["dex"]["data"], "$ bn", "strike "),
        "VEX": (greeks["vex"]["data"], "$ mn per vol point", "strike "),
        "CHEX": (greeks["chex"]["data"], "$ mn per day", "strike "),
        "net GEX over time": (series["net_gex"]["data"][:1], "$ bn per 1% move", "%{x}"),
    }
    for chart, (traces, unit, begins) in expected.items():
        for trace in traces:
            hover = trace.get("hovertemplate", "")
            assert hover.startswith(begins) and unit in hover, (chart, trace.get("name"), hover)
    levels = [t for t in series["price"]["data"] if t["name"] in ("gamma flip", "call wall")]
    assert len(levels) == 2 and all("(price)" in t["hovertemplate"] for t in levels)


# --- the page in Chromium ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Return Playwright's Chromium driving Debian's /usr/bin/chromium (skip when missing)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium to run the browser tests")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed: pip install playwright"
    )
    with sync_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


class Watched:
    """A page whose console errors, failed or foreign requests and HTTP errors are recorded."""

    def __init__(self, browser: Any, base: str) -> None:
        """Open a 1440x900 page on `base` and record what goes wrong."""
        self.page = browser.new_page(viewport={"width": 1440, "height": 900})
        self.page.set_default_timeout(PATIENCE_MS)
        self.problems: list[str] = []
        self.base = base
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        self.page.on("request", self._request)
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def _request(self, request: Any) -> None:
        if not request.url.startswith((self.base, "data:", "blob:")):
            self.problems.append(f"request outside the server: {request.url}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def ready(self, day: str | None = None, symbol: str = "SPY") -> None:
        """Wait until `day` of `symbol` is drawn and no request is in flight."""
        wanted = f"body[data-state=ready][data-symbol='{symbol}']"
        self.page.wait_for_selector(wanted + (f"[data-day='{day}']" if day else ""))
        self.page.wait_for_function("window.gammalake.pending === 0")

    def every_chart_drawn(self) -> None:
        """Scroll every chart into view and wait until each is drawn."""
        for chart in ("#profile-chart", "#dex-chart", "#price-chart", "#netgex-chart"):
            self.page.locator(chart).scroll_into_view_if_needed()
            self.page.wait_for_function(
                "window.gammalake.waiting() === 0 && window.gammalake.pending === 0"
            )
        self.page.evaluate("window.scrollTo(0, 0)")

    def trace(self, chart: str, index: int, axis: str) -> list[float]:
        """Return one axis of one trace of a drawn chart."""
        return self.page.evaluate(
            f"Array.from(document.getElementById('{chart}').data[{index}].{axis})"
        )

    def text(self, selector: str) -> str:
        """Return the text of an element."""
        return self.page.inner_text(selector)


@pytest.fixture
def watched(browser: Any, server: Running) -> Iterator[Watched]:
    """Return a watched page (each test ends by asserting it recorded no problem)."""
    page = Watched(browser, server.url)
    yield page
    page.page.close()


def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder of this run's screenshots."""
    return tmp_path_factory.getbasetemp() / "dashboard-screenshots"


def test_page_drives_symbol_date_slider_and_method(
    watched: Watched, server: Running, lake: Lake, home: Path, tmp_path_factory: Any
) -> None:
    page, folder = watched.page, shots(tmp_path_factory)
    folder.mkdir(exist_ok=True)
    page.goto(f"{server.url}/?symbol=SPY&at={DAY}")
    watched.ready(DAY)
    gex = lake.gex("SPY", at=DAY)
    assert f"as of {gex['as_of'][:16].replace('T', ' ')}" in watched.text("#hl-when")
    assert watched.text("#hl-spot") == f"{gex['underlying_price']:,.2f}"
    assert watched.trace("gex-chart", 0, "x") == [r["strike"] for r in gex["strikes"]]
    assert watched.trace("gex-chart", 0, "y") == approx_list(
        [r["call_gex"] for r in gex["strikes"]], 1e9
    )
    assert watched.trace("gex-chart", 1, "y") == approx_list(
        [r["put_gex"] for r in gex["strikes"]], 1e9
    )
    side = "above" if gex["underlying_price"] > gex["gamma_flip"] else "below"
    assert page.get_attribute("#headline", "class") == f"headline {side}"
    assert "0DTE magnet (intraday)\t-\t-" in watched.text("#levels")
    assert page.locator("#reports a").count() == 2
    page.screenshot(path=folder / "day.png")

    # the date select
    page.select_option("#date", "2024-02-09")
    watched.ready("2024-02-09")
    other = lake.gex("SPY", at="2024-02-09")
    assert "as of 2024-02-09" in watched.text("#hl-when")
    assert watched.text("#hl-spot") == f"{other['underlying_price']:,.2f}"
    assert watched.trace("gex-chart", 2, "y") == approx_list(
        [r["net_gex"] for r in other["strikes"]], 1e9
    )
    assert "at=2024-02-09" in page.url

    # the slider: one session back with the keyboard, then dragged to the first session
    sessions = [d.isoformat() for d in lake.sessions("SPY")]
    before = sessions[sessions.index("2024-02-09") - 1]
    page.locator("#slider").press("ArrowLeft")
    watched.ready(before)
    assert f"as of {before}" in watched.text("#hl-when")
    page.locator("#slider").fill("0")
    watched.ready(sessions[0])
    assert watched.text("#hl-spot") == f"{lake.gex('SPY', at=sessions[0])['underlying_price']:,.2f}"

    # the symbol select keeps the session
    page.select_option("#symbol", "QQQ")
    watched.ready(sessions[0], "QQQ")
    qqq = lake.gex("QQQ", at=sessions[0])
    assert watched.text("#hl-symbol") == "QQQ"
    assert watched.trace("gex-chart", 0, "x") == [r["strike"] for r in qqq["strikes"]]
    assert "symbol=QQQ" in page.url
    page.go_back()
    watched.ready(sessions[0], "SPY")

    # a scanner row and the replay button
    page.locator("#scanner tr.sym", has_text="QQQ").click()
    watched.ready(sessions[0], "QQQ")
    page.click("#play")
    # The replay steps on its own clock: on a busy machine it may be past sessions[1] before
    # the test looks, so wait for it to leave sessions[0], pause, then read where it stopped.
    page.wait_for_selector(f"body[data-symbol='QQQ']:not([data-day='{sessions[0]}'])")
    page.click("#play")  # pause
    assert watched.text("#play") == "play"
    watched.ready(None, "QQQ")
    reached = page.get_attribute("body", "data-day")
    assert reached in sessions[1:]
    page.select_option("#symbol", "SPY")
    watched.ready(reached, "SPY")
    page.select_option("#date", sessions[0])
    watched.ready(sessions[0], "SPY")

    # DEX, VEX, CHEX draw once on screen, equal to the Lake's
    watched.every_chart_drawn()
    dex = lake.dex("SPY", at=sessions[0])
    assert watched.trace("dex-chart", 0, "y") == approx_list(
        [r["call_dex"] for r in dex["strikes"]], 1e9
    )
    chex = lake.chex("SPY", at=sessions[0])
    assert watched.trace("chex-chart", 2, "y") == approx_list(
        [r["net_chex"] for r in chex["strikes"]], 1e6
    )

    # the method select: a second history, its own flip
    assert page.is_visible("#method")
    page.select_option("#date", DAY)
    watched.ready(DAY)
    page.select_option("#method", PERFILIEV)
    page.wait_for_selector(f"#asof:has-text('{PERFILIEV}')")
    watched.ready(DAY)
    flip = Lake(home, "perfiliev").gex("SPY", at=DAY)["gamma_flip"]
    assert watched.text("#hl-flip") == f"{flip:,.2f}"
    assert "method=perfiliev" in page.url
    page.screenshot(path=folder / "method.png")
    assert watched.problems == []


def test_a_deep_link_it_cannot_follow_falls_back_and_says_so(
    watched: Watched, server: Running, lake: Lake
) -> None:
    """An unknown symbol shows SPY, a bad moment the latest session, each with a notice."""
    page, last = watched.page, lake.sessions("SPY")[-1].isoformat()
    page.goto(f"{server.url}/?symbol=AAPL&at={DAY}")
    watched.ready(DAY)
    assert watched.text("#notice-text") == "AAPL is not stored; showing SPY"
    page.click("#notice-close")
    assert not page.is_visible("#notice")

    page.goto(f"{server.url}/?symbol=QQQ&at=garbage")
    watched.ready(last, "QQQ")
    assert watched.text("#notice-text") == "at=garbage is not a date; showing the latest session"
    assert f"at={last}" in page.url

    page.goto(f"{server.url}/?symbol=aapl&at=2024-02-30")
    watched.ready(last)
    assert watched.text("#notice-text").splitlines() == [
        "AAPL is not stored; showing SPY",
        "at=2024-02-30 is not a date; showing the latest session",
    ]

    page.goto(f"{server.url}/?symbol=SPY&at={DAY}&overlay=nope")
    overlay_ready(watched, "")
    assert watched.text("#notice-text") == "overlay=nope is not stored; showing no overlay"
    assert "overlay" not in page.url

    page.goto(f"{server.url}/?symbol=SPY&at={DAY}")  # a link it follows: no notice
    watched.ready(DAY)
    assert not page.is_visible("#notice")
    assert watched.problems == []


def overlay_ready(watched: Watched, overlay: str) -> None:
    """Wait until the page shows DAY of SPY with `overlay` ('' for none) and nothing is pending."""
    watched.page.wait_for_selector(
        f"body[data-state=ready][data-day='{DAY}'][data-overlay='{overlay}']"
    )
    watched.page.wait_for_function("window.gammalake.pending === 0")


def hover_text(watched: Watched, chart: str, x: float) -> str:
    """Return the hover labels plotly draws over a drawn chart at `x` (as a mouse there would)."""
    watched.page.evaluate(
        f"Plotly.Fx.unhover('{chart}'); Plotly.Fx.hover('{chart}', {{xval: {x}}})"
    )
    return svg_text(watched, f"#{chart} .hoverlayer")


def svg_text(watched: Watched, selector: str) -> str:
    """Return the text of an SVG element of a chart (its legend, its hover labels)."""
    return str(watched.page.eval_on_selector(selector, "node => node.textContent"))


def test_overlay_from_a_deep_link_and_the_select(
    watched: Watched, server: Running, lake: Lake, home: Path, tmp_path_factory: Any
) -> None:
    """A second method's flip and walls over the first's charts: legend, hovers, table, URL."""
    page, folder = watched.page, shots(tmp_path_factory)
    folder.mkdir(exist_ok=True)
    page.goto(f"{server.url}/?symbol=SPY&at={DAY}&overlay={PERFILIEV}")
    overlay_ready(watched, PERFILIEV)
    assert page.input_value("#overlay") == PERFILIEV
    options = page.eval_on_selector_all("#overlay option", "os => os.map(o => o.value)")
    assert options == ["", *sorted([PERFILIEV, ALL_SHORT])]  # never the method shown
    theirs = Lake(home, "perfiliev").exposure_levels("SPY", at=DAY)["levels"]
    groups = page.evaluate(
        "document.getElementById('gex-chart').data.map(t => [t.legendgroup || '', t.x[0]])"
    )
    assert [PERFILIEV, theirs["gamma_flip"]] in groups and [PERFILIEV, theirs["put_wall"]] in groups
    legend = svg_text(watched, "#gex-chart .legend")
    assert DEFAULT in legend and PERFILIEV in legend  # the legend names both methods
    boxes = page.evaluate(  # its rows clear the spot and flip labels
        "['.legend', '.annotation'].map((s) => document.querySelector('#gex-chart ' + s)"
        ".getBoundingClientRect().toJSON())"
    )
    assert boxes[0]["bottom"] <= boxes[1]["top"], boxes
    hover = hover_text(watched, "gex-chart", theirs["gamma_flip"])
    assert PERFILIEV in hover and f"gamma flip {theirs['gamma_flip']:,.2f} (price)" in hover
    assert "% " in hover and "spot" in hover
    strike = lake.gex("SPY", at=DAY)["strikes"][10]["strike"]
    assert "$ bn per 1% move" in hover_text(watched, "gex-chart", strike)  # the GEX bars
    assert watched.text("#overlay-name") == f"{PERFILIEV} over {DEFAULT}"
    assert f"{theirs['call_wall']:,.2f}" in watched.text("#overlay-levels")
    prices = page.evaluate("document.getElementById('price-chart').data.map(t => t.name)")
    assert f"gamma flip ({PERFILIEV})" in prices and "gamma flip" in prices
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_function("window.gammalake.pending === 0")
    page.screenshot(path=folder / "overlay-1280x800.png")

    # the select: another overlay, kept in the URL; then none
    page.select_option("#overlay", ALL_SHORT)
    overlay_ready(watched, ALL_SHORT)
    assert f"overlay={ALL_SHORT.replace('@', '%40')}" in page.url
    short = Lake(home, "all_short").exposure_levels("SPY", at=DAY)["levels"]
    legend = svg_text(watched, "#gex-chart .legend")
    assert ALL_SHORT in legend and PERFILIEV not in legend
    call = short["call_wall"]
    assert f"{call:,.2f}" in watched.text("#overlay-levels")
    page.select_option("#overlay", "")
    overlay_ready(watched, "")
    assert "overlay=" not in page.url and not page.is_visible("#overlay-box-levels")
    assert DEFAULT not in svg_text(watched, "#gex-chart .legend")  # no overlay: the plain chart
    page.go_back()
    overlay_ready(watched, ALL_SHORT)

    # the method select: the overlay keeps to other methods
    page.select_option("#method", ALL_SHORT)
    page.wait_for_selector(f"#asof:has-text('{ALL_SHORT}')")
    overlay_ready(watched, "")
    assert page.input_value("#overlay") == ""
    assert watched.problems == []


def test_overlay_on_a_phone(browser: Any, server: Running, tmp_path_factory: Any) -> None:
    """At 390x844 the overlay's controls and table fit the width (no sideways scroll)."""
    watched = Watched(browser, server.url)
    page = watched.page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.url}/?symbol=SPY&at={DAY}&overlay={PERFILIEV}")
    overlay_ready(watched, PERFILIEV)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator(".row.top").scroll_into_view_if_needed()
    page.wait_for_selector("#gex-chart .legend")
    page.wait_for_function("window.gammalake.pending === 0")
    boxes = page.evaluate(  # the legend wraps onto more rows, still clear of the line labels
        "['.legend', '.annotation'].map((s) => document.querySelector('#gex-chart ' + s)"
        ".getBoundingClientRect().toJSON())"
    )
    assert boxes[0]["bottom"] <= boxes[1]["top"], boxes
    folder = shots(tmp_path_factory)
    folder.mkdir(exist_ok=True)
    page.screenshot(path=folder / "overlay-390x844.png")
    page.close()
    assert watched.problems == []


def test_an_empty_home_says_how_to_fill_it(browser: Any, tmp_path: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    lake = Lake(home)
    running = start(create_app(lake, extra_routes=dashboard.routes(lake, home / "reports")))
    try:
        watched = Watched(browser, running.url)
        watched.page.goto(f"{running.url}/")
        watched.page.wait_for_selector("body[data-state=empty]")
        assert "gammalake backfill" in watched.text("#empty")
        assert not watched.page.is_visible("main")
        watched.page.close()
        assert watched.problems == []
    finally:
        running.stop()


def test_an_open_page_follows_new_snapshots(browser: Any, tmp_path: Path) -> None:
    """A page left on the last session shows the next one once it is stored (a minute later)."""
    home = tmp_path / "live"
    cli(home, "backfill", "--symbols", "SPY", "--start", "2024-03-25", "--end", "2024-03-26")
    lake = Lake(home)
    running = start(create_app(lake, extra_routes=dashboard.routes(lake, home / "reports")))
    try:
        watched = Watched(browser, running.url)
        watched.page.clock.install()
        watched.page.goto(f"{running.url}/?symbol=SPY")
        watched.ready("2024-03-26")
        cli(home, "backfill", "--symbols", "SPY", "--start", "2024-03-27", "--end", "2024-03-27")
        watched.page.clock.fast_forward(61_000)
        watched.ready("2024-03-27")
        assert "as of 2024-03-27" in watched.text("#hl-when")
        assert watched.page.input_value("#date") == "2024-03-27"
        assert "not stored" not in watched.text("#scanner")
        watched.page.close()
        assert watched.problems == []
    finally:
        running.stop()


def test_a_cold_day_switch_draws_the_day(
    watched: Watched, server: Running, lake: Lake, tmp_path_factory: Any
) -> None:
    """Cold switches (neither the page nor the server has the day) after the first load.

    Their timings are recorded (timings.json) but never asserted: the 300 ms budget is
    bench/bench_dashboard.py's, so a busy machine cannot fail this test.
    """
    page = watched.page
    page.goto(f"{server.url}/?symbol=QQQ&at={END}")
    watched.ready(END, "QQQ")
    first_load = page.evaluate("performance.getEntriesByName('gl-ready')[0].startTime")
    sessions = [d.isoformat() for d in lake.sessions("QQQ")]
    picked = sessions[4:-2:6][:6]  # apart, and away from the sessions the other tests showed
    for day in picked:
        watched.ready(symbol="QQQ")  # the prefetches of the previous day are done
        page.select_option("#date", day)
        watched.ready(day, "QQQ")
    timings = page.evaluate("window.gammalake.timings")
    cold = [t for t in timings if t["at"] in picked and not t["cached"]]
    assert len(cold) == len(picked)
    took = [t["ms"] for t in cold]
    record = {"first_load_ms": first_load, "switch_ms": took, "detail": cold}
    folder = shots(tmp_path_factory)
    folder.mkdir(exist_ok=True)
    (folder / "timings.json").write_text(json.dumps(record, indent=1))
    print(f"dashboard timings: first load {first_load:.0f} ms, day switches {took}")
    assert watched.problems == []


def test_screenshots_for_the_readme(
    watched: Watched, server: Running, tmp_path_factory: Any
) -> None:
    """Save dashboard.png, dashboard-full.png and dashboard-time.png among the test's files.

    The README's screenshots come from the demo home: `bench/bench_dashboard.py --screenshots`.
    """
    page = watched.page
    page.goto(f"{server.url}/?symbol=SPY&at={DAY}")
    watched.ready(DAY)
    watched.every_chart_drawn()
    # the tables of the narrow cards fit them: nothing clipped, no sideways scroll
    for table in ("expiries", "oi", "levels", "scanner"):
        widths = page.evaluate(
            f"(() => {{ const t = document.getElementById('{table}'), box = t.parentElement;"
            " return [t.scrollWidth, t.clientWidth, box.scrollWidth, box.clientWidth]; })()"
        )
        assert widths[0] <= widths[1] and widths[2] <= widths[3], (table, widths)
    # the price chart's legend clears its range buttons
    legend, buttons = page.evaluate(
        "['.legend', '.rangeselector'].map((s) => document.querySelector('#price-chart ' + s)"
        ".getBoundingClientRect().toJSON())"
    )
    assert legend["bottom"] <= buttons["top"], (legend, buttons)
    folder = shots(tmp_path_factory)
    folder.mkdir(exist_ok=True)
    targets = (folder,)
    for target in targets:
        page.screenshot(path=target / "dashboard.png")
        page.screenshot(path=target / "dashboard-full.png", full_page=True)
    page.evaluate(  # the across-time charts just below the sticky bar
        "window.scrollTo(0, document.querySelector('#price-chart').closest('.card')"
        ".getBoundingClientRect().top + window.scrollY - 52)"
    )
    page.wait_for_function("window.gammalake.waiting() === 0")
    for target in targets:
        page.screenshot(path=target / "dashboard-time.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440  # no sideways scroll
    assert watched.problems == []


def moment_ready(watched: Watched, moment: str) -> None:
    """Wait until the page shows the SPY snapshot of `moment` (2024-03-28T11:00), all answered."""
    watched.page.wait_for_selector(f"body[data-state=ready][data-moment^='{moment}']")
    watched.page.wait_for_function("window.gammalake.pending === 0")


def test_a_deep_link_keeps_its_moment_and_the_picker_lists_the_session(
    watched: Watched, server: Running, lake: Lake
) -> None:
    """at= with a time shows that snapshot (its 0DTE magnet, its hedges) and stays in the URL."""
    page = watched.page
    page.goto(f"{server.url}/?symbol=SPY&at={END}T12:00")
    moment_ready(watched, INTRADAY[0])  # the latest snapshot by 12:00
    assert f"at={END}T12%3A00" in page.url  # not rewritten to the date
    assert f"as of {INTRADAY[0].replace('T', ' ')}" in watched.text("#hl-when")
    times = page.eval_on_selector_all("#moment option", "os => os.map(o => o.textContent)")
    assert times == ["11:00", "13:30", "16:00"]  # every snapshot stored in the session
    assert page.input_value("#moment") == INTRADAY[0]
    magnet = lake.exposure_levels("SPY", at=INTRADAY[0])["levels"]["zero_dte_magnet"]
    assert f"0DTE magnet (intraday)\t{magnet:,.2f}" in watched.text("#levels")
    names = page.evaluate("document.getElementById('gex-chart').data.map(t => t.name)")
    assert f"0DTE magnet {magnet:,.2f}" in names
    hedges = lake.exposure_summary("SPY", at=INTRADAY[0])["hedging_estimate"]
    up = hedges["spot_up_1pct"]
    hedging = watched.text("#hedging")
    assert f"+1%\t{up['direction']}" in hedging and len(hedging.splitlines()) == 5

    # the picker: another snapshot of the session, kept in the URL
    page.select_option("#moment", INTRADAY[1])
    moment_ready(watched, INTRADAY[1])
    assert f"at={END}T13%3A30" in page.url
    assert f"as of {INTRADAY[1].replace('T', ' ')}" in watched.text("#hl-when")
    spot = lake.gex("SPY", at=INTRADAY[1])["underlying_price"]
    assert watched.text("#hl-spot") == f"{spot:,.2f}"
    page.go_back()
    moment_ready(watched, INTRADAY[0])

    # the expiry filter: GEX by strike of one stored expiry, as the API prices it
    expiry = lake.expiries("SPY", at=INTRADAY[0])[1]["expiration"]
    page.select_option("#expiry", expiry)
    page.wait_for_selector(f"#gex-note:has-text('expiry {expiry} only')")
    only = lake.gex("SPY", at=INTRADAY[0], expiration=expiry)
    assert watched.trace("gex-chart", 2, "y") == approx_list(
        [r["net_gex"] for r in only["strikes"]], 1e9
    )
    page.select_option("#expiry", "")
    page.wait_for_function("document.getElementById('gex-chart').data.length === 4")

    # the alerts feed's kind filter
    shown = page.eval_on_selector_all("#alerts .kind", "ks => ks.map(k => k.textContent)")
    kind = shown[0].replace(" ", "_")
    page.select_option("#alert-kind", kind)
    page.wait_for_function(
        f"[...document.querySelectorAll('#alerts .kind')].every(k => k.textContent === "
        f"'{shown[0]}') && window.gammalake.pending === 0"
    )
    kept = page.eval_on_selector_all("#alerts .kind", "ks => ks.map(k => k.textContent)")
    assert kept and set(kept) == {shown[0]} and len(set(shown)) > 1
    assert watched.problems == []


def test_the_across_time_charts_centre_on_the_session(
    watched: Watched, server: Running, lake: Lake
) -> None:
    """Zoomed to a few weeks, the price and net GEX charts follow the session picked."""
    page = watched.page
    sessions = [d.isoformat() for d in lake.sessions("SPY")]
    page.goto(f"{server.url}/?symbol=SPY&at={END}")
    watched.ready(END)
    watched.every_chart_drawn()
    page.evaluate(
        f"Plotly.relayout('price-chart', {{'xaxis.range': ['{sessions[-15]}', '{END}']}})"
    )
    zoomed = page.evaluate(
        "document.getElementById('price-chart')._fullLayout.xaxis.range.map(Date.parse)"
    )
    assert zoomed[1] - zoomed[0] < 30 * 86_400_000, zoomed  # a few weeks shown
    picked = sessions[10]  # early, yet half a window from the first session
    page.select_option("#date", picked)
    watched.ready(picked)
    for chart in ("price-chart", "netgex-chart"):
        page.wait_for_function(
            f"(() => {{ const r = document.getElementById('{chart}')._fullLayout.xaxis.range;"
            f" return r[0] < '{picked}' && r[1] > '{picked}'; }})()"
        )
        low, high = page.evaluate(
            f"document.getElementById('{chart}')._fullLayout.xaxis.range.map(Date.parse)"
        )
        middle = page.evaluate(f"Date.parse('{picked} 00:00')")
        assert abs((low + high) / 2 - middle) <= 86_400_000, chart  # centred, to a day
        assert abs((high - low) - (zoomed[1] - zoomed[0])) <= 86_400_000  # the zoom kept
    assert page.is_visible("#price-chart-marker")
    assert watched.problems == []


#: The three widths the page is checked at: desktop, tablet, phone.
SIZES = ((1440, 900), (768, 1024), (390, 844))


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    """Return True when two boxes (getBoundingClientRect) share more than a pixel."""
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > 1 and (
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 1
    )


def layout_boxes(page: Any) -> dict[str, Any]:
    """Return the boxes the layout check needs: cards, each chart's legend and mode bar."""
    return page.evaluate(
        """(() => {
        const box = (e) => e.getBoundingClientRect().toJSON();
        const charts = [...document.querySelectorAll('.chart')].filter((c) => c._fullLayout);
        return {
          cards: [...document.querySelectorAll('main .card')].filter((c) => c.offsetParent)
            .map(box),
          charts: charts.map((c) => ({
            id: c.id, box: box(c), card: box(c.closest('.card')),
            legend: c.querySelector('.legend') && box(c.querySelector('.legend')),
            modebar: c.querySelector('.modebar') && box(c.querySelector('.modebar')),
          })),
          headline: box(document.getElementById('headline')),
          inHeadline: [...document.querySelectorAll('#headline *')].map(box),
          clipped: [...document.querySelectorAll('#headline, #headline *')]
            .filter((e) => e.scrollWidth > e.clientWidth + 1 && e.clientWidth).length,
          width: [document.scrollingElement.scrollWidth, innerWidth],
        };
      })()"""
    )


def draw_every_chart(page: Any) -> None:
    """Scroll to each chart in turn (one column on a phone) and wait until it is drawn."""
    for chart in page.eval_on_selector_all(".chart", "cs => cs.map(c => c.id)"):
        page.locator(f"#{chart}").scroll_into_view_if_needed()
        page.wait_for_function(
            f"!window.gammalake.waitingIds().includes('{chart}') && window.gammalake.pending === 0"
        )
    page.evaluate("window.scrollTo(0, 0)")


def test_usable_at_three_sizes(browser: Any, server: Running, tmp_path_factory: Any) -> None:
    """No sideways scroll, no overlapping cards or legends, the headline whole, GEX full width."""
    folder = shots(tmp_path_factory)
    folder.mkdir(exist_ok=True)
    for width, height in SIZES:
        watched = Watched(browser, server.url)
        page = watched.page
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{server.url}/?symbol=SPY&at={INTRADAY[0]}")
        moment_ready(watched, INTRADAY[0])
        draw_every_chart(page)
        found = layout_boxes(page)
        assert found["width"][0] <= found["width"][1] == width, (width, found["width"])
        cards = found["cards"]
        for i, a in enumerate(cards):
            assert not any(overlaps(a, b) for b in cards[i + 1 :]), (width, a)
        for chart in found["charts"]:
            what = (width, chart["id"])
            assert chart["box"]["right"] <= chart["card"]["right"] + 1, what
            if chart["legend"] and chart["modebar"]:
                assert not overlaps(chart["legend"], chart["modebar"]), what
        head = found["headline"]
        assert found["clipped"] == 0, width
        for inner in found["inHeadline"]:
            assert head["left"] - 1 <= inner["left"] and inner["right"] <= head["right"] + 1
        gex = next(c for c in found["charts"] if c["id"] == "gex-chart")
        assert gex["box"]["width"] >= 0.85 * width if width < 700 else True, gex["box"]
        page.screenshot(path=folder / f"dashboard-{width}x{height}.png", full_page=True)
        page.close()
        assert watched.problems == [], width
