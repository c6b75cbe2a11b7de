"""`gammalake mcp`: the `mcp` SDK's own client drives the server, over stdio and streamable HTTP.

One synthetic home is built once (`gammalake backfill`, SPY and QQQ over five weeks). The
stdio server is the real command (`.venv/bin/gammalake --home H mcp`) spawned by the SDK's
`stdio_client`; one session makes every call the tests below check, and each figure must equal
what `Lake(H)` gives in-process. The HTTP test starts `gammalake mcp --http --port 0` (a free
port, read from its banner under a deadline). Every await is bounded by `anyio.fail_after`.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from gammalake.lake import Lake
from gammalake.mcp import SQL_MAX_ROWS, SQL_ROWS, TOOLS

GAMMALAKE = str(Path(sys.executable).parent / "gammalake")
START, END = "2026-10-15", "2026-11-20"
AT = "2026-11-10"
COUNTS = "SELECT symbol, count(*) AS n FROM snapshots GROUP BY 1 ORDER BY 1"
CALL_TIMEOUT = 600.0  # seconds for one call (the first one also starts the server)
SESSION_TIMEOUT = 900.0  # seconds for a whole session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a home holding SPY and QQQ synthetic snapshots from START to END."""
    folder = tmp_path_factory.mktemp("mcp") / "home"
    command = [GAMMALAKE, "--home", str(folder), "backfill", "--symbols", "SPY,QQQ"]
    done = subprocess.run(
        [*command, "--start", START, "--end", END], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def lake(home: Path) -> Lake:
    """Return the in-process Lake the server's answers are compared with."""
    return Lake(home)


def _calls(lake: Lake) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return the calls the stdio session makes: label -> (tool, arguments)."""
    expiration = lake.expiries("SPY", at=AT)[1]["expiration"]
    return {
        "stored": ("stored", {}),
        "gex": ("gex", {"symbol": "SPY", "at": AT, "full": True}),
        "gex_latest": ("gex", {"symbol": "qqq", "full": True}),
        "gex_expiry": (
            "gex",
            {"symbol": "SPY", "at": AT, "expiration": expiration, "min_oi": 100, "full": True},
        ),
        "dex": ("dex", {"symbol": "SPY", "at": AT, "full": True}),
        "vex": ("vex", {"symbol": "SPY", "at": AT, "full": True}),
        "chex": ("chex", {"symbol": "SPY", "at": AT, "full": True}),
        "levels": ("exposure_levels", {"symbol": "SPY", "at": AT, "full": True}),
        "summary": ("exposure_summary", {"symbol": "QQQ", "at": AT, "full": True}),
        "by_preset": (
            "exposure_levels",
            {"symbol": "SPY", "at": AT, "method": "default", "full": True},
        ),
        "other_method": ("exposure_levels", {"symbol": "SPY", "method": "perfiliev"}),
        "history": (
            "levels_history",
            {"symbol": "SPY", "start": "2026-11-01", "end": END, "full": True},
        ),
        "history_cut": ("levels_history", {"symbol": "SPY", "start": START, "limit": 3}),
        "scanner": ("scanner", {"at": AT}),
        "alerts": ("alerts", {"limit": 5}),
        "sql": ("sql", {"query": COUNTS}),
        "sql_limit": ("sql", {"query": "SELECT * FROM strikes ORDER BY as_of, strike", "limit": 7}),
        "sql_default": ("sql", {"query": "SELECT * FROM strikes"}),
        "sql_too_many": ("sql", {"query": "SELECT 1", "limit": SQL_MAX_ROWS + 1}),
        "sql_delete": ("sql", {"query": "DELETE FROM snapshots"}),
        "sql_copy": ("sql", {"query": "COPY (SELECT 1) TO 'x.csv'"}),
        "sql_bad": ("sql", {"query": "SELEC 1"}),
        "sql_two": ("sql", {"query": "SELECT 1; SELECT 2"}),
        "sql_after": ("sql", {"query": "SELECT count(*) AS n FROM snapshots"}),
        "unknown": ("gex", {"symbol": "AAPL"}),
        "outside": ("exposure_levels", {"symbol": "SPY", "at": "2025-01-02"}),
        "bad_at": ("gex", {"symbol": "SPY", "at": "yesterday"}),
        "bad_method": ("gex", {"symbol": "SPY", "method": "nope"}),
    }


async def _session(client: Client, calls: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Return the tool listing (as `tools`) and every call's result, each bounded in time."""
    with anyio.fail_after(CALL_TIMEOUT):
        results: dict[str, Any] = {"tools": (await client.list_tools()).tools}
    for label, (tool, arguments) in calls.items():
        with anyio.fail_after(CALL_TIMEOUT):
            results[label] = await client.call_tool(tool, arguments)
    return results


@pytest.fixture(scope="module")
def stdio(home: Path, lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Return the results of one stdio session of `gammalake --home H mcp` (and its stderr)."""
    calls = _calls(lake)
    params = StdioServerParameters(command=GAMMALAKE, args=["--home", str(home), "mcp"])
    errors = tmp_path_factory.mktemp("mcp-stderr") / "stderr.txt"

    async def run() -> dict[str, Any]:
        with errors.open("w") as errlog, anyio.fail_after(SESSION_TIMEOUT):
            async with Client(stdio_client(params, errlog=errlog)) as client:
                return await _session(client, calls)

    results = anyio.run(run)
    results["stderr"] = errors.read_text()
    return results


def _data(result: Any) -> Any:
    """Return a successful call's JSON (structured content, checked against the text content)."""
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def _error(result: Any) -> str:
    """Return an error result's one message (no traceback)."""
    assert result.is_error
    text = result.content[0].text
    assert "Traceback" not in text and "\n" not in text, text
    return text


def _json(value: Any) -> Any:
    """Return `value` as it travels as JSON."""
    return json.loads(json.dumps(value, default=str))


def test_tools_are_listed_with_units(stdio: dict[str, Any]) -> None:
    tools = {tool.name: tool for tool in stdio["tools"]}
    assert list(tools) == list(TOOLS)
    units = {
        "gex": "dollars per 1% move",
        "dex": "dollars of delta",
        "vex": "dollars per volatility point",
        "chex": "dollars per day",
        "exposure_levels": "underlying's currency",
        "levels_history": "$ per 1% move",
        "scanner": "percent",
        "sql": "dollars per 1%",
    }
    for name, unit in units.items():
        assert unit in tools[name].description, name
    for tool in tools.values():
        assert tool.annotations.read_only_hint is True
        if tool.name not in ("stored", "sql"):
            assert "New York" in tool.description, tool.name
    assert "at" in tools["gex"].input_schema["properties"]
    assert "method" in tools["gex"].input_schema["properties"]


def test_exposures_equal_the_lake(stdio: dict[str, Any], lake: Lake) -> None:
    gex = _data(stdio["gex"])
    assert gex["net_gex"] == lake.gex("SPY", at=AT)["net_gex"]
    assert gex == _json(lake.gex("SPY", at=AT))
    assert gex["as_of"].startswith(AT) and gex["as_of"].endswith("-05:00")  # New York
    assert _data(stdio["gex_latest"]) == _json(lake.gex("QQQ"))
    for greek in ("dex", "vex", "chex"):
        assert _data(stdio[greek]) == _json(getattr(lake, greek)("SPY", at=AT)), greek
    assert _data(stdio["levels"]) == _json(lake.exposure_levels("SPY", at=AT))
    assert _data(stdio["summary"]) == _json(lake.exposure_summary("QQQ", at=AT))
    assert _data(stdio["by_preset"]) == _data(stdio["levels"])


def test_filtered_gex_is_priced_like_the_lake(stdio: dict[str, Any], lake: Lake) -> None:
    expiration = lake.expiries("SPY", at=AT)[1]["expiration"]
    sent = _data(stdio["gex_expiry"])
    assert sent == _json(lake.gex("SPY", at=AT, expiration=expiration, min_oi=100))
    assert sent["net_gex"] != lake.gex("SPY", at=AT)["net_gex"]


def test_stored_lists_symbols_and_ranges(stdio: dict[str, Any], lake: Lake) -> None:
    stored = _data(stdio["stored"])
    assert stored["method"] == lake.method and stored["methods"] == lake.stored_methods()
    assert [row["symbol"] for row in stored["symbols"]] == ["QQQ", "SPY"]
    first, last = lake.coverage("SPY")
    assert stored["symbols"][1]["first"] == first.isoformat()
    assert stored["symbols"][1]["last"] == last.isoformat()
    assert stored["symbols"][1]["sessions"] == len(lake.sessions("SPY"))


def test_levels_history_equals_the_lake(stdio: dict[str, Any], lake: Lake) -> None:
    sent = _data(stdio["history"])
    frame = lake.history("SPY", "2026-11-01", END)
    assert [r["trade_date"] for r in sent["rows"]] == [
        d.isoformat() for d in frame.get_column("trade_date")
    ]
    for column in ("spot", "net_gex", "gamma_flip", "call_wall", "put_wall", "regime"):
        assert [r[column] for r in sent["rows"]] == frame.get_column(column).to_list(), column
    assert sent["rows"][0]["as_of"].endswith(("-05:00", "-04:00"))
    assert sent["truncated"] is False and sent["next_start"] is None


def test_levels_history_is_bounded(stdio: dict[str, Any], lake: Lake) -> None:
    sent = _data(stdio["history_cut"])
    days = lake.history("SPY").get_column("trade_date").to_list()
    assert [r["trade_date"] for r in sent["rows"]] == [d.isoformat() for d in days[:3]]
    assert sent["truncated"] is True and sent["next_start"] == days[3].isoformat()


def test_scanner_and_alerts_equal_the_lake(stdio: dict[str, Any], lake: Lake) -> None:
    scanner = _data(stdio["scanner"])
    assert scanner["rows"] == _json(lake.scanner(at=AT))
    assert {row["symbol"] for row in scanner["rows"]} == {"SPY", "QQQ"}
    alerts = _data(stdio["alerts"])["alerts"]
    assert alerts == _json(lake.alerts(limit=5))
    assert len(alerts) == 5


def test_sql_answers_and_limits_rows(stdio: dict[str, Any], lake: Lake) -> None:
    counts = _data(stdio["sql"])
    expected = lake.sql(COUNTS)
    assert [[r["symbol"], r["n"]] for r in counts["rows"]] == [list(r) for r in expected.rows()]
    assert counts["columns"] == ["symbol", "n"] and counts["truncated"] is False
    cut = _data(stdio["sql_limit"])
    assert cut["row_count"] == len(cut["rows"]) == 7 and cut["truncated"] is True
    assert cut["rows"][0]["as_of"].endswith(("-05:00", "-04:00"))  # New York, not UTC
    default = _data(stdio["sql_default"])
    assert default["row_count"] == SQL_ROWS and default["truncated"] is True
    assert "1 .. 5,000" in _error(stdio["sql_too_many"])


def test_sql_refuses_writes_and_bad_sql(stdio: dict[str, Any], lake: Lake) -> None:
    assert "DELETE statements are refused" in _error(stdio["sql_delete"])
    assert "COPY statements are refused" in _error(stdio["sql_copy"])
    assert "SQL error" in _error(stdio["sql_bad"])
    assert "only reads one statement at a time: 2 were sent" in _error(stdio["sql_two"])
    assert (
        _data(stdio["sql_after"])["rows"][0]["n"]
        == lake.sql("SELECT count(*) AS n FROM snapshots").item()
    )


def test_unknown_symbol_and_moment_name_what_is_stored(stdio: dict[str, Any], home: Path) -> None:
    unknown = _error(stdio["unknown"])
    assert "AAPL" in unknown and "QQQ, SPY" in unknown
    outside = _error(stdio["outside"])
    first, last = Lake(home).coverage("SPY")  # stamped at the data's moment
    assert f"{first.isoformat()} .. {last.isoformat()}" in outside
    assert "neither a date" in _error(stdio["bad_at"])
    assert "unknown method 'nope'" in _error(stdio["bad_method"])
    assert f"(stored methods: {Lake(home).method})" in _error(stdio["other_method"])


def test_server_logs_no_traceback(stdio: dict[str, Any]) -> None:
    assert "Traceback" not in stdio["stderr"]
    assert "gammalake mcp on stdio" in stdio["stderr"]


def _line(stream: IO[str], prefix: str, deadline: float) -> str:
    """Return the first line of `stream` starting with `prefix`, waiting until `deadline`."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                line = stream.readline()
                if not line:
                    break
                if line.startswith(prefix):
                    return line.strip()
    pytest.fail(f"no line starting {prefix!r} before the deadline (or the stream ended)")


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `gammalake *args` with pipes, Ctrl-C (SIGINT) handled as in a terminal."""
    return subprocess.Popen(
        [GAMMALAKE, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A runner started in the background may ignore SIGINT; a terminal's user does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _stop(process: subprocess.Popen[str]) -> int:
    """Stop the server as Ctrl-C does; kill it if it does not end within 600 s."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=600)
        pytest.fail("gammalake mcp --http did not stop on Ctrl-C")


def test_streamable_http_on_loopback(home: Path, lake: Lake) -> None:
    env = {**os.environ, "GAMMALAKE_HOME": str(home)}  # the README's configuration
    process = _spawn("mcp", "--http", "--port", "0", env=env)
    try:
        assert process.stdout is not None
        banner = _line(process.stdout, "gammalake mcp on ", time.monotonic() + CALL_TIMEOUT)
        url = banner.removeprefix("gammalake mcp on ")
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")

        async def run() -> tuple[Any, Any]:
            with anyio.fail_after(CALL_TIMEOUT):
                async with Client(url) as client:
                    good = await client.call_tool("gex", {"symbol": "SPY", "at": AT, "full": True})
                    bad = await client.call_tool("gex", {"symbol": "AAPL"})
                    return good, bad

        good, bad = anyio.run(run)
        assert _data(good)["net_gex"] == lake.gex("SPY", at=AT)["net_gex"]
        assert "QQQ, SPY" in _error(bad)
    finally:
        code = _stop(process)
    assert code == 130
    assert "Traceback" not in (process.stderr.read() if process.stderr else "")


def test_stdio_stops_on_ctrl_c(home: Path) -> None:
    process = _spawn("--home", str(home), "mcp")
    try:
        assert process.stderr is not None
        _line(process.stderr, "gammalake mcp on stdio", time.monotonic() + CALL_TIMEOUT)
    finally:
        code = _stop(process)  # stdin stays open: the SDK's blocked read must not hold it
    assert code == 130
