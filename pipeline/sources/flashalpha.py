"""FlashAlpha exposure API client over httpx: live and historical, sync and async.

Method names and parameters follow the public `flashalpha` SDK (`gex`, `dex`, `vex`, `chex`,
`exposure_levels`, `exposure_summary`). Every call returns the payload with request metadata
for the raw archive (URL without the key, status, timing, attempts, requests). Retries: 429
(honouring Retry-After), 5xx, timeouts and dropped connections, with capped exponential backoff
and jitter; other 4xx are final. Every attempt is first reserved in a quota ledger, so a run
never sends more requests than the budget allows; an attempt that never left the machine
(connection refused, connect timeout) is refunded. Every logical call has an overall deadline
(`ClientConfig.deadline`) covering its attempts and retry waits. The API key is sent only in the
X-Api-Key header and is scrubbed from every message.

`FlashAlphaSource` turns the client into a snapshot source: per fetch it buys the required
endpoints (gex, levels) first, and optional ones only while the budget still covers the required
requests of the run's fetches to come.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode

import httpcore
import httpx

from pipeline.engine.timing import NEW_YORK

if TYPE_CHECKING:
    import ssl

    from pipeline.sources.base import Fetched, FetchError


LIVE_URL = "https://lab.flashalpha.com"
HISTORICAL_URL = "https://historical.flashalpha.com"
PATHS = {
    "gex": "/v1/exposure/gex/{symbol}",
    "dex": "/v1/exposure/dex/{symbol}",
    "vex": "/v1/exposure/vex/{symbol}",
    "chex": "/v1/exposure/chex/{symbol}",
    "levels": "/v1/exposure/levels/{symbol}",
    "summary": "/v1/exposure/summary/{symbol}",
}
#: Fields without which a 200 response is treated as malformed.
REQUIRED = {
    "gex": ("symbol", "underlying_price", "as_of", "net_gex", "strikes"),
    "dex": ("symbol", "net_dex", "strikes"),
    "vex": ("symbol", "net_vex", "strikes"),
    "chex": ("symbol", "net_chex", "strikes"),
    "levels": ("symbol", "levels"),
    "summary": ("symbol", "exposures"),
}


class FlashAlphaError(Exception):
    """Any failure of a FlashAlpha request (never includes the API key).

    `attempts` counts tries; `requests` those that left the machine (what the budget paid).
    """

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        response: Any = None,
        attempts: int = 0,
        requests: int | None = None,
    ) -> None:
        """Keep the status, the parsed body (when any), attempts and requests sent."""
        super().__init__(message)
        self.status_code = status_code
        self.response = response
        self.attempts = attempts
        self.requests = attempts if requests is None else requests


class AuthenticationError(FlashAlphaError):
    """401: the key is missing or wrong."""


class TierRestrictedError(FlashAlphaError):
    """403: the endpoint needs a higher plan."""

    def __init__(
        self,
        message: str,
        current_plan: str | None = None,
        required_plan: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Keep the current and the required plan."""
        super().__init__(message, **kwargs)
        self.current_plan = current_plan
        self.required_plan = required_plan


class NotFoundError(FlashAlphaError):
    """404: unknown symbol or resource."""


class RateLimitError(FlashAlphaError):
    """429 after every retry: the server keeps refusing."""

    def __init__(self, message: str, retry_after: float | None = None, **kwargs: Any) -> None:
        """Keep the last Retry-After (seconds)."""
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(FlashAlphaError):
    """5xx after every retry."""


class RequestTimeoutError(FlashAlphaError):
    """Timeouts or dropped connections after every retry, or the call's deadline hit."""


class UnreachableError(RequestTimeoutError):
    """No attempt reached the server (connection refused, connect timeout): nothing was paid."""


class MalformedResponseError(FlashAlphaError):
    """A 200 whose body is not JSON or lacks a required field."""


class QuotaExceededError(FlashAlphaError):
    """The daily request budget is spent; nothing was sent."""


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
    """A ledger that never refuses (Alpha tier, tests)."""

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


