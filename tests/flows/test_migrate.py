"""A lake written before methods (schema version 1) is brought to the current layout."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

import polars as pl
import pyarrow.parquet as pq

from flows.migrate import migrate, old_files
from tests.conftest import session_close, synthetic_rows
from warehouse.doctor import diagnose
from warehouse.lake import Lake


def write_v1(home, name, frame):
    folder = home / "lake" / name / "symbol=SPY" / "month=2024-03"
    folder.mkdir(parents=True)
    table = frame.to_arrow()
    meta = {b"gammalake.schema_version": b"1", b"gammalake.dataset": name.encode()}
    pq.write_table(table.replace_schema_metadata(meta), folder / "SPY_2024-03.parquet")


def test_version_one_rows_gain_a_method_and_the_originals_are_kept(tmp_path):
    when = datetime(2024, 3, 1, 21, 15, tzinfo=UTC)
    keys = {"symbol": "SPY", "as_of": when, "trade_date": date(2024, 3, 1)}
    snaps = pl.DataFrame(
        [
            {**keys, "source": "synthetic", "net_gex": 1.0},
            {**keys, "source": "chains-perfiliev", "net_gex": 2.0},
            {**keys, "source": "flashalpha", "net_gex": 3.0},
        ]
    )
    write_v1(tmp_path, "snapshots", snaps)
    assert len(old_files(tmp_path)) == 1
    moved = migrate(tmp_path)
    assert len(moved) == 1 and moved[0].exists() and "attic" in moved[0].parts
    rows = Lake(tmp_path).read("snapshots").sort("net_gex")
    assert rows.select("source", "method").rows() == [
        ("synthetic", "default@v0"),
        ("chains", "perfiliev@v0"),
        ("flashalpha", "vendor"),
    ]
    assert old_files(tmp_path) == [] and migrate(tmp_path) == []


OLD_GRAINS = {
    **dict.fromkeys(("snapshots", "strikes", "expiries", "chains", "alerts"), "symbol_month"),
    "prices": "symbol_year",
    "runs": "month",
}


def old_layout_home(home):
    """Write two days of SPY and QQQ in the layout of a folder per symbol (before 2026-12)."""
    old = Lake(home, grains=OLD_GRAINS)
    for day in ("2024-03-04", "2024-03-05"):
        for symbol in ("SPY", "QQQ"):
            old.write_all(synthetic_rows(symbol, session_close(day)))
    old.write(
        "prices",
        pl.DataFrame(
            {
                "symbol": ["SPY"],
                "source": ["test"],
                "as_of": [session_close("2024-03-04")],
                "trade_date": [date(2024, 3, 4)],
                "close": [1.0],
            }
        ),
    )
    return old


def tables(lake):
    return {n: lake.read(n).sort(lake.read(n).columns[:6]) for n in lake.datasets()}


def test_a_lake_in_the_folder_per_symbol_layout_moves_to_the_layout_by_source(tmp_path):
    old = old_layout_home(tmp_path)
    before = tables(old)
    assert any("symbol=SPY" in str(p) for p in old.files("strikes"))
    moved = migrate(tmp_path)
    lake = Lake(tmp_path)
    assert len(moved) == sum(1 for p in moved if "attic" in p.parts) > 0
    for name in lake.datasets():
        for path in lake.files(name):
            assert path.relative_to(lake.root / name).parts[0].startswith("source="), path
    assert len(lake.files("strikes")) == 2  # one file a day for both symbols
    assert len(lake.files("snapshots")) == 1  # one file a month
    after = tables(lake)
    assert after.keys() == before.keys()
    for name, frame in before.items():
        assert after[name].equals(frame), name
    assert migrate(tmp_path) == []
    assert not [f for f in diagnose(tmp_path).findings if "older partition layout" in f.message]


def test_a_migration_stopped_before_moving_a_file_finishes_without_duplicates(tmp_path):
    old_layout_home(tmp_path)
    moved = migrate(tmp_path)
    lake = Lake(tmp_path)
    before = tables(lake)
    back = next(p for p in moved if "strikes" in p.parts)  # written, not yet moved: a crash
    stamp = tmp_path / "attic" / back.relative_to(tmp_path / "attic").parts[0]
    restored = tmp_path / back.relative_to(stamp)
    restored.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(back, restored)
    assert Lake(tmp_path).read("strikes").height > before["strikes"].height  # rows twice
    assert len(migrate(tmp_path)) == 1
    after = tables(Lake(tmp_path))
    assert after["strikes"].equals(before["strikes"])
    assert not restored.exists()
