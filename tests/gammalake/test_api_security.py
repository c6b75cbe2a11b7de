"""`gammalake api` and `gammalake mcp --http` with keys: every route asks for one, Host is checked.

The routes are read from the app's own router, so a route added later is checked too. Servers
are real uvicorn on 127.0.0.1 (a free port): the API in a thread, `gammalake mcp --http` as the
command. Bad moments (`at=`) are 400 with the API's error body, never a 500.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.routing import Mount, Route

from gammalake.api import dashboard
from gammalake.api.server import Guard, Running, allowed_hosts, create_app, host_name, start
from gammalake.lake import Lake, parse_moment
from pipeline.errors import InputError
from tests.gammalake.test_lake import build_home

KEY = "s3cret-key"
GAMMALAKE = str(Path(sys.executable).with_name("gammalake"))
WAIT = 600.0
#: Sample values of path parameters, by name.
SAMPLES = {"symbol": "SPY", "name": "report.html", "rest": "x/y", "path": "app.js"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_home(tmp_path_factory.mktemp("secure") / "home")


@pytest.fixture(scope="module")
def app(home: Path) -> Any:
    lake = Lake(home)
    routes = dashboard.routes(lake, home / "reports")
    return create_app(lake, keys=frozenset({KEY}), extra_routes=routes)


@pytest.fixture(scope="module")
def server(app: Any) -> Iterator[Running]:
    running = start(app, "127.0.0.1", 0, wait=WAIT)
    yield running
    running.stop()


def concrete(path: str) -> str:
    """Return a route's path with each {parameter} (or {parameter:kind}) filled with a sample."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLES.get(m.group(1), "x"), path)


def every_path(app: Any) -> list[str]:
    """Return one concrete path per route of the app (a Mount: one file under it)."""
    paths = []
    for route in app.routes:
        if isinstance(route, Mount):
            paths.append(f"{route.path}/app.js")
        elif isinstance(route, Route):
            paths.append(concrete(route.path))
    return paths


