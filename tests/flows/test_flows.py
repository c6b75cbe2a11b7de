"""The snapshot and backfill flows on synthetic data and against the local FlashAlpha server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from flows.backfill import run_backfill
from flows.settings import Settings
from flows.snapshot import run_snapshot
from pipeline.engine.timing import NEW_YORK
from tests.conftest import REPO
from tests.support.flashalpha_server import Fault, ServerState, serve
from tests.warehouse.test_lake import FETCH_TIMES, content_hash
from warehouse import catalog
from warehouse.lake import Lake

AT = datetime(2024, 3, 15, 16, 15, tzinfo=NEW_YORK)


def tables(home: Path) -> dict:
    """Content of every dataset but `runs`, fetch times left out (they differ by design)."""
    hashed = content_hash(Lake(home), skip=FETCH_TIMES)
    return {k: v for k, v in hashed.items() if k != "runs"}


def test_snapshot_flow_stores_every_symbol_and_a_run_row(tmp_path):
    settings = Settings(home=tmp_path)
    summary = run_snapshot(settings, ["SPY", "QQQ"], "synthetic", AT)
    assert summary.failures == {} and summary.rows["snapshots"] == 2
    first = tables(tmp_path)
    run_snapshot(settings, ["SPY", "QQQ"], "synthetic", AT)  # the same moment again
    assert tables(tmp_path) == first
    runs = catalog.query(tmp_path, "SELECT flow, status, rows_written FROM runs")
    assert runs.height == 2 and set(runs.get_column("status")) == {"completed"}


def test_a_failing_symbol_never_costs_the_others(tmp_path):
    chains = tmp_path / "chains"
    chains.mkdir()
    from pipeline.sources.synthetic import SyntheticMarket

    good = SyntheticMarket().chain("SPY", AT)
    good.frame.with_columns(
        underlying_price=pl.lit(good.spot), as_of=pl.lit(AT.isoformat())
    ).write_csv(chains / "SPY_2024-03-15.csv")
    settings = Settings(home=tmp_path / "home", chains_dir=chains, task_retries=1)
    summary = run_snapshot(settings, ["SPY", "QQQ"], "chains", AT)
    assert summary.rows["snapshots"] == 1 and summary.rows["chains"] == good.frame.height
    assert list(summary.failures) == ["QQQ"] and "no chain file for QQQ" in summary.failures["QQQ"]
    status = catalog.query(settings.home, "SELECT status, failures FROM runs").row(0)
    assert status[0] == "partial" and "QQQ" in status[1][0]


def test_backfill_is_idempotent_and_resumable(tmp_path):
    settings = Settings(home=tmp_path)
    first = run_backfill(settings, ["SPY", "IWM"], "synthetic", date(2024, 2, 26), date(2024, 3, 8))
    assert [o.sessions for o in first.outcomes] == [10, 10]
    before = tables(tmp_path)
    again = run_backfill(settings, ["SPY", "IWM"], "synthetic", date(2024, 2, 26), date(2024, 3, 8))
    assert [(o.sessions, o.skipped) for o in again.outcomes] == [(0, 10), (0, 10)]
    forced = run_backfill(
        settings, ["SPY", "IWM"], "synthetic", date(2024, 2, 26), date(2024, 3, 8), force=True
    )
    assert [o.sessions for o in forced.outcomes] == [10, 10]
    assert tables(tmp_path) == before
    days = catalog.query(tmp_path, "SELECT DISTINCT trade_date FROM snapshots ORDER BY 1")
    assert date(2024, 2, 26) in days.get_column("trade_date").to_list()


KILLABLE = """
import sys
from datetime import date
from pathlib import Path
from flows.backfill import run_backfill
from flows.settings import Settings
run_backfill(Settings(home=Path(sys.argv[1]), max_workers=1), ["SPY"], "synthetic",
              date(2024, 1, 2), date(2024, 4, 30))
