"""Cboe's free delayed-quotes JSON feed as a snapshot source (`cboe`).

The feed: `{base_url}/{NAME}.json` (see pipeline.sources.formats.cboe_json for names and what a
reply becomes); no key, no login; replies are refused without a browser-like User-Agent;
roughly 60 chains per time window before 429s; quotes delayed about 15 minutes; no history
(every call is the chain now). See ../shared/reference/cboe-delayed-quotes.md.

Weekends and holidays: the feed serves the last session's chain again with the same timestamp.
The source returns that true as_of (never the moment asked for), so the snapshot flow sees a
moment it already stored and skips it (flows/snapshot.py, "already stored").

HTTP (`CboeFeedSource`, over pipeline.sources.http): a configurable browser-like User-Agent;
retries with capped exponential backoff on 429 (honouring Retry-After in seconds or as an HTTP
date), 5xx, timeouts, dropped connections and cut-off bodies; a per-read timeout and a deadline
per fetch covering its attempts and retry waits; a reply body capped at `max_reply_bytes`
decompressed; a stop flag that ends waits and abandons a request in flight (nothing is sent
after it); 403 halts the run (RunHaltedError: the feed refuses this client); 404 is an unknown
symbol (FetchError); at most `concurrency` requests in flight per source. A reply the parser
refuses comes back as a Fetched with `refused` set and the body as received, so the flow
archives it, marked rejected with the reason. Every attempt first takes a slot in a
sliding-window request budget (a WindowLedger: in memory here,
`flows.quota.FileWindowLedger` across processes). A slot is held from its reservation until
`window_seconds` after its request ended, so the server, which sees each request between those
two times, never counts more than `limit` in any window. When the window is spent the fetch
waits for a slot up to `window_wait`, else raises RunHaltedError saying when the window
reopens. Logs and errors name the URL path only.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from pipeline.errors import ChainFormatError, InputError
from pipeline.sources.base import (
    Fetched,
    FetchError,
    FetchStoppedError,
    Ledgers,
    Plan,
    RunHaltedError,
    SourceSpec,
    register,
)
from pipeline.sources.formats.cboe_json import (
    MalformedReplyError,
    decode_reply,
    feed_name,
    read_reply,
)
from pipeline.sources.http import (
    MAX_REPLY_BYTES,
    NOT_SENT,
    RETRYABLE,
    DeadlineTransport,
    MemoryWindowLedger,
    ReplyTooLargeError,
    StoppedError,
    StopSignal,
    WindowLedger,
    backoff_delay,
    get_capped,
    pause,
    retry_after_seconds,
    stopped,
)
from pipeline.sources.tabular import shown

logger = logging.getLogger(__name__)

FEED_URL = "https://cdn.cboe.com/api/global/delayed_quotes/options"
#: A current desktop browser's User-Agent: the feed refuses requests without a browser-like one.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)


@dataclass(frozen=True)
class CboeConfig:
    """How to call the feed (seconds throughout).

    `limit` requests per sliding `window_seconds`: public reports put the feed's limit at
    roughly 60 chains per window without saying how long the window is; 300 s is a cautious
    guess (a 100-symbol list then takes two windows). `timeout` bounds each connect, read and
    write; `deadline` a fetch's requests: its attempts and retry waits, a slow-drip body
    included. `window_wait`: the longest a fetch waits for a window slot (None: `deadline`),
    not counted in the deadline; it must exceed `window_seconds` for a list longer than
    `limit` to complete. `retries`: attempts after the first. `concurrency`: requests in
    flight at once per source. Backoff waits `backoff` * 2^n (capped at `max_backoff`), +-20 %
    jitter. `max_reply_bytes`: the largest body accepted, decompressed.
    """

    base_url: str = FEED_URL
    user_agent: str = DEFAULT_USER_AGENT
    limit: int = 60
    window_seconds: float = 300.0
    timeout: float = 20.0
    deadline: float = 60.0
    window_wait: float | None = None
    retries: int = 3
    concurrency: int = 4
    backoff: float = 0.5
    max_backoff: float = 20.0
    max_reply_bytes: int = MAX_REPLY_BYTES

    def __post_init__(self) -> None:
        """Refuse settings no run could work with, before any request."""
        if not self.user_agent.strip():
            raise ValueError("the Cboe feed refuses requests without a User-Agent: set user_agent")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base URL {self.base_url!r} is not an http(s) URL")
        checks = {
            "limit": self.limit >= 1,
            "window_seconds": self.window_seconds > 0,
            "timeout": self.timeout > 0,
            "deadline": self.deadline > 0,
            "window_wait": self.window_wait is None or self.window_wait >= 0,
            "retries": self.retries >= 0,
            "concurrency": self.concurrency >= 1,
            "backoff": self.backoff >= 0 and self.max_backoff >= 0,
            "max_reply_bytes": self.max_reply_bytes >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"CboeConfig: invalid {', '.join(bad)} ({self!r})")

    @property
    def slot_wait(self) -> float:
        """Return the longest a fetch waits for a window slot (seconds)."""
        return self.deadline if self.window_wait is None else self.window_wait


@dataclass(frozen=True)
class _Reply:
    """One HTTP response: status, headers, the whole (decoded) body."""

    status: int
    headers: httpx.Headers
    body: bytes


@dataclass
class _Call:
    """One fetch across its attempts, against its deadline (monotonic seconds).

    Time spent waiting for a window slot (`waited`) moves the deadline on: the deadline bounds
    the requests, `window_wait` the waits for the window.
    """

    symbol: str
    url: str
    budget: float
    attempt: int = 0
    sent: int = 0  # attempts that left the machine
    waited: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        """Return the monotonic time by which the fetch's requests must end."""
        return self.started + self.budget + self.waited

    @property
    def path(self) -> str:
        """Return the URL's host and path (what logs and errors name; the feed has no query)."""
        parts = urlsplit(self.url)
        return f"{parts.netloc}{parts.path}"

    def left(self) -> float:
        """Return seconds left before the deadline (negative once passed)."""
        return self.deadline - time.monotonic()


