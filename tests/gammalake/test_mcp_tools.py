"""MCP tools as agents get them: compact answers, the latest sessions, alert kinds.

The `mcp` SDK's own client talks to `create_server(Lake(home))` in this process (its in-memory
transport: the tool listing, argument validation and error wrapping are the SDK's, without a
subprocess). The home is a real synthetic backfill of SPY over four months (more
sessions than `levels_history` shows by default, and alerts of several kinds).
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import anyio
import pytest
from mcp import Client

from gammalake.lake import Lake
from gammalake.mcp import COMPACT_BAND_PCT, COMPACT_HISTORY, HISTORY_LATEST, create_server
from warehouse.schema import ALERT_KINDS

FIRST, LAST = date(2026, 6, 1), date(2026, 9, 30)
TIMEOUT = 600.0  # seconds for the whole session


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Return the Lake of a home holding SPY synthetic snapshots, June to September."""
    from flows.backfill import run_backfill
    from flows.settings import Settings

    home = tmp_path_factory.mktemp("mcp-tools") / "home"
    settings = Settings(home=home, synthetic_expiries=4, synthetic_strikes=161)
    summary = run_backfill(settings, ["SPY"], "synthetic", FIRST, LAST)
    assert [o.error for o in summary.outcomes] == [None]
    return Lake(home)


def _calls(lake: Lake) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return the calls the session makes: label -> (tool, arguments)."""
    days = lake.sessions("SPY")
    kind = _common_kind(lake)
    return {
        "gex": ("gex", {"symbol": "SPY"}),
        "gex_full": ("gex", {"symbol": "SPY", "full": True}),
        "summary": ("exposure_summary", {"symbol": "SPY", "at": days[5].isoformat()}),
        "latest": ("levels_history", {"symbol": "SPY"}),
        "earlier": (
            "levels_history",
            {"symbol": "SPY", "end": days[-HISTORY_LATEST - 1].isoformat()},
        ),
        "latest_full": ("levels_history", {"symbol": "SPY", "full": True, "limit": 5}),
        "kind": ("alerts", {"kinds": [kind], "limit": 1000}),
        "kind_text": ("alerts", {"kinds": f"{kind},gex_sign_flip", "limit": 1000}),
        "bad_kind": ("alerts", {"kinds": ["near_call_wall", "wall_party"]}),
        "two_statements": ("sql", {"query": "SELECT 1; DROP TABLE snapshots"}),
    }


def _common_kind(lake: Lake) -> str:
    """Return the alert kind stored most often."""
    kinds = [a["kind"] for a in lake.alerts(limit=None)]
    return max(set(kinds), key=kinds.count)


@pytest.fixture(scope="module")
def results(lake: Lake) -> dict[str, Any]:
    """Return the tool listing (`tools`) and every call's result of one in-memory session."""
    calls = _calls(lake)

    async def run() -> dict[str, Any]:
        with anyio.fail_after(TIMEOUT):
            async with Client(create_server(lake)) as client:
                out: dict[str, Any] = {"tools": (await client.list_tools()).tools}
                for label, (tool, arguments) in calls.items():
                    out[label] = await client.call_tool(tool, arguments)
                return out

    return anyio.run(run)


def _data(result: Any) -> Any:
    """Return a successful call's JSON."""
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def _error(result: Any) -> str:
    """Return an error result's one line."""
    assert result.is_error
    text = result.content[0].text
    assert "\n" not in text and "Traceback" not in text, text
    return text


def _close(compact: float | None, exact: float | None) -> bool:
    """Return True when a compact figure is the exact one rounded (4 significant digits)."""
    if compact is None or exact is None:
        return compact is exact
    return math.isclose(compact, exact, rel_tol=5e-4, abs_tol=0.005)


