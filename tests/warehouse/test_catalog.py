"""The DuckDB catalog: views, derived views, a moved home, and no locking out of readers."""

from __future__ import annotations

import shutil
import subprocess
import sys

import duckdb
import polars as pl
import pytest

from tests.conftest import REPO, session_close, synthetic_rows
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.queries import EXAMPLES


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
    assert catalog.ensure(home) is True
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
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; "
            f"c = duckdb.connect({str(home / 'warehouse.duckdb')!r}); "
            "print('open', flush=True); time.sleep(5)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        assert catalog.query(home, "SELECT count(*) FROM snapshots").item() == 4
    finally:
        holder.kill()
        holder.wait()


def test_parameters_are_bound_not_spliced(home):
    hostile = "SPY' OR '1'='1"
    assert catalog.query(home, "SELECT * FROM snapshots WHERE symbol = ?", [hostile]).height == 0
