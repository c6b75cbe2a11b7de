"""What every HTTP source shares: deadlines, a stop, size caps, retry waits and request budgets.

- Deadline and stop (`bounded`): while a call runs, every socket connect, read and write ends by
  the call's deadline, and a read waits in slices so a stop (SIGINT/SIGTERM through the run's
  stop flag) abandons it within a fraction of a second. httpcore takes one read timeout per
  response phase, so a server trickling a byte at a time would otherwise hold a call forever;
  `DeadlineTransport` is httpx's transport over such sockets.
- Size cap (`read_capped`): a reply body is read as it is decompressed and refused once it
  passes `MAX_REPLY_BYTES`, so a gzip bomb never reaches memory whole.
- Waits (`pause`): a retry or window wait that a stop ends early.
- Retry-After (`retry_after_seconds`) in seconds or as an HTTP date; capped exponential backoff
  with jitter (`backoff_delay`).
- Budgets: `QuotaLedger` (a daily count of requests) and `WindowLedger` (a sliding window of
  requests), with in-memory implementations; `flows.quota` keeps them in the home across
  processes.
"""

from __future__ import annotations

import email.utils
import math
import random
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import httpcore
import httpx

if TYPE_CHECKING:
    import ssl

#: Largest reply body accepted, decompressed (bytes): Cboe's SPX chain is ~40 MiB.
MAX_REPLY_BYTES = 256 * 2**20
#: Longest a blocked read or wait goes without looking at the stop flag (seconds).
STOP_POLL = 0.1
#: Transport errors worth another attempt; the first three mean nothing left the machine.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
RETRYABLE = (httpx.TimeoutException, httpx.TransportError)


class StopSignal(Protocol):
    """The run's stop flag (a threading.Event, or a cluster-wide distributed.Event)."""

    def is_set(self) -> bool:
        """Return True once the run must stop."""
        ...


class StoppedError(Exception):
    """The run's stop flag was set while a call was waiting or in flight."""


class ReplyTooLargeError(Exception):
    """A reply body passed the size cap while it was read (nothing more was read)."""


@dataclass(frozen=True)
class Bounds:
    """What bounds the call running in this context: a monotonic deadline and a stop flag."""

    deadline: float | None = None
    stop: StopSignal | None = None

    def left(self, timeout: float | None, error: type[Exception]) -> float | None:
        """Return `timeout` (seconds) cut to what is left of the deadline; raise if none.

        Raise StoppedError once the stop flag is set.
        """
        if self.stop is not None and self.stop.is_set():
            raise StoppedError("stopped")
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise error("the request deadline has passed")
        return left if timeout is None else min(timeout, left)


_BOUNDS: ContextVar[Bounds | None] = ContextVar("gammalake_http_bounds", default=None)
_UNBOUNDED = Bounds()


def _bounds() -> Bounds:
    """Return the bounds of the call running in this context (none outside `bounded`)."""
    return _BOUNDS.get() or _UNBOUNDED


@contextmanager
def bounded(deadline: float | None, stop: StopSignal | None) -> Iterator[None]:
    """Bound every socket operation of this thread's requests by `deadline` and `stop`."""
    token = _BOUNDS.set(Bounds(deadline, stop))
    try:
        yield
    finally:
        _BOUNDS.reset(token)


def stopped(stop: StopSignal | None) -> bool:
    """Return True when `stop` is given and set."""
    return stop is not None and stop.is_set()


def pause(seconds: float, stop: StopSignal | None) -> bool:
    """Wait `seconds`, in slices so a stop ends it early; return False when stopped."""
    end = time.monotonic() + seconds
    while True:
        if stopped(stop):
            return False
        left = end - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, STOP_POLL))


