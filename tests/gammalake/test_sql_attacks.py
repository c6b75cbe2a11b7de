"""Attacks on user SQL, tried on every path that runs it: each is refused in one line.

Paths: the `gammalake sql` command (run in-process as the installed script runs it), `Lake.sql`,
and the MCP `sql` tool through the MCP SDK's own client over stdio. No API route runs SQL that
a caller writes (the dashboard's queries are its own, with a checked symbol at most). Nothing
may be read outside the lake, written anywhere, fetched, installed or unlocked; the views and
the lake's own files still read.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from gammalake.cli.app import main
from gammalake.lake import Lake
from pipeline.errors import InputError
from tests.conftest import session_close, synthetic_rows
from warehouse import catalog
from warehouse.lake import Lake as Store

GAMMALAKE = str(Path(sys.executable).with_name("gammalake"))
WAIT = 600.0
SECRET = "fa-live-0123456789abcdef"
#: The settings the sandbox makes, each of which an attack tries to change back.
SETTINGS = (
    *("enable_external_access", "allowed_directories", "allowed_paths"),
    *("autoinstall_known_extensions", "autoload_known_extensions", "lock_configuration"),
    *("memory_limit", "max_temp_directory_size", "temp_directory", "threads"),
)
LOOSE = {"allowed_directories": "['/']", "allowed_paths": "['/etc/passwd']"}
#: name -> SQL ({home} and {lake} are filled in); every one must be refused.
ATTACKS: dict[str, str] = {
    "read_csv /etc/passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "read_text /etc/passwd": "SELECT * FROM read_text('/etc/passwd')",
    "read_blob /etc/passwd": "SELECT * FROM read_blob('/etc/passwd')",
    "read_parquet /etc/passwd": "SELECT * FROM read_parquet('/etc/passwd')",
    "glob /etc": "SELECT * FROM glob('/etc/*')",
    "glob the home": "SELECT count(*) FROM glob('{home}/**')",
    "read_text home config": "SELECT * FROM read_text('{home}/gammalake.toml')",
    "read_text key file": "SELECT * FROM read_text('{home}/flashalpha.key')",
    "read_csv key file": "SELECT * FROM read_csv('{home}/flashalpha.key')",
    "read_text via ..": "SELECT * FROM read_text('{lake}/../flashalpha.key')",
    "read_text relative": "SELECT * FROM read_text('flashalpha.key')",
    "read_json http": "SELECT * FROM read_json('http://127.0.0.1:9/x.json')",
    "read_parquet https": "SELECT * FROM read_parquet('https://127.0.0.1:9/x.parquet')",
    "read_csv s3": "SELECT * FROM read_csv('s3://bucket/x.csv')",
    **{f"SET {name}": f"SET {name} = {LOOSE.get(name, 'true')}" for name in SETTINGS},
    **{f"RESET {name}": f"RESET {name}" for name in SETTINGS},
    "SET GLOBAL": "SET GLOBAL enable_external_access = true",
    "ATTACH in the lake": "ATTACH '{lake}/x.duckdb' AS x",
    "ATTACH the catalog": "ATTACH '{home}/warehouse.duckdb' AS w",
    "INSTALL httpfs": "INSTALL httpfs",
    "LOAD httpfs": "LOAD httpfs",
    "COPY into the lake": "COPY (SELECT 1) TO '{lake}/x.csv'",
    "COPY outside": "COPY (SELECT 1) TO '/tmp/gammalake-attack.csv'",
    "EXPORT DATABASE": "EXPORT DATABASE '{lake}/exported'",
    "CREATE TABLE": "CREATE TABLE t AS SELECT 1",
    "two statements": "SELECT 1; SELECT 2",
    "read then COPY": "SELECT 1; COPY (SELECT 1) TO '{lake}/x.csv'",
    "block comment": "/* only a comment */ COPY (SELECT 1) TO '{lake}/x.csv'",
    "line comment": "-- a comment\nATTACH '{lake}/x.duckdb'",
    "nested comment": "/* a /* nested */ comment */ INSTALL httpfs",
    "; in a comment": "SELECT 1 /* ; */; -- ;\nSELECT * FROM read_text('/etc/passwd')",
    "EXPLAIN ANALYZE COPY": "EXPLAIN ANALYZE COPY (SELECT 1) TO '{lake}/x.csv'",
    "PRAGMA import": "PRAGMA import_database('{lake}')",
}
#: Reads that must keep working on every path.
READS = {
    "a view": "SELECT count(*) AS n FROM snapshots",
    "a derived view": "SELECT count(*) AS n FROM daily_levels",
    "a lake file": "SELECT count(*) AS n FROM read_parquet('{lake}/snapshots/**/*.parquet')",
    "a glob of the lake": "SELECT count(*) AS n FROM glob('{lake}/**/*.parquet')",
}


@dataclass(frozen=True)
class Outcome:
    """How one path ended: refused (and its message), or the rows it gave."""

    refused: bool
    message: str
    rows: Any = None


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = Store(tmp_path_factory.mktemp("attacks") / "home")
    for symbol in ("SPY", "QQQ"):
        store.write_all(synthetic_rows(symbol, session_close("2024-03-04")))
    catalog.rebuild(store.home, "default@v1")
    (store.home / "gammalake.toml").write_text(f'preset = "default"  # {SECRET}\n')
    (store.home / "flashalpha.key").write_text(SECRET + "\n")
    return store.home


def filled(sql: str, home: Path) -> str:
    """Return `sql` with {home} and {lake} filled in."""
    return sql.replace("{home}", str(home)).replace("{lake}", str(home / "lake"))


def by_cli(home: Path, sql: str) -> Outcome:
    """Run `gammalake --home H sql --format json -- SQL` in-process, as the script does."""
    runner = CliRunner()
    with runner.isolation(env={"NO_COLOR": "1", "COLUMNS": "200"}) as (out, err, _):
        args = ["--home", str(home), "sql", "--format", "json", "--", sql]
        argv, sys.argv = sys.argv, ["gammalake", *args]
        code: Any = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        said, printed = _text(err), _text(out)
    if code == 0:
        return Outcome(False, said, printed)
    assert code == 2 and "Traceback" not in said, said
    lines = said.splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2, said  # one line (and a hint)
    assert len(lines) == 1 or lines[1].startswith("hint: "), said
    return Outcome(True, lines[0].removeprefix("error: "))


def _text(stream: io.BytesIO) -> str:
    """Return a captured stream as text."""
    return stream.getvalue().decode("utf-8", "replace")


def by_lake(home: Path, sql: str) -> Outcome:
    """Run `Lake(H).sql(SQL)`."""
    try:
        frame = Lake(home).sql(sql)
    except InputError as exc:
        assert "\n" not in str(exc)
        return Outcome(True, str(exc))
    return Outcome(False, "", frame.rows())


@pytest.fixture(scope="module")
def by_mcp(home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Return every attack's and read's outcome from one stdio session of `gammalake mcp`."""
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    queries = {name: filled(sql, home) for name, sql in {**ATTACKS, **READS}.items()}
    params = StdioServerParameters(command=GAMMALAKE, args=["--home", str(home), "mcp"])
    errors = tmp_path_factory.mktemp("mcp-attacks") / "stderr.txt"

    async def run() -> dict[str, Any]:
        with errors.open("w") as errlog, anyio.fail_after(WAIT):
            async with Client(stdio_client(params, errlog=errlog)) as client:
                return {n: await client.call_tool("sql", {"query": q}) for n, q in queries.items()}

    results = anyio.run(run)
    assert "Traceback" not in errors.read_text()
    outcomes = {}
    for name, result in results.items():
        text = result.content[0].text
        if result.is_error:
            assert "Traceback" not in text and "\n" not in text, text
        outcomes[name] = Outcome(bool(result.is_error), text, result.structured_content)
    return outcomes


