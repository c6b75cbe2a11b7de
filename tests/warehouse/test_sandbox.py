"""The SQL sandbox: DuckDB itself keeps queries inside the lake, and nothing can unlock it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import session_close, synthetic_rows
from warehouse import catalog, sandbox
from warehouse.lake import Lake
from warehouse.sandbox import Limits, SandboxError


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    lake = Lake(tmp_path_factory.mktemp("sandbox") / "home")
    for symbol in ("SPY", "QQQ"):
        lake.write_all(synthetic_rows(symbol, session_close("2024-03-04")))
    catalog.rebuild(lake.home, "default@v1")
    (lake.home / "gammalake.toml").write_text('preset = "default"  # a private note\n')
    return lake.home


@pytest.fixture
def home(stored, tmp_path):
    return Path(shutil.copytree(stored, tmp_path / "home"))


@pytest.fixture
def con(home):
    """The locked connection itself: what DuckDB refuses, without the statement check."""
    connection, temp = sandbox.open_sandbox(home)
    yield connection
    connection.close()
    shutil.rmtree(temp, ignore_errors=True)


def test_the_settings_are_set_and_locked(con, home):
    def setting(name: str) -> str:
        return str(con.execute("SELECT current_setting(?)", [name]).fetchone()[0])

    assert setting("enable_external_access") == "False"
    assert setting("autoinstall_known_extensions") == "False"
    assert setting("autoload_known_extensions") == "False"
    assert setting("lock_configuration") == "True"
    assert f"{home.resolve()}/lake/" in setting("allowed_directories")
    assert setting("temp_directory").startswith(str(home.resolve() / "tmp" / "sql-"))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('{home}/gammalake.toml')",
        "SELECT * FROM read_blob('{home}/catalog.json')",
        "SELECT * FROM read_text('{home}/lake/../gammalake.toml')",
        "SELECT * FROM glob('{home}/*')",
        "SELECT * FROM glob('/tmp/*')",
        "SELECT * FROM read_json('http://127.0.0.1:9/x.json')",
        "SELECT * FROM read_parquet('https://127.0.0.1:9/x.parquet')",
        "SELECT * FROM read_text('{home}/lakeside.txt')",
        "COPY (SELECT 1) TO '{home}/out.csv'",
        "INSTALL httpfs",
        "LOAD httpfs",
    ],
)
def test_duckdb_itself_refuses_files_outside_the_lake(con, home, sql):
    (home / "lakeside.txt").write_text("beside the lake, not in it")
    with pytest.raises(duckdb.Error, match="disabled"):
        con.execute(sql.replace("{home}", str(home))).fetchall()
    assert not (home / "out.csv").exists()


#: Every setting the sandbox makes, with a value that would loosen it.
LOOSER = (
    ("enable_external_access", "true"),
    ("allowed_directories", "['/']"),
    ("allowed_paths", "['/etc/passwd']"),
    ("autoinstall_known_extensions", "true"),
    ("autoload_known_extensions", "true"),
    ("lock_configuration", "false"),
    ("memory_limit", "'100GB'"),
    ("max_temp_directory_size", "'1TB'"),
    ("temp_directory", "'/tmp'"),
    ("file_search_path", "'/etc'"),
)


@pytest.mark.parametrize(
    "sql",
    [
        *(f"SET {name} = {value}" for name, value in LOOSER),
        *(f"RESET {name}" for name, _ in LOOSER),
        "SET GLOBAL enable_external_access = true",
        "PRAGMA enable_profiling",
    ],
)
def test_no_statement_can_unlock_it(con, sql):
    with pytest.raises(duckdb.Error, match=r"locked|disabled"):
        con.execute(sql)
    assert con.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)


def test_the_views_and_lake_files_read(home):
    with sandbox.sandbox(home) as box:
        assert box.query("SELECT count(*) AS n FROM snapshots").item() == 2
        assert box.query("SELECT count(*) AS n FROM gex_profile").item() > 0
        lake = home / "lake"
        files = box.query(f"SELECT count(*) FROM read_parquet('{lake}/strikes/**/*.parquet')")
        assert files.item() > 0


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("SELECT 1; SELECT 2", " one statement at a time: 2 were sent"),
        ("SELECT 1 /* ; */; -- x\n SELECT 2", " one statement at a time: 2 were sent"),
        ("COPY (SELECT 1) TO '{home}/lake/x.csv'", ": COPY statements are refused"),
        ("EXPORT DATABASE '{home}/lake/x'", ": EXPORT statements are refused"),
        ("ATTACH '{home}/lake/x.duckdb' AS x", ": ATTACH statements are refused"),
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{home}/lake/x.csv'", ": COPY statements"),
        ("/* a /* nested */ comment */ COPY (SELECT 1) TO '{home}/lake/x.csv'", ": COPY"),
        ("-- a comment\nATTACH '{home}/lake/x.duckdb'", ": ATTACH statements are refused"),
        ("CHECKPOINT", ": CHECKPOINT statements are refused"),
        ("PRAGMA import_database('{home}/lake')", ": PRAGMA import_database is refused"),
        ("CREATE TABLE t AS SELECT 1", ": CREATE statements are refused"),
    ],
)
def test_what_duckdb_would_allow_in_the_lake_is_refused_first(home, sql, said):
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    with sandbox.sandbox(home) as box, pytest.raises(SandboxError) as caught:
        box.query(sql.replace("{home}", str(home)))
    assert str(caught.value).startswith(f"gammalake sql only reads{said}")
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before


def test_a_query_past_the_time_limit_stops_in_one_line(home):
    # range() of 10^15 rows never ends by itself: only the interrupt can stop it.
    with sandbox.sandbox(home, limits=Limits(seconds=0.5)) as box:
        with pytest.raises(SandboxError, match=r"SQL stopped: it ran past the limit of 0.5 s"):
            box.query("SELECT count(*) FROM range(1000000000000000)")
        assert box.query("SELECT 42 AS n").item() == 42  # the connection still answers


def test_spilling_stays_in_the_home_and_is_cleaned(home, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    limits = Limits(memory="64MB", temp="2GB")
    sql = (
        "SELECT a % 3000000 AS g, count(*) AS n, max(a::VARCHAR) AS m "
        "FROM range(6000000) t(a) GROUP BY 1 ORDER BY n DESC LIMIT 1"
    )
    with sandbox.sandbox(home, limits=limits) as box:
        assert box.query(sql).height == 1
    assert list(work.iterdir()) == []  # DuckDB's default temp_directory is ./.tmp
    assert not [p for p in (home / "tmp").iterdir() if p.name.startswith("sql-")]


def test_the_temp_limit_holds(home):
    limits = Limits(memory="32MB", temp="16MB")
    sql = (
        "SELECT a % 4000000 AS g, max(a::VARCHAR || 'padding padding') AS m "
        "FROM range(8000000) t(a) GROUP BY 1 ORDER BY 2 LIMIT 1"
    )
    with pytest.raises(SandboxError, match="SQL error: Out of Memory Error"):
        sandbox.query(home, sql, limits=limits)


def test_a_missing_home_answers_and_stays_missing(tmp_path):
    missing = tmp_path / "nowhere"
    assert sandbox.query(missing, "SELECT 1 AS one").item() == 1
    assert not missing.exists()


def test_the_views_name_the_lake_absolutely(home):
    statements = sandbox.lake_views(home)
    assert statements and all("'lake/" not in s for s in statements)
    assert any(f"'{home.resolve()}/lake/snapshots/" in s for s in statements)
    assert os.path.isabs(str(home))
