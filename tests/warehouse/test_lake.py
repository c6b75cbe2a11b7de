"""The lake: idempotent writes, replacement by key, atomic partitions, crash and concurrency."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import REPO, session_close, synthetic_rows
from warehouse import catalog
from warehouse.doctor import diagnose
from warehouse.lake import MAX_PARTS, Lake, file_metadata
from warehouse.schema import SCHEMA_VERSION

DAYS = ("2024-03-04", "2024-03-05", "2024-03-06")


#: Columns that say when a run received the data: two runs of the same inputs differ there.
FETCH_TIMES = ("fetched_at",)


def content_hash(lake: Lake, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Return (rows, content hash) per dataset, independent of file layout and row order.

    `skip`: columns left out (e.g. FETCH_TIMES, to compare two runs rather than a rebuild).
    """
    out = {}
    for name in lake.datasets():
        frame = lake.read(name)
        frame = frame.sort(frame.columns[:6]).select(pl.all().exclude("warnings", *skip))
        out[name] = (frame.height, int(frame.hash_rows().sum()))
    return out


@pytest.fixture(scope="module")
def rows():
    return [synthetic_rows(s, session_close(d)) for d in DAYS for s in ("SPY", "QQQ")]


def test_writing_twice_leaves_identical_tables(tmp_path, rows):
    lake = Lake(tmp_path)
    for r in rows:
        lake.write_all(r)
    first = content_hash(lake)
    for r in rows:
        lake.write_all(r)
    assert content_hash(lake) == first
    assert first["snapshots"][0] == len(rows)
    assert first["strikes"][0] == sum(r["strikes"].height for r in rows)


def test_rewriting_a_snapshot_replaces_all_its_strikes(tmp_path, rows):
    lake = Lake(tmp_path)
    lake.write_all(rows[0])
    fewer = {**rows[0], "strikes": rows[0]["strikes"].head(5)}
    lake.write_all(fewer)
    assert lake.read("strikes").height == 5
    assert lake.read("snapshots").height == 1


def test_partitions_are_per_source_and_day_or_month_with_schema_metadata(tmp_path, rows):
    lake = Lake(tmp_path)
    lake.write_all(rows[0])
    [path] = lake.files("strikes")
    folder, name = path.relative_to(tmp_path).parent.as_posix(), path.name
    assert folder == "lake/strikes/source=synthetic/day=2024-03-04"
    assert re.fullmatch(r"2024-03-04\.[0-9a-f]{8}\.parquet", name)
    [snapshots] = lake.files("snapshots")
    assert snapshots.parent.relative_to(tmp_path).as_posix() == (
        "lake/snapshots/source=synthetic/month=2024-03"
    )
    meta = file_metadata(path)
    assert meta[b"gammalake.schema_version"] == str(SCHEMA_VERSION).encode()
    assert meta[b"gammalake.dataset"] == b"strikes"
    assert json.loads(meta[b"gammalake.symbols"]) == ["SPY"]
    assert not list((tmp_path / "tmp").iterdir())


def test_symbols_of_a_day_share_files_sorted_by_symbol_after_compaction(tmp_path, rows):
    lake = Lake(tmp_path)
    lake.write_all(rows[1])  # QQQ, then SPY: a part file each
    lake.write_all(rows[0])
    assert len(lake.files("strikes")) == 2
    assert lake.compact() >= 2  # strikes and expiries of 2024-03-04, snapshots of 2024-03
    [path] = lake.files("strikes")
    assert json.loads(file_metadata(path)[b"gammalake.symbols"]) == ["QQQ", "SPY"]
    stored = pl.read_parquet(path).get_column("symbol")
    assert stored.to_list() == sorted(stored.to_list())
    assert lake.read("snapshots").height == 2 and lake.compact() == 0


def test_a_write_rewrites_only_the_files_holding_its_symbols(tmp_path, rows):
    lake = Lake(tmp_path)
    lake.write_all(rows[0])  # SPY
    lake.write_all(rows[1])  # QQQ
    before = {p.name: p.stat().st_mtime_ns for p in lake.files("strikes")}
    fewer = {**rows[0], "strikes": rows[0]["strikes"].head(3)}
    lake.write_all(fewer)  # SPY again: its file is replaced, QQQ's is left alone
    after = {p.name for p in lake.files("strikes")}
    [qqq] = [n for n in before if n in after]
    assert len(after) == 2 and qqq in after
    strikes = lake.read("strikes")
    assert strikes.filter(pl.col("symbol") == "SPY").height == 3
    assert strikes.filter(pl.col("symbol") == "QQQ").height == rows[1]["strikes"].height