class CboeFeedSource:
    """The feed as a snapshot source: `fetch(symbol, at)` returns the chain Cboe serves now.

    `at` is not sent (the feed has no history): the Fetched carries the feed's own as_of, the
    session its OI describes (`oi_as_of`), and the underlying's bar after the close. Thread-safe:
    fetches of different symbols may run at once; at most `config.concurrency` requests are in
    flight, and every attempt takes a slot of `ledger` (default: in memory, config.limit per
    config.window_seconds; pass `flows.quota.FileWindowLedger` to share it across processes).
    A 403 halts the source: every later fetch raises RunHaltedError without a request. `stop`
    (or `watch`): the run's stop flag; once set, waits end, a request in flight is abandoned
    and the fetch raises FetchStoppedError. `transport` replaces the bounded sockets (tests);
    `sleep` is how waits wait (default: a wait the stop ends). Picklable (Dask): the HTTP
    client, locks and a test transport are rebuilt on load.
    """

    name = "cboe"
    computes = True

    def __init__(
        self,
        config: CboeConfig | None = None,
        *,
        ledger: WindowLedger | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        seed: int | None = None,
        stop: StopSignal | None = None,
    ) -> None:
        """Open the HTTP client; nothing is requested until `fetch`."""
        self.config = config or CboeConfig()
        self.ledger: WindowLedger = ledger or MemoryWindowLedger(
            self.config.limit, self.config.window_seconds
        )
        self.stop = stop
        self._transport = transport
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._halted: str | None = None
        self._open()

    def _open(self) -> None:
        """Build what cannot be pickled: the HTTP client, the in-flight gate, the lock."""
        headers = {"User-Agent": self.config.user_agent, "Accept": "application/json"}
        self._http = httpx.Client(
            transport=self._transport or DeadlineTransport(),
            timeout=self.config.timeout,
            headers=headers,
        )
        self._gate = threading.BoundedSemaphore(self.config.concurrency)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Return the state to pickle: settings, ledger, stop flag, halt; no client or lock."""
        dropped = {"_http", "_gate", "_lock", "_transport"}
        return {k: v for k, v in self.__dict__.items() if k not in dropped}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled source over a new client (the default bounded transport)."""
        self.__dict__.update(state)
        self._transport = None
        self._open()

    def watch(self, stop: StopSignal) -> None:
        """Stop waiting and requesting once `stop` is set (the run's stop flag)."""
        self.stop = stop

    def url(self, symbol: str) -> str:
        """Return the feed URL of a stored symbol (`SPX` -> .../_SPX.json)."""
        return f"{self.config.base_url.rstrip('/')}/{quote(feed_name(symbol), safe='')}.json"

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the chain the feed serves now for `symbol` (see the class docstring).

        A reply the parser refuses is returned with `refused` (why) and the body as received,
        for the flow to archive as rejected. Raise FetchError when nothing arrived (unknown
        symbol, retries spent, a reply over the size cap), RunHaltedError when the run must
        stop (403; the window cannot reopen in time; 429s that do not stop; the stop flag);
        all carry the requests sent.
        """
        self._refuse_if_halted(symbol)
        call = _Call(symbol, self.url(symbol), self.config.deadline)
        try:
            reply = self._receive(call)
        except StoppedError:
            raise FetchStoppedError(
                f"{symbol}: stopped; the fetch was abandoned after {call.sent} request(s)",
                requests=call.sent,
            ) from None
        except ReplyTooLargeError as exc:
            raise FetchError(f"{symbol}: {call.path}: {exc}", requests=call.sent) from None
        if isinstance(reply, bytes):
            return self._refused_reply(call, at, reply)
        try:
            feed = read_reply(reply, origin=call.url, symbol=symbol)
        except ChainFormatError as exc:
            return self._refused_reply(call, at, reply, f"the Cboe reply is refused: {exc}")
        return Fetched(
            symbol,
            feed.chain.as_of,
            chain=feed.chain,
            request={"chain": self._meta(call)},
            requests=call.sent,
            errors=feed.notes,
            bar=feed.bar,
            oi_as_of=feed.oi_as_of,
        )

    def _refused_reply(
        self, call: _Call, at: datetime, reply: dict[str, Any] | bytes, reason: str = ""
    ) -> Fetched:
        """Return the Fetched of a reply the parser refused: the body as received, and why."""
        if isinstance(reply, bytes):
            try:
                decode_reply(reply, call.url)
            except MalformedReplyError as exc:
                reason = f"the Cboe reply is refused: {exc}"
            payload: Any = reply.decode("utf-8", errors="replace")
        else:
            payload = reply
        return Fetched(
            call.symbol,
            at,
            payloads={"reply": payload},
            request={"reply": self._meta(call)},
            requests=call.sent,
            refused=f"{call.symbol}: {reason} (after {call.attempt} attempt(s))",
        )

    def _meta(self, call: _Call) -> dict[str, Any]:
        """Return what the raw archive may record about the request (URL without query)."""
        return {
            "url": call.url,
            "status": 200,
            "attempts": call.attempt,
            "requests": call.sent,
            "elapsed_ms": round((time.monotonic() - call.started) * 1000, 1),
            "received_at": datetime.now(UTC).isoformat(),
        }

    def _refuse_if_halted(self, symbol: str, requests: int = 0) -> None:
        """Raise RunHaltedError, sending nothing more, once the feed refused or the run stopped."""
        if stopped(self.stop):
            raise FetchStoppedError(f"stopped: {symbol} not requested", requests=requests)
        with self._lock:
            reason = self._halted
        if reason is not None:
            raise RunHaltedError(
                f"run halted ({reason}): {symbol} not requested", requests=requests
            )

    def _receive(self, call: _Call) -> dict[str, Any] | bytes:
        """Return the decoded reply (bytes: a body no retry made readable); raise when final."""
        while True:
            key = self._take_slot(call)
            outcome = self._judge(call, self._attempt(call, key))
            if isinstance(outcome, dict | bytes):
                return outcome
            if outcome >= call.left():
                raise self._expired(call, f"a retry wait of {outcome:.1f} s")
            self._wait(outcome)

    def _wait(self, seconds: float) -> None:
        """Wait `seconds`; raise StoppedError when the stop flag ends the wait."""
        if self._sleep is not None:
            self._sleep(seconds)
        elif pause(seconds, self.stop):
            return
        if stopped(self.stop):
            raise StoppedError("stopped")

    def _take_slot(self, call: _Call) -> str:
        """Return the key of a window slot held for the next attempt, waiting for one if need be.

        Raise RunHaltedError when the window reopens only after `window_wait`.
        """
        key = uuid.uuid4().hex
        while True:
            wait = self.ledger.reserve(key)
            if wait <= 0:
                return key
            allowed = self.config.slot_wait - call.waited
            if wait >= allowed:
                reopens = datetime.now(UTC) + timedelta(seconds=wait)
                raise RunHaltedError(
                    f"{call.symbol}: the request window is spent ({self.ledger.limit} chains "
                    f"per {self.ledger.window_seconds:g} s); it reopens at "
                    f"{reopens:%Y-%m-%d %H:%M:%S} UTC (in {wait:.1f} s), after this fetch's "
                    f"wait limit ({max(0.0, allowed):.1f} s left): not requested",
                    requests=call.sent,
                )
            logger.info("cboe %s: request window spent, waiting %.1f s", call.symbol, wait)
            began = time.monotonic()
            try:
                self._wait(wait)
            finally:
                call.waited += time.monotonic() - began

    def _attempt(self, call: _Call, key: str) -> _Reply | Exception:
        """Return one attempt's reply, its body read by the deadline, or its transport error.

        Sends nothing when the source was halted or stopped meanwhile.
        """
        sent = False
        try:
            left = call.left()
            if left <= 0 or not self._gate.acquire(timeout=left):
                raise self._expired(call, f"waiting for one of {self.config.concurrency} slots")
            try:
                self._refuse_if_halted(call.symbol, call.sent)
                call.attempt += 1
                sent = True
                return self._get(call, httpx.Timeout(min(self.config.timeout, call.left())))
            except NOT_SENT as exc:
                sent = False
                return exc
            except RETRYABLE as exc:
                return exc
            finally:
                self._gate.release()
        finally:
            self.ledger.release(key, sent=sent)
            call.sent += int(sent)

    def _get(self, call: _Call, timeout: httpx.Timeout) -> _Reply:
        """Send one GET and read the whole body by the deadline (raises httpx errors)."""
        response, body = get_capped(
            self._http, call.url, timeout, call.deadline, self.stop, self.config.max_reply_bytes
        )
        return _Reply(response.status_code, response.headers, body)

    def _judge(self, call: _Call, result: _Reply | Exception) -> dict[str, Any] | bytes | float:
        """Return the decoded reply (bytes: unreadable, final), or seconds to wait, or raise."""
        final = call.attempt > self.config.retries
        if isinstance(result, Exception):
            return self._transport_failed(call, result, final)
        status = result.status
        if status == 200:
            try:
                return decode_reply(result.body, call.url)
            except MalformedReplyError as exc:
                if final:
                    return result.body
                return self._backoff(call, f"unreadable body: {exc}")
        if status == 403:
            raise self._refused(call, result)
        if status == 404:
            raise FetchError(
                f"{call.symbol}: the Cboe feed has no chain named {feed_name(call.symbol)} "
                f"(HTTP 404 for {call.path}): unknown symbol",
                requests=call.sent,
            )
        if status == 429:
            return self._rate_limited(call, result, final)
        if status >= 500 and not final:
            return self._backoff(call, f"HTTP {status}")
        raise FetchError(
            f"{call.symbol}: HTTP {status} from the Cboe feed for {call.path} after "
            f"{call.attempt} attempt(s): {shown(result.body[:200].decode(errors='replace'))}",
            requests=call.sent,
        )

    def _transport_failed(self, call: _Call, exc: Exception, final: bool) -> float:
        """Return seconds to wait after a timeout or dropped connection; raise when final."""
        if call.left() <= 0:
            raise self._expired(call, type(exc).__name__)
        if final:
            note = "; nothing reached the server" if call.sent == 0 else ""
            raise FetchError(
                f"{call.symbol}: no reply from the Cboe feed for {call.path}: "
                f"{type(exc).__name__} after {call.attempt} attempt(s){note}",
                requests=call.sent,
            )
        return self._backoff(call, type(exc).__name__)

    def _rate_limited(self, call: _Call, reply: _Reply, final: bool) -> float:
        """Return Retry-After (or a backoff) in seconds; raise RunHaltedError if it cannot wait."""
        header = reply.headers.get("Retry-After")
        wait = retry_after_seconds(header)
        if wait is None:
            wait = self._delay(call.attempt)
        if final or wait >= call.left():
            why = "retries spent" if final else f"waiting {wait:.1f} s would pass the deadline"
            raise RunHaltedError(
                f"{call.symbol}: the Cboe feed is rate-limiting this client (HTTP 429 for "
                f"{call.path}, Retry-After {header!r}; {why}): lower CboeConfig.limit or "
                f"raise window_seconds",
                requests=call.sent,
            )
        logger.info("cboe %s: HTTP 429, retrying after %.1f s", call.symbol, wait)
        return wait

    def _refused(self, call: _Call, reply: _Reply) -> RunHaltedError:
        """Halt the source after a 403 and return the error to raise."""
        reason = (
            f"the Cboe feed refused this client (HTTP 403 for {call.path}); it refuses "
            f"requests without a browser-like User-Agent (sent {self.config.user_agent!r})"
        )
        with self._lock:
            self._halted = self._halted or reason
        return RunHaltedError(f"{call.symbol}: {reason}", requests=call.sent)

    def _backoff(self, call: _Call, why: str) -> float:
        """Return the wait before the next attempt (seconds), logging why."""
        wait = self._delay(call.attempt)
        logger.info("cboe %s: %s from %s, retrying in %.2f s", call.symbol, why, call.path, wait)
        return wait

    def _delay(self, attempt: int) -> float:
        """Return backoff * 2^(attempt-1), capped at max_backoff, +-20 % jitter (seconds)."""
        return backoff_delay(attempt, self.config.backoff, self.config.max_backoff, 0.2, self._rng)

    def _expired(self, call: _Call, doing: str) -> FetchError:
        """Return the error of a fetch that hit its deadline."""
        return FetchError(
            f"{call.symbol}: fetch deadline of {self.config.deadline:g} s reached ({doing}) "
            f"after {call.attempt} attempt(s) for {call.path}",
            requests=call.sent,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> CboeFeedSource:
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on exit."""
        self.close()


