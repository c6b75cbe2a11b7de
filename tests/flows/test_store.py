"""Storing snapshots: raw first, then rows; the lake can be rebuilt from raw alone."""

from __future__ import annotations

import copy
import shutil

import pytest

from flows.rebuild import rebuild_from_raw
from flows.store import store_snapshot
from pipeline.normalize import PayloadError
from tests.conftest import session_close, synthetic_payloads
from tests.warehouse.test_lake import content_hash
from warehouse.lake import Lake
from warehouse.raw import RawArchive


def store_days(home, days=("2024-03-04", "2024-03-05")):
    for day in days:
        for symbol in ("SPY", "IWM"):
            when = session_close(day)
            store_snapshot(home, synthetic_payloads(symbol, when), source="synthetic", as_of=when)


def test_rebuild_from_raw_reproduces_the_lake(tmp_path):
    store_days(tmp_path)
    before = content_hash(Lake(tmp_path))
    shutil.rmtree(tmp_path / "lake")
    written = rebuild_from_raw(tmp_path)
    assert content_hash(Lake(tmp_path)) == before
    assert written["snapshots"] == 4


def test_rebuild_over_an_existing_lake_changes_nothing(tmp_path):
    store_days(tmp_path)
    before = content_hash(Lake(tmp_path))
    rebuild_from_raw(tmp_path)
    assert content_hash(Lake(tmp_path)) == before


def test_a_rejected_payload_is_still_archived(tmp_path):
    when = session_close("2024-03-04")
    payloads = copy.deepcopy(synthetic_payloads("SPY", when))
    del payloads["gex"]["strikes"][0]["call_gex"]
    with pytest.raises(PayloadError, match=r"gex.strikes\[0\].call_gex"):
        store_snapshot(tmp_path, payloads, source="synthetic", as_of=when)
    [bundle] = list(RawArchive(tmp_path).envelopes())  # engine output: one bundle per snapshot
    assert bundle.endpoint == "snapshot" and set(bundle.payload) == set(payloads)
    assert not Lake(tmp_path).datasets()
