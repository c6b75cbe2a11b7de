"""FlashAlphaSource against a real local server: what a run buys, halts on, and reports.

Required payloads (gex, levels) of every fetch of a run come before optional ones, so a small
budget buys whole sessions; a refused key or plan halts the run without another request.
"""

from __future__ import annotations

import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

import pytest

from flows.quota import FileQuotaLedger
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.base import Fetched, FetchError, RunHaltedError
from pipeline.sources.flashalpha import (
    ClientConfig,
    FlashAlphaClient,
    FlashAlphaSource,
    RetryPolicy,
    fetch_plan,
)
from tests.support.flashalpha_server import Fault, ServerState, serve

KEY = "fa-source-key-9876543210"
FREE_KEY = "fa-free-key-5555555555"
WRONG_KEY = "fa-wrong-key-0000111122"
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
#: Historical sessions (16:15 New York) in March 2024.
DAYS = [date(2024, 3, d) for d in (4, 5, 6, 7, 8, 11, 12)]
VEX = {"endpoint": "vex", "field": "net_vex"}


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 16, 15, tzinfo=NEW_YORK)


@pytest.fixture(scope="module")
def server():
    state = ServerState(keys={KEY: "growth", FREE_KEY: "free"}, echo_keys=True)
    running = serve(state)
    yield running
    running.stop()


@pytest.fixture
def state(server):
    deadline = time.monotonic() + 600
    while server.state.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    server.state.reset()
    return server.state


def source(url, ledger, *, key=KEY, tier="growth", fetches=1) -> FlashAlphaSource:
    config = ClientConfig(key, base_url=url, retry=FAST, deadline=10)
    fa = FlashAlphaClient(config, ledger=ledger, sleep=lambda s: None, seed=1)
    return FlashAlphaSource(fa, tier=tier, fetches=fetches, name="fa", historical=True)


def test_a_fetch_reports_its_requests_and_what_did_not_arrive(server, state, tmp_path):
    ledger = FileQuotaLedger(tmp_path, "growth")
    state.add_faults(Fault("status", 503, endpoint="dex"), Fault("missing_field", **VEX))
    fetched = source(server.url, ledger).fetch("SPY", at(DAYS[0]))
    assert isinstance(fetched, Fetched)
    assert set(fetched.payloads) == {"gex", "levels", "dex", "chex", "summary"}
    assert fetched.requests == 7 == state.count() == ledger.used()  # dex was sent twice
    assert len(fetched.errors) == 1 and fetched.errors[0].startswith("vex SPY: ")
    assert "lacks net_vex" in fetched.errors[0]
    assert fetched.as_of == datetime(2024, 3, 4, 16, 15, tzinfo=NEW_YORK)
    assert fetched.request["dex"]["requests"] == 2


def test_without_gex_the_fetch_fails_with_its_cost_and_buys_nothing_more(server, state):
    state.add_faults(*[Fault("status", 503, endpoint="gex")] * 4)
    with pytest.raises(FetchError, match="nothing storable received: gex SPY: HTTP 503") as err:
        source(server.url, None).fetch("SPY", at(DAYS[0]))
    assert type(err.value) is FetchError and err.value.requests == 4
    assert state.count() == 4 == state.count("gex")  # levels and the rest not bought


