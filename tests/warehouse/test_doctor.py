"""`doctor` finds what is wrong with a lake and says so."""

from __future__ import annotations

import shutil
import subprocess

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.engine.method import ENGINE_VERSION
from tests.conftest import METHOD, session_close, synthetic_rows
from tests.warehouse.holding import holding, rows_of, write_methods
from warehouse import catalog
from warehouse.doctor import diagnose
from warehouse.lake import Lake
from warehouse.schema import DATASETS, SCHEMA_VERSION


def stored(tmp_path) -> Lake:
    lake = Lake(tmp_path)
    lake.write_all(synthetic_rows("SPY", session_close("2024-03-04")))
    catalog.rebuild(tmp_path)
    return lake


def errors(report):
    return [f.message for f in report.findings if f.level == "error"]


def warnings(report):
    return [f.message for f in report.findings if f.level == "warning"]


def levels(report):
    return {(f.level, f.message.split(":")[0]) for f in report.findings}


def test_a_healthy_lake(tmp_path):
    lake = stored(tmp_path)
    when = session_close("2024-03-04")
    day = {"as_of": [when], "trade_date": [when.date()]}
    bars = {"symbol": ["^SPX"], "source": ["test"], "close": [1.0], **day}
    run = {"symbol": ["*"], "source": ["synthetic"], "run_id": ["r1"], "flow": ["x"], **day}
    lake.write("prices", pl.DataFrame(bars))
    lake.write("runs", pl.DataFrame(run))
    catalog.rebuild(tmp_path, METHOD)
    report = diagnose(tmp_path, engine_version=ENGINE_VERSION, method=METHOD)
    assert report.healthy and not warnings(report) and not errors(report)
    for name in ("snapshots", "prices", "runs"):
        assert ("ok", name) in levels(report)
    assert report.findings[-1].message.endswith(f"(default method: {METHOD})")


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
    messages = errors(diagnose(tmp_path))
    assert messages == [
        f"{path}: a Parquet file without gammalake's metadata: gammalake did not write it"
    ]
    meta = {
        b"gammalake.schema_version": str(SCHEMA_VERSION).encode(),
        b"gammalake.dataset": b"snapshots",
    }
    pq.write_table(pa.concat_tables([table, table]).replace_schema_metadata(meta), path)
    assert errors(diagnose(tmp_path)) == [
        "snapshots: 1 key(s) stored more than once (symbol, source, method, as_of)"
    ]


def test_files_of_the_previous_layout_say_to_rebuild(tmp_path):
    lake = stored(tmp_path)
    [path] = lake.files("strikes")
    meta = {b"gammalake.schema_version": b"1", b"gammalake.dataset": b"strikes"}
    pq.write_table(pq.read_table(path).replace_schema_metadata(meta), path)
    [message] = errors(diagnose(tmp_path))
    assert message.startswith(f"{path}: written in schema version 1")
    assert "run `gammalake rebuild`" in message


@pytest.mark.parametrize(
    "moved",
    [
        "strikes/symbol=QQQ/month=2024-03/QQQ_2024-03.parquet",
        "strikes/source=other/day=2024-03-04/2024-03-04.0badf00d.parquet",
        "strikes/source=synthetic/day=2024-03-05/2024-03-05.0badf00d.parquet",
    ],
)
def test_rows_in_another_partitions_folder(tmp_path, moved):
    lake = stored(tmp_path)
    [path] = lake.files("strikes")
    target = lake.root / moved
    target.parent.mkdir(parents=True)
    path.rename(target)
    assert any("another partition's folder" in m for m in errors(diagnose(tmp_path)))


def test_files_in_the_layout_of_a_folder_per_symbol_ask_for_a_rebuild(tmp_path):
    old = Lake(tmp_path, grains=dict.fromkeys(DATASETS, "symbol_month"))
    old.write_all(synthetic_rows("SPY", session_close("2024-03-04")))
    report = diagnose(tmp_path)
    assert not errors(report)
    [layout] = [f.message for f in report.findings if "older partition layout" in f.message]
    assert "run `gammalake rebuild`" in layout


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


def test_an_empty_or_missing_home_has_nothing_stored_yet(tmp_path):
    missing = tmp_path / "never-made"
    for home in (missing, tmp_path):
        report = diagnose(home, engine_version=1, method="default@v1")
        assert report.healthy
        assert [f.message for f in report.findings] == [f"nothing stored yet in {home}"]
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_files_gammalake_did_not_write_are_errors(tmp_path):
    lake = stored(tmp_path)
    [snapshot] = lake.files("snapshots")
    folder = snapshot.parent
    planted = {
        folder / "notes.csv": "not a Parquet file",
        folder / "extra.parquet": "does not follow snapshots's partition layout",
        tmp_path / "lake/other/x.parquet": "not in a dataset's folder",
        tmp_path / "lake/snapshots/loose.parquet": "does not follow snapshots's partition layout",
        folder.parent.parent / "symbol=spy/month=2024-03/spy_2024-03.parquet": "partition layout",
        folder / "link.parquet": "a symbolic link",
    }
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name == "link.parquet":
            path.symlink_to(snapshot)
        else:
            shutil.copy(snapshot, path)
    found = errors(diagnose(tmp_path))
    for path, why in planted.items():
        assert any(m.startswith(f"{path}: ") and why in m for m in found), path


