"""Collecting Cboe's delayed chains end to end, against the local Cboe-shaped server."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from flows.settings import Settings
from flows.snapshot import run_snapshot
from pipeline.sessions import close_times, previous_session, session_of
from tests.support.cboe_server import ServerState, serve
from warehouse import catalog

SPX_CSV = "carlosjimenezdiaz-gex-python/spx_quotedata.csv"
#: Figures compared between the collected snapshot and `chain` on the same CSV.
HEADLINE = ("underlying_price", "net_gex", "net_dex", "net_vex", "net_chex", "gamma_flip")


@pytest.fixture
def feed():
    server = serve(ServerState())
    yield server
    server.stop()


def settings_for(home: Path, url: str, **extra: object) -> Settings:
    return Settings(home=home, cboe_url=url, cboe_window=1.0, **extra)


def close_enough(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


@pytest.mark.refdata
def test_a_cboe_snapshot_equals_chain_on_the_same_csv(tmp_path, feed, refdata):
    from gammalake.cli.chain import ChainOptions, load_snapshot, save

    csv = refdata / SPX_CSV
    symbol = feed.state.add_csv(csv, index=True)
    as_of = feed.state.listed[symbol].chain.as_of
    home = tmp_path / "cboe"
    summary = run_snapshot(settings_for(home, feed.url), [symbol], "cboe", as_of)
    assert summary.failures == {}, summary.failures
    saved = tmp_path / "chain"  # what `gammalake chain FILE --save` stores
    save(saved, load_snapshot(csv, ChainOptions())[0], ChainOptions())
    got = catalog.query(home, "SELECT * FROM snapshots").row(0, named=True)
    want = catalog.query(saved, "SELECT * FROM snapshots").row(0, named=True)
    assert got["as_of"] == want["as_of"] and got["source"] == "cboe"
    for name in HEADLINE:
        assert close_enough(got[name], want[name]), (name, got[name], want[name])
    columns = "strike, call_gex, put_gex, net_gex, call_oi, put_oi"
    strikes = [
        catalog.query(h, f"SELECT {columns} FROM strikes ORDER BY strike") for h in (home, saved)
    ]
    assert strikes[0].height == strikes[1].height > 100
    for a, b in zip(strikes[0].iter_rows(), strikes[1].iter_rows(), strict=True):
        assert all(close_enough(x, y) for x, y in zip(a, b, strict=True))
    oi = catalog.query(home, "SELECT DISTINCT oi_as_of FROM chains").item()
    assert oi == previous_session(session_of(as_of))


def test_the_session_bar_is_stored_and_a_weekend_fetch_adds_nothing(tmp_path, feed):
    feed.state.weekend = True  # the feed re-serves the last session, stamped after its close
    settings = settings_for(tmp_path, feed.url)
    at = feed.state.stamp()
    first = run_snapshot(settings, ["SYM001"], "cboe", at)
    assert first.failures == {} and first.rows["snapshots"] == 1
    bar = catalog.query(tmp_path, "SELECT * FROM prices").row(0, named=True)
    reply = feed.state.log[-1]
    assert bar["source"] == "cboe" and bar["symbol"] == "SYM001"
    assert bar["trade_date"] == session_of(at) and close_times([bar["trade_date"]])[0] < at
    assert reply["status"] == 200
    before = {
        name: catalog.query(tmp_path, f"SELECT count(*) FROM {name}").item()
        for name in ("snapshots", "strikes", "chains", "prices")
    }
    again = run_snapshot(settings, ["SYM001"], "cboe", at)
    assert again.failures == {} and again.outcomes[0].skipped == 1
    after = {
        name: catalog.query(tmp_path, f"SELECT count(*) FROM {name}").item() for name in before
    }
    assert after == before


def test_the_session_bar_matches_the_replys_session_fields(tmp_path, feed):
    import httpx

    feed.state.weekend = True
    settings = settings_for(tmp_path, feed.url)
    run_snapshot(settings, ["SYM002"], "cboe", feed.state.stamp())
    reply = httpx.get(
        f"{feed.url}/SYM002.json", headers={"User-Agent": "Mozilla/5.0 (test)"}
    ).json()["data"]
    bar = catalog.query(tmp_path, "SELECT open, high, low, close, volume FROM prices").row(
        0, named=True
    )
    for name in ("open", "high", "low", "close"):
        assert bar[name] == pytest.approx(reply[name], rel=1e-12), name
    assert bar["volume"] == reply["volume"]


def test_a_100_symbol_watchlist_stays_within_the_window_budget(tmp_path, feed):
    feed.state.limit, feed.state.window_seconds = 25, 1.0
    names = [f"SYM{i:03d}" for i in range(1, 101)]
    settings = replace(settings_for(tmp_path, feed.url, cboe_window_limit=25), max_workers=2)
    summary = run_snapshot(settings, names, "cboe", feed.state.stamp())
    assert summary.failures == {} and summary.rows["snapshots"] == 100
    statuses = feed.state.statuses()
    assert 429 not in statuses and statuses.count(200) == 100  # the server's own log
    assert feed.state.busiest_window(1.0) <= 25
    stored = catalog.query(tmp_path, "SELECT count(DISTINCT symbol) FROM snapshots").item()
    assert stored == 100
    assert pl.DataFrame(feed.state.log).get_column("user_agent").null_count() == 0


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("malformed", "not valid JSON"), ("nan", "data.options[0].iv")],
)
def test_a_refused_reply_is_archived_raw_and_marked_rejected(tmp_path, feed, fault, reason):
    from tests.support.cboe_server import Fault
    from warehouse.raw import REJECTED_SUFFIX, read_envelope

    feed.state.add_faults(*[Fault(fault)] * 4)  # every attempt gets the spoiled reply
    summary = run_snapshot(settings_for(tmp_path, feed.url), ["SYM003"], "cboe", feed.state.stamp())
    assert reason in summary.failures["SYM003"]
    markers = list((tmp_path / "raw" / "cboe").rglob(f"*{REJECTED_SUFFIX}"))
    assert len(markers) == 1
    why = json.loads(markers[0].read_text())["reason"]
    assert "refused by the checks" in why and reason in why
    archived = markers[0].with_name(markers[0].name.removesuffix(REJECTED_SUFFIX))
    envelope = read_envelope(archived)
    assert envelope.symbol == "SYM003" and envelope.endpoint == "reply"
    assert "SYM003" in json.dumps(envelope.payload)  # the body as received
    assert "snapshots" not in summary.rows or summary.rows["snapshots"] == 0


def test_a_cboe_run_on_a_dask_cluster_stores_what_threads_store(tmp_path, feed):
    from distributed import LocalCluster

    from flows.fanout import Dask

    names = ["SYM004", "SYM005", "SYM006"]
    feed.state.weekend = True  # both runs get the same chains, stamped at the last close
    at = feed.state.stamp()
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        fanout = Dask(cluster.scheduler_address, 1)
        try:
            summary = run_snapshot(
                settings_for(tmp_path / "dask", feed.url), names, "cboe", at, fanout=fanout
            )
        finally:
            fanout.close()
    assert summary.failures == {} and summary.rows["snapshots"] == 3
    threads = run_snapshot(settings_for(tmp_path / "threads", feed.url), names, "cboe", at)
    assert threads.failures == {}
    query = "SELECT symbol, as_of, net_gex FROM snapshots ORDER BY symbol"
    assert catalog.query(tmp_path / "dask", query).equals(
        catalog.query(tmp_path / "threads", query)
    )
