"""Storing snapshots: raw first (inputs as received), checks, then rows; rebuild from raw alone."""

from __future__ import annotations

import copy
import math
import shutil
from datetime import datetime

import polars as pl
import pytest

from flows.capture import Pricing
from flows.rebuild import rebuild_from_raw
from flows.store import store_chain, store_payloads
from pipeline.engine.method import resolve_method
from pipeline.engine.presets import preset
from pipeline.firewall import RejectedError
from pipeline.sources.synthetic import SyntheticMarket
from tests.conftest import METHOD, make_chain, session_close, synthetic_payloads
from tests.warehouse.test_lake import content_hash
from warehouse.lake import Lake
from warehouse.raw import RawArchive, read_input, rejected

DEFAULT = Pricing(preset("default"))
KEY = "fa_live_0123456789abcdef"


def small_chain(symbol: str, when: datetime):
    return SyntheticMarket().chain(symbol, when, expiries=6, strikes=21)


def store_days(home, days=("2024-03-04", "2024-03-05")):
    for day in days:
        for symbol in ("SPY", "IWM"):
            store_chain(home, small_chain(symbol, session_close(day)), DEFAULT, source="synthetic")


def test_raw_keeps_the_input_chain_as_received(tmp_path):
    chain = small_chain("SPY", session_close("2024-03-04"))
    store_chain(tmp_path, chain, DEFAULT, source="synthetic")
    [path] = RawArchive(tmp_path).inputs()
    kept = read_input(path)
    assert kept.symbol == "SPY" and kept.spot == chain.spot and kept.as_of == chain.as_of
    assert kept.frame.equals(chain.frame)  # contracts, order and values as received
    assert Lake(tmp_path).read("snapshots").get_column("method").to_list() == [METHOD]


def test_rebuild_from_raw_reproduces_the_lake(tmp_path):
    store_days(tmp_path)
    before = content_hash(Lake(tmp_path))
    shutil.rmtree(tmp_path / "lake")
    done = rebuild_from_raw(tmp_path, DEFAULT)
    assert content_hash(Lake(tmp_path)) == before
    assert done.rows["snapshots"] == 4 and done.refused == []


def test_rebuild_over_an_existing_lake_changes_nothing(tmp_path):
    store_days(tmp_path)
    before = content_hash(Lake(tmp_path))
    rebuild_from_raw(tmp_path, DEFAULT)
    assert content_hash(Lake(tmp_path)) == before


def test_rebuild_under_another_preset_adds_a_history_beside_the_first(tmp_path):
    store_days(tmp_path)
    before = Lake(tmp_path).read("snapshots")
    rebuild_from_raw(tmp_path, Pricing(preset("perfiliev")), vendor=False)
    after = Lake(tmp_path).read("snapshots")
    assert after.height == 2 * before.height
    kept = after.filter(pl.col("method") == METHOD).sort("symbol", "as_of")
    assert kept.equals(before.sort("symbol", "as_of"))
    other = after.filter(pl.col("method") == resolve_method("perfiliev"))
    assert other.height == before.height and not other.get_column("net_gex").equals(
        kept.get_column("net_gex")
    )


def test_duplicate_contracts_are_refused_archived_and_never_rebuilt(tmp_path):
    chain = make_chain([("2024-03-15", 100, "C", 10, 0.2), ("2024-03-15", 100, "C", 10, 0.2)])
    with pytest.raises(RejectedError, match=r"listed 2 times \(contract rows 1, 2\)"):
        store_chain(tmp_path, chain, DEFAULT)
    [path] = RawArchive(tmp_path).inputs(include_rejected=True)
    assert "listed 2 times" in rejected(path)
    assert not list(RawArchive(tmp_path).inputs())
    assert rebuild_from_raw(tmp_path, DEFAULT).rows == {}
    assert not Lake(tmp_path).files("snapshots")


def vendor(symbol: str, day: str = "2024-03-04") -> dict:
    payloads = copy.deepcopy(synthetic_payloads(symbol, session_close(day)))
    return {k: v for k, v in payloads.items() if k in ("gex", "levels", "dex")}


def test_a_payload_for_another_symbol_is_refused(tmp_path):
    when = session_close("2024-03-04")
    with pytest.raises(RejectedError, match=r"gex\.symbol is 'SPY', but QQQ was asked for"):
        store_payloads(tmp_path, vendor("SPY"), source="flashalpha", symbol="QQQ", as_of=when)
    assert not Lake(tmp_path).files("snapshots")
    files = list((tmp_path / "raw" / "flashalpha").glob("*/symbol=QQQ/*/*.json.gz"))
    assert len(files) == 3 and all(rejected(f) for f in files)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda p: p["gex"].update(net_gex=math.nan), r"gex.net_gex is nan"),
        (lambda p: p["gex"]["strikes"][3].update(call_gex=math.inf), r"strikes\[3\].call_gex"),
        (lambda p: p["gex"].update(underlying_price=None), "gex.underlying_price is missing"),
        (lambda p: p["gex"].update(as_of="2099-03-04T16:15:00-05:00"), "in the future"),
        (lambda p: p["gex"].update(as_of="yesterday"), "not an ISO 8601 time"),
        (lambda p: p["dex"]["strikes"][0].update(net_dex="12"), r"dex.strikes\[0\].net_dex"),
    ],
)
def test_bad_vendor_payloads_are_refused_with_the_field(tmp_path, change, match):
    payloads = vendor("SPY")
    change(payloads)
    with pytest.raises(RejectedError, match=match):
        store_payloads(
            tmp_path, payloads, source="flashalpha", symbol="SPY", as_of=_as_of(payloads)
        )
    assert not Lake(tmp_path).files("snapshots")


