"""Stopping HTTP sources, deadlines on slow-drip bodies, reply size caps, and pickling for Dask.

Every test runs the real sources against the local servers in tests/support/ (127.0.0.1) and
proves what was sent from their logs. A stop is set from another thread once the server has
seen the request; the fetch must then return, and no request may arrive after the stop.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from datetime import UTC, datetime

import pytest

from flows.quota import FileQuotaLedger, FileWindowLedger
from pipeline.sources.base import FetchError, FetchStoppedError, RunHaltedError
from pipeline.sources.cboe_feed import CboeConfig, CboeFeedSource
from pipeline.sources.flashalpha import (
    AsyncFlashAlphaClient,
    ClientConfig,
    FlashAlphaClient,
    FlashAlphaSource,
    MalformedResponseError,
    RequestStoppedError,
    RetryPolicy,
)
from tests.support import cboe_server, flashalpha_server
from tests.support.cboe_server import Fault

AT = datetime(2024, 3, 15, 20, 15, tzinfo=UTC)
KEY = "stop-test-key-0123456789"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def feed():
    running = cboe_server.serve(cboe_server.ServerState())
    yield running
    running.stop()


@pytest.fixture
def state(feed):
    deadline = time.monotonic() + 600  # replies abandoned by earlier tests may still be running
    while feed.state.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    feed.state.reset()
    return feed.state


@pytest.fixture(scope="module")
def api():
    running = flashalpha_server.serve(flashalpha_server.ServerState(keys={KEY: "growth"}))
    yield running
    running.stop()


def cboe(feed, stop=None, **settings) -> CboeFeedSource:
    """Return a Cboe source on the local feed with a long deadline (only a stop ends it)."""
    config = {"base_url": feed.url, "limit": 1000, "window_seconds": 1.0, "timeout": 300.0}
    config |= {"deadline": 550.0, "retries": 3, "backoff": 0.01, "max_backoff": 0.05}
    return CboeFeedSource(CboeConfig(**(config | settings)), stop=stop)


def stop_once_requested(log: list, count: int = 1) -> tuple[threading.Event, list[float]]:
    """Return a stop flag a thread sets once `log` holds `count` requests, and when it was set."""
    stop, when = threading.Event(), []

    def watch() -> None:
        deadline = time.monotonic() + 600
        while len(log) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the reply is under way (dripping, or its Retry-After being waited)
        when.append(time.monotonic())
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    return stop, when


def test_a_stop_abandons_a_slow_drip_reply_and_sends_nothing_after(feed, state):
    state.add_faults(Fault("drip", seconds=0.05))  # the whole reply would take minutes
    stop, when = stop_once_requested(state.log)
    with cboe(feed, stop) as source, pytest.raises(FetchStoppedError, match="SYM001: stopped"):
        source.fetch("SYM001", AT)
    assert len(state.log) == 1 and all(e["time"] < when[0] for e in state.log)


def test_a_stop_ends_a_retry_after_wait_and_sends_nothing_after(feed, state):
    state.add_faults(Fault("status", 429, retry_after="120"))
    stop, when = stop_once_requested(state.log)
    with cboe(feed, stop) as source, pytest.raises(FetchStoppedError) as err:
        source.fetch("SYM002", AT)
    assert err.value.requests == 1 and isinstance(err.value, RunHaltedError)
    assert state.statuses() == [429] and all(e["time"] < when[0] for e in state.log)


def test_a_stop_ends_a_window_wait_unsent(feed, state):
    stop, _ = stop_once_requested(state.log, count=1)
    with cboe(feed, stop, limit=1, window_seconds=500.0) as source:
        source.fetch("SYM003", AT)
        with pytest.raises(FetchStoppedError):
            source.fetch("SYM004", AT)  # waits for the window until the stop
    assert len(state.log) == 1


def test_nothing_is_sent_once_stopped(feed, state):
    stop = threading.Event()
    stop.set()
    with cboe(feed, stop) as source, pytest.raises(FetchStoppedError, match="not requested"):
        source.fetch("SYM005", AT)
    assert state.log == []


def test_the_deadline_bounds_a_slow_drip_body(feed, state):
    state.add_faults(Fault("drip", seconds=0.05))
    with cboe(feed, deadline=1.0, retries=0) as source, pytest.raises(FetchError) as err:
        source.fetch("SYM006", AT)
    assert "deadline of 1 s" in str(err.value) and len(state.log) == 1


def test_a_gzip_bomb_is_refused_at_the_size_cap(feed, state):
    state.add_faults(Fault("bomb", size=64 * 2**20))
    with cboe(feed, max_reply_bytes=2**20) as source, pytest.raises(FetchError) as err:
        source.fetch("SYM007", AT)
    message = str(err.value)
    assert "passed 1 MiB decompressed" in message and "\n" not in message
    assert len(state.log) == 1  # refused, never retried


def fa_client(api, stop=None, **config) -> FlashAlphaClient:
    """Return a FlashAlpha client on the local API server."""
    settings = {"base_url": api.url, "retry": RetryPolicy(max_retry_after=300.0), "deadline": 550}
    return FlashAlphaClient(ClientConfig(KEY, **(settings | config)), stop=stop)


def test_a_stop_ends_a_flashalpha_retry_after_wait(api):
    api.state.reset()
    api.state.faults.append(flashalpha_server.Fault("status", 429, retry_after=120))
    stop, _ = stop_once_requested(api.state.log)
    with fa_client(api, stop) as client, pytest.raises(RequestStoppedError) as err:
        client.gex("SPY")
    assert err.value.requests == 1 and len(api.state.log) == 1  # the 429 only: none after


def test_a_stop_abandons_a_flashalpha_trickle(api):
    api.state.reset()
    api.state.faults.append(flashalpha_server.Fault("trickle", seconds=0.05, limit=500))
    stop, _ = stop_once_requested(api.state.log)
    source = FlashAlphaSource(fa_client(api), tier="growth")
    source.watch(stop)
    with pytest.raises(FetchStoppedError):
        source.fetch("SPY", AT)
    assert len(api.state.log) == 1


def test_a_flashalpha_gzip_bomb_is_refused_at_the_size_cap(api):
    api.state.reset()
    api.state.faults.append(flashalpha_server.Fault("bomb", size=64 * 2**20))
    with fa_client(api, max_reply_bytes=2**20) as client, pytest.raises(MalformedResponseError):
        client.gex("SPY")
    assert len(api.state.log) == 1


def test_the_async_client_refuses_a_gzip_bomb_at_the_size_cap(api):
    api.state.reset()
    api.state.faults.append(flashalpha_server.Fault("bomb", size=64 * 2**20))
    config = ClientConfig(KEY, base_url=api.url, max_reply_bytes=2**20)

    async def ask() -> None:
        client = AsyncFlashAlphaClient(config)
        try:
            await client.gex("SPY")
        finally:
            await client.aclose()

    with pytest.raises(MalformedResponseError, match="passed 1 MiB decompressed"):
        asyncio.run(ask())
    assert len(api.state.log) == 1


def test_sources_survive_a_pickle_round_trip_and_still_fetch(tmp_path, feed, state, api):
    ledger = FileWindowLedger(tmp_path, "cboe", 100, 60.0)
    source = CboeFeedSource(CboeConfig(base_url=feed.url), ledger=ledger)
    copy = pickle.loads(pickle.dumps(source))
    assert copy.fetch("SYM008", AT).chain.symbol == "SYM008"
    assert ledger.held() == 1  # the copy counted its request in the shared window
    client = FlashAlphaClient(
        ClientConfig(KEY, base_url=api.url), ledger=FileQuotaLedger(tmp_path, "growth")
    )
    api_source = pickle.loads(pickle.dumps(FlashAlphaSource(client, tier="growth")))
    fetched = api_source.fetch("SPY", AT)
    assert "gex" in fetched.payloads and FileQuotaLedger(tmp_path, "growth").used() > 0
