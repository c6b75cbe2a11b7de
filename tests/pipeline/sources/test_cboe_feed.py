"""The `cboe` source: Cboe's delayed-quotes JSON feed, parsed and fetched from a local server.

Parsing tests build replies by hand; HTTP tests run the real source against
tests/support/cboe_server.py (127.0.0.1, a free port) and prove what was sent from its log.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from flows.quota import FileWindowLedger
from pipeline.errors import ChainFormatError
from pipeline.sources.base import FetchError, RunHaltedError
from pipeline.sources.cboe_feed import CboeConfig, CboeFeedSource
from pipeline.sources.chains import read_chain
from pipeline.sources.files import ChainFolderSource
from pipeline.sources.formats.cboe_json import feed_name, oi_session, parse_feed, read_reply
from pipeline.sources.formats.quotedata import read_cboe
from pipeline.sources.http import MemoryWindowLedger, WindowBook, retry_after_seconds
from tests.conftest import REFDATA, REPO
from tests.support.cboe_server import Fault, ServerState, http_date, serve, synthetic_reply

CARLOS = "carlosjimenezdiaz-gex-python"
#: Real CBOE downloads the server lists: (file, served as an index).
CSVS = {
    "SPX": (f"{CARLOS}/spx_quotedata.csv", True),
    "SPY": (f"{CARLOS}/spy_quotedata.csv", False),
    "XSP": (f"{CARLOS}/xsp_quotedata.csv", True),
    "NDX": ("luca-castelli-index-gamma/ndx_quotedata.csv", True),
}
AT = datetime(2024, 3, 15, 20, 15, tzinfo=UTC)


# --- hand-made replies -------------------------------------------------------------------


def opt(option: str, **fields: object) -> dict:
    """Return one contract object as the feed sends it."""
    base = {"option": option, "bid": 20.1, "ask": 20.6, "iv": 0.1234, "open_interest": 1500}
    return base | {"volume": 320, "delta": 0.55, "gamma": 0.0031, "theta": -1.2} | fields


def reply(options: list[dict] | None = None, stamp: str = "2024-03-15 20:15:00", **data) -> dict:
    """Return an SPX reply (Friday 2024-03-15, 16:15 New York unless `stamp` says otherwise)."""
    options = options or [opt("SPXW240315C05100000"), opt("SPX240419P04700000", delta=-0.2)]
    day = {"open": 5123.3, "high": 5136.86, "low": 5104.35, "close": 5117.09, "volume": 0}
    body = {"symbol": "_SPX", "current_price": 5117.09, **day, "options": options}
    return {"timestamp": stamp, "symbol": "_SPX", "data": body | data}


def parse(body: dict, symbol: str | None = "SPX"):
    return read_reply(body, origin="test", symbol=symbol)


def test_osi_ids_give_root_expiration_right_and_strike():
    ids = [
        "SPXW240105C04700000",
        "SPX240119P04700000",
        "SPY240119C00022500",
        "XYZ240119P00012370",
        "SPX   240621C05000000",
    ]
    frame = parse(reply([opt(i, delta=0.1) for i in ids])).chain.frame
    assert frame.get_column("root").to_list() == ["SPXW", "SPX", "SPY", "XYZ", "SPX"]
    assert frame.get_column("strike").to_list() == [4700.0, 4700.0, 22.5, 12.37, 5000.0]
    assert frame.get_column("right").to_list() == ["C", "P", "C", "P", "C"]
    assert frame.get_column("expiration").to_list() == [
        date(2024, 1, 5),
        date(2024, 1, 19),
        date(2024, 1, 19),
        date(2024, 1, 19),
        date(2024, 6, 21),
    ]
    assert frame.get_column("contract").to_list() == ids


def test_spx_and_spxw_of_one_strike_and_day_are_two_contracts():
    ids = ["SPX240315C05100000", "SPXW240315C05100000"]
    frame = parse(reply([opt(i) for i in ids])).chain.frame
    assert frame.height == 2
    assert frame.group_by("root").len().sort("root").rows() == [("SPX", 1), ("SPXW", 1)]


@pytest.mark.parametrize(
    ("option", "why"),
    [
        ("SPXW24010C04700000", "is not an OSI option id"),
        ("SPXW240105X04700000", "is not an OSI option id"),
        ("spxw240105C04700000", "is not an OSI option id"),
        ("SPXW240230C04700000", "names no real expiration date"),
        ("SPXW240105C00000000", "names a strike of 0"),
    ],
)
def test_bad_option_ids_are_refused_naming_the_field(option, why):
    with pytest.raises(ChainFormatError, match=why) as err:
        parse(reply([opt("SPXW240105C04700000"), opt(option)]))
    assert "data.options[1].option" in str(err.value)


def test_numbers_are_taken_as_given_in_their_units():
    feed = parse(reply([opt("SPXW240315C05100000", volume=None), opt("SPX240419P04700000")]))
    row = feed.chain.frame.row(0, named=True)
    assert row["iv"] == 0.1234  # a fraction, as sent
    assert (row["bid"], row["ask"], row["gamma"], row["delta"]) == (20.1, 20.6, 0.0031, 0.55)
    assert (row["open_interest"], row["volume"]) == (1500, 0)  # null volume counts as 0
    assert feed.chain.frame.schema["open_interest"] == pl.Int64
    assert feed.chain.spot == 5117.09 and feed.chain.symbol == "SPX"


def test_spot_falls_back_to_close_only_without_current_price():
    assert parse(reply(current_price=5120.5, close=5117.09)).chain.spot == 5120.5
    assert parse(reply(current_price=None, close=5117.09)).chain.spot == 5117.09
    body = reply()
    del body["data"]["current_price"]
    assert parse(body).chain.spot == 5117.09
    with pytest.raises(ChainFormatError, match=r"no spot"):
        parse(reply(current_price=None, close=None))


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("iv", float("nan"), "not a finite number"),
        ("gamma", float("inf"), "not a finite number"),
        ("bid", "20.1", "not a number"),
        ("ask", True, "not a number"),
        ("open_interest", None, "is missing"),
        ("open_interest", -1, "below 0"),
        ("open_interest", 12.5, "not a whole number"),
        ("delta", 1.5, "above 1"),
        ("iv", -0.2, "below 0"),
    ],
)
def test_garbage_numbers_are_refused_naming_contract_and_field(field, value, why):
    options = [opt("SPXW240315C05100000"), opt("SPX240419P04700000", **{field: value})]
    with pytest.raises(ChainFormatError, match=why) as err:
        parse(reply(options))
    assert f"data.options[1].{field}" in str(err.value)
    assert "SPX240419P04700000" in str(err.value)


def test_a_non_finite_spot_or_bar_field_is_refused():
    with pytest.raises(ChainFormatError, match=r"data.current_price"):
        parse(reply(current_price=float("nan")))
    with pytest.raises(ChainFormatError, match=r"data.high"):
        parse(reply(high=float("inf")))


def test_a_contract_listed_twice_is_refused():
    with pytest.raises(ChainFormatError, match=r"duplicate contract: SPXW240315C05100000"):
        parse(reply([opt("SPXW240315C05100000"), opt("SPXW240315C05100000")]))


def test_as_of_is_the_naive_utc_timestamp_made_aware():
    as_of = parse(reply(stamp="2024-03-15 20:15:00")).chain.as_of
    assert as_of == datetime(2024, 3, 15, 20, 15, tzinfo=UTC)
    assert as_of.utcoffset() == timedelta(0)
    for bad in ("15/03/2024 20:15", None, 17):
        body = reply()
        body["timestamp"] = bad
        with pytest.raises(ChainFormatError, match=r"timestamp"):
            parse(body)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2024-03-15 20:15:00", date(2024, 3, 14)),  # Friday after the close: Thursday's OI
        ("2024-03-15 14:00:00", date(2024, 3, 14)),  # Friday during the session
        ("2024-03-18 12:00:00", date(2024, 3, 15)),  # Monday 08:00 before the open: Friday's
        ("2024-03-16 15:00:00", date(2024, 3, 14)),  # Saturday: last published Friday morning
        ("2024-01-16 15:00:00", date(2024, 1, 12)),  # Tuesday after Martin Luther King Day
        ("2024-11-29 20:00:00", date(2024, 11, 27)),  # the half day after Thanksgiving
        ("2024-03-16 03:00:00", date(2024, 3, 14)),  # Friday 23:00 New York, Saturday in UTC
    ],
)
def test_oi_as_of_is_the_session_before_the_published_one(stamp, expected):
    assert parse(reply(stamp=stamp)).oi_as_of == expected


def test_oi_as_of_outside_the_calendar_is_none():
    assert oi_session(datetime(2400, 1, 3, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("stamp", "trade_date"),
    [
        ("2024-03-15 20:15:00", date(2024, 3, 15)),  # 16:15 New York
        ("2024-03-15 20:00:00", date(2024, 3, 15)),  # 16:00, the close itself
        ("2024-03-15 19:59:00", None),  # 15:59: the session is not over
        ("2024-03-15 13:00:00", None),  # before the open is not after a close of that day
        ("2024-11-29 18:30:00", date(2024, 11, 29)),  # half day: closed at 13:00
        ("2024-11-29 17:30:00", None),  # 12:30 on the half day
        ("2024-03-16 15:00:00", None),  # a Saturday stamp: no session that day
    ],
)
def test_bar_only_after_the_close_of_the_stamped_session(stamp, trade_date):
    feed = parse(reply(stamp=stamp))
    if trade_date is None:
        assert feed.bar is None
        return
    assert feed.bar == {
        "trade_date": trade_date,
        "open": 5123.3,
        "high": 5136.86,
        "low": 5104.35,
        "close": 5117.09,
        "volume": 0.0,
    }


def test_a_bar_missing_a_field_or_impossible_is_dropped_and_noted():
    feed = parse(reply(open=None))
    assert feed.bar is None and feed.notes == ("bar of 2024-03-15: data.open missing",)
    feed = parse(reply(low=5200.0))
    assert feed.bar is None and "not a bar" in feed.notes[0]
    assert feed.chain.frame.height == 2  # the chain itself is kept


@pytest.mark.parametrize(
    ("top", "inner"), [("_SPX", "_SPX"), ("SPX", "SPX"), ("_SPX", None), (None, "SPX")]
)
def test_the_reply_may_name_its_symbol_with_or_without_underscore(top, inner):
    body = reply()
    body["symbol"], body["data"]["symbol"] = top, inner
    assert parse(body, symbol="SPX").chain.symbol == "SPX"


@pytest.mark.parametrize(("top", "inner"), [("_NDX", "_SPX"), ("_SPX", "QQQ"), ("SPY", "SPY")])
def test_a_reply_for_another_symbol_is_refused(top, inner):
    body = reply()
    body["symbol"], body["data"]["symbol"] = top, inner
    with pytest.raises(ChainFormatError, match=r"the reply is for \w+ .*not SPX"):
        parse(body, symbol="SPX")


def test_a_reply_naming_no_symbol_is_refused():
    body = reply()
    body["symbol"] = body["data"]["symbol"] = None
    with pytest.raises(ChainFormatError, match=r"names no symbol"):
        parse(body)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"timestamp": "2024-03-15 20:15:00", "symbol": "_SP', "truncated"),
        (b'{"timestamp": "2024-03-15 20:15:00", "data": {"a": [1, 2', "truncated"),
        (b'{"timestamp": "2024", "data": {,}}', "not valid JSON"),
        (b"[1, 2]", "a JSON list, not an object"),
        (b"", "the body is empty"),
        (b"\xff\xfe{", "not UTF-8"),
    ],
)
def test_bodies_that_are_not_a_json_object_say_what_is_wrong(body, why):
    with pytest.raises(ChainFormatError, match=why):
        parse_feed(body, origin="test", symbol="SPX")


def test_feed_names_put_an_underscore_before_indices_only():
    assert [feed_name(s) for s in ("SPX", "ndx", "_RUT", "VIX", "XSP")] == [
        "_SPX",
        "_NDX",
        "_RUT",
        "_VIX",
        "_XSP",
    ]
    assert [feed_name(s) for s in ("SPY", "QQQ", "AAPL")] == ["SPY", "QQQ", "AAPL"]


def test_retry_after_in_seconds_or_as_an_http_date():
    now = datetime(2024, 3, 16, 15, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("1.5", now) == 1.5
    assert retry_after_seconds(http_date(now + timedelta(seconds=30)), now) == 30.0
    assert retry_after_seconds(http_date(now - timedelta(seconds=30)), now) == 0.0
    assert retry_after_seconds("-3", now) == 0.0
    assert [retry_after_seconds(v, now) for v in (None, "soon", "nan", "inf")] == [None] * 4


def test_config_refuses_settings_that_cannot_work():
    with pytest.raises(ValueError, match=r"User-Agent"):
        CboeConfig(user_agent=" ")
    with pytest.raises(ValueError, match=r"limit, concurrency"):
        CboeConfig(limit=0, concurrency=0)


# --- the window budget -------------------------------------------------------------------


def test_window_book_holds_limit_slots_per_window():
    book = WindowBook(limit=2, window_seconds=10)
    assert book.reserve("a", 100.0) == 0.0 and book.reserve("b", 101.0) == 0.0
    assert book.reserve("c", 102.0) == pytest.approx(8.0)  # until a's window passes
    book.release("a", sent=True, now=103.0)  # a's request ended at 103: held until 113
    assert book.reserve("c", 110.5) == pytest.approx(0.5)  # b frees at 111
    assert book.reserve("c", 111.0) == 0.0
    assert book.reserve("d", 111.5) == pytest.approx(1.5)  # a, held from its end, frees at 113
    book.release("c", sent=False, now=112.0)  # never left the machine: freed at once
    assert book.reserve("d", 112.0) == 0.0 and book.held(112.0) == 2


def test_memory_ledger_counts_on_its_clock():
    now = [1000.0]
    ledger = MemoryWindowLedger(3, 60, clock=lambda: now[0])
    assert [ledger.reserve(k) for k in "abc"] == [0.0, 0.0, 0.0]
    assert ledger.reserve("d") == pytest.approx(60.0)
    now[0] += 60
    assert ledger.reserve("d") == 0.0 and ledger.held() == 1


def test_file_ledger_is_one_window_for_every_instance(tmp_path):
    now = [1000.0]
    first, second = (
        FileWindowLedger(tmp_path, "cboe", 5, 60, clock=lambda: now[0]) for _ in range(2)
    )
    got = [first.reserve(f"a{i}") for i in range(3)] + [second.reserve(f"b{i}") for i in range(3)]
    assert got[:5] == [0.0] * 5 and got[5] == pytest.approx(60.0)
    second.release("b0", sent=False)
    assert first.reserve("a9") == 0.0 and first.held() == second.held() == 5
    assert (tmp_path / "quota" / "cboe-window.json").is_file()
    now[0] += 61
    assert second.held() == 0


_RESERVE = """
import pathlib, sys, uuid
from flows.quota import FileWindowLedger
ledger = FileWindowLedger(pathlib.Path(sys.argv[1]), "cboe", 15, 600)
sys.stdin.readline()
print(sum(ledger.reserve(uuid.uuid4().hex) == 0.0 for _ in range(12)))
"""


def test_file_ledger_is_shared_across_processes(tmp_path):
    run = [sys.executable, "-c", _RESERVE, str(tmp_path)]
    workers = [
        subprocess.Popen(run, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [w.communicate("go\n", timeout=600)[0] for w in workers]  # start both, then go
    assert sum(int(o) for o in outputs) == 15  # 24 asked for, the window's 15 granted


# --- against the local feed --------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    state = ServerState()
    if REFDATA.is_dir():
        for name, index in CSVS.values():
            state.add_csv(REFDATA / name, index=index)
    running = serve(state)
    yield running
    running.stop()


@pytest.fixture
def state(server):
    deadline = time.monotonic() + 600  # replies abandoned by timeout tests may still be running
    while server.state.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    server.state.reset()
    return server.state


def source(server, *, waits=None, ledger=None, **settings) -> CboeFeedSource:
    """Return a source on the local feed; `waits` records sleeps instead of sleeping."""
    config = {"base_url": server.url, "limit": 1000, "window_seconds": 1.0, "timeout": 5.0}
    config |= {"deadline": 30.0, "retries": 3, "backoff": 0.01, "max_backoff": 0.05}
    sleep = waits.append if waits is not None else time.sleep
    return CboeFeedSource(CboeConfig(**(config | settings)), ledger=ledger, sleep=sleep, seed=1)


@pytest.fixture
def listed(state, refdata):
    if "SPX" not in state.listed:
        pytest.skip("the server found no reference data at start-up")
    return state


def test_fetch_returns_the_chain_as_served(server, state):
    state.clock = lambda: AT
    with source(server) as feed:
        fetched = feed.fetch("SYM001", AT)
    expected = parse(synthetic_reply("SYM001", AT), "SYM001")
    assert fetched.symbol == "SYM001" and fetched.chain.symbol == "SYM001"
    assert fetched.as_of == AT and fetched.requests == 1 and fetched.errors == ()
    assert fetched.chain.frame.equals(expected.chain.frame) and fetched.chain.spot > 0
    assert fetched.oi_as_of == date(2024, 3, 14)
    assert fetched.bar is not None and fetched.bar["trade_date"] == date(2024, 3, 15)
    assert fetched.request["chain"]["url"] == f"{server.url}/SYM001.json"
    assert fetched.chain.origin == f"{server.url}/SYM001.json"
    assert state.log[0]["user_agent"] == CboeConfig().user_agent


def test_no_bar_before_the_close(server, state):
    during = datetime(2024, 3, 15, 18, 0, tzinfo=UTC)  # 14:00 New York
    state.clock = lambda: during
    with source(server) as feed:
        fetched = feed.fetch("SYM002", during)
    assert fetched.as_of == during and fetched.bar is None
    assert fetched.oi_as_of == date(2024, 3, 14)


def test_weekend_answers_repeat_the_last_session(server, state):
    saturday = datetime(2024, 3, 16, 15, 0, tzinfo=UTC)
    state.clock = lambda: saturday
    with source(server) as feed:
        live = feed.fetch("SYM003", saturday)
        state.weekend = True
        first = feed.fetch("SYM003", saturday)
        state.clock = lambda: saturday + timedelta(hours=20)
        second = feed.fetch("SYM003", saturday + timedelta(hours=20))
    assert live.as_of == saturday and live.bar is None  # the switch is what repeats
    friday = datetime(2024, 3, 15, 20, 15, tzinfo=UTC)  # 16:15 New York, the close + 15 min
    assert first.as_of == second.as_of == friday  # the true as_of: the flow stores it once
    assert first.bar is not None and first.bar["trade_date"] == date(2024, 3, 15)
    assert first.oi_as_of == second.oi_as_of == date(2024, 3, 14)
    assert first.chain.frame.equals(second.chain.frame)


@pytest.mark.refdata
@pytest.mark.parametrize("symbol", list(CSVS))
def test_parity_with_the_csv_reader(server, listed, symbol):
    with source(server) as feed:
        fetched = feed.fetch(symbol, AT)
    csv = read_cboe(REFDATA / CSVS[symbol][0])
    assert fetched.chain.symbol == csv.symbol == symbol
    assert fetched.chain.spot == csv.spot
    assert fetched.as_of == csv.as_of and fetched.as_of.tzinfo == UTC
    got = fetched.chain.frame.sort("contract")
    assert got.drop("root").equals(csv.frame.select(got.drop("root").columns).sort("contract"))
    assert got.get_column("root").to_list() == got.get_column("contract").str.head(-15).to_list()
    index = CSVS[symbol][1]
    assert listed.log[-1]["path"].endswith(f"/{'_' if index else ''}{symbol}.json")


@pytest.mark.refdata
def test_spx_reply_tells_spx_from_spxw_and_dates_its_oi_and_bar(server, listed):
    with source(server) as feed:
        fetched = feed.fetch("SPX", AT)
    roots = dict(fetched.chain.frame.group_by("root").len().rows())
    assert set(roots) == {"SPX", "SPXW"} and roots["SPX"] > 1000 and roots["SPXW"] > 1000
    # "Date: September 14, 2023 at 4:31 PM EDT": a Thursday, after the close.
    assert fetched.oi_as_of == date(2023, 9, 13)
    day = listed.listed["SPX"].day  # the server's invented session figures (see its docstring)
    assert fetched.bar == {"trade_date": date(2023, 9, 14)} | {
        k: day[k] for k in ("open", "high", "low", "close", "volume")
    }
    assert fetched.bar["close"] == fetched.chain.spot == 4505.1001


@pytest.mark.refdata
def test_a_saturday_download_has_no_bar(server, listed):
    with source(server) as feed:
        fetched = feed.fetch("NDX", AT)  # "Date: February 5 2022, 8:26 PM EST", a Saturday
    assert fetched.bar is None and fetched.oi_as_of == date(2022, 2, 3)


def test_a_reply_for_another_symbol_is_refused_naming_both(server, state):
    state.add_faults(Fault("wrong_symbol", other="QQQ"), Fault("wrong_symbol", other="_SPX"))
    state.add_faults(Fault("wrong_symbol", other="SYM999", where="data.symbol"))
    with source(server) as feed:
        for other in ("QQQ", "SPX", "SYM999"):
            refused = feed.fetch("SYM004", AT)  # returned as received, for the flow to archive
            assert refused.chain is None and refused.requests == 1 and refused.refused
            assert re.search(rf"SYM004.*the reply is for {other}", refused.refused)
            assert refused.payloads["reply"]["data"]["options"]  # the reply as received
        assert feed.fetch("SYM004", AT).chain.symbol == "SYM004"


def test_a_nan_in_a_contract_is_refused_naming_symbol_and_field(server, state):
    state.add_faults(Fault("nan", field="gamma"))
    with source(server) as feed:
        refused = feed.fetch("SYM005", AT).refused
    assert refused is not None and "SYM005" in refused and "data.options[0].gamma" in refused
    assert "not a finite number" in refused


def test_403_halts_the_run(server, state):
    with source(server, user_agent="curl/8.4.0") as feed:
        with pytest.raises(RunHaltedError, match=r"HTTP 403.*browser-like User-Agent") as err:
            feed.fetch("SYM006", AT)
        assert err.value.requests == 1
        with pytest.raises(RunHaltedError, match=r"run halted.*SYM007 not requested") as later:
            feed.fetch("SYM007", AT)
    assert later.value.requests == 0
    assert state.statuses() == [403] and state.log[0]["user_agent"] == "curl/8.4.0"


def test_404_is_an_unknown_symbol(server, state):
    with source(server) as feed, pytest.raises(FetchError, match=r"ZZZZ.*HTTP 404.*unknown") as err:
        feed.fetch("ZZZZ", AT)
    assert not isinstance(err.value, RunHaltedError)
    assert state.statuses() == [404] and err.value.requests == 1  # never retried


def test_429_waits_the_retry_after_seconds(server, state):
    waits: list[float] = []
    state.add_faults(Fault("status", 429, retry_after="7"))
    with source(server, waits=waits) as feed:
        fetched = feed.fetch("SYM008", AT)
    assert waits == [7.0] and fetched.requests == 2 and state.statuses() == [429, 200]


def test_429_waits_until_an_http_date(server, state):
    waits: list[float] = []
    later = datetime.now(UTC) + timedelta(seconds=30)
    state.add_faults(Fault("status", 429, retry_after=http_date(later)))
    with source(server, waits=waits) as feed:
        feed.fetch("SYM009", AT)
    assert len(waits) == 1 and 28 < waits[0] <= 30  # the date has whole seconds


def test_429_from_the_server_budget_is_waited_out(server, state):
    state.limit, state.window_seconds = 2, 1.0
    with source(server) as feed:  # its own budget is far larger: only the server refuses
        for symbol in ("SYM010", "SYM011", "SYM012"):
            feed.fetch(symbol, AT)
    assert state.statuses() == [200, 200, 429, 200]
    refused, retried = state.log[2]["time"], state.log[3]["time"]
    # The server's own clock: the retry came after the Retry-After second (a lower bound,
    # which a busy machine cannot break).
    assert retried - refused >= 0.99


def test_a_retry_after_past_the_deadline_halts(server, state):
    state.add_faults(Fault("status", 429, retry_after="120"))
    stop = pytest.raises(RunHaltedError, match=r"HTTP 429.*'120'.*pass the deadline")
    with source(server, deadline=5.0) as feed, stop:
        feed.fetch("SYM013", AT)
    assert state.statuses() == [429]


def test_5xx_and_dropped_connections_are_retried_with_backoff(server, state):
    waits: list[float] = []
    state.add_faults(Fault("status", 500), Fault("drop"), Fault("status", 503))
    with source(server, waits=waits) as feed:
        fetched = feed.fetch("SYM014", AT)
    assert fetched.requests == 4 and state.statuses() == [500, 0, 503, 200]  # 0: dropped
    assert len(waits) == 3  # backoff 0.01 s doubling, +-20 % jitter
    for wait, base in zip(waits, (0.01, 0.02, 0.04), strict=True):
        assert 0.8 * base <= wait <= 1.2 * base


def test_5xx_until_retries_run_out_is_an_error(server, state):
    state.add_faults(*[Fault("status", 502)] * 3)
    error = pytest.raises(FetchError, match=r"SYM015: HTTP 502.*after 3 attempt")
    with source(server, waits=[], retries=2) as feed, error as err:
        feed.fetch("SYM015", AT)
    assert err.value.requests == 3 and state.statuses() == [502] * 3


def test_slow_replies_time_out_and_are_retried(server, state):
    state.add_faults(Fault("delay", seconds=0.8))
    with source(server, timeout=0.2) as feed:
        fetched = feed.fetch("SYM016", AT)
    assert fetched.requests == 2  # the slow first reply was abandoned, the retry answered


def test_timeouts_until_retries_run_out_name_the_symbol(server, state):
    state.add_faults(*[Fault("delay", seconds=0.6)] * 2)
    error = pytest.raises(FetchError, match=r"SYM017: no reply.*ReadTimeout after 2 attempt")
    with source(server, timeout=0.2, retries=1) as feed, error:
        feed.fetch("SYM017", AT)


def test_the_deadline_bounds_a_fetch(server, state):
    state.latency = 0.8
    error = pytest.raises(FetchError, match=r"SYM018: fetch deadline of 0.4 s reached")
    with source(server, deadline=0.4) as feed, error:  # the message: the deadline, not a reply
        feed.fetch("SYM018", AT)


def test_a_truncated_body_is_retried_then_named(server, state):
    state.add_faults(Fault("truncate"))
    with source(server) as feed:
        assert feed.fetch("SYM019", AT).requests == 2
    state.add_faults(*[Fault("truncate")] * 2)
    with source(server, retries=1) as feed:
        fetched = feed.fetch("SYM020", AT)
    assert fetched.refused is not None
    assert re.search(r"SYM020: .*SYM020\.json: the body ends", fetched.refused)
    assert "(truncated)" in fetched.refused and "Traceback" not in fetched.refused
    assert fetched.payloads["reply"].startswith('{"timestamp"')  # the cut-off body, as received


def test_malformed_json_is_named(server, state):
    state.add_faults(*[Fault("malformed")] * 4)
    with source(server) as feed:
        fetched = feed.fetch("SYM021", AT)
    assert fetched.refused is not None and "SYM021" in fetched.refused
    assert "not valid JSON" in fetched.refused
    assert fetched.requests == 4 and fetched.chain is None


def test_a_100_symbol_watchlist_stays_inside_the_window(server, state):
    state.limit, state.window_seconds = 25, 0.5
    symbols = [f"SYM{i:03d}" for i in range(1, 101)]
    with source(server, limit=25, window_seconds=0.5) as feed, ThreadPoolExecutor(8) as pool:
        fetched = list(pool.map(lambda s: feed.fetch(s, AT), symbols))
    assert [f.symbol for f in fetched] == symbols
    assert state.statuses() == [200] * 100  # not one 429
    assert state.busiest_window(0.5) <= 25  # 100 requests in windows of 25: it waited


def test_without_the_window_the_server_refuses(server, state):
    state.limit, state.window_seconds = 25, 0.5
    symbols = [f"SYM{i:03d}" for i in range(1, 41)]
    with source(server, retries=0) as feed, ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda s: _outcome(feed, s), symbols))
    assert 429 in state.statuses() and "halted" in outcomes  # the control: the budget matters


def _outcome(feed: CboeFeedSource, symbol: str) -> str:
    try:
        feed.fetch(symbol, AT)
    except RunHaltedError:
        return "halted"
    return "ok"


def test_sources_sharing_a_file_ledger_share_the_window(server, state, tmp_path):
    state.limit, state.window_seconds = 10, 0.5
    symbols = [f"SYM{i:03d}" for i in range(1, 41)]
    feeds = [source(server, ledger=FileWindowLedger(tmp_path, "cboe", 10, 0.5)) for _ in range(2)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: feeds[i % 2].fetch(symbols[i], AT), range(40)))
    assert state.statuses() == [200] * 40 and state.busiest_window(0.5) <= 10


def test_a_window_that_reopens_after_the_deadline_halts_unsent(server, state):
    with source(server, limit=2, window_seconds=60, deadline=1.0) as feed:
        feed.fetch("SYM022", AT)
        feed.fetch("SYM023", AT)
        with pytest.raises(RunHaltedError, match=r"window is spent \(2 chains per 60 s\); it re"):
            feed.fetch("SYM024", AT)
    assert len(state.log) == 2


@pytest.mark.parametrize("concurrency", [3, 6])
def test_concurrency_is_limited_per_source(server, state, concurrency):
    state.latency = 0.15
    with source(server, concurrency=concurrency) as feed, ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda i: feed.fetch(f"SYM{i:03d}", AT), range(1, 13)))
    assert state.max_in_flight == concurrency


# --- saved replies in a chain folder -----------------------------------------------------


def test_a_saved_reply_is_read_by_the_chain_folder_source(tmp_path):
    body = synthetic_reply("SYM030", AT)
    (tmp_path / "SYM030_2024-03-15.json").write_text(json.dumps(body))
    folder = ChainFolderSource(tmp_path)
    assert folder.file_for("SYM030", date(2024, 3, 15)) == tmp_path / "SYM030_2024-03-15.json"
    fetched = folder.fetch("SYM030", datetime(2024, 3, 15, 21, 0, tzinfo=UTC))
    assert fetched.as_of == AT  # the reply's own time, not 16:15
    assert fetched.chain.frame.equals(parse(body, "SYM030").chain.frame)
    assert fetched.chain.origin == str(tmp_path / "SYM030_2024-03-15.json")


def test_a_saved_reply_in_another_symbols_folder_is_refused(tmp_path):
    (tmp_path / "SYM031").mkdir()
    (tmp_path / "SYM031" / "2024-03-15.json").write_text(json.dumps(synthetic_reply("SYM032", AT)))
    with pytest.raises(ChainFormatError, match=r"2024-03-15\.json, column 'symbol'.*SYM032"):
        ChainFolderSource(tmp_path).fetch("SYM031", AT)


def test_a_broken_saved_reply_names_the_file(tmp_path):
    path = tmp_path / "SYM033_2024-03-15.json"
    path.write_text(json.dumps(synthetic_reply("SYM033", AT))[:500])
    with pytest.raises(ChainFormatError, match=r"SYM033_2024-03-15.json: the body ends"):
        read_chain(path)


@pytest.mark.refdata
def test_a_saved_spx_reply_reads_like_the_csv(server, listed, tmp_path):
    import httpx

    body = httpx.get(f"{server.url}/_SPX.json", headers={"User-Agent": "Mozilla/5.0"}).content
    (tmp_path / "SPX_2023-09-14.json").write_bytes(body)
    chain = ChainFolderSource(tmp_path).fetch("SPX", datetime(2023, 9, 14, 21, tzinfo=UTC)).chain
    csv = read_cboe(REFDATA / CSVS["SPX"][0])
    assert (chain.symbol, chain.spot, chain.as_of) == (csv.symbol, csv.spot, csv.as_of)
    frame = chain.frame.drop("root").sort("contract")
    assert frame.equals(csv.frame.select(frame.columns).sort("contract"))


def test_the_parser_does_not_change_the_reply_it_reads():
    body = reply()
    before = copy.deepcopy(body)
    parse(body)
    assert body == before


def test_a_403_stops_fetches_already_running_in_other_threads(server, state):
    barrier = threading.Barrier(3)

    def one(feed: CboeFeedSource, symbol: str) -> str:
        barrier.wait()
        return _outcome(feed, symbol)

    with (
        source(server, user_agent="python-httpx", concurrency=1) as feed,
        ThreadPoolExecutor(4) as pool,
    ):
        outcomes = list(pool.map(lambda s: one(feed, s), ["SYM040", "SYM041", "SYM042"]))
    assert outcomes == ["halted"] * 3
    assert state.statuses() == [403]  # the others were waiting for the one slot: never sent


def test_a_gzipped_reply_through_a_custom_transport():
    import gzip

    import httpx

    body = json.dumps(synthetic_reply("SYM050", AT)).encode()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
        )

    config = CboeConfig(base_url="https://cdn.example/api/global/delayed_quotes/options")
    with CboeFeedSource(config, transport=httpx.MockTransport(handler)) as feed:
        fetched = feed.fetch("SYM050", AT)
    assert fetched.chain.frame.equals(parse(synthetic_reply("SYM050", AT), "SYM050").chain.frame)
    assert str(seen[0].url) == f"{config.base_url}/SYM050.json"
    assert seen[0].headers["user-agent"] == config.user_agent


def test_an_unreachable_feed_costs_no_window_slot():
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ledger = MemoryWindowLedger(5, 60)
    config = CboeConfig(base_url=f"http://127.0.0.1:{port}/x", retries=2, backoff=0.01)
    with CboeFeedSource(config, ledger=ledger) as feed, pytest.raises(FetchError) as err:
        feed.fetch("SYM051", AT)
    assert "ConnectError after 3 attempt(s); nothing reached the server" in str(err.value)
    assert err.value.requests == 0 and ledger.held() == 0