"""


@pytest.mark.slow
def test_a_killed_backfill_restarted_ends_like_an_uninterrupted_one(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    settings = Settings(home=whole, max_workers=1)
    run_backfill(settings, ["SPY"], "synthetic", date(2024, 1, 2), date(2024, 4, 30))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Its own process group: the kill must also reach the temporary Prefect server it starts.
    child = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, str(broken)], env=env, start_new_session=True
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and child.poll() is None:
        if len(list((broken / "lake" / "snapshots").glob("**/*.parquet"))) >= 2:
            break  # January and February are in; stop it mid-way
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    stored = catalog.query(broken, "SELECT count(*) FROM snapshots").item()
    assert 0 < stored < 82, "the kill should land mid-backfill"
    run_backfill(
        replace(settings, home=broken), ["SPY"], "synthetic", date(2024, 1, 2), date(2024, 4, 30)
    )
    assert tables(broken) == tables(whole)


def test_flashalpha_faults_healthy_symbols_land_and_the_retry_duplicates_nothing(
    tmp_path, monkeypatch
):
    server = serve(ServerState(keys={"flow-key": "growth"}))
    monkeypatch.setenv("FLASHALPHA_API_KEY", "flow-key")
    try:
        settings = Settings(
            home=tmp_path, flashalpha_tier="growth", flashalpha_historical_url=server.url
        )
        server.state.add_faults(*[Fault("status", 500, symbol="QQQ")] * 40)
        first = run_snapshot(settings, ["SPY", "QQQ", "IWM"], "flashalpha-historical", AT)
        assert first.rows["snapshots"] == 2 and set(first.failures) == {"QQQ"}
        server.state.reset()
        second = run_snapshot(settings, ["SPY", "QQQ", "IWM"], "flashalpha-historical", AT)
        assert second.failures == {}
    finally:
        server.stop()
    counts = catalog.query(
        tmp_path, "SELECT symbol, count(*) AS n FROM snapshots GROUP BY 1 ORDER BY 1"
    )
    assert counts.rows() == [("IWM", 1), ("QQQ", 1), ("SPY", 1)]
    used = int(catalog.query(tmp_path, "SELECT sum(requests_used) FROM runs").item())
    from flows.quota import FileQuotaLedger

    assert used == FileQuotaLedger(tmp_path, "growth").used()


def test_dask_gives_the_same_tables_and_a_relative_home_lands_where_asked(tmp_path, monkeypatch):
    from distributed import LocalCluster

    from flows.fanout import Dask
    from flows.settings import load_settings

    # Workers run in their own working directory: a relative home must not follow them there.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAMMALAKE_HOME", "dask")
    settings = load_settings()
    assert settings.home == tmp_path / "dask"
    done: list[int] = []
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        fanout = Dask(cluster.scheduler_address, 2)
        try:
            summary = run_backfill(
                settings,
                ["SPY", "QQQ"],
                "synthetic",
                date(2024, 3, 4),
                date(2024, 3, 8),
                progress=lambda symbol, n: done.append(n),
                fanout=fanout,
            )
        finally:
            fanout.close()
    assert summary.failures == {} and sum(done) == 10  # the bar advances under Dask
    threads = Settings(home=tmp_path / "threads")
    run_backfill(threads, ["SPY", "QQQ"], "synthetic", date(2024, 3, 4), date(2024, 3, 8))
    assert tables(tmp_path / "dask") == tables(tmp_path / "threads")


def test_parallel_chunks_give_the_tables_of_a_sequential_backfill(tmp_path):
    sequential = Settings(home=tmp_path / "one", max_workers=1)
    chunked = Settings(home=tmp_path / "two", max_workers=2)
    for settings in (sequential, chunked):
        summary = run_backfill(settings, ["SPY"], "synthetic", date(2024, 1, 2), date(2024, 3, 28))
        assert summary.failures == {} and summary.outcomes[0].sessions == 61
    assert tables(tmp_path / "two") == tables(tmp_path / "one")


def test_rebuild_from_raw_after_the_flows_reproduces_every_table(tmp_path):
    import shutil

    from flows.rebuild import rebuild_from_raw
    from flows.snapshot import pricing_of

    settings = Settings(home=tmp_path)
    run_backfill(settings, ["SPY", "QQQ"], "synthetic", date(2024, 2, 20), date(2024, 3, 14))
    run_snapshot(settings, ["SPY", "QQQ"], "synthetic", AT)
    before = tables(tmp_path)
    assert before["alerts"][0] > 0
    shutil.rmtree(tmp_path / "lake")
    rebuild_from_raw(tmp_path, pricing_of(settings))
    assert tables(tmp_path) == before


def test_prices_flow_fills_up_to_the_latest_session(tmp_path):
    from flows.prices import prices_flow
    from pipeline.sources.prices import last_closed_session

    settings = Settings(home=tmp_path)
    first = prices_flow(settings, ["SPY"], date(2026, 1, 2))
    assert first.rows["prices"] > 200
    again = prices_flow(settings, ["SPY"], date(2026, 1, 2))
    assert again.rows["prices"] == 0  # nothing new: already up to date
    last = catalog.query(tmp_path, "SELECT max(trade_date) FROM prices").item()
    assert last == last_closed_session(datetime.now(NEW_YORK))  # an open session has no bar


def test_historical_backfill_asks_for_each_days_minute(tmp_path, monkeypatch):
    server = serve(ServerState(keys={"hist-key": "growth"}))
    monkeypatch.setenv("FLASHALPHA_API_KEY", "hist-key")
    try:
        settings = Settings(
            home=tmp_path, flashalpha_tier="growth", flashalpha_historical_url=server.url
        )
        summary = run_backfill(
            settings, ["SPY"], "flashalpha-historical", date(2024, 3, 11), date(2024, 3, 13)
        )
        asked = sorted({e["query"]["at"] for e in server.state.log})
    finally:
        server.stop()
    assert summary.failures == {} and summary.outcomes[0].sessions == 3
    assert asked == ["2024-03-11T16:15", "2024-03-12T16:15", "2024-03-13T16:15"]
    days = catalog.query(tmp_path, "SELECT trade_date FROM snapshots ORDER BY 1")
    assert [d.isoformat() for d in days.get_column("trade_date")] == [
        "2024-03-11",
        "2024-03-12",
        "2024-03-13",
    ]