def test_every_route_but_health_and_the_page_asks_for_a_key(app: Any, server: Running) -> None:
    guard: Guard = app.state.guard
    paths = every_path(app)
    assert "/v1/exposure/gex/SPY" in paths and "/dashboard/meta" in paths  # routes were read
    asked = [p for p in paths if not guard.is_open(p)]
    assert set(paths) - set(asked) == {"/health", "/", "/assets/plotly.min.js"} | {
        "/assets/zoom.js",
        "/assets/app.js",
    }
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        for path in asked:
            for headers in ({}, {"X-Api-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
                answer = client.get(path, headers=headers)
                assert answer.status_code == 401, path
                assert answer.json()["status"] == 401
            for given in (
                {"X-Api-Key": KEY},
                {"Authorization": f"Bearer {KEY}"},
                {"Cookie": f"gammalake_key={KEY}"},
            ):
                assert client.get(path, headers=given).status_code != 401, (path, given)
        for path in set(paths) - set(asked):
            assert client.get(path).status_code == 200, path


def test_the_key_never_appears_in_an_answer(server: Running) -> None:
    answer = httpx.get(f"{server.url}/v1/exposure/gex/SPY", headers={"X-Api-Key": KEY + "x"})
    assert answer.status_code == 401 and KEY not in answer.text


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.evil", ""]
)
def test_a_foreign_host_is_refused(server: Running, host: str) -> None:
    for path in ("/health", "/v1/exposure/gex/SPY", "/"):
        answer = httpx.get(f"{server.url}{path}", headers={"Host": host, "X-Api-Key": KEY})
        assert answer.status_code == 400, (host, path)
        assert answer.json()["message"].startswith("Host ")


def test_loopback_and_allowed_hosts_are_served(server: Running, home: Path) -> None:
    port = server.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert httpx.get(f"{server.url}/health", headers={"Host": host}).status_code == 200
    hosts = allowed_hosts("0.0.0.0", ["lake.example"])
    assert hosts == {"localhost", "127.0.0.1", "::1", "lake.example"}
    assert "10.1.2.3" in allowed_hosts("10.1.2.3") and "::2" in allowed_hosts("::2")
    assert host_name("[::1]:8787") == "::1" and host_name("Lake.Example:80") == "lake.example"
    lake = Lake(home)
    other = start(create_app(lake, hosts=hosts), "127.0.0.1", 0, wait=WAIT)
    try:
        named = httpx.get(f"{other.url}/health", headers={"Host": "lake.example:8787"})
        assert named.status_code == 200
    finally:
        other.stop()


@pytest.mark.parametrize(
    "at",
    [
        *("9999-12-31", "0001-01-01", "9999-12-31T23:59:59", "0001-01-01T00:00+14:00"),
        *("100000000000000000000", "1e20", "garbage", "2026-13-45", "-1", "+275760-09-13"),
    ],
)
def test_an_extreme_moment_is_400_with_the_api_body(server: Running, at: str) -> None:
    headers = {"X-Api-Key": KEY}
    for path in ("/v1/exposure/gex/SPY", "/v1/exposure/summary/SPY", "/dashboard/day/SPY"):
        answer = httpx.get(f"{server.url}{path}", params={"at": at}, headers=headers)
        assert answer.status_code == 400, (path, answer.text)
        body = answer.json()
        assert body["status"] == 400 and f"at={at!r}" in body["message"]


def test_a_compact_date_means_that_date(home: Path, server: Running) -> None:
    lake = Lake(home)
    assert lake.gex("SPY", at="20260326") == lake.gex("SPY", at="2026-03-26")
    assert lake.gex("SPY", at="20260326")["as_of"] == "2026-03-26T16:15:00-04:00"
    assert parse_moment("20261120") == parse_moment("2026-11-20")
    headers = {"X-Api-Key": KEY}
    compact = httpx.get(f"{server.url}/v1/exposure/levels/SPY?at=20260326", headers=headers)
    dashed = httpx.get(f"{server.url}/v1/exposure/levels/SPY?at=2026-03-26", headers=headers)
    assert compact.status_code == 200 and compact.json() == dashed.json()


def test_a_moment_outside_the_years_is_refused_in_python() -> None:
    for at in ("9999-12-31", "0001-01-01T00:00", "22000101T0000"):
        with pytest.raises(InputError, match=r"is outside the years 1900 \.\. 2199"):
            parse_moment(at)


# --- MCP over HTTP --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mcp_url(home: Path) -> Iterator[str]:
    """Start `gammalake mcp --http --port 0` with GAMMALAKE_API_KEYS set; yield its URL."""
    env = {**os.environ, "GAMMALAKE_HOME": str(home), "GAMMALAKE_API_KEYS": f"other,{KEY}"}
    process = subprocess.Popen(
        [GAMMALAKE, "mcp", "--http", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().strip()
        assert banner.startswith("gammalake mcp on "), banner
        yield banner.removeprefix("gammalake mcp on ")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=WAIT)


def test_mcp_over_http_asks_for_the_same_keys(mcp_url: str) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"X-Api-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        answer = httpx.post(mcp_url, json=hello, headers={**accept, **headers}, timeout=WAIT)
        assert answer.status_code == 401
    evil = httpx.post(
        mcp_url, json=hello, headers={**accept, "Host": "evil.example", "X-Api-Key": KEY}
    )
    assert evil.status_code == 400
    is_error, text = call_sql(mcp_url, {"Authorization": f"Bearer {KEY}"}, "SELECT 1 AS one")
    assert not is_error and json.loads(text)["rows"] == [{"one": 1}]
    is_error, text = call_sql(mcp_url, {"X-Api-Key": KEY}, "SELECT 1; SELECT 2")
    assert is_error and "\n" not in text
    assert text.endswith("gammalake sql only reads one statement at a time: 2 were sent")


def call_sql(url: str, headers: dict[str, str], query: str) -> tuple[bool, str]:
    """Return (is_error, text) of the `sql` tool called through the MCP SDK's HTTP client."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> Any:
        with anyio.fail_after(WAIT):
            async with httpx2.AsyncClient(headers=headers, timeout=WAIT) as http:
                transport = streamable_http_client(url, http_client=http)
                async with Client(transport) as client:
                    return await client.call_tool("sql", {"query": query})

    result = anyio.run(run)
    return bool(result.is_error), result.content[0].text