def build(settings: Any, name: str, plan: Plan, ledgers: Ledgers) -> CboeFeedSource:
    """Return the feed configured from settings, its window budget shared through `ledgers`.

    `settings`: a flows Settings (cboe_url, cboe_user_agent, cboe_window, cboe_window_limit,
    request_deadline_seconds, fetch_concurrency). The deadline bounds each fetch's requests;
    a fetch may also wait up to one window for a slot.
    """
    defaults = CboeConfig()
    window = settings.cboe_window
    try:
        config = CboeConfig(
            base_url=settings.cboe_url or defaults.base_url,
            user_agent=settings.cboe_user_agent or defaults.user_agent,
            limit=settings.cboe_window_limit,
            window_seconds=window,
            deadline=settings.request_deadline_seconds,
            window_wait=window + settings.request_deadline_seconds,
            concurrency=settings.fetch_concurrency,
        )
    except ValueError as exc:
        raise InputError(f"source cboe: {exc}") from None
    return CboeFeedSource(config, ledger=ledgers.window("cboe", config.limit, window))


SPEC = register(
    SourceSpec(
        name="cboe",
        help="Cboe's free delayed-quotes feed (chain of now, ~15 min delayed; no key).",
        build=build,
        computes=True,
        history=False,
        network=True,
    )
)