PATHS: dict[str, Callable[[Path, str], Outcome]] = {"cli": by_cli, "lake": by_lake}


def untouched(home: Path) -> list[str]:
    """Return the files of the home (to check nothing was written)."""
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if "locks" not in p.parts)


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("path", PATHS)
def test_every_attack_is_refused_in_one_line(home: Path, path: str, attack: str) -> None:
    before = untouched(home)
    outcome = PATHS[path](home, filled(ATTACKS[attack], home))
    assert outcome.refused, outcome
    assert SECRET not in outcome.message and "root:" not in outcome.message
    assert untouched(home) == before
    assert not Path("/tmp/gammalake-attack.csv").exists()


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_is_refused_by_the_mcp_tool(by_mcp: dict[str, Outcome], attack: str) -> None:
    outcome = by_mcp[attack]
    assert outcome.refused and SECRET not in outcome.message, outcome


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize("path", PATHS)
def test_reads_still_run(home: Path, path: str, read: str) -> None:
    outcome = PATHS[path](home, filled(READS[read], home))
    assert not outcome.refused, outcome.message
    assert outcome.rows


@pytest.mark.parametrize("read", READS)
def test_reads_still_run_through_mcp(by_mcp: dict[str, Outcome], read: str) -> None:
    outcome = by_mcp[read]
    assert not outcome.refused and outcome.rows["rows"][0]["n"] > 0, outcome


def test_the_messages_say_who_refused(home: Path) -> None:
    said = {name: by_lake(home, filled(sql, home)).message for name, sql in ATTACKS.items()}
    lake = str(home / "lake")
    assert said["read_csv /etc/passwd"] == (
        f'gammalake sql only reads the lake ({lake}): Cannot access file "/etc/passwd" - '
        "file system operations are disabled by configuration"
    )
    assert said["two statements"] == "gammalake sql only reads one statement at a time: 2 were sent"
    assert said["COPY into the lake"] == "gammalake sql only reads: COPY statements are refused"
    assert said["SET memory_limit"].startswith("gammalake sql only reads; its settings are locked")
