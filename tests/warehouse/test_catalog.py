"""The DuckDB catalog: views, derived views, methods, a moved home, no locking out of readers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import duckdb
import polars as pl
import pytest

from tests.conftest import session_close, synthetic_rows
from tests.warehouse.holding import holding, rows_of, write_methods
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.queries import EXAMPLES

DAYS = ("2024-03-04", "2024-03-05")


@pytest.fixture
def home(tmp_path):
    lake = Lake(tmp_path / "home")
    for day in ("2024-03-04", "2024-03-05"):
        for symbol in ("SPY", "QQQ"):
            lake.write_all(synthetic_rows(symbol, session_close(day)))
    catalog.rebuild(lake.home)
    return lake.home


def test_dataset_and_derived_views(home):
    views = set(
        catalog.query(home, "SELECT view_name FROM duckdb_views() WHERE NOT internal").get_column(
            "view_name"
        )
    )
    assert {
        "snapshots",
        "strikes",
        "expiries",
        "daily_levels",
        "regime_daily",
        "gex_profile",
        "oi_movers",
    } <= views
    daily = catalog.query(home, "SELECT * FROM regime_daily ORDER BY symbol, trade_date")
    assert daily.height == 4 and daily.get_column("close").null_count() == 4


def test_regime_daily_joins_the_sessions_price_bar(home):
    bars = pl.DataFrame(
        {
            "symbol": ["SPY"],
            "source": ["test"],
            "as_of": [session_close("2024-03-04")],
            "trade_date": [session_close("2024-03-04").date()],
            "open": [1.0],
            "high": [2.0],
            "low": [0.5],
            "close": [1.5],
            "volume": [10.0],
        }
    )
    Lake(home).write("prices", bars)
    build = catalog.ensure(home)
    assert build is not None and "prices" in build.datasets and not build.deferred
    assert catalog.ensure(home) is None
    row = catalog.query(
        home,
        "SELECT close FROM regime_daily WHERE symbol = ? AND trade_date = DATE '2024-03-04'",
        ["SPY"],
    )
    assert row.item() == 1.5


def test_every_readme_example_runs(home):
    for sql in EXAMPLES.values():
        catalog.query(home, sql)


def test_daily_levels_keeps_the_last_snapshot_of_a_session(home):
    later = synthetic_rows("SPY", session_close("2024-03-05").replace(hour=17))
    Lake(home).write_all(later)
    rows = catalog.query(
        home,
        "SELECT as_of FROM daily_levels WHERE symbol = 'SPY' AND trade_date = DATE '2024-03-05'",
    )
    assert rows.height == 1 and rows.item().hour == 22  # 17:00 New York in UTC


def test_the_catalog_file_works_after_the_home_moves(home, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.move(home, moved)
    con = duckdb.connect(str(moved / catalog.CATALOG_FILE), read_only=True)
    con.execute("SET file_search_path = ?", [str(moved)])
    assert con.execute("SELECT count(*) FROM snapshots").fetchall()[0][0] == 4
    con.close()
    # and from a shell that changed into the folder, as the README shows:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb; print(duckdb.connect("
            "'warehouse.duckdb', read_only=True).execute('SELECT count(*) "
            "FROM strikes').fetchall()[0][0])",
        ],
        cwd=moved,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(result.stdout) > 0


def test_queries_run_while_another_process_holds_the_catalog_file(home):
    with holding(home / catalog.CATALOG_FILE, "rw"):
        assert catalog.query(home, "SELECT count(*) FROM snapshots").item() == 4


def test_parameters_are_bound_not_spliced(home):
    hostile = "SPY' OR '1'='1"
    assert catalog.query(home, "SELECT * FROM snapshots WHERE symbol = ?", [hostile]).height == 0


@pytest.fixture
def methods_home(tmp_path):
    """SPY on two sessions under default@v1, default@v2 (a re-derivation) and perfiliev@v1,
    plus a vendor snapshot of another source."""
    lake = write_methods(tmp_path / "home", DAYS, ("default@v1", "default@v2", "perfiliev@v1"))
    lake.write_all(rows_of("SPY", DAYS[0], "vendor", source="flashalpha"))
    return lake.home


def pairs(home, sql):
    return sorted(catalog.query(home, sql).iter_rows())


def test_dataset_views_show_every_method(methods_home):
    catalog.rebuild(methods_home, "default@v1")
    assert pairs(methods_home, "SELECT method, count(*) FROM snapshots GROUP BY 1") == [
        ("default@v1", 2),
        ("default@v2", 2),
        ("perfiliev@v1", 2),
        ("vendor", 1),
    ]


def test_derived_views_keep_the_default_recipe_at_its_newest_engine(methods_home):
    catalog.rebuild(methods_home, "default@v1")
    levels = "SELECT source, method, count(*) FROM daily_levels GROUP BY ALL"
    assert pairs(methods_home, levels) == [
        ("flashalpha", "vendor", 1),
        ("synthetic", "default@v2", 2),
    ]
    regime = "SELECT DISTINCT method FROM regime_daily WHERE source = 'synthetic'"
    assert pairs(methods_home, regime) == [("default@v2",)]
    for view in ("gex_profile", "oi_movers", "expiry_profile"):
        shown = pairs(methods_home, f"SELECT DISTINCT source, method FROM {view}")
        assert shown == [("flashalpha", "vendor"), ("synthetic", "default@v2")], view
    strikes = "SELECT count(*) FROM gex_profile WHERE source = 'synthetic'"
    assert catalog.query(methods_home, strikes).item() == 21  # one snapshot's strikes, once


def test_another_default_method_shows_its_own_history(methods_home):
    catalog.rebuild(methods_home, "perfiliev@v3")  # a newer engine: the recipe still matches
    levels = "SELECT DISTINCT method FROM daily_levels WHERE source = 'synthetic'"
    assert pairs(methods_home, levels) == [("perfiliev@v1",)]
    assert catalog.default_method(methods_home) == "perfiliev@v3"


def test_without_a_default_method_every_method_is_kept_once(methods_home):
    catalog.rebuild(methods_home)
    assert catalog.default_method(methods_home) is None
    keys = "SELECT source, method, trade_date, count(*) AS n FROM daily_levels GROUP BY ALL"
    counted = catalog.query(methods_home, keys)
    assert counted.height == 7 and set(counted.get_column("n")) == {1}
    profile = catalog.query(methods_home, "SELECT method, count(*) FROM gex_profile GROUP BY 1")
    assert profile.height == 4 and set(profile.get_column("count_star()")) == {21}


def test_connect_uses_the_manifests_method_unless_told(methods_home):
    catalog.rebuild(methods_home, "perfiliev@v1")
    sql = "SELECT DISTINCT method FROM daily_levels WHERE source = 'synthetic'"
    assert catalog.query(methods_home, sql).item() == "perfiliev@v1"
    assert catalog.query(methods_home, sql, method="default@v1").item() == "default@v2"
    with catalog.reader(methods_home, method="default@v2") as con:
        assert con.sql(sql).fetchall() == [("default@v2",)]


def test_ensure_rebuilds_when_the_method_or_definitions_change(methods_home):
    assert catalog.ensure(methods_home, "default@v1").method == "default@v1"
    assert catalog.ensure(methods_home, "default@v1") is None
    assert catalog.ensure(methods_home) is None  # None keeps the recorded method
    assert catalog.ensure(methods_home, "perfiliev@v1").method == "perfiliev@v1"
    manifest = methods_home / catalog.MANIFEST_FILE
    # a catalog.json written before methods (and views that might differ) is rebuilt once
    manifest.write_text(json.dumps({"datasets": Lake(methods_home).datasets()}))
    rebuilt = catalog.ensure(methods_home)
    assert rebuilt is not None and rebuilt.method is None
    assert catalog.ensure(methods_home) is None


def test_an_invalid_method_is_refused(methods_home):
    from warehouse.errors import WarehouseInputError

    with pytest.raises(WarehouseInputError, match="invalid method"):
        catalog.rebuild(methods_home, "default'; DROP VIEW snapshots; --")


def test_the_file_is_written_for_duckdb_1x(home):
    con = duckdb.connect()
    con.execute(f"ATTACH '{home / catalog.CATALOG_FILE}' AS c (READ_ONLY)")
    tags = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = 'c'").fetchone()
    assert tags[0]["storage_version"].startswith("v1.0")
    con.close()


def test_rebuild_replaces_a_file_held_read_only(home):
    path = home / catalog.CATALOG_FILE
    before = path.stat().st_ino
    with holding(path, "ro") as proc:
        assert [(h.pid, h.mode) for h in catalog.catalog_holders(home)] == [(proc.pid, "read")]
        build = catalog.rebuild(home, "default@v1")
        assert not build.deferred and path.stat().st_ino != before
        assert "stale" not in catalog.read_manifest(home)


def test_a_write_held_file_defers_the_refresh_and_names_the_holder(home):
    path = home / catalog.CATALOG_FILE
    before = path.stat().st_ino
    Lake(home).write_all(synthetic_rows("IWM", session_close("2024-03-04")))
    with holding(path, "rw") as proc:
        build = catalog.ensure(home, "default@v1")
        assert build.deferred and [h.pid for h in build.held_by] == [proc.pid]
        assert str(proc.pid) in build.summary() and "-c" in build.summary()
        assert path.stat().st_ino == before  # left alone: that process may be writing it
        stale = catalog.read_manifest(home)["stale"]
        assert stale["holders"][0]["pid"] == proc.pid
        assert catalog.ensure(home).deferred  # tried again, still held
        # the in-memory views already cover the new rows
        assert catalog.query(home, "SELECT count(*) FROM daily_levels").item() == 5
    build = catalog.ensure(home)
    assert build is not None and not build.deferred and build.method == "default@v1"
    assert "stale" not in catalog.read_manifest(home) and catalog.ensure(home) is None
    assert not list((home / "tmp").glob("catalog-*"))