def _as_of(payloads: dict) -> datetime:
    from pipeline.normalize import parse_as_of

    try:
        return parse_as_of(payloads["gex"]["as_of"])
    except Exception:
        return session_close("2024-03-04")


def test_the_key_echoed_in_payload_strings_never_reaches_the_lake(tmp_path):
    payloads = vendor("SPY")
    payloads["gex"]["warnings"] = [f"served for key {KEY}"]
    payloads["gex"]["net_gex_label"] = f"positive ({KEY})"
    payloads["levels"]["levels"]["gamma_flip_status"] = KEY
    when = session_close("2024-03-04")
    store_payloads(tmp_path, payloads, source="flashalpha", symbol="SPY", as_of=when, secrets=[KEY])
    for name in Lake(tmp_path).datasets():
        assert KEY not in str(Lake(tmp_path).read(name).rows())
    for path in (tmp_path / "raw").rglob("*.json.gz"):
        assert KEY.encode() not in __import__("gzip").decompress(path.read_bytes())
    assert Lake(tmp_path).read("snapshots").get_column("method").to_list() == ["vendor"]


def test_a_corrupt_raw_file_is_reported_and_the_rest_rebuilt(tmp_path):
    store_days(tmp_path)
    broken = next(RawArchive(tmp_path).inputs())
    broken.write_bytes(b"PAR1 not really")
    shutil.rmtree(tmp_path / "lake")
    done = rebuild_from_raw(tmp_path, DEFAULT)
    assert done.rows["snapshots"] == 3
    assert len(done.refused) == 1 and "unreadable raw file" in done.refused[0]


def test_a_bar_received_with_a_chain_lands_in_prices_and_survives_a_rebuild(tmp_path):
    from datetime import date

    from flows.capture import Origin, capture, write_captures
    from pipeline.sources.base import Fetched

    chain = small_chain("SPY", session_close("2024-03-04"))
    bar = {"trade_date": date(2024, 3, 4), "open": 1.0, "high": 3.0, "low": 0.5, "close": 2.0}
    fetched = Fetched("SPY", chain.as_of, chain=chain, bar={**bar, "volume": 10.0})
    origin = Origin("feed", True)
    captured = capture(tmp_path, origin, fetched, None, DEFAULT, asked=None)
    write_captures(tmp_path, [captured])
    stored = Lake(tmp_path).read("prices").drop("as_of").row(0, named=True)
    assert stored == {
        "symbol": "SPY",
        "source": "feed",
        "trade_date": date(2024, 3, 4),
        **{k: v for k, v in bar.items() if k != "trade_date"},
        "volume": 10.0,
    }
    before = content_hash(Lake(tmp_path))
    shutil.rmtree(tmp_path / "lake")
    rebuild_from_raw(tmp_path, DEFAULT)
    assert content_hash(Lake(tmp_path)) == before


def test_a_refused_reply_never_marks_an_accepted_file_of_the_same_moment(tmp_path):
    when = session_close("2024-03-04")
    store_payloads(tmp_path, vendor("SPY"), source="flashalpha", symbol="SPY", as_of=when)
    wrong = vendor("SPY")  # the same moment's SPY data, now answering a QQQ request
    for payload in wrong.values():
        payload["symbol"] = "QQQ"
    wrong["gex"]["net_gex"] = math.nan
    with pytest.raises(RejectedError):
        store_payloads(tmp_path, wrong, source="flashalpha", symbol="SPY", as_of=when)
    good = sorted((tmp_path / "raw" / "flashalpha").glob("*/symbol=SPY/*/*Z.json.gz"))
    assert len(good) == 3 and not any(rejected(p) for p in good)
    shutil.rmtree(tmp_path / "lake")
    assert rebuild_from_raw(tmp_path, DEFAULT).rows["snapshots"] == 1


def test_the_previous_snapshot_is_found_reading_only_its_own_days_strikes(tmp_path):
    from flows.capture import previous_many
    from flows.rebuild import followers_many
    from tests.conftest import synthetic_rows

    lake = Lake(tmp_path)
    days = ("2024-03-04", "2024-03-05", "2024-03-06")
    for day in days:
        for symbol in ("SPY", "QQQ"):
            lake.write_all(synthetic_rows(symbol, session_close(day)))
    first = [p for p in lake.files("strikes") if "day=2024-03-04" in str(p)]
    for path in first:
        path.write_bytes(b"not parquet")  # a query that opened it would fail
    assert len(first) == 2  # a file per batch (SPY's, QQQ's) in the day's partition
    asked = {"SPY": session_close(days[1]) + (session_close(days[2]) - session_close(days[1])) / 2}
    found = previous_many(tmp_path, asked, "synthetic", METHOD)
    assert list(found) == ["SPY"]
    assert found["SPY"].snapshot["as_of"] == session_close(days[1])
    stored = lake.read("snapshots").filter(pl.col("symbol") == "SPY")
    assert found["SPY"].strikes.height == stored.get_column("strike_count")[0]
    later = followers_many(tmp_path, "synthetic", METHOD, {"SPY": {session_close(days[1])}})
    assert later == {"SPY": [session_close(days[2])]}