class _BoundedStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes end by the deadline, and reads by a stop too."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        """Wrap an open stream."""
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Return up to `max_bytes` bytes, waiting no later than the deadline or a stop."""
        bounds = _bounds()
        wait = bounds.left(timeout, httpcore.ReadTimeout)
        if bounds.stop is None:
            return self._stream.read(max_bytes, wait)
        end = None if wait is None else time.monotonic() + wait
        while not self._readable(STOP_POLL):
            bounds.left(None, httpcore.ReadTimeout)  # raises once stopped or past the deadline
            if end is not None and time.monotonic() >= end:
                raise httpcore.ReadTimeout("timed out waiting for the reply")
        return self._stream.read(max_bytes, bounds.left(timeout, httpcore.ReadTimeout))

    def _readable(self, seconds: float) -> bool:
        """Return True when a read would not block (TLS bytes already decrypted count)."""
        tls = self._stream.get_extra_info("ssl_object")
        if tls is not None and tls.pending() > 0:
            return True
        sock = self._stream.get_extra_info("socket")
        if sock is None:
            return True  # not a socket we can watch: read directly
        ready, _, _ = select.select([sock], [], [], seconds)
        return bool(ready)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send `buffer`, waiting no later than the deadline."""
        self._stream.write(buffer, _bounds().left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        """Close the socket."""
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """Return the TLS stream, its handshake ending by the deadline."""
        wait = _bounds().left(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._stream.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        """Return the wrapped stream's extra info (socket, peer, is_readable...)."""
        return self._stream.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    """httpcore's sync sockets, connecting and streaming within the call's bounds."""

    def __init__(self) -> None:
        """Use the standard sync backend underneath."""
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Return a TCP stream, connecting no later than the deadline."""
        wait = _bounds().left(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, wait, local_address, socket_options)
        return _BoundedStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        """Return a Unix socket stream, connecting no later than the deadline."""
        wait = _bounds().left(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`."""
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's default transport over deadline- and stop-bounded sockets (no proxy support)."""

    def __init__(self) -> None:
        """Build the connection pool with httpx's default limits and TLS settings."""
        super().__init__()
        # httpx has no public way to choose httpcore's network backend; `_pool` is where its
        # transport keeps the httpcore pool (httpx 0.2x). The trickle tests guard this seam.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_BoundedBackend(),
        )


def get_capped(
    http: httpx.Client,
    url: str,
    timeout: httpx.Timeout,
    deadline: float,
    stop: StopSignal | None,
    cap: int,
) -> tuple[httpx.Response, bytes]:
    """Return the response to one GET and its whole body (bytes, decompressed).

    The body is read by `deadline` (a monotonic time) and up to `cap` bytes, and a `stop`
    ends the read at once; raises httpx errors (see `read_capped` and `bounded`).
    """
    with bounded(deadline, stop), http.stream("GET", url, timeout=timeout) as response:
        body = read_capped(
            response.iter_bytes(),
            cap=cap,
            deadline=deadline,
            stop=stop,
            request=response.request,
        )
    return response, body


def read_capped(
    chunks: Iterator[bytes],
    *,
    cap: int,
    deadline: float,
    stop: StopSignal | None,
    request: httpx.Request,
) -> bytes:
    """Return a whole body from its (decompressed) chunks, checked after every chunk.

    Raise ReplyTooLargeError past `cap` bytes, httpx.ReadTimeout past `deadline` (monotonic)
    and StoppedError once `stop` is set.
    """
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise ReplyTooLargeError(
                f"the reply passed {cap / 2**20:g} MiB decompressed (max_reply_bytes); refused"
            )
        if stopped(stop):
            raise StoppedError("stopped")
        if time.monotonic() >= deadline:
            raise httpx.ReadTimeout("the request deadline has passed", request=request)
        parts.append(chunk)
    return b"".join(parts)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Return a Retry-After header as seconds to wait (>= 0): delay-seconds or an HTTP date.

    None when absent or unreadable. `now` (aware) is when the header was received.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_delay(
    attempt: int, base: float, cap: float, jitter: float, rng: random.Random
) -> float:
    """Return base * 2^(attempt-1) capped at `cap`, +-`jitter` of it (seconds; attempt >= 1)."""
    wait = min(cap, base * 2 ** (attempt - 1))
    return wait * (1 + jitter * (2 * rng.random() - 1))


