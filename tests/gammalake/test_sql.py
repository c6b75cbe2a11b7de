"""`gammalake sql` only reads: nothing it runs can change the lake, the catalog or the home."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from gammalake.cli.choices import OutputFormat
from gammalake.cli.sql import check_output, emit, run_query, sql_command
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
    partition = sorted(Lake(home).root.glob("snapshots/**/*.parquet"))[0]
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
    assert message == "gammalake sql only reads one statement at a time: 2 were sent"
    message = refused(home, f"ATTACH '{home / catalog.CATALOG_FILE}' AS w")
    assert message == "gammalake sql only reads: ATTACH statements are refused"
    con = duckdb.connect(str(home / catalog.CATALOG_FILE), read_only=True)
    views = {name for (name,) in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    con.close()
    assert "daily_levels" in views


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("EXPORT DATABASE 'out'", "EXPORT statements"),
        ("IMPORT DATABASE 'out'", "IMPORT statements"),
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
        ("SET profiling_output = 'lake/x'", "; its settings are locked"),
        ("SET temp_directory = 'lake'", "; its settings are locked"),
        ("SET VARIABLE v = 1", ": SET VARIABLE is"),
        ("RESET threads", "; its settings are locked"),
        ("USE memory", "USE statements"),
        ("PRAGMA enable_profiling", "PRAGMA enable_profiling"),
        ("CALL enable_logging(storage = 'file', storage_path = 'lake')", "; its settings"),
        ("SELECT * FROM enable_logging(storage = 'file')", "; its settings are locked"),
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'", "COPY statements"),
        ("CHECKPOINT", "CHECKPOINT statements"),
        ("VACUUM", "VACUUM statements"),
        ("/* hidden */ COPY (SELECT 1) TO 'x.csv'", "COPY statements"),
    ],
)
def test_writes_are_refused_naming_the_statement(home, tmp_path, monkeypatch, sql, kind):
    monkeypatch.chdir(tmp_path)
    message = refused(home, sql)
    said = kind if kind[0] in ":;" else f": {kind}"
    assert message.startswith(f"gammalake sql only reads{said}")
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
        "SELECT * FROM read_parquet('{lake}/snapshots/**/*.parquet') LIMIT 1",
        "SELECT count(*) FROM glob('{lake}/**/*.parquet')",
    ],
)
def test_reads_run(home, monkeypatch, sql):
    monkeypatch.chdir(home)
    assert run_query(home, sql.replace("{lake}", str(home / "lake"))).height > 0


def test_a_syntax_error_is_one_line(home):
    assert refused(home, "SELEC 1").startswith("SQL error: Parser Error")
    with pytest.raises(InputError, match="no SQL statement"):
        run_query(home, "  -- nothing\n")


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
        timeout=600,
    )


@pytest.mark.parametrize("locks", ["present", "absent"])
def test_a_read_only_home_still_answers(home, locks):
    if locks == "absent":
        shutil.rmtree(home / "locks")
    result = read_only_run(home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "True"]


#: One expression per DuckDB type a result can hold (and the text its value shows as).
TYPES = {
    "interval": "as_of - TIMESTAMPTZ '2024-03-01 00:00+00'",
    "hugeint": "170141183460469231731687303715884105727::HUGEINT",
    "uhugeint": "340282366920938463463374607431768211455::UHUGEINT",
    "uuid": "'6f1c1f7e-4a3b-4c2d-9e8f-0a1b2c3d4e5f'::UUID",
    "blob": "'\\xAA\\x00abc'::BLOB",
    "bit": "'10110'::BIT",
    "time": "TIME '12:34:56.789'",
    "timetz": "'12:34:56+02'::TIMETZ",
    "timestamp_ns": "TIMESTAMP_NS '2026-11-20 12:00:00.123456789'",
    "timestamp_ms": "TIMESTAMP_MS '2026-11-20 12:00:00.123'",
    "timestamp_s": "TIMESTAMP_S '2026-11-20 12:00:00'",
    "timestamptz": "as_of",
    "decimal": "12345678901234567890123456789.123456789::DECIMAL(38, 9)",
    "enum": "'b'::ENUM('a', 'b')",
    "list": "[1, 2, 3]",
    "array": "[1, 2, 3]::INTEGER[3]",
    "struct": "{'a': 1, 'b': 'x'}",
    "map": "MAP {'k': 1}",
    "union": "union_value(num := 2)::UNION(num INTEGER, str VARCHAR)",
    "json": "'{\"a\": 1}'::JSON",
    "bignum": "123456789012345678901234567890::BIGNUM",
    "null": "NULL",
    "date_infinity": "'infinity'::DATE",
    "timestamp_infinity": "'-infinity'::TIMESTAMP",
    "nested_interval": "[INTERVAL 1 DAY, NULL]",
}
NESTED = {"list", "array", "struct", "map"}  # a list of intervals is text: csv holds it
#: Where a result goes: (--format, --output suffix or None for stdout).
OUTPUTS = [
    (OutputFormat.table, None),
    (OutputFormat.csv, None),
    (OutputFormat.json, None),
    (None, ".parquet"),
    (None, ".csv"),
    (None, ".json"),
    (OutputFormat.table, ".txt"),
]


@pytest.mark.parametrize(("fmt", "suffix"), OUTPUTS)
@pytest.mark.parametrize("kind", TYPES)
def test_every_type_prints_in_every_format(home, tmp_path, capsys, kind, fmt, suffix):
    sql = f"SELECT {TYPES[kind]} AS v, 1 AS n FROM snapshots"
    output = tmp_path / f"out{suffix}" if suffix else None
    chosen = fmt or OutputFormat(suffix.lstrip("."))
    if kind in NESTED and chosen is OutputFormat.csv:
        with pytest.raises(InputError, match="cannot hold list or struct column") as caught:
            sql_command(home, sql, fmt, output)
        assert "\n" not in str(caught.value)
        assert output is None or not output.exists()  # nothing half-written
        return
    sql_command(home, sql, fmt, output)
    if chosen is OutputFormat.parquet:
        assert output is not None and pl.read_parquet(output).height == 4
        return
    text = capsys.readouterr().out if output is None else output.read_text()
    if chosen is OutputFormat.json:
        assert len(json.loads(text)) == 4
    else:
        assert len([line for line in text.splitlines() if line.rstrip().endswith("1")]) == 4


def test_an_interval_prints_as_duckdb_says_it(home, capsys):
    sql_command(
        home, "SELECT max(as_of) - min(as_of) AS span FROM snapshots", OutputFormat.csv, None
    )
    assert capsys.readouterr().out == "span\n1 day\n"


def test_an_output_without_a_known_suffix_needs_a_format(home, tmp_path):
    with pytest.raises(InputError, match=r"give --format .* or name the file \.csv"):
        sql_command(home, "SELECT 1 AS one", None, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()
