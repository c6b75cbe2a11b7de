"""`doctor` finds what is wrong with a lake and says so."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import session_close, synthetic_rows
from warehouse import catalog
from warehouse.doctor import diagnose
from warehouse.lake import Lake


def stored(tmp_path) -> Lake:
    lake = Lake(tmp_path)
    lake.write_all(synthetic_rows("SPY", session_close("2024-03-04")))
    catalog.rebuild(tmp_path)
    return lake


def levels(report):
    return {(f.level, f.message.split(":")[0]) for f in report.findings}


def test_a_healthy_lake(tmp_path):
    stored(tmp_path)
    report = diagnose(tmp_path)
    assert report.healthy
    assert ("ok", "snapshots") in levels(report)


def test_unreadable_parquet_is_reported(tmp_path):
    lake = stored(tmp_path)
    [path] = lake.files("strikes")
    path.write_bytes(path.read_bytes()[:100])
    report = diagnose(tmp_path)
    assert not report.healthy
    assert any(
        f.level == "error" and "unreadable Parquet" in f.message and str(path) in f.message
        for f in report.findings
    )


def test_duplicate_keys_and_foreign_schema_are_reported(tmp_path):
    lake = stored(tmp_path)
    [path] = lake.files("snapshots")
    table = pq.read_table(path)
    pq.write_table(pa.concat_tables([table, table]).replace_schema_metadata({}), path)
    messages = [f.message for f in diagnose(tmp_path).findings if f.level == "error"]
    assert any("schema version ?" in m for m in messages)
    meta = {b"gammalake.schema_version": b"1", b"gammalake.dataset": b"snapshots"}
    pq.write_table(pa.concat_tables([table, table]).replace_schema_metadata(meta), path)
    messages = [f.message for f in diagnose(tmp_path).findings if f.level == "error"]
    assert messages == ["snapshots: 1 key(s) stored more than once (symbol, source, as_of)"]


def test_rows_in_another_symbols_folder(tmp_path):
    lake = stored(tmp_path)
    [path] = lake.files("strikes")
    moved = tmp_path / "lake/strikes/symbol=QQQ/month=2024-03/QQQ_2024-03.parquet"
    moved.parent.mkdir(parents=True)
    path.rename(moved)
    assert any("another symbol's folder" in f.message for f in diagnose(tmp_path).findings)


def test_a_stale_catalog_is_a_warning(tmp_path):
    lake = stored(tmp_path)
    lake.write(
        "prices",
        pl.DataFrame(
            {
                "symbol": ["SPY"],
                "source": ["test"],
                "as_of": [session_close("2024-03-04")],
                "trade_date": [session_close("2024-03-04").date()],
                "close": [1.0],
            }
        ),
    )
    report = diagnose(tmp_path)
    assert any(f.level == "warning" and "rebuild" in f.message for f in report.findings)
