"""A lake written before schema 3 mixes files without `fetched_at` with new ones: readers cope.

DuckDB's read_parquet binds a glob's files by position unless told `union_by_name`, and then
refuses a file with another column set. A dataset this code creates is marked as holding
schema-3 files only (read by position, fast); one without the mark is read by name until
`gammalake rebuild` (its `migrate`) rewrites the older files and marks it.
"""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from flows.migrate import migrate
from tests.conftest import METHOD, session_close, synthetic_rows
from warehouse import catalog
from warehouse.doctor import diagnose
from warehouse.history import History, scan
from warehouse.lake import SCHEMA_MARK, Lake, file_metadata, scan_files

#: In two months: a write merges into its partition's files, so each month keeps its own.
DAYS = ("2024-03-04", "2024-04-01")


def mixed_home(home):
    """Return a home whose snapshots hold a schema-2 file (no fetched_at) and a schema-3 one."""
    lake = Lake(home)
    lake.write_all(synthetic_rows("SPY", session_close(DAYS[0])))
    [path] = lake.files("snapshots")
    table = pq.read_table(path).drop_columns(["fetched_at"])
    meta = {**file_metadata(path), b"gammalake.schema_version": b"2"}
    pq.write_table(table.replace_schema_metadata(meta), path)
    for name in lake.datasets():  # a lake older than the mark has none
        (lake.root / name / SCHEMA_MARK).unlink()
    lake.write_all(synthetic_rows("SPY", session_close(DAYS[1])))
    return home


def test_a_dataset_this_code_creates_is_marked(tmp_path):
    lake = Lake(tmp_path)
    lake.write_all(synthetic_rows("SPY", session_close(DAYS[0])))
    assert all(lake.marked(name) for name in lake.datasets())
    assert lake.legacy_datasets() == []
    assert not any("not marked" in f.message for f in diagnose(tmp_path).findings)


def test_the_mixed_files_really_differ(tmp_path):
    lake = Lake(mixed_home(tmp_path))
    files = [str(p) for p in lake.files("snapshots")]  # the schema-2 file first
    by_position = duckdb.sql(f"SELECT * FROM read_parquet({files})")
    assert "fetched_at" not in by_position.columns  # the first file's columns, silently
    with pytest.raises(duckdb.Error, match="schema mismatch"):
        duckdb.sql(f"SELECT * FROM read_parquet({files[::-1]})").fetchall()


def test_an_unmarked_mixed_dataset_is_read_by_name(tmp_path):
    home = mixed_home(tmp_path)
    assert "snapshots" in Lake(home).legacy_datasets()
    catalog.rebuild(home, METHOD)
    sql = "SELECT count(*), count(fetched_at) FROM snapshots"
    assert catalog.query(home, sql).row(0) == (2, 0)  # neither writer set fetched_at
    assert catalog.query(home, "SELECT count(*) FROM daily_levels").item() == 2
    history = History(home)
    try:
        assert history.daily("SPY", METHOD, None, None).height == 2
    finally:
        history.close()
    found = scan(home, "snapshots", "SELECT count(*) AS n FROM ROWS", {})
    assert found is not None and found.item() == 2
    assert Lake(home).read("snapshots").height == 2


def test_doctor_says_to_rebuild_and_migrate_marks_the_rewritten_dataset(tmp_path):
    home = mixed_home(tmp_path)
    messages = [f.message for f in diagnose(home).findings if f.level != "ok"]
    assert any("not marked" in m and "gammalake rebuild" in m for m in messages)
    assert any("written in schema version 2" in m for m in messages)
    moved = migrate(home)
    assert len(moved) == 1
    lake = Lake(home)
    assert lake.legacy_datasets() == [] and lake.marked("snapshots")
    snaps = lake.read("snapshots").sort("as_of")
    assert snaps.height == 2 and snaps.get_column("fetched_at").null_count() == 2
    assert snaps.get_column("as_of").to_list() == [session_close(d) for d in DAYS]
    catalog.rebuild(home, METHOD)
    assert catalog.query(home, "SELECT count(fetched_at) FROM snapshots").item() == 0
    assert not [f for f in diagnose(home).findings if f.level in ("warning", "error")]


def test_a_read_of_the_mark_never_fails_on_a_foreign_file(tmp_path):
    lake = Lake(tmp_path)
    lake.write_all(synthetic_rows("SPY", session_close(DAYS[0])))
    (lake.root / "snapshots" / SCHEMA_MARK).write_text("2\n")  # not this schema: not marked
    assert not lake.marked("snapshots") and "snapshots" in lake.legacy_datasets()
    assert pl.DataFrame(lake.read("snapshots")).height == 1


def test_a_lazy_scan_of_mixed_files_fills_the_missing_column(tmp_path):
    lake = Lake(mixed_home(tmp_path))
    files = lake.files("snapshots")
    with pytest.raises(pl.exceptions.PolarsError):
        pl.scan_parquet(files, hive_partitioning=False).collect()
    rows = scan_files("snapshots", files).filter(pl.col("symbol") == "SPY").collect()
    assert rows.height == 2 and rows.get_column("fetched_at").null_count() == 2