# --- request budgets ---------------------------------------------------------------------


class QuotaLedger(Protocol):
    """Counts requests against a daily budget (shared across processes by implementations)."""

    def try_spend(self) -> bool:
        """Reserve one request; return False (and reserve nothing) when the budget is spent."""
        ...

    def refund(self) -> None:
        """Give back one reserved request that never left the machine."""
        ...

    def remaining(self) -> int | None:
        """Return requests left today, None when unlimited."""
        ...


class UnlimitedLedger:
    """A ledger that never refuses (unlimited plans, tests)."""

    def __init__(self) -> None:
        """Start counting at zero."""
        self.spent = 0

    def try_spend(self) -> bool:
        """Count one request and allow it."""
        self.spent += 1
        return True

    def refund(self) -> None:
        """Uncount one request (never below zero)."""
        self.spent = max(0, self.spent - 1)

    def remaining(self) -> int | None:
        """Return None: no limit."""
        return None


@dataclass
class WindowBook:
    """The requests of one sliding window: slot key -> when the slot is held from (epoch s).

    A slot is held from its reservation; once its request ends it is held again from then
    (`release`), or dropped when the request never left the machine. It frees `window_seconds`
    after the time it is held from. Pure bookkeeping: ledgers add the clock and the sharing.
    """

    limit: int
    window_seconds: float
    slots: dict[str, float] = field(default_factory=dict)

    def reserve(self, key: str, now: float) -> float:
        """Hold a slot under `key` and return 0.0, or return seconds until one frees (> 0)."""
        self._expire(now)
        if len(self.slots) < self.limit:
            self.slots[key] = now
            return 0.0
        return max(1e-3, min(self.slots.values()) + self.window_seconds - now)

    def held(self, now: float) -> int:
        """Return the slots held at `now` (requests counted in the window ending then)."""
        self._expire(now)
        return len(self.slots)

    def release(self, key: str, *, sent: bool, now: float) -> None:
        """End a slot's request: hold it a window from `now` when `sent`, else free it."""
        if sent:
            self.slots[key] = max(now, self.slots.get(key, now))
        else:
            self.slots.pop(key, None)

    def _expire(self, now: float) -> None:
        """Drop the slots whose window has passed."""
        for key in [k for k, held in self.slots.items() if held + self.window_seconds <= now]:
            del self.slots[key]


class WindowLedger(Protocol):
    """A sliding-window request budget: at most `limit` requests per `window_seconds`."""

    limit: int
    window_seconds: float

    def reserve(self, key: str) -> float:
        """Hold a slot for request `key`: return 0.0, or seconds until one frees (none held)."""
        ...

    def release(self, key: str, *, sent: bool) -> None:
        """End request `key`: `sent` holds its slot a window from now; unsent frees it."""
        ...


class MemoryWindowLedger:
    """A WindowLedger for one process (tests, single runs); thread-safe, picklable."""

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        """Allow `limit` requests per `window_seconds`; `clock` returns epoch seconds."""
        self.limit, self.window_seconds = limit, window_seconds
        self._book = WindowBook(limit, window_seconds)
        self._clock = clock
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Return the state to pickle: everything but the lock (rebuilt on load)."""
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled ledger with a new lock."""
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def reserve(self, key: str) -> float:
        """Hold a slot for `key`: return 0.0, or seconds until a slot frees."""
        with self._lock:
            return self._book.reserve(key, self._clock())

    def release(self, key: str, *, sent: bool) -> None:
        """End request `key` (see WindowBook.release)."""
        with self._lock:
            self._book.release(key, sent=sent, now=self._clock())

    def held(self) -> int:
        """Return the slots held now (requests counted in the current window)."""
        with self._lock:
            return self._book.held(self._clock())
