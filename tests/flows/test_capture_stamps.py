"""Stored rows carry the moment the data describes (`as_of`) and when it arrived (`fetched_at`).

A daily synthetic backfill fetches each session at its close + 15 minutes; its snapshots and
chains are stamped at the close (13:00 on a half day) and the run's clock is kept beside them,
in the rows and in the raw archive, so a rebuild from raw alone writes the same rows again.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from flows.backfill import run_backfill
from flows.rebuild import rebuild_from_raw
from flows.settings import Settings
from flows.snapshot import pricing_of
from flows.store import store_payloads
from pipeline.engine.timing import NEW_YORK
from tests.conftest import session_close, synthetic_payloads
from tests.warehouse.test_lake import content_hash
from warehouse.lake import Lake
from warehouse.raw import RawArchive, read_envelope, read_input

#: Thanksgiving week 2024: the 28th closed, the 29th a half day (13:00 close).
FIRST, LAST = date(2024, 11, 25), date(2024, 11, 29)


def ny(text: str) -> datetime:
    """Return a New York time from ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def backfilled(home: Path) -> tuple[Settings, datetime, datetime]:
    """Backfill SPY over FIRST..LAST into `home`; return the settings and the run's span (UTC)."""
    settings = Settings(home=home, synthetic_expiries=4, synthetic_strikes=15)
    before = datetime.now(UTC)
    summary = run_backfill(settings, ["SPY"], "synthetic", FIRST, LAST)
    assert summary.status == "completed"
    return settings, before, datetime.now(UTC)


def test_a_daily_backfill_is_stamped_at_each_sessions_close(tmp_path):
    _settings, before, after = backfilled(tmp_path)
    snaps = Lake(tmp_path).read("snapshots").sort("as_of")
    stamps = [t.astimezone(NEW_YORK) for t in snaps.get_column("as_of")]
    closes = ["2024-11-25T16:00", "2024-11-26T16:00", "2024-11-27T16:00", "2024-11-29T13:00"]
    assert stamps == [ny(c) for c in closes]
    fetched = snaps.get_column("fetched_at").to_list()
    assert all(before <= f <= after for f in fetched)
    chains = Lake(tmp_path).read("chains")
    per_snapshot = chains.select("as_of", "fetched_at").unique().sort("as_of")
    assert per_snapshot.rows() == snaps.select("as_of", "fetched_at").rows()


def test_the_raw_archive_keeps_the_fetch_time_and_a_rebuild_reproduces_it(tmp_path):
    settings, _before, _after = backfilled(tmp_path)
    snaps = Lake(tmp_path).read("snapshots")
    inputs = [read_input(p) for p in RawArchive(tmp_path).inputs()]
    archived = sorted((i.as_of.astimezone(UTC), i.fetched_at) for i in inputs)
    assert archived == sorted(snaps.select("as_of", "fetched_at").rows())
    before = content_hash(Lake(tmp_path))
    shutil.rmtree(tmp_path / "lake")
    done = rebuild_from_raw(tmp_path, pricing_of(settings))
    assert done.restamped == 0 and done.refused == []
    assert content_hash(Lake(tmp_path)) == {k: v for k, v in before.items() if k != "runs"}


def test_vendor_payloads_keep_the_vendors_moment_and_the_fetch_time(tmp_path):
    moment = session_close("2024-03-04")
    payloads = synthetic_payloads("SPX", moment)
    before = datetime.now(UTC)
    store_payloads(tmp_path, payloads, source="flashalpha", symbol="SPX", as_of=moment)
    row = Lake(tmp_path).read("snapshots").row(0, named=True)
    assert row["as_of"] == moment and before <= row["fetched_at"] <= datetime.now(UTC)
    envelopes = [read_envelope(p) for p in (tmp_path / "raw").rglob("*.json.gz")]
    assert {e.fetched_at for e in envelopes} == {row["fetched_at"]}
    shutil.rmtree(tmp_path / "lake")
    rebuild_from_raw(tmp_path, pricing_of(Settings(home=tmp_path)))
    again = Lake(tmp_path).read("snapshots")
    assert again.select("as_of", "fetched_at").rows() == [(moment, row["fetched_at"])]
    assert again.filter(pl.col("fetched_at").is_null()).height == 0