def test_a_file_planted_by_duckdb_copy_is_found(tmp_path):
    stored(tmp_path)
    target = tmp_path / "lake/snapshots/source=synthetic/month=2024-03/planted.parquet"
    with catalog.reader(tmp_path) as con:
        con.execute(f"COPY (SELECT * FROM snapshots) TO '{target}' (FORMAT parquet)")
    assert catalog.query(tmp_path, "SELECT count(*) FROM snapshots").item() == 2
    found = [m for m in errors(diagnose(tmp_path)) if m.startswith(f"{target}: ")]
    assert any("partition layout" in m for m in found)
    assert any("without gammalake's metadata" in m for m in found)


def tamper(home, *statements):
    con = duckdb.connect(str(home / catalog.CATALOG_FILE))
    con.execute("SET file_search_path = ?", [str(home)])
    for statement in statements:
        con.execute(statement)
    con.close()


def test_views_missing_differing_or_foreign_are_warnings(tmp_path):
    stored(tmp_path)
    tamper(
        tmp_path,
        "DROP VIEW daily_levels",
        "CREATE OR REPLACE VIEW gex_profile AS SELECT * FROM strikes",
        "CREATE VIEW mine AS SELECT 1 AS one",
    )
    found = warnings(diagnose(tmp_path))
    path = tmp_path / catalog.CATALOG_FILE
    fix = "run `gammalake rebuild --catalog-only`"
    assert f"{path}: view(s) missing: daily_levels; {fix}" in found
    assert f"{path}: view(s) differing from the definitions: gex_profile; {fix}" in found
    assert f"{path}: view(s) not made by gammalake: mine; {fix}" in found
    catalog.rebuild(tmp_path)
    assert diagnose(tmp_path).healthy


def test_a_catalog_1x_clients_cannot_open_is_a_warning(tmp_path):
    stored(tmp_path)
    path = tmp_path / catalog.CATALOG_FILE
    path.unlink()
    con = duckdb.connect(str(path))  # duckdb 2.x's default storage version
    for statement in catalog.view_statements(Lake(tmp_path).datasets()):
        con.execute("SET file_search_path = ?", [str(tmp_path)])
        con.execute(statement)
    con.close()
    found = [m for m in warnings(diagnose(tmp_path)) if "storage version" in m]
    assert len(found) == 1 and "DuckDB 1.x clients cannot open" in found[0]
    assert found[0].endswith("run `gammalake rebuild --catalog-only`")


def test_a_stale_catalog_names_its_holder(tmp_path):
    stored(tmp_path)
    with holding(tmp_path / catalog.CATALOG_FILE, "rw") as proc:
        assert catalog.ensure(tmp_path, "default@v1").deferred
        found = warnings(diagnose(tmp_path))
        stale = [m for m in found if "is stale since" in m]
        assert len(stale) == 1 and f"process {proc.pid} (" in stale[0]
        assert "held it read-write, it still holds it" in stale[0]
        assert "\n" not in stale[0]
    assert catalog.ensure(tmp_path) is not None
    assert diagnose(tmp_path, method="default@v1").healthy


def test_a_method_other_than_the_catalogs_is_a_warning(tmp_path):
    stored(tmp_path)
    catalog.rebuild(tmp_path, "default@v1")
    [message] = warnings(diagnose(tmp_path, method="perfiliev@v1"))
    assert "show default@v1, settings say perfiliev@v1" in message and "--catalog-only" in message


def test_snapshots_of_an_older_engine(tmp_path):
    write_methods(tmp_path, ("2024-03-04", "2024-03-05"), ("default@v1", "perfiliev@v1"))
    catalog.rebuild(tmp_path)
    assert diagnose(tmp_path, engine_version=1).healthy
    [message] = warnings(diagnose(tmp_path, engine_version=2))
    assert message.startswith("snapshots: 4 made by an older engine (default@v1, perfiliev@v1)")
    assert "have no v2 row: `gammalake rebuild` re-derives them beside the old ones" in message
    Lake(tmp_path).write_all(rows_of("SPY", "2024-03-04", "default@v2"))
    [message] = warnings(diagnose(tmp_path, engine_version=2))
    assert message.startswith("snapshots: 3 made by an older engine")
    for day in ("2024-03-04", "2024-03-05"):
        Lake(tmp_path).write_all(rows_of("SPY", day, "perfiliev@v2"))
    Lake(tmp_path).write_all(rows_of("SPY", "2024-03-05", "default@v2"))
    report = diagnose(tmp_path, engine_version=2)
    assert report.healthy
    assert "snapshots: all 4 made by an older engine also have their v2 re-derivation" in [
        f.message for f in report.findings
    ]
    [message] = warnings(diagnose(tmp_path, engine_version=1))
    assert "newer engine (default@v2, perfiliev@v2) than this one (v1)" in message


def test_orphan_catalog_temp_files_are_removed(tmp_path):
    stored(tmp_path)
    finished = subprocess.Popen(["true"])
    finished.wait()
    orphan = tmp_path / "tmp" / f"catalog-{finished.pid}-0123abcd.duckdb.tmp"
    orphan.write_bytes(b"half a catalog")
    report = diagnose(tmp_path)
    assert not orphan.exists() and report.healthy
    assert any(f.level == "fixed" and str(orphan) in f.message for f in report.findings)
