"""`gammalake api` and `gammalake mcp` under attack: links out of reports/, huge SQL replies,
long echoed values, a taken port, stop signals and an open host without keys.

Servers are real uvicorn on 127.0.0.1 (a free port): the API in a thread, the commands as
subprocesses (stop signals need a real process). Nothing here measures a duration.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from gammalake.api import dashboard
from gammalake.api.server import ECHO_CHARS, Running, create_app, start
from gammalake.lake import Lake
from gammalake.mcp import SQL_MAX_CELLS, LakeTools
from tests.gammalake.test_lake import build_home

GAMMALAKE = str(Path(sys.executable).with_name("gammalake"))
WAIT = 600.0
SECRET = "root:x:0:0:not-a-report"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_home(tmp_path_factory.mktemp("hardening") / "home")


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file outside every served folder, standing for /etc/passwd."""
    path = tmp_path_factory.mktemp("outside") / "passwd"
    path.write_text(SECRET + "\n")
    return path


@pytest.fixture(scope="module")
def reports(home: Path, outside: Path) -> Path:
    """reports/ holding one real report and the links and odd files an attacker leaves."""
    folder = home / "reports"
    folder.mkdir(exist_ok=True)
    (folder / "good.html").write_text("<title>Good</title>fine")
    (folder / "evil.html").symlink_to(outside)
    (folder / "evil.json").symlink_to(outside.parent)  # a folder
    (folder / "dangling.html").symlink_to(folder / "missing.html")
    (folder / "loop.html").symlink_to(folder / "loop.html")
    (folder / "zero.js").symlink_to("/dev/zero")  # not a regular file: would never end
    (folder / "alias.html").symlink_to(folder / "good.html")  # inside: served
    return folder


@pytest.fixture(scope="module")
def static(tmp_path_factory: pytest.TempPathFactory, outside: Path) -> Path:
    """A copy of the page's static/ folder with a link out of it."""
    folder = tmp_path_factory.mktemp("static") / "static"
    shutil.copytree(dashboard.STATIC, folder)
    (folder / "evil.js").symlink_to(outside)
    return folder


@pytest.fixture(scope="module")
def server(home: Path, reports: Path, static: Path) -> Iterator[Running]:
    lake = Lake(home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dashboard, "STATIC", static)
        app = create_app(lake, extra_routes=dashboard.routes(lake, reports))
    running = start(app, "127.0.0.1", 0, wait=WAIT, log_level="critical")
    yield running
    running.stop()


# --- A7: links out of reports/ and assets/ ------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["evil.html", "evil.json", "dangling.html", "loop.html", "zero.js", "nothing.html"]
)
def test_a_report_link_out_of_the_folder_is_404(server: Running, name: str) -> None:
    answer = httpx.get(f"{server.url}/reports/{name}", timeout=WAIT)
    assert answer.status_code == 404, answer.text[:200]
    assert SECRET not in answer.text and answer.json()["status"] == 404


def test_a_report_inside_the_folder_is_served(server: Running) -> None:
    for name in ("good.html", "alias.html"):
        answer = httpx.get(f"{server.url}/reports/{name}", timeout=WAIT)
        assert answer.status_code == 200 and answer.text == "<title>Good</title>fine"
    listed = httpx.get(f"{server.url}/dashboard/meta", timeout=WAIT).json()["reports"]
    assert sorted(r["name"] for r in listed) == ["alias.html", "good.html"]


def test_an_asset_link_out_of_the_folder_is_404(server: Running) -> None:
    # Starlette's StaticFiles already resolves links; this keeps it so.
    answer = httpx.get(f"{server.url}/assets/evil.js", timeout=WAIT)
    assert answer.status_code == 404 and SECRET not in answer.text
    assert httpx.get(f"{server.url}/assets/app.js", timeout=WAIT).status_code == 200


# --- long values are not echoed whole --------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/exposure/gex/SPY", "/v1/exposure/summary/SPY", "/dashboard/day/SPY"]
)
def test_a_long_moment_is_clipped_in_the_message(server: Running, path: str) -> None:
    at = "x" * 5000
    answer = httpx.get(f"{server.url}{path}", params={"at": at}, timeout=WAIT)
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert f"at='{'x' * ECHO_CHARS}…'" in message and "x" * (ECHO_CHARS + 1) not in message
    assert len(message) < 400, message


