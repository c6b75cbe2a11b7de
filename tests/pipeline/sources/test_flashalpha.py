"""The FlashAlpha client against a real local server: payloads, faults, retries, quota, secrecy."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from types import SimpleNamespace

import pytest

from pipeline.sources.flashalpha import (
    AsyncFlashAlphaClient,
    AuthenticationError,
    ClientConfig,
    FlashAlphaClient,
    MalformedResponseError,
    NotFoundError,
    PlannedRequest,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    TierRestrictedError,
    UnreachableError,
    plan_requests,
)
from tests.support.flashalpha_server import Fault, ServerState, serve

KEY = "fa-secret-key-0123456789"
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, jitter=0.2, max_retry_after=5)


@pytest.fixture(scope="module")
def server():
    running = serve(ServerState(keys={KEY: "growth", "free-key": "free"}))
    yield running
    running.stop()


@pytest.fixture
def state(server):
    deadline = time.monotonic() + 600  # requests abandoned by timeout tests may still be running
    while server.state.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    server.state.reset()
    return server.state


class Budget:
    """An in-memory ledger with a fixed budget."""

    def __init__(self, budget: int) -> None:
        self.budget, self.spent = budget, 0

    def try_spend(self) -> bool:
        if self.spent >= self.budget:
            return False
        self.spent += 1
        return True

    def refund(self) -> None:
        self.spent -= 1

    def remaining(self) -> int:
        return self.budget - self.spent


def client(
    server, *, key=KEY, timeout=5.0, retry=FAST, at=None, ledger=None, waits=None, deadline=60.0
):
    config = ClientConfig(
        key, base_url=server.url, timeout=timeout, retry=retry, at=at, deadline=deadline
    )
    sleep = (lambda s: waits.append(s)) if waits is not None else (lambda s: None)
    return FlashAlphaClient(config, ledger=ledger, sleep=sleep, seed=1)


def test_every_endpoint_and_its_metadata(server, state):
    with client(server) as fa:
        gex = fa.gex("SPY")
        assert gex.payload["symbol"] == "SPY" and gex.payload["strikes"]
        assert gex.meta["url"] == f"{server.url}/v1/exposure/gex/SPY"
        assert gex.meta["status"] == 200 and gex.meta["attempts"] == 1
        for call in (fa.dex, fa.vex, fa.chex, fa.exposure_levels, fa.exposure_summary):
            assert call("SPY").payload["symbol"] == "SPY"
        one = fa.gex("SPY", expiration=gex.payload["as_of"][:10], min_oi=10)
    assert one.meta["url"].endswith("?expiration=" + gex.payload["as_of"][:10] + "&min_oi=10")
    assert state.count() == 7 and all(e["has_key"] for e in state.log)


def test_historical_requests_carry_at(server, state):
    with client(server, at="2024-03-15T15:30") as fa:
        gex = fa.gex("QQQ")
    assert state.log[-1]["query"] == {"at": "2024-03-15T15:30"}
    assert gex.payload["as_of"] == "2024-03-15T15:30:00"


def test_429_honours_retry_after(server, state):
    waits: list[float] = []
    state.add_faults(Fault("status", 429, retry_after=1.5))
    with client(server, waits=waits) as fa:
        assert fa.gex("SPY").meta["attempts"] == 2
    assert waits == [1.5] and state.count() == 2


def test_429_without_retry_after_backs_off(server, state):
    waits: list[float] = []
    state.add_faults(Fault("status", 429), Fault("status", 429))
    with client(server, waits=waits) as fa:
        fa.gex("SPY")
    assert len(waits) == 2
    assert 0.008 <= waits[0] <= 0.012 and 0.016 <= waits[1] <= 0.024


def test_a_retry_after_too_long_to_wait_is_an_error(server, state):
    state.add_faults(Fault("status", 429, retry_after=3600))
    with client(server) as fa, pytest.raises(RateLimitError) as err:
        fa.gex("SPY")
    assert err.value.retry_after == 3600 and err.value.attempts == 1 and state.count() == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried(server, state, status):
    state.add_faults(Fault("status", status), Fault("status", status))
    with client(server) as fa:
        assert fa.gex("SPY").meta["attempts"] == 3
    assert state.count() == 3


def test_retries_are_bounded_in_count_and_wait(server, state):
    waits: list[float] = []
    state.add_faults(*[Fault("status", 503)] * 6)
    with client(server, waits=waits) as fa, pytest.raises(ServerError) as err:
        fa.gex("SPY")
    assert err.value.attempts == 4 and state.count() == 4
    assert len(waits) == 3 and sum(waits) <= 3 * FAST.max_delay * (1 + FAST.jitter)


def test_a_slow_response_times_out_and_the_retry_succeeds(server, state):
    state.add_faults(Fault("delay", seconds=1.0))
    with client(server, timeout=0.2) as fa:
        assert fa.gex("SPY").meta["attempts"] == 2


def test_timeouts_on_every_attempt(server, state):
    state.add_faults(*[Fault("delay", seconds=1.0)] * 2)
    retry = RetryPolicy(attempts=2, base_delay=0.01)
    with client(server, timeout=0.2, retry=retry) as fa, pytest.raises(RequestTimeoutError):
        fa.gex("SPY")


@pytest.mark.parametrize("kind", ["drop", "truncate"])
def test_dropped_connections_and_truncated_json_are_retried(server, state, kind):
    state.add_faults(Fault(kind))
    with client(server) as fa:
        assert fa.gex("SPY").meta["attempts"] == 2


def test_truncated_json_every_time_is_malformed(server, state):
    state.add_faults(*[Fault("truncate")] * 4)
    with client(server) as fa, pytest.raises(MalformedResponseError, match="not valid JSON"):
        fa.gex("SPY")
    assert state.count() == 4


def test_a_missing_required_field_is_not_retried(server, state):
    state.add_faults(Fault("missing_field", field="net_gex"))
    with client(server) as fa, pytest.raises(MalformedResponseError, match="lacks net_gex"):
        fa.gex("SPY")
    assert state.count() == 1


def test_extra_unknown_fields_pass_through(server, state):
    state.add_faults(Fault("extra_fields"))
    with client(server) as fa:
        assert fa.gex("SPY").payload["unannounced_field"] == {"new": True}


def test_401_403_404_are_final(server, state):
    with client(server, key="wrong-key") as fa, pytest.raises(AuthenticationError) as auth:
        fa.gex("SPY")
    assert auth.value.status_code == 401 and "wrong-key" not in str(auth.value)
    with client(server, key="free-key") as fa, pytest.raises(TierRestrictedError) as tier:
        fa.exposure_summary("SPY")
    assert (tier.value.current_plan, tier.value.required_plan) == ("free", "growth")
    with client(server) as fa, pytest.raises(NotFoundError):
        fa.gex("spy$")
    assert state.count() == 3


def test_the_budget_is_never_exceeded(server, state):
    ledger = Budget(5)
    state.add_faults(Fault("status", 503), Fault("status", 429, retry_after=0))
    with client(server, ledger=ledger) as fa:
        fa.gex("SPY")  # 3 attempts (503, 429, 200): failures count too
        fa.exposure_levels("SPY")  # 4
        fa.exposure_levels("QQQ")  # 5: the budget is spent
        with pytest.raises(QuotaExceededError, match="dex SPY not requested"):
            fa.dex("SPY")
    assert ledger.spent == 5 and state.count() == 5  # the server's own log agrees


def test_quota_refusal_sends_nothing(server, state):
    with client(server, ledger=Budget(0)) as fa, pytest.raises(QuotaExceededError):
        fa.gex("SPY")
    assert state.count() == 0


def test_async_fan_out_limits_concurrency(server, state):
    state.add_faults(*[Fault("delay", seconds=0.2)] * 8)
    requests = [PlannedRequest("levels", s) for s in ("SPY", "QQQ", "IWM", "DIA")] * 2

    async def run():
        fa = AsyncFlashAlphaClient(ClientConfig(KEY, base_url=server.url, retry=FAST))
        try:
            return await fa.fetch_many(requests, concurrency=2)
        finally:
            await fa.aclose()

    results = asyncio.run(run())
    assert all(r.payload["symbol"] == q.symbol for r, q in zip(results, requests, strict=True))
    assert state.max_in_flight == 2 and state.count() == 8


def test_the_key_never_appears_in_logs_errors_or_metadata(server, state, caplog):
    caplog.set_level(logging.DEBUG)
    state.add_faults(Fault("status", 503), Fault("truncate"), Fault("drop"))
    seen: list[str] = []
    with client(server) as fa:
        seen.append(repr(fa.gex("SPY").meta))
        seen.append(repr(fa.config))
        for call in (lambda: fa.gex("bad$"), lambda: fa.exposure_summary("SPY")):
            try:
                call()
            except Exception as exc:  # collect every error text
                seen.append(f"{exc!r} {exc}")
    with client(server, key="free-key") as fa:
        with pytest.raises(TierRestrictedError) as err:
            fa.exposure_summary("SPY")
        seen.append(str(err.value))
    text = "\n".join(seen + [r.getMessage() for r in caplog.records])
    assert KEY not in text and "free-key" not in text


def test_plan_priorities_and_budget():
    planned, skipped = plan_requests(["SPY", "QQQ"], "free", 5, expirations={"SPY": ["2024-03-15"]})
    assert [p.label() for p in planned] == [
        "levels SPY",
        "gex SPY",
        "levels QQQ",
        "gex QQQ",
        "dex SPY",
    ]
    assert [p.label() for p in skipped] == [
        "dex QQQ",
        "vex SPY",
        "vex QQQ",
        "chex SPY",
        "chex QQQ",
        "gex SPY expiration=2024-03-15",
    ]
    growth, _ = plan_requests(["SPY"], "growth", None)
    assert [p.endpoint for p in growth] == ["levels", "gex", "dex", "vex", "chex", "summary"]
    with pytest.raises(ValueError, match="unknown FlashAlpha plan"):
        plan_requests(["SPY"], "platinum", 3)


def closed_port_url() -> str:
    """Return the URL of a local port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_request_that_never_left_the_machine_is_refunded():
    ledger, waits = Budget(5), []
    with (
        client(SimpleNamespace(url=closed_port_url()), ledger=ledger, waits=waits) as fa,
        pytest.raises(UnreachableError, match="nothing reached the server") as err,
    ):
        fa.gex("SPY")
    assert err.value.attempts == 4 and len(waits) == 3  # retried like any dropped line
    assert err.value.requests == 0 and ledger.spent == 0  # and all four refunded


