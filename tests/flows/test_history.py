"""Trustworthy history through the flows: methods side by side, inputs kept, derived rows right."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import polars as pl

from flows.backfill import run_backfill
from flows.capture import Pricing
from flows.rebuild import rebuild_from_raw
from flows.settings import Settings
from flows.snapshot import run_snapshot
from pipeline.engine.method import resolve_method
from pipeline.engine.presets import preset
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.synthetic import SyntheticMarket
from tests.conftest import METHOD
from tests.warehouse.test_lake import FETCH_TIMES, content_hash
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.raw import RawArchive, rejected

AT = datetime(2024, 3, 15, 16, 15, tzinfo=NEW_YORK)
SPAN = (date(2024, 2, 26), date(2024, 3, 15))


def small(home: Path, **changes: object) -> Settings:
    """Return settings with small synthetic chains (fast) in `home`."""
    return Settings(home=home, synthetic_expiries=6, synthetic_strikes=21, **changes)


#: The perfiliev preset's method under the running engine.
PERFILIEV = resolve_method("perfiliev")


def tables(home: Path) -> dict:
    """Content of every dataset but `runs`, fetch times left out (they differ by design)."""
    hashed = content_hash(Lake(home), skip=FETCH_TIMES)
    return {k: v for k, v in hashed.items() if k != "runs"}


def derived(home: Path) -> dict[str, list]:
    """Return the alerts and strikes' OI changes, sorted, for comparisons."""
    alerts = Lake(home).read("alerts").sort("as_of", "kind").select("as_of", "kind", "message")
    oi = Lake(home).read("strikes").sort("as_of", "strike")
    return {
        "alerts": alerts.rows(),
        "oi_change": oi.select("as_of", "strike", "call_oi_change", "put_oi_change").rows(),
    }


def test_two_presets_keep_two_histories_side_by_side(tmp_path):
    run_snapshot(small(tmp_path), ["SPY"], "synthetic", AT)
    first = Lake(tmp_path).read("snapshots")
    summary = run_snapshot(small(tmp_path, preset="perfiliev"), ["SPY"], "synthetic", AT)
    assert summary.method == PERFILIEV and summary.status == "completed"
    both = Lake(tmp_path).read("snapshots").sort("method")
    assert both.get_column("method").to_list() == [METHOD, PERFILIEV]
    assert both.filter(pl.col("method") == METHOD).equals(first)
    runs = catalog.query(tmp_path, "SELECT method FROM runs ORDER BY as_of")
    assert runs.get_column("method").to_list() == [METHOD, PERFILIEV]


def test_a_backfill_keeps_inputs_and_chains_and_rebuild_reprices_them(tmp_path):
    summary = run_backfill(small(tmp_path), ["SPY"], "synthetic", *SPAN)
    sessions = summary.outcomes[0].sessions
    assert sessions == 15 and summary.rows["chains"] == sessions * 6 * 21 * 2
    assert len(list(RawArchive(tmp_path).inputs())) == sessions
    assert not list((tmp_path / "raw").rglob("*.json.gz"))  # inputs, not engine output
    before = tables(tmp_path)
    done = rebuild_from_raw(tmp_path, Pricing(preset("perfiliev")), vendor=False)
    assert done.rows["snapshots"] == sessions
    methods = catalog.query(tmp_path, "SELECT method, count(*) FROM snapshots GROUP BY 1")
    assert sorted(methods.rows()) == [(METHOD, sessions), (PERFILIEV, sessions)]
    shutil.rmtree(tmp_path / "lake")
    rebuild_from_raw(tmp_path, Pricing(preset("default")))
    assert tables(tmp_path) == before


def test_a_backfill_over_a_stored_session_derives_like_a_clean_one(tmp_path):
    clean, gappy = tmp_path / "clean", tmp_path / "gappy"
    run_backfill(small(clean), ["SPY"], "synthetic", *SPAN)
    run_backfill(small(gappy), ["SPY"], "synthetic", date(2024, 3, 5), date(2024, 3, 5))
    run_backfill(small(gappy), ["SPY"], "synthetic", date(2024, 3, 12), date(2024, 3, 13))
    run_backfill(small(gappy), ["SPY"], "synthetic", *SPAN)
    assert derived(gappy) == derived(clean)
    assert tables(gappy) == tables(clean)