# --- A2: the sql tool's reply is capped ------------------------------------------------------


def test_a_huge_sql_cell_is_refused_in_one_line(home: Path) -> None:
    tools = LakeTools(Lake(home))
    with pytest.raises(ToolError, match=r"over the 16 MiB a reply may carry") as caught:
        tools.sql("SELECT repeat('a', 20000000) AS s")
    assert "\n" not in str(caught.value)
    assert tools.sql("SELECT repeat('a', 1000) AS s")["rows"] == [{"s": "a" * 1000}]


def test_too_many_sql_cells_are_refused(home: Path) -> None:
    columns = SQL_MAX_CELLS // 5000 + 1
    query = "SELECT " + ", ".join(f"i AS c{k}" for k in range(columns)) + " FROM range(5000) t(i)"
    with pytest.raises(ToolError, match=r"cells .* over the 1,000,000 a reply may carry"):
        LakeTools(Lake(home)).sql(query, limit=5000)


# --- A13: a taken port --------------------------------------------------------------------------


def test_mcp_http_on_a_taken_port_is_one_line_and_exit_2(home: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [GAMMALAKE, "--home", str(home), "mcp", "--http", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=WAIT,
            stdin=subprocess.DEVNULL,
        )
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert lines[0] == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert len(lines) == 2 and lines[1].startswith("hint: choose another port")


# --- stop signals -------------------------------------------------------------------------------


def _spawn(home: Path, *args: str) -> subprocess.Popen[str]:
    """Start `gammalake --home HOME *args` with pipes, SIGINT handled as in a terminal."""
    return subprocess.Popen(
        [GAMMALAKE, "--home", str(home), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _serving(process: subprocess.Popen[str], stdio: bool) -> None:
    """Return once the server answers: the HTTP banner, or a ping answered over stdio."""
    assert process.stdin is not None and process.stdout is not None
    if stdio:  # the banner comes before the handlers: a ping proves the server runs
        process.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}) + "\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["id"] == 1
    else:
        assert process.stdout.readline().startswith("gammalake ")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    "args", [("api", "--port", "0"), ("mcp", "--http", "--port", "0"), ("mcp",)], ids=str
)
def test_a_stop_signal_exits_128_plus_it_with_one_line(
    home: Path, args: tuple[str, ...], stop: signal.Signals
) -> None:
    process = _spawn(home, *args)
    try:
        _serving(process, stdio=args == ("mcp",))
        process.send_signal(stop)
        _, said = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT)
    assert process.returncode == 128 + stop, said
    name = "api" if args[0] == "api" else "mcp"
    assert said.splitlines()[-1] == f"gammalake {name}: stopped by {stop.name}", said
    assert "Traceback" not in said


# --- an open host without keys ------------------------------------------------------------------


def test_api_on_an_open_host_without_keys_warns(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from gammalake.api import server as api_server
    from gammalake.cli import app as cli
    from gammalake.cli.commands import api as command

    served: list[str] = []
    monkeypatch.delenv("GAMMALAKE_API_KEYS", raising=False)
    # Nothing may listen beyond loopback in a test: the bind check and uvicorn are replaced.
    monkeypatch.setattr(command, "check_free", lambda host, port: None)
    monkeypatch.setattr(api_server, "serve", lambda app, host, port, ready: served.append(host))
    said: dict[str, Any] = {}
    for host in ("0.0.0.0", "192.0.2.7", "127.0.0.1", "localhost", "::1"):
        result = CliRunner().invoke(cli.app, ["--home", str(home), "api", "--host", host])
        assert result.exit_code == 0, result.output
        said[host] = [line for line in result.stderr.splitlines() if "warning" in line]
    assert served == ["0.0.0.0", "192.0.2.7", "127.0.0.1", "localhost", "::1"]
    for host in ("0.0.0.0", "192.0.2.7"):
        assert len(said[host]) == 1 and "everyone who can reach the port" in said[host][0]
        assert "GAMMALAKE_API_KEYS" in said[host][0]
    assert not said["127.0.0.1"] and not said["localhost"] and not said["::1"]
