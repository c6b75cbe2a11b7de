"""A lake written before methods (schema version 1) is brought to the current layout."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pyarrow.parquet as pq

from flows.migrate import migrate, old_files
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