def test_force_removes_alerts_that_no_longer_apply(tmp_path):
    settings = small(tmp_path)
    run_backfill(settings, ["SPY"], "synthetic", *SPAN)
    before = derived(tmp_path)
    stale = Lake(tmp_path).read("alerts").head(1).with_columns(kind=pl.lit("stale_kind"))
    Lake(tmp_path).write("alerts", stale)
    run_backfill(settings, ["SPY"], "synthetic", *SPAN, force=True)
    assert derived(tmp_path) == before


def write_chain_files(folder: Path, days: list[date], symbol: str = "SPY") -> None:
    """Write generic chain files without previous OI (OI change must come from the lake)."""
    folder.mkdir(parents=True, exist_ok=True)
    market = SyntheticMarket()
    for day in days:
        when = datetime.combine(day, datetime.min.time(), NEW_YORK).replace(hour=16, minute=15)
        chain = market.chain(symbol, when, expiries=4, strikes=15)
        chain.frame.drop("prev_open_interest").with_columns(
            underlying_price=pl.lit(chain.spot), as_of=pl.lit(when.isoformat())
        ).write_csv(folder / f"{symbol}_{day}.csv")


def test_chain_folder_backfill_skips_missing_days_and_lists_them(tmp_path):
    days = [date(2024, 3, d) for d in (11, 12, 14, 15)]  # 13 is missing
    write_chain_files(tmp_path / "chains", days)
    settings = small(tmp_path / "home", chains_dir=tmp_path / "chains")
    summary = run_backfill(settings, ["SPY"], "chains", date(2024, 3, 11), date(2024, 3, 15))
    outcome = summary.outcomes[0]
    assert outcome.sessions == 4 and outcome.missing == [date(2024, 3, 13)]
    assert summary.status == "completed"
    notes = catalog.query(settings.home, "SELECT notes FROM runs").item()
    assert notes.to_list() == ["SPY: 1 session(s) without input: 2024-03-13"]
    oi = Lake(settings.home).read("strikes").filter(pl.col("trade_date") == date(2024, 3, 14))
    assert oi.get_column("call_oi_change").null_count() == 0  # against 12 March, stored
    strict = run_backfill(
        replace(settings, home=tmp_path / "strict"),
        ["SPY"],
        "chains",
        date(2024, 3, 11),
        date(2024, 3, 15),
        strict=True,
    )
    assert (
        strict.status == "partial"
        and "no chain file for SPY on 2024-03-13" in (strict.failures["SPY"])
    )


def test_a_chain_file_of_another_symbol_is_refused_and_the_run_says_so(tmp_path):
    write_chain_files(tmp_path / "chains", [date(2024, 3, 15)], symbol="QQQ")
    (tmp_path / "chains" / "QQQ_2024-03-15.csv").rename(tmp_path / "chains" / "SPY_2024-03-15.csv")
    frame = pl.read_csv(tmp_path / "chains" / "SPY_2024-03-15.csv")
    frame.with_columns(symbol=pl.lit("QQQ")).write_csv(tmp_path / "chains" / "SPY_2024-03-15.csv")
    settings = small(tmp_path / "home", chains_dir=tmp_path / "chains")
    summary = run_snapshot(settings, ["SPY"], "chains", AT)
    assert summary.status == "failed"
    assert "the chain is of QQQ, but SPY was asked for" in summary.failures["SPY"]
    assert not Lake(settings.home).files("snapshots")
    [path] = RawArchive(settings.home).inputs(include_rejected=True)
    assert "QQQ" in rejected(path)
    row = catalog.query(settings.home, "SELECT status, failures FROM runs").row(0)
    assert row[0] == "failed" and "SPY was asked for" in row[1][0]