def test_gex_is_compact_by_default_and_whole_with_full(results: dict[str, Any], lake: Lake) -> None:
    whole = lake.gex("SPY")
    assert _data(results["gex_full"]) == json.loads(json.dumps(whole))
    sent = _data(results["gex"])
    assert "data_as_of" not in sent and "endpoint_version" not in sent
    spot = whole["underlying_price"]
    near = [s for s in whole["strikes"] if abs(s["strike"] - spot) <= spot * COMPACT_BAND_PCT / 100]
    assert 0 < len(near) < len(whole["strikes"]) == sent["strikes_total"]
    assert [s["strike"] for s in sent["strikes"]] == [s["strike"] for s in near]
    assert set(sent["strikes"][0]) == {
        "strike",
        "call_gex",
        "put_gex",
        "net_gex",
        "call_oi",
        "put_oi",
    }
    for mine, exact in zip(sent["strikes"], near, strict=True):
        assert all(_close(mine[k], exact[k]) for k in mine), (mine, exact)
    assert _close(sent["net_gex"], whole["net_gex"]) and sent["net_gex"] != whole["net_gex"]
    assert len(results["gex"].content[0].text) < len(results["gex_full"].content[0].text) / 2


def test_summary_is_compact(results: dict[str, Any], lake: Lake) -> None:
    sent = _data(results["summary"])
    whole = lake.exposure_summary("SPY", lake.sessions("SPY")[5])
    assert "data_as_of" not in sent and sent["regime"] == whole["regime"]
    for name, value in whole["exposures"].items():
        assert _close(sent["exposures"][name], value), name


def test_levels_history_without_dates_is_the_latest_sessions(
    results: dict[str, Any], lake: Lake
) -> None:
    days = [d.isoformat() for d in lake.sessions("SPY")]
    assert len(days) > HISTORY_LATEST + 10
    sent = _data(results["latest"])
    assert [r["trade_date"] for r in sent["rows"]] == days[-HISTORY_LATEST:]
    assert sent["truncated"] is True and sent["previous_end"] == days[-HISTORY_LATEST - 1]
    assert list(sent["rows"][0]) == list(COMPACT_HISTORY)
    exact = lake.history("SPY", days[-1], days[-1]).row(0, named=True)
    assert all(_close(sent["rows"][-1][k], exact[k]) for k in ("spot", "gamma_flip", "net_gex"))
    earlier = _data(results["earlier"])
    assert [r["trade_date"] for r in earlier["rows"]] == days[:-HISTORY_LATEST][-HISTORY_LATEST:]
    full = _data(results["latest_full"])
    assert [r["trade_date"] for r in full["rows"]] == days[-5:] and "net_chex" in full["rows"][0]


def test_alert_kinds_are_listed_and_filter(results: dict[str, Any], lake: Lake) -> None:
    tool = next(t for t in results["tools"] if t.name == "alerts")
    schema = json.dumps(tool.input_schema["properties"]["kinds"])
    assert all(kind in tool.description and kind in schema for kind in ALERT_KINDS)
    kind = _common_kind(lake)
    sent = _data(results["kind"])["alerts"]
    assert sent == json.loads(json.dumps(lake.alerts(limit=1000, kinds=[kind])))
    assert sent and {a["kind"] for a in sent} == {kind}
    assert len(sent) < len(lake.alerts(limit=None))
    both = {a["kind"] for a in _data(results["kind_text"])["alerts"]}
    assert kind in both and both <= {kind, "gex_sign_flip"}
    message = _error(results["bad_kind"])
    assert "'wall_party' is not known; kinds: " + ", ".join(ALERT_KINDS) in message


def test_several_statements_are_one_line_refused(results: dict[str, Any]) -> None:
    assert "only reads one statement at a time: 2 were sent" in _error(results["two_statements"])


def test_exposure_tools_take_full_and_history_says_its_default(results: dict[str, Any]) -> None:
    tools = {t.name: t for t in results["tools"]}
    for name in ("gex", "dex", "vex", "chex", "exposure_levels", "exposure_summary"):
        assert "full" in tools[name].input_schema["properties"], name
    assert "latest 60 sessions" in tools["levels_history"].description