def test_a_wrong_key_halts_the_run_after_one_request(server, state, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    ledger = FileQuotaLedger(tmp_path, "free")
    fa = source(server.url, ledger, key=WRONG_KEY, tier="free", fetches=5)
    with pytest.raises(RunHaltedError, match="HTTP 401") as first:
        fa.fetch("SPY", at(DAYS[0]))
    assert first.value.requests == 1
    for day in DAYS[1:3]:
        with pytest.raises(RunHaltedError, match="run halted") as later:
            fa.fetch("QQQ", at(day))
        assert later.value.requests == 0
    assert state.count() == 1 and ledger.used() == 1  # not the other 9 of the Free budget
    assert len(fa.not_afforded()) == 2
    seen = [str(first.value), str(later.value), repr(later.value), *fa.not_afforded()]
    text = "\n".join(seen + [r.getMessage() for r in caplog.records])
    assert "(key ***)" in str(first.value)  # the server echoed the key; it was scrubbed
    assert WRONG_KEY not in text


def test_a_refused_plan_keeps_what_arrived_and_halts_the_run(server, state, tmp_path):
    # Settings claim Growth, the key is Free: summary is refused with 403.
    ledger = FileQuotaLedger(tmp_path, "growth")
    fa = source(server.url, ledger, key=FREE_KEY, tier="growth", fetches=3)
    fetched = fa.fetch("SPY", at(DAYS[0]))
    assert set(fetched.payloads) == {"gex", "levels", "dex", "vex", "chex"}
    assert fetched.requests == 6 and "HTTP 403" in fetched.errors[-1]
    with pytest.raises(RunHaltedError, match="run halted") as err:
        fa.fetch("QQQ", at(DAYS[0]))
    assert err.value.requests == 0 and state.count() == 6 == ledger.used()
    assert FREE_KEY not in " ".join([*fetched.errors, str(err.value), *fa.not_afforded()])


def test_a_small_budget_buys_whole_sessions_first(server, state, tmp_path):
    ledger = FileQuotaLedger(tmp_path, "free")  # 10 requests a day
    fa = source(server.url, ledger, key=FREE_KEY, tier="free", fetches=3)
    got = [set(fa.fetch("SPY", at(day)).payloads) for day in DAYS[:3]]
    # Surplus over the later sessions' gex + levels buys optional payloads, earliest first.
    assert got == [
        {"gex", "levels", "dex", "vex", "chex"},
        {"gex", "levels", "dex"},
        {"gex", "levels"},
    ]
    assert state.count() == 10 == ledger.used() and fa.not_afforded() == ()


def test_a_backfill_past_the_budget_stores_what_it_bought_and_says_what_it_did_not(
    server, state, tmp_path
):
    ledger = FileQuotaLedger(tmp_path, "free")
    fa = source(server.url, ledger, key=FREE_KEY, tier="free", fetches=len(DAYS))
    stored, halted = [], []
    for day in DAYS:
        try:
            stored.append(fa.fetch("SPY", at(day)))
        except RunHaltedError as exc:
            halted.append(exc)
    assert [set(f.payloads) for f in stored] == [{"gex", "levels"}] * 5
    assert sum(f.requests for f in stored) == 10 == state.count() == ledger.used()
    assert all(f.errors and "not requested" in f.errors[0] for f in stored)
    assert [e.requests for e in halted] == [0, 0]
    assert "daily request budget spent, 0 request(s) left" in str(halted[0])
    assert fa.not_afforded() == (
        "SPY at 2024-03-11T16:15 (gex, levels): daily request budget spent, 0 request(s) left",
        "SPY at 2024-03-12T16:15 (gex, levels): daily request budget spent, 0 request(s) left",
    )


def test_symbols_in_threads_share_the_budget_without_breaking_a_session(server, state, tmp_path):
    ledger = FileQuotaLedger(tmp_path, "free")
    symbols = ["SPY", "QQQ", "IWM"]
    fa = source(server.url, ledger, key=FREE_KEY, tier="free", fetches=2 * len(symbols))

    def run(symbol: str) -> list[Fetched | RunHaltedError]:
        results: list[Fetched | RunHaltedError] = []
        for day in DAYS[:2]:
            try:
                results.append(fa.fetch(symbol, at(day)))
            except RunHaltedError as exc:
                results.append(exc)
        return results

    with ThreadPoolExecutor(3) as pool:
        results = [r for rs in pool.map(run, symbols) for r in rs]
    whole = [r for r in results if isinstance(r, Fetched)]
    assert len(whole) == 5 and all({"gex", "levels"} <= set(f.payloads) for f in whole)
    assert state.count("gex") == 5 == state.count("levels") and state.count() == 10
    assert ledger.used() == 10 and len(fa.not_afforded()) == 1


def test_an_unreachable_server_costs_no_budget(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    ledger = FileQuotaLedger(tmp_path, "free")
    with pytest.raises(FetchError, match="nothing reached the server") as err:
        source(url, ledger, tier="free").fetch("SPY", at(DAYS[0]))
    assert err.value.requests == 0 and ledger.used() == 0 and ledger.remaining() == 10


def test_the_plan_of_one_fetch():
    required, optional = fetch_plan("SPY", "growth", ["2024-03-15"])
    assert [r.label() for r in required] == ["gex SPY", "levels SPY"]
    assert [r.label() for r in optional] == [
        "dex SPY",
        "vex SPY",
        "chex SPY",
        "summary SPY",
        "gex SPY expiration=2024-03-15",
    ]
    assert "summary SPY" not in [r.label() for r in fetch_plan("SPY", "basic")[1]]
    with pytest.raises(ValueError, match="unknown FlashAlpha plan"):
        fetch_plan("SPY", "platinum")