def test_many_small_writes_keep_a_partition_under_max_parts(tmp_path, rows):
    lake = Lake(tmp_path)
    base = rows[0]["snapshots"]
    for i in range(MAX_PARTS + 4):  # a batch of one symbol per write, as a wide flow does
        lake.write("snapshots", base.with_columns(pl.lit(f"S{i:03d}").alias("symbol")))
    assert len(lake.files("snapshots")) <= MAX_PARTS
    assert lake.read("snapshots").get_column("symbol").n_unique() == MAX_PARTS + 4


def test_rows_left_twice_by_a_killed_swap_are_stored_once_after_compaction(tmp_path, rows):
    lake = Lake(tmp_path)
    lake.write_all(rows[0])
    [path] = lake.files("strikes")
    shutil.copy(path, path.with_name("2024-03-04.deadbeef.parquet"))  # renamed, not unlinked
    lake.write("strikes", rows[0]["strikes"].head(2).with_columns(pl.lit("IWM").alias("symbol")))
    assert lake.read("strikes").height == 2 * rows[0]["strikes"].height + 2
    lake.compact()
    assert lake.read("strikes").height == rows[0]["strikes"].height + 2


WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timedelta, timezone
    import polars as pl
    from warehouse.lake import MAX_PARTS, Lake, file_metadata
    lake, n = Lake(__import__("pathlib").Path(sys.argv[1])), int(sys.argv[2])
    start = datetime(2024, 3, 4, 21, tzinfo=timezone.utc)
    for i in range(int(sys.argv[3])):
        as_of = start + timedelta(minutes=i)
        strikes = pl.DataFrame({"strike": [float(k) for k in range(n)]}).with_columns(
            pl.lit("SPY").alias("symbol"), pl.lit("synthetic").alias("source"),
            pl.lit(as_of).alias("as_of"), pl.lit(as_of.date()).alias("trade_date"),
            pl.lit("default@v1").alias("method"), pl.lit(1.0).alias("net_gex"))
        snap = strikes.head(1).select(
            "symbol", "source", "method", "as_of", "trade_date"
        ).with_columns(
            pl.lit(n).alias("strike_count"), pl.lit(500.0).alias("underlying_price"))
        lake.write_all({"strikes": strikes, "snapshots": snap})
""")


def start_writer(home: Path, strikes: int, snapshots: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), str(strikes), str(snapshots)], env=env
    )


def incomplete_snapshots(home: Path) -> int:
    """Return how many snapshots lack some of their strikes (must always be 0)."""
    result = catalog.query(
        home,
        """
        SELECT count(*) AS n FROM snapshots s
        LEFT JOIN (SELECT as_of, count(*) AS c FROM strikes GROUP BY as_of) k USING (as_of)
        WHERE coalesce(k.c, 0) != s.strike_count""",
    )
    return int(result.item())


@pytest.mark.slow
def test_a_writer_killed_mid_partition_leaves_the_previous_file(tmp_path):
    lake = Lake(tmp_path)
    baseline = start_writer(tmp_path, 1000, 1)
    assert baseline.wait(600) == 0
    before = content_hash(lake)
    killed = None
    for _ in range(20):  # each try waits for a temp file, then kills the writer at once
        writer = start_writer(tmp_path, 400_000, 3)
        deadline = time.monotonic() + 600
        while writer.poll() is None and time.monotonic() < deadline:
            temps = list((tmp_path / "tmp").glob("*.parquet.tmp"))
            if temps:
                os.kill(writer.pid, signal.SIGKILL)
                writer.wait()
                killed = temps
                break
            time.sleep(0.001)
        if killed:
            break
        writer.wait()
    assert killed, "never caught the writer with a temp file open"
    after = content_hash(lake)  # every file still reads
    assert incomplete_snapshots(tmp_path) == 0
    # Killed on its first write: the previous content exactly; on a later one: whole snapshots.
    assert after == before or after["snapshots"][0] > before["snapshots"][0]
    leftovers = list((tmp_path / "tmp").glob("*.parquet.tmp"))
    assert leftovers, "the killed writer's temp file should still be there for doctor"
    report = diagnose(tmp_path)
    assert any(f.level == "fixed" and "orphan temp file" in f.message for f in report.findings)
    assert not list((tmp_path / "tmp").glob("*.parquet.tmp"))
    assert not [f for f in diagnose(tmp_path).findings if f.level == "error"]


@pytest.mark.slow
def test_reader_never_sees_partial_rows_while_a_writer_appends(tmp_path):
    writer = start_writer(tmp_path, 3000, 40)
    checks = 0
    try:
        while writer.poll() is None:
            if "snapshots" not in Lake(tmp_path).datasets():
                time.sleep(0.01)
                continue
            assert incomplete_snapshots(tmp_path) == 0  # raises on any read error too
            checks += 1
    finally:
        writer.wait(600)
    assert writer.returncode == 0 and checks >= 5
    assert catalog.query(tmp_path, "SELECT count(*) FROM snapshots").item() == 40
