"""The lake: idempotent writes, replacement by key, atomic partitions, crash and concurrency."""

from __future__ import annotations

import os
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
from warehouse.lake import Lake, file_metadata

DAYS = ("2024-03-04", "2024-03-05", "2024-03-06")


def content_hash(lake: Lake) -> dict[str, tuple[int, int]]:
    """Return (rows, content hash) per dataset, independent of file layout and row order."""
    out = {}
    for name in lake.datasets():
        frame = lake.read(name)
        frame = frame.sort(frame.columns[:6]).select(pl.all().exclude("warnings"))
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


def test_partitions_are_per_symbol_and_month_with_schema_metadata(tmp_path, rows):
    lake = Lake(tmp_path)
    lake.write_all(rows[0])
    [path] = lake.files("strikes")
    assert path.relative_to(tmp_path).as_posix() == (
        "lake/strikes/symbol=SPY/month=2024-03/SPY_2024-03.parquet"
    )
    meta = file_metadata(path)
    assert meta[b"gammalake.schema_version"] == b"2" and meta[b"gammalake.dataset"] == b"strikes"
    assert not list((tmp_path / "tmp").iterdir())


WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timedelta, timezone
    import polars as pl
    from warehouse.lake import Lake, file_metadata
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
    assert baseline.wait(60) == 0
    before = content_hash(lake)
    killed = None
    for _ in range(20):  # each try waits for a temp file, then kills the writer at once
        writer = start_writer(tmp_path, 400_000, 3)
        deadline = time.monotonic() + 30
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
        writer.wait(60)
    assert writer.returncode == 0 and checks >= 5
    assert catalog.query(tmp_path, "SELECT count(*) FROM snapshots").item() == 40