def test_requests_sent_are_counted_in_the_metadata_and_errors(server, state):
    state.add_faults(Fault("status", 503, endpoint="gex"), Fault("status", 404, endpoint="dex"))
    with client(server) as fa:
        assert fa.gex("SPY").meta["requests"] == 2
        with pytest.raises(NotFoundError) as err:
            fa.dex("SPY")
    assert err.value.requests == 1 and state.count() == 3


def test_a_trickled_body_ends_at_the_deadline(server, state):
    # One byte every 50 ms never trips a 5 s read timeout; only the deadline can end it.
    state.add_faults(Fault("trickle", seconds=0.05, limit=15))
    with client(server, timeout=5.0, deadline=1.5) as fa, pytest.raises(RequestTimeoutError) as err:
        fa.gex("SPY")
    assert "deadline of 1.5 s hit" in str(err.value) and KEY not in f"{err.value!r} {err.value}"
    assert err.value.requests == 1 and state.count() == 1  # no retry past the deadline


def test_a_stall_after_a_byte_ends_at_the_deadline_not_a_read_timeout_later(server, state):
    # Bytes at 0 s, 1.2 s, 2.4 s: a read started at 1.2 s with the attempt's 1.5 s timeout
    # would wait for the 2.4 s byte; capped at what is left, it ends at the 1.5 s deadline.
    with client(server, timeout=5.0, deadline=1.5, at="2024-03-15T15:30") as fa:
        fa.gex("SPY")  # the server computes and caches the payload: the timing is the trickle's
        state.add_faults(Fault("trickle", seconds=1.2, limit=15))
        with pytest.raises(RequestTimeoutError, match=r"deadline of 1\.5 s hit"):
            fa.gex("SPY")


