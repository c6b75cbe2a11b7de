"""`gammalake sql` only reads: nothing it runs can change the lake, the catalog or the home."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from gammalake.cli.choices import OutputFormat
from gammalake.cli.sql import check_output, emit, read_statements, run_query, sql_command
from pipeline.errors import InputError
from tests.conftest import REPO, session_close, synthetic_rows
from warehouse import catalog
from warehouse.lake import Lake


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    lake = Lake(tmp_path_factory.mktemp("sql") / "home")
    for day in ("2024-03-04", "2024-03-05"):
        for symbol in ("SPY", "QQQ"):
            lake.write_all(synthetic_rows(symbol, session_close(day)))
    catalog.rebuild(lake.home, "default@v1")
    return lake.home


@pytest.fixture
def home(stored, tmp_path):
    """A copy of the stored home for each test (views are relative: a copy works the same)."""
    return Path(shutil.copytree(stored, tmp_path / "home"))


def snapshots(home: Path) -> int:
    return catalog.query(home, "SELECT count(*) FROM snapshots").item()


def refused(home: Path, sql: str) -> str:
    with pytest.raises(InputError) as caught:
        run_query(home, sql)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_copy_over_a_partition_is_refused(home):
    [partition] = Lake(home).root.glob("snapshots/symbol=SPY/**/*.parquet")
    before = partition.read_bytes()
    sql = f"COPY (SELECT * FROM snapshots WHERE symbol = 'QQQ') TO '{partition}' (FORMAT parquet)"
    assert refused(home, sql) == "gammalake sql only reads: COPY statements are refused"
    assert partition.read_bytes() == before and snapshots(home) == 4


def test_a_relative_copy_plants_nothing(home, monkeypatch):
    monkeypatch.chdir(home)
    target = "lake/snapshots/symbol=SPY/month=2024-03/planted.parquet"
    refused(home, f"COPY (SELECT * FROM snapshots LIMIT 1) TO '{target}'")
    # smuggled behind a read, the write is refused before anything runs
    refused(home, f"SELECT 1; COPY (SELECT * FROM snapshots LIMIT 1) TO '{target}'")
    assert not (home / target).exists() and snapshots(home) == 4


def test_the_catalog_cannot_be_attached_and_changed(home, monkeypatch):
    monkeypatch.chdir(home)
    message = refused(home, "ATTACH 'warehouse.duckdb' AS w; DROP VIEW w.daily_levels")
    assert message == "gammalake sql only reads: ATTACH statements are refused"
    con = duckdb.connect(str(home / catalog.CATALOG_FILE), read_only=True)
    views = {name for (name,) in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    con.close()
    assert "daily_levels" in views


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("EXPORT DATABASE 'out'", "EXPORT statements"),
        ("IMPORT DATABASE 'out'", "IMPORT DATABASE"),
        ("DETACH memory", "DETACH statements"),
        ("INSTALL httpfs", "INSTALL statements"),
        ("LOAD httpfs", "LOAD statements"),
        ("CREATE TABLE t AS SELECT 1", "CREATE statements"),
        ("CREATE OR REPLACE VIEW snapshots AS SELECT 1", "CREATE statements"),
        ("DROP VIEW snapshots", "DROP statements"),
        ("ALTER VIEW snapshots RENAME TO s", "ALTER statements"),
        ("INSERT INTO t VALUES (1)", "INSERT statements"),
        ("UPDATE t SET a = 1", "UPDATE statements"),
        ("DELETE FROM t", "DELETE statements"),
        ("SET profiling_output = 'lake/x'", "SET profiling_output"),
        ("SET temp_directory = 'lake'", "SET temp_directory"),
        ("SET VARIABLE v = 1", "SET VARIABLE"),
        ("RESET threads", "RESET threads"),
        ("USE memory", "USE memory"),
        ("PRAGMA enable_profiling", "PRAGMA enable_profiling"),
        ("CALL enable_logging(storage = 'file', storage_path = 'lake')", "CALL enable_logging"),
        ("SELECT * FROM enable_logging(storage = 'file')", "table function enable_logging()"),
        (
            "FROM range(3) WHERE EXISTS (FROM force_checkpoint())",
            "table function force_checkpoint()",
        ),
        ("SELECT * FROM query('SELECT 1')", "table function query()"),
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'", "COPY statements"),
        ("CHECKPOINT", "CHECKPOINT"),
        ("VACUUM", "VACUUM statements"),
        ("/* hidden */ COPY (SELECT 1) TO 'x.csv'", "COPY statements"),
    ],
)
def test_writes_are_refused_naming_the_statement(home, tmp_path, monkeypatch, sql, kind):
    monkeypatch.chdir(tmp_path)
    message = refused(home, sql)
    assert message.startswith(f"gammalake sql only reads: {kind}") and message.endswith("refused")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # nothing written anywhere


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM daily_levels",
        "FROM gex_profile LIMIT 3",
        "WITH s AS (SELECT * FROM snapshots) SELECT symbol FROM s",
        "DESCRIBE snapshots",
        "SHOW TABLES",
        "SUMMARIZE regime_daily",
        "PRAGMA table_info('snapshots')",
        "CALL pragma_table_info('strikes')",
        "EXPLAIN SELECT * FROM oi_movers",
        "SET TimeZone = 'America/New_York'; SELECT min(as_of) FROM snapshots",
        "SELECT * FROM read_parquet('lake/snapshots/**/*.parquet') LIMIT 1",
    ],
)
def test_reads_run(home, monkeypatch, sql):
    monkeypatch.chdir(home)
    assert run_query(home, sql).height > 0


def test_a_syntax_error_is_one_line(home):
    assert refused(home, "SELEC 1").startswith("SQL error: Parser Error")
    with pytest.raises(InputError, match="no SQL statement"):
        read_statements("  -- nothing\n")


def test_output_inside_the_home_is_refused(home, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(home / "lake")
    for inside in (home / "out.csv", home / "lake/snapshots/x.parquet", link / "x.csv", home):
        with pytest.raises(InputError, match="is inside the gammalake home"):
            check_output(home, inside)
        with pytest.raises(InputError, match="is inside the gammalake home"):
            sql_command(home, "SELECT 1 AS one", OutputFormat.csv, inside)
    assert not (home / "out.csv").exists()
    outside = tmp_path / "out.csv"
    sql_command(home, "SELECT 1 AS one", OutputFormat.csv, outside)
    assert outside.read_text() == "one\n1\n"


def test_csv_of_list_columns_is_refused_naming_them(home, capsys):
    frame = run_query(home, "SELECT symbol, warnings, {'a': 1} AS pair FROM snapshots")
    with pytest.raises(InputError, match=r"list or struct column\(s\): warnings, pair") as caught:
        emit(frame, OutputFormat.csv, None)
    assert "json" in caught.value.hint and "array_to_string" in caught.value.hint
    emit(frame, OutputFormat.json, None)
    assert '"warnings"' in capsys.readouterr().out


def test_a_missing_home_is_one_line_and_stays_missing(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match="no such folder"):
        sql_command(missing, "SELECT 1", OutputFormat.csv, None)
    assert run_query(missing, "SELECT 1 AS one").item() == 1
    assert not missing.exists()


def test_a_home_where_locks_cannot_be_made_still_answers(home):
    shutil.rmtree(home / "locks")
    (home / "locks").write_text("not a folder: no process can take a lock here")
    assert run_query(home, "SELECT count(*) AS n FROM daily_levels").item() == 4


#: Runs in a private mount namespace where the home is a read-only bind mount of itself.
READ_ONLY = """
import sys
from pathlib import Path
from gammalake.cli.sql import run_query
from warehouse.doctor import diagnose
home = Path(sys.argv[1])
print(run_query(home, "SELECT count(*) AS n FROM snapshots").item())
print(diagnose(home).healthy)
"""


def read_only_run(home: Path) -> subprocess.CompletedProcess[str]:
    """Run READ_ONLY against `home` mounted read-only; skip where mounts are not allowed."""
    mount = f"mount --bind {home} {home} && mount -o remount,ro,bind {home} {home}"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"{mount} && ! touch {home}/probe"], capture_output=True
    )
    if probe.returncode != 0 or (home / "probe").exists():
        pytest.skip("needs a private mount namespace (unshare -m, root) for a read-only home")
    script = [sys.executable, "-c", READ_ONLY, str(home)]
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{mount} && exec "$@"', "sh", *script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@pytest.mark.parametrize("locks", ["present", "absent"])
def test_a_read_only_home_still_answers(home, locks):
    if locks == "absent":
        shutil.rmtree(home / "locks")
    result = read_only_run(home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "True"]