def test_run_status_is_partial_when_something_was_stored(tmp_path):
    write_chain_files(tmp_path / "chains", [date(2024, 3, 15)])
    settings = small(tmp_path / "home", chains_dir=tmp_path / "chains")
    summary = run_snapshot(settings, ["SPY", "QQQ"], "chains", AT)
    assert summary.status == "partial"
    assert [o.status for o in summary.outcomes] == ["ok", "failed"]
    assert catalog.query(settings.home, "SELECT status FROM runs").item() == "partial"


def test_a_free_plan_backfill_stores_what_it_could_afford_and_records_every_request(
    tmp_path, monkeypatch
):
    from tests.support.flashalpha_server import ServerState, serve

    server = serve(ServerState(keys={"free-key": "free"}))
    monkeypatch.setenv("FLASHALPHA_API_KEY", "free-key")
    try:
        settings = small(tmp_path, flashalpha_tier="free", flashalpha_historical_url=server.url)
        summary = run_backfill(
            settings, ["SPY"], "flashalpha-historical", date(2024, 3, 4), date(2024, 3, 12)
        )
        sent = len(server.state.log)
    finally:
        server.stop()
    outcome = summary.outcomes[0]
    assert sent == 10 and outcome.requests == 10
    assert outcome.sessions == 5 and len(outcome.unaffordable) == 2
    assert summary.status == "partial" and "left for the next run" in summary.failures["SPY"]
    row = catalog.query(tmp_path, "SELECT status, requests_used, rows_written FROM runs").row(0)
    assert row[0] == "partial" and row[1] == 10 and row[2] > 0
    assert Lake(tmp_path).read("snapshots").height == 5


def test_a_stale_chain_file_under_another_days_name_is_refused_not_stored(tmp_path):
    write_chain_files(tmp_path / "chains", [date(2024, 3, 14)])
    stale = (tmp_path / "chains" / "SPY_2024-03-14.csv").read_text()
    (tmp_path / "chains" / "SPY_2024-03-15.csv").write_text(stale)  # Thursday's chain again
    settings = small(tmp_path / "home", chains_dir=tmp_path / "chains")
    summary = run_backfill(settings, ["SPY"], "chains", date(2024, 3, 14), date(2024, 3, 15))
    outcome = summary.outcomes[0]
    assert outcome.sessions == 1 and summary.status == "partial"
    assert (
        "describes the session of 2024-03-14, but 2024-03-15 was asked for" in (outcome.refused[0])
    )
    assert Lake(settings.home).read("snapshots").height == 1
    # The refusal is kept aside: the accepted input of the same moment stays in place, usable.
    archive = RawArchive(settings.home)
    [kept] = archive.inputs()
    aside = [p for p in archive.inputs(include_rejected=True) if p != kept]
    assert len(aside) == 1 and "2024-03-15 was asked for" in rejected(aside[0])
    assert rebuild_from_raw(settings.home, Pricing(preset("default"))).rows["snapshots"] == 1


def test_a_plain_rebuild_remakes_only_what_its_method_made(tmp_path):
    settings = small(tmp_path)
    run_backfill(settings, ["SPY"], "synthetic", *SPAN)
    later = datetime(2024, 3, 18, 16, 15, tzinfo=NEW_YORK)
    run_snapshot(replace(settings, preset="perfiliev"), ["SPY"], "synthetic", later)
    before = tables(tmp_path)
    shutil.rmtree(tmp_path / "lake")
    done = rebuild_from_raw(tmp_path, Pricing(preset("default")))
    assert done.others == [PERFILIEV]
    methods = catalog.query(tmp_path, "SELECT method, count(*) FROM snapshots GROUP BY 1")
    assert methods.rows() == [(METHOD, 15)]  # no default snapshot at 18 March: none was made
    rebuild_from_raw(tmp_path, Pricing(preset("perfiliev")), vendor=False)
    methods = catalog.query(tmp_path, "SELECT method, count(*) FROM snapshots GROUP BY 1")
    assert sorted(methods.rows()) == [(METHOD, 15), (PERFILIEV, 16)]
    assert tables(tmp_path)["snapshots"][0] == before["snapshots"][0] + 15