def test_async_trickled_body_ends_at_the_deadline(server, state):
    state.add_faults(Fault("trickle", seconds=0.05, limit=15))
    config = ClientConfig(KEY, base_url=server.url, retry=FAST, timeout=5.0, deadline=1.5)

    async def run() -> None:
        fa = AsyncFlashAlphaClient(config)
        try:
            with pytest.raises(RequestTimeoutError, match=r"deadline of 1\.5 s hit"):
                await fa.gex("SPY")
        finally:
            await fa.aclose()

    asyncio.run(run())
    assert state.count() == 1


def test_the_deadline_covers_every_attempt(server, state):
    # Each attempt may wait 0.4 s; four would take 1.6 s, the 1.0 s deadline cuts the third.
    state.add_faults(*[Fault("delay", seconds=2.0)] * 4)
    with client(server, timeout=0.4, deadline=1.0) as fa, pytest.raises(RequestTimeoutError) as err:
        fa.gex("SPY")
    assert "deadline" in str(err.value) and err.value.attempts < FAST.attempts


def test_a_retry_wait_past_the_deadline_is_not_waited_for(server, state):
    waits: list[float] = []
    state.add_faults(Fault("status", 503), Fault("status", 429, retry_after=30))
    patient = RetryPolicy(base_delay=0.01, max_retry_after=60)  # would wait out a 30 s 429
    with (
        client(server, waits=waits, retry=patient, deadline=10) as fa,
        pytest.raises(RequestTimeoutError) as err,
    ):
        fa.gex("SPY")
    assert len(waits) == 1 and waits[0] < 1  # the 503's backoff, not the 30 s Retry-After
    assert "deadline of 10 s hit after 2 attempt(s)" in str(err.value) and state.count() == 2


def test_a_deadline_must_be_positive():
    with pytest.raises(ValueError, match="deadline must be positive"):
        ClientConfig(KEY, deadline=0)