@dataclass(frozen=True)
class RetryPolicy:
    """Retries: `attempts` in all; waits base * 2^n capped at `max_delay`, +-`jitter` of it.

    A Retry-After above `max_retry_after` seconds is not waited for: the error is raised.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    jitter: float = 0.2
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Return seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        if retry_after is not None:
            return retry_after
        wait = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return wait * (1 + self.jitter * (2 * rng.random() - 1))


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to call the API. `at` makes every request historical (minute or date).

    `timeout` bounds each connect, read and write (seconds); `deadline` bounds a whole logical
    call, its attempts and retry waits included (seconds).
    """

    api_key: str = field(repr=False)
    base_url: str = LIVE_URL
    timeout: float = 30.0
    at: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadline: float = 60.0

    def __post_init__(self) -> None:
        """Refuse an empty key and a deadline that is not positive, before any request."""
        if not self.api_key:
            raise AuthenticationError("no FlashAlpha API key: set FLASHALPHA_API_KEY")
        if not self.deadline > 0:
            raise ValueError(f"request deadline must be positive seconds, got {self.deadline}")


@dataclass(frozen=True)
class ApiResponse:
    """A payload and what the raw archive records about its request."""

    endpoint: str
    symbol: str
    payload: dict[str, Any]
    meta: dict[str, Any]


def _scrub(text: str, key: str) -> str:
    """Return `text` without the API key."""
    return text.replace(key, "***") if key else text


def _retry_after(response: httpx.Response) -> float | None:
    """Return Retry-After in seconds (number form; an HTTP date is treated as absent)."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _body(response: httpx.Response) -> Any:
    """Return the parsed body, or its text when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return response.text


def _error_for(response: httpx.Response, key: str, attempts: int, requests: int) -> FlashAlphaError:
    """Return the typed error of a non-200 response."""
    body = _body(response)
    detail = body.get("message") or body.get("detail") if isinstance(body, dict) else None
    status = response.status_code
    message = _scrub(
        f"HTTP {status} from {response.request.url.path}: "
        f"{detail or str(body)[:200] or response.reason_phrase}",
        key,
    )
    common = {"status_code": status, "response": body, "attempts": attempts, "requests": requests}
    if status == 401:
        return AuthenticationError(message, **common)
    if status == 403:
        plans = body if isinstance(body, dict) else {}
        return TierRestrictedError(
            message, plans.get("current_plan"), plans.get("required_plan"), **common
        )
    if status == 404:
        return NotFoundError(message, **common)
    if status == 429:
        return RateLimitError(message, _retry_after(response), **common)
    if status >= 500:
        return ServerError(message, **common)
    return FlashAlphaError(message, **common)


#: Monotonic time by which the current thread's call must end (read by the socket layer).
_DEADLINE: ContextVar[float | None] = ContextVar("flashalpha_deadline", default=None)


def _capped(timeout: float | None, error: type[Exception]) -> float | None:
    """Return `timeout` (seconds) cut to what is left of the call's deadline; raise if none."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the request deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the call's deadline.

    httpcore takes one read timeout per response phase, so a server trickling a byte at a
    time would never trip it; capping each socket operation at what is left does.
    """

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        """Wrap an open stream."""
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Return up to `max_bytes` bytes, waiting no later than the deadline."""
        return self._stream.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send `buffer`, waiting no later than the deadline."""
        self._stream.write(buffer, _capped(timeout, httpcore.WriteTimeout))

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
        wait = _capped(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        """Return the wrapped stream's extra info (socket, peer, is_readable...)."""
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync sockets, connecting and streaming within the call's deadline."""

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
        wait = _capped(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, wait, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        """Return a Unix socket stream, connecting no later than the deadline."""
        wait = _capped(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`."""
        self._backend.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's default transport over `_DeadlineBackend` (no proxy support)."""

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
            network_backend=_DeadlineBackend(),
        )


#: Transport errors worth another attempt; the first three mean nothing left the machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRYABLE = (httpx.TimeoutException, httpx.TransportError)


@dataclass
class _Call:
    """One logical request across its attempts, against its deadline."""

    endpoint: str
    symbol: str
    url: str
    config: ClientConfig
    rng: random.Random
    attempt: int = 0
    sent: int = 0  # attempts that left the machine: what the budget really paid
    started: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        """Return the monotonic time (seconds) by which the call must end."""
        return self.started + self.config.deadline

    def left(self) -> float:
        """Return seconds left before the deadline (negative once passed)."""
        return self.deadline - time.monotonic()

    def timeout(self) -> httpx.Timeout:
        """Return this attempt's timeouts: the configured one, cut to what is left."""
        left = self.left()
        if left <= 0:
            raise self.expired()
        return httpx.Timeout(min(self.config.timeout, left))

    def expired(self) -> RequestTimeoutError:
        """Return the error of a call that hit its deadline."""
        return RequestTimeoutError(
            _scrub(
                f"{self.endpoint} {self.symbol}: request deadline of "
                f"{self.config.deadline:g} s hit after {self.attempt} attempt(s)",
                self.config.api_key,
            ),
            attempts=self.attempt,
            requests=self.sent,
        )

    def wait(self, seconds: float) -> float:
        """Return `seconds` to wait before retrying; raise when it would pass the deadline."""
        if seconds >= self.left():
            raise self.expired()
        return seconds

    def outcome(self, result: httpx.Response | Exception) -> ApiResponse | float:
        """Return the response, or seconds to wait before retrying; raise when final."""
        policy, key = self.config.retry, self.config.api_key
        final = self.attempt >= policy.attempts
        if isinstance(result, Exception):
            return self._failed(result, final)
        if result.status_code == 200:
            return self._parsed(result)
        error = _error_for(result, key, self.attempt, self.sent)
        wait = _retry_after(result) if result.status_code == 429 else None
        retryable = result.status_code == 429 or result.status_code >= 500
        if retryable and not final and (wait is None or wait <= policy.max_retry_after):
            return policy.delay(self.attempt, wait, self.rng)
        raise error

    def _failed(self, exc: Exception, final: bool) -> float:
        """Return seconds to wait after a transport error; raise when it is final."""
        if self.left() <= 0:
            raise self.expired()
        if not final:
            return self.config.retry.delay(self.attempt, None, self.rng)
        kind = UnreachableError if self.sent == 0 else RequestTimeoutError
        note = "; nothing reached the server" if self.sent == 0 else ""
        raise kind(
            _scrub(
                f"{self.endpoint} {self.symbol}: {type(exc).__name__} after "
                f"{self.attempt} attempts{note}",
                self.config.api_key,
            ),
            attempts=self.attempt,
            requests=self.sent,
        )

    def _parsed(self, response: httpx.Response) -> ApiResponse | float:
        """Return the checked payload of a 200; a cut-off body is retried like a dropped line."""
        try:
            payload = json.loads(response.content)
        except ValueError:
            if self.attempt < self.config.retry.attempts:
                return self.config.retry.delay(self.attempt, None, self.rng)
            raise MalformedResponseError(
                f"{self.endpoint} {self.symbol}: body is not valid "
                f"JSON after {self.attempt} attempts",
                status_code=200,
                attempts=self.attempt,
                requests=self.sent,
            ) from None
        missing = [
            f for f in REQUIRED[self.endpoint] if not isinstance(payload, dict) or f not in payload
        ]
        if missing:
            raise MalformedResponseError(
                f"{self.endpoint} {self.symbol}: response lacks {', '.join(missing)}",
                status_code=200,
                response=payload,
                attempts=self.attempt,
                requests=self.sent,
            )
        return ApiResponse(self.endpoint, self.symbol, payload, self._meta())

    def _meta(self) -> dict[str, Any]:
        """Return what the raw archive records about the request (no key)."""
        return {
            "url": self.url,
            "endpoint": self.endpoint,
            "symbol": self.symbol,
            "status": 200,
            "attempts": self.attempt,
            "requests": self.sent,
            "elapsed_ms": round((time.monotonic() - self.started) * 1000, 1),
            "received_at": datetime.now(UTC).isoformat(),
        }


def _within(chunks: Iterator[bytes], call: _Call, request: httpx.Request) -> Iterator[bytes]:
    """Yield a body's chunks; raise ReadTimeout once the call's deadline has passed."""
    for chunk in chunks:
        if call.left() <= 0:
            raise httpx.ReadTimeout("the request deadline has passed", request=request)
        yield chunk


class _Base:
    """What the sync and async clients share: URLs, calls, the ledger."""

    def __init__(self, config: ClientConfig, ledger: QuotaLedger | None, seed: int | None) -> None:
        """Keep the configuration, the quota ledger and a jitter generator."""
        self.config = config
        self.ledger: QuotaLedger = ledger or UnlimitedLedger()
        self.rng = random.Random(seed)

    def _call(self, endpoint: str, symbol: str, params: Mapping[str, Any]) -> _Call:
        """Return a new logical request."""
        if endpoint not in PATHS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        query = {k: v for k, v in params.items() if v is not None}
        if self.config.at is not None:
            query["at"] = self.config.at
        path = PATHS[endpoint].format(symbol=quote(symbol, safe=""))
        url = self.config.base_url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
        return _Call(endpoint, symbol, url, self.config, self.rng)

    def _reserve(self, call: _Call) -> httpx.Timeout:
        """Count the next attempt against the budget and return its timeouts, or raise unsent."""
        timeout = call.timeout()  # past the deadline: raise before spending anything
        if not self.ledger.try_spend():
            raise QuotaExceededError(
                f"daily request budget spent: {call.endpoint} {call.symbol} not requested",
                attempts=call.attempt,
                requests=call.sent,
            )
        call.attempt += 1
        return timeout

    def _settle(self, call: _Call, result: httpx.Response | Exception) -> None:
        """Count an attempt that left the machine; refund one that never did."""
        if isinstance(result, _NOT_SENT):
            self.ledger.refund()
        else:
            call.sent += 1

    @property
    def _headers(self) -> dict[str, str]:
        """Return request headers (the key goes only here)."""
        return {
            "X-Api-Key": self.config.api_key,
            "Accept": "application/json",
            "User-Agent": "gammalake",
        }


class _Methods:
    """The SDK's method names; each returns what the client's `request` returns."""

    def request(self, endpoint: str, symbol: str, **params: Any) -> Any:
        """Send one logical request (implemented by each client)."""
        raise NotImplementedError

    def gex(self, symbol: str, *, expiration: str | None = None, min_oi: int | None = None) -> Any:
        """Return per-strike GEX ($ per 1% move), optionally one expiration / min OI."""
        return self.request("gex", symbol, expiration=expiration, min_oi=min_oi)

    def dex(self, symbol: str, *, expiration: str | None = None) -> Any:
        """Return per-strike DEX ($)."""
        return self.request("dex", symbol, expiration=expiration)

    def vex(self, symbol: str, *, expiration: str | None = None) -> Any:
        """Return per-strike VEX ($ per vol point)."""
        return self.request("vex", symbol, expiration=expiration)

    def chex(self, symbol: str, *, expiration: str | None = None) -> Any:
        """Return per-strike CHEX ($ per day)."""
        return self.request("chex", symbol, expiration=expiration)

    def exposure_levels(self, symbol: str) -> Any:
        """Return the key levels."""
        return self.request("levels", symbol)

    def exposure_summary(self, symbol: str) -> Any:
        """Return net exposures, regime, interpretation and hedging (Growth tier and up)."""
        return self.request("summary", symbol)


class FlashAlphaClient(_Methods, _Base):
    """Synchronous client; pass `transport` to route requests anywhere (tests: a local server).

    Without a `transport`, every socket read and write is capped at what is left of the
    call's deadline; with one, the body is still checked against it between chunks.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        ledger: QuotaLedger | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        """Open an HTTP client; `sleep` is how retries wait."""
        super().__init__(config, ledger, seed)
        self._http = httpx.Client(
            transport=transport or _DeadlineTransport(),
            timeout=config.timeout,
            headers=self._headers,
        )
        self._sleep = sleep

    def request(self, endpoint: str, symbol: str, **params: Any) -> ApiResponse:
        """Return the checked payload of one endpoint, retrying what is worth retrying."""
        call = self._call(endpoint, symbol, params)
        while True:
            result = self._attempt(call, self._reserve(call))
            self._settle(call, result)
            outcome = call.outcome(result)
            if isinstance(outcome, ApiResponse):
                return outcome
            self._sleep(call.wait(outcome))

    def _attempt(self, call: _Call, timeout: httpx.Timeout) -> httpx.Response | Exception:
        """Return one attempt's response, its body read by the deadline, or its error."""
        token = _DEADLINE.set(call.deadline)
        try:
            with self._http.stream("GET", call.url, timeout=timeout) as response:
                body = b"".join(_within(response.iter_raw(), call, response.request))
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                content=body,
                request=response.request,
            )
        except _RETRYABLE as exc:
            return exc
        finally:
            _DEADLINE.reset(token)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> FlashAlphaClient:
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on exit."""
        self.close()


class AsyncFlashAlphaClient(_Methods, _Base):
    """Asynchronous client with a concurrency-limited fan-out for many symbols."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        ledger: QuotaLedger | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        seed: int | None = None,
    ) -> None:
        """Open an async HTTP client; `sleep` is how retries wait."""
        super().__init__(config, ledger, seed)
        self._http = httpx.AsyncClient(
            transport=transport, timeout=config.timeout, headers=self._headers
        )
        self._sleep = sleep

    async def request(self, endpoint: str, symbol: str, **params: Any) -> ApiResponse:
        """Return the checked payload of one endpoint, retrying what is worth retrying."""
        call = self._call(endpoint, symbol, params)
        while True:
            result = await self._attempt(call, self._reserve(call))
            self._settle(call, result)
            outcome = call.outcome(result)
            if isinstance(outcome, ApiResponse):
                return outcome
            await self._sleep(call.wait(outcome))

    async def _attempt(self, call: _Call, timeout: httpx.Timeout) -> httpx.Response | Exception:
        """Return one attempt's response, cancelled at the deadline, or its error."""
        try:
            async with asyncio.timeout(call.left()):
                return await self._http.get(call.url, timeout=timeout)
        except TimeoutError:
            # Cancelled by the deadline: counted as sent, it may well have left the machine.
            return httpx.ReadTimeout("the request deadline has passed")
        except _RETRYABLE as exc:
            return exc

    async def fetch_many(
        self, requests: list[PlannedRequest], concurrency: int = 4
    ) -> list[ApiResponse | FlashAlphaError]:
        """Return each planned request's response or error, at most `concurrency` in flight."""
        gate = asyncio.Semaphore(concurrency)

        async def one(item: PlannedRequest) -> ApiResponse | FlashAlphaError:
            async with gate:
                try:
                    return await self.request(item.endpoint, item.symbol, **item.params)
                except FlashAlphaError as exc:
                    return exc

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


@dataclass(frozen=True)
class PlannedRequest:
    """One request a run intends to make."""

    endpoint: str
    symbol: str
    params: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        """Return e.g. 'gex SPY expiration=2024-03-15'."""
        extra = " ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.endpoint} {self.symbol} {extra}".strip()


#: Daily request budgets per plan (None: unlimited), and which plans include `summary`.
TIER_BUDGETS: dict[str, int | None] = {"free": 10, "basic": 250, "growth": 2500, "alpha": None}
SUMMARY_TIERS = frozenset({"growth", "alpha"})
#: Bought first for every fetch of a run, gex first: without gex nothing is storable.
REQUIRED_ENDPOINTS = ("gex", "levels")
#: Bought only from budget the required requests of the run's later fetches do not need.
OPTIONAL_ENDPOINTS = ("dex", "vex", "chex")


def _known_tier(tier: str) -> None:
    """Raise ValueError for a plan that is not in TIER_BUDGETS."""
    if tier not in TIER_BUDGETS:
        raise ValueError(f"unknown FlashAlpha plan {tier!r} (known: {', '.join(TIER_BUDGETS)})")


def plan_requests(
    symbols: list[str],
    tier: str,
    remaining: int | None,
    expirations: Mapping[str, list[str]] | None = None,
) -> tuple[list[PlannedRequest], list[PlannedRequest]]:
    """Return (requests to make, requests skipped) within `remaining`, by priority.

    Priority: levels and gex of every symbol; then dex, vex, chex of every symbol; then
    summary (on plans that include it); then per-expiration gex calls.
    """
    _known_tier(tier)
    wanted = [PlannedRequest(e, s) for s in symbols for e in ("levels", "gex")]
    wanted += [PlannedRequest(e, s) for e in OPTIONAL_ENDPOINTS for s in symbols]
    if tier in SUMMARY_TIERS:
        wanted += [PlannedRequest("summary", s) for s in symbols]
    for symbol, days in (expirations or {}).items():
        wanted += [PlannedRequest("gex", symbol, {"expiration": d}) for d in days]
    if remaining is None:
        return wanted, []
    return wanted[:remaining], wanted[remaining:]


def fetch_plan(
    symbol: str, tier: str, expirations: Sequence[str] = ()
) -> tuple[list[PlannedRequest], list[PlannedRequest]]:
    """Return (required, optional) requests of one fetch of `symbol`, each in priority order."""
    _known_tier(tier)
    required = [PlannedRequest(e, symbol) for e in REQUIRED_ENDPOINTS]
    optional = [PlannedRequest(e, symbol) for e in OPTIONAL_ENDPOINTS]
    if tier in SUMMARY_TIERS:
        optional.append(PlannedRequest("summary", symbol))
    optional += [PlannedRequest("gex", symbol, {"expiration": d}) for d in expirations]
    return required, optional


class RunBudget:
    """One run's share of a ledger: required requests of the run's later fetches are kept back.

    A QuotaLedger itself (the source's client reserves through it), so a fetch's claims turn
    into ledger charges under one lock: concurrent fetches (symbols run in threads) never plan
    on the same requests. `debt` is the required requests of fetches not yet started.
    """

    def __init__(self, ledger: QuotaLedger, fetches: int, per_fetch: int) -> None:
        """Keep `per_fetch` required requests back for each of `fetches` fetches to come."""
        self._ledger = ledger
        self._debt = max(0, fetches) * per_fetch
        self._claimed = 0  # claimed by running fetches, not yet charged to the ledger
        self._lock = threading.Lock()
        self._held = threading.local()  # the claims of the fetch running in this thread

    def begin(self, required: int) -> int | None:
        """Claim a fetch's `required` requests; return None, or the requests left if too few."""
        with self._lock:
            self._debt = max(0, self._debt - required)
            free = self._free()
            if free is not None and free < required:
                return max(0, free)
            self._held.active = True
            self._hold(required)
            return None

    def extra(self) -> bool:
        """Claim one optional request; return False when later fetches' required need it."""
        with self._lock:
            free = self._free()
            if free is not None and free - self._debt < 1:
                return False
            self._hold(1)
            return True

    def end(self) -> None:
        """Drop what the fetch in this thread claimed and did not send."""
        with self._lock:
            self._held.active = False
            self._hold(-self._holding())

    def try_spend(self) -> bool:
        """Reserve one request in the ledger, turning one of this fetch's claims into it."""
        with self._lock:
            if not self._ledger.try_spend():
                return False
            if self._holding() > 0:
                self._hold(-1)
            return True

    def refund(self) -> None:
        """Give one request back to the ledger; its claim returns to the fetch (for a retry)."""
        with self._lock:
            self._ledger.refund()
            if getattr(self._held, "active", False):
                self._hold(1)

    def remaining(self) -> int | None:
        """Return requests left today in the ledger (None: unlimited)."""
        return self._ledger.remaining()

    def _free(self) -> int | None:
        """Return requests left that no running fetch has claimed (None: unlimited)."""
        left = self._ledger.remaining()
        return None if left is None else left - self._claimed

    def _holding(self) -> int:
        """Return the claims of the fetch running in this thread."""
        return int(getattr(self._held, "count", 0))

    def _hold(self, count: int) -> None:
        """Add `count` claims (negative: release) to this thread's fetch and the total."""
        self._held.count = self._holding() + count
        self._claimed += count


@dataclass
class _Gathered:
    """What one fetch received so far, and what it cost."""

    payloads: dict[str, Any] = field(default_factory=dict)
    request: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    requests: int = 0


#: Errors that end the run: the key or the plan is refused, or the budget is spent (elsewhere).
_HALTING = (AuthenticationError, TierRestrictedError, QuotaExceededError)


@dataclass
class FlashAlphaSource:
    """The API as a snapshot source for a run of `fetches` fetches (all symbols and sessions).

    Each fetch buys its required endpoints (gex, then levels) and then optional ones (dex, vex,
    chex, summary on plans with it, per-expiry gex) only while the budget still covers the
    required requests of the fetches to come; what arrived is kept even when a later request
    fails. A refused key (401) or plan (403) halts the source: no running fetch sends another
    request, the fetch that met it raises RunHaltedError unless gex had already arrived (then
    it returns what arrived, the refusal in `errors`), and every later fetch raises
    RunHaltedError without a request. A fetch the budget cannot cover raises RunHaltedError
    too, listed by `not_afforded()`. The source takes over its client's ledger (wrapped in a
    RunBudget). Thread-safe: fetches of different symbols may run at once.
    """

    client: FlashAlphaClient
    tier: str = "free"
    fetches: int = 1
    expirations: Mapping[str, Sequence[str]] = field(default_factory=dict)
    name: str = "flashalpha"
    computes: bool = False
    historical: bool = False  # send each fetch's own moment as `at`

    def __post_init__(self) -> None:
        """Check the plan and route the client's reservations through this run's budget."""
        _known_tier(self.tier)
        self._budget = RunBudget(self.client.ledger, self.fetches, len(REQUIRED_ENDPOINTS))
        self.client.ledger = self._budget
        self._lock = threading.Lock()
        self._halted: str | None = None  # why no new fetch may start
        self._stopped = False  # key or plan refused: not even running fetches may send more
        self._not_afforded: list[str] = []

    def not_afforded(self) -> tuple[str, ...]:
        """Return one line per fetch not requested (budget spent or run halted), in order."""
        with self._lock:
            return tuple(self._not_afforded)

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return what arrived for `symbol` at `at` (see pipeline.sources.base.Fetched).

        Raise FetchError when nothing storable arrived (gex, or summary where gex is not
        planned), RunHaltedError when the run must stop; both carry the requests spent.
        """
        required, optional = fetch_plan(symbol, self.tier, self.expirations.get(symbol, ()))
        when = at.astimezone(NEW_YORK).strftime("%Y-%m-%dT%H:%M")
        self._refuse_if_halted(symbol, when, required)
        self._claim(symbol, when, required)
        got = _Gathered()
        try:
            if self._buy(got, required, when, optional=False):
                self._buy(got, optional, when, optional=True)
        finally:
            self._budget.end()
        return self._result(symbol, at, when, got, required + optional)

    def _refuse_if_halted(self, symbol: str, when: str, required: list[PlannedRequest]) -> None:
        """Raise RunHaltedError, sending nothing, when the run was halted earlier."""
        with self._lock:
            reason = self._halted
            if reason is not None:
                self._not_afforded.append(f"{_fetch_label(symbol, when, required)}: {reason}")
        if reason is not None:
            raise _run_halted(f"run halted ({reason}): {symbol} at {when} not requested", 0)

    def _claim(self, symbol: str, when: str, required: list[PlannedRequest]) -> None:
        """Claim the fetch's required requests, or halt the run naming what it cannot afford."""
        left = self._budget.begin(len(required))
        if left is None:
            return
        reason = f"daily request budget spent, {left} request(s) left"
        self._halt(reason, stop=False)  # running fetches still send what they claimed
        with self._lock:
            self._not_afforded.append(f"{_fetch_label(symbol, when, required)}: {reason}")
        raise _run_halted(
            f"{reason}: {symbol} at {when} needs {len(required)} "
            f"({', '.join(r.endpoint for r in required)}); the next day's run continues",
            0,
        )

    def _buy(self, got: _Gathered, items: list[PlannedRequest], when: str, optional: bool) -> bool:
        """Request `items` in order into `got`; return False when the fetch must stop."""
        for item in items:
            skip = self._skip_reason(optional)
            if skip is not None:
                got.errors.append(f"{item.label()}: not requested, {skip}")
                continue
            params = dict(item.params)
            if self.historical:
                params["at"] = when
            try:
                response = self.client.request(item.endpoint, item.symbol, **params)
            except FlashAlphaError as exc:
                got.requests += exc.requests
                got.errors.append(f"{item.label()}: {exc}")
                if isinstance(exc, _HALTING):
                    self._halt(str(exc), stop=True)
                if item == PlannedRequest("gex", item.symbol):
                    return False  # without gex nothing is storable: buy nothing more
                continue
            got.requests += response.meta["requests"]
            key = f"gex_{item.params['expiration']}" if item.params else item.endpoint
            got.payloads[key], got.request[key] = response.payload, response.meta
        return True

    def _skip_reason(self, optional: bool) -> str | None:
        """Return why the next request is not sent (run halted, budget kept back), or None."""
        with self._lock:
            if self._stopped:
                return f"run halted ({self._halted})"
        if optional and not self._budget.extra():
            return "budget kept for the required requests of later fetches"
        return None

    def _halt(self, reason: str, stop: bool) -> None:
        """Refuse every later fetch (keeping the first reason); `stop`: every request too."""
        with self._lock:
            self._halted = self._halted or reason
            self._stopped = self._stopped or stop

    def _result(
        self, symbol: str, at: datetime, when: str, got: _Gathered, planned: list[PlannedRequest]
    ) -> Fetched:
        """Return the Fetched of what arrived, or raise when nothing storable did."""
        from pipeline.sources.base import Fetched, FetchError

        endpoints = {p.endpoint for p in planned if not p.params}
        storable = "gex" in got.payloads or ("gex" not in endpoints and "summary" in got.payloads)
        if not storable:
            why = "; ".join(got.errors) or "no payload"
            with self._lock:
                halted = self._halted is not None
            error: type[FetchError] = _run_halted_type() if halted else FetchError
            raise error(
                f"{symbol} at {when}: nothing storable received: {why}", requests=got.requests
            )
        return Fetched(
            symbol,
            _as_of(got.payloads, at),
            got.payloads,
            None,
            got.request,
            got.requests,
            tuple(got.errors),
        )


def _fetch_label(symbol: str, when: str, required: list[PlannedRequest]) -> str:
    """Return e.g. 'SPY at 2024-03-08T16:15 (gex, levels)'."""
    return f"{symbol} at {when} ({', '.join(r.endpoint for r in required)})"


def _run_halted_type() -> type[FetchError]:
    """Return RunHaltedError (imported late: pipeline.sources.base imports the engine)."""
    from pipeline.sources.base import RunHaltedError

    return RunHaltedError


def _run_halted(message: str, requests: int) -> FetchError:
    """Return a RunHaltedError carrying the requests spent."""
    return _run_halted_type()(message, requests=requests)


def _as_of(payloads: Mapping[str, Any], at: datetime) -> datetime:
    """Return the payloads' as_of (gex, summary, levels), or `at` when absent or unreadable.

    An unreadable as_of is the firewall's to refuse, with the payload archived; it must not
    make the fetch fail here, losing the requests it cost.
    """
    from pipeline.normalize import PayloadError, parse_as_of

    head = payloads.get("gex") or payloads.get("summary") or payloads.get("levels") or {}
    try:
        return parse_as_of(head["as_of"]) if "as_of" in head else at
    except PayloadError:
        return at
