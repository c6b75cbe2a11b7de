"""FlashAlpha exposure API client over httpx: live and historical, sync and async.

Method names and parameters follow the public `flashalpha` SDK (`gex`, `dex`, `vex`, `chex`,
`exposure_levels`, `exposure_summary`). Every call returns the payload with request metadata
for the raw archive (URL without the key, status, timing, attempts, requests). Retries: 429
(honouring Retry-After), 5xx, timeouts and dropped connections, with capped exponential backoff
and jitter; other 4xx are final. Every attempt is first reserved in a quota ledger, so a run
never sends more requests than the budget allows; an attempt that never left the machine
(connection refused, connect timeout) is refunded. Every logical call has an overall deadline
(`ClientConfig.deadline`) covering its attempts and retry waits; a reply body is capped at
`ClientConfig.max_reply_bytes` decompressed; a stop flag (`stop`) ends retry waits and abandons
a request in flight, and no request is sent after it. The API key is sent only in the
X-Api-Key header and is scrubbed from every message. Payload checks: flashalpha_checks.py.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from pipeline.sources.flashalpha_checks import parse_payload
from pipeline.sources.http import (
    MAX_REPLY_BYTES,
    NOT_SENT,
    RETRYABLE,
    DeadlineTransport,
    QuotaLedger,
    ReplyTooLargeError,
    StoppedError,
    StopSignal,
    UnlimitedLedger,
    get_capped,
    pause,
    retry_after_seconds,
    stopped,
)

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


class RequestStoppedError(FlashAlphaError):
    """The run's stop flag was set: the call was abandoned and nothing more was sent."""


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
    call, its attempts and retry waits included (seconds); `max_reply_bytes` the largest body
    accepted, decompressed.
    """

    api_key: str = field(repr=False)
    base_url: str = LIVE_URL
    timeout: float = 30.0
    at: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadline: float = 60.0
    max_reply_bytes: int = MAX_REPLY_BYTES

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
    """Return Retry-After in seconds (delay-seconds or an HTTP date), None when absent."""
    return retry_after_seconds(response.headers.get("Retry-After"))


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
        payload, problem = parse_payload(self.endpoint, response.content)
        if problem is not None and payload is None:
            if self.attempt < self.config.retry.attempts:
                return self.config.retry.delay(self.attempt, None, self.rng)
            problem = f"{problem} after {self.attempt} attempts"
        if problem is not None:
            raise MalformedResponseError(
                f"{self.endpoint} {self.symbol}: {problem}",
                status_code=200,
                response=payload,
                attempts=self.attempt,
                requests=self.sent,
            )
        assert payload is not None
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


def _whole(response: httpx.Response, body: bytes) -> httpx.Response:
    """Return a response holding `body`, already decompressed (its encoding headers dropped)."""
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length")
    ]
    return httpx.Response(
        response.status_code, headers=headers, content=body, request=response.request
    )


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
        if isinstance(result, NOT_SENT):
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
    call's deadline and a read ends soon after `stop` is set; with one, the body is still
    checked against both between chunks. Picklable (Dask): the HTTP client is rebuilt on load
    over the default transport.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        ledger: QuotaLedger | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        seed: int | None = None,
        stop: StopSignal | None = None,
    ) -> None:
        """Open an HTTP client; `sleep` is how retries wait (default: a wait `stop` ends)."""
        super().__init__(config, ledger, seed)
        self.stop = stop
        self._transport = transport
        self._sleep = sleep
        self._open()

    def _open(self) -> None:
        """Build the HTTP client (not picklable)."""
        self._http = httpx.Client(
            transport=self._transport or DeadlineTransport(),
            timeout=self.config.timeout,
            headers=self._headers,
        )

    def __getstate__(self) -> dict[str, Any]:
        """Return the state to pickle: config, ledger, stop flag; no client or transport."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_http", "_transport")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled client over a new HTTP client (the default bounded transport)."""
        self.__dict__.update(state)
        self._transport = None
        self._open()

    def request(self, endpoint: str, symbol: str, **params: Any) -> ApiResponse:
        """Return the checked payload of one endpoint, retrying what is worth retrying.

        Raise RequestStoppedError once the stop flag is set (nothing is sent after it).
        """
        call = self._call(endpoint, symbol, params)
        while True:
            if stopped(self.stop):
                raise self._stopped(call)
            result = self._attempt(call, self._reserve(call))
            self._settle(call, result)
            if isinstance(result, StoppedError):
                raise self._stopped(call)
            outcome = call.outcome(result)
            if isinstance(outcome, ApiResponse):
                return outcome
            self._wait(call, call.wait(outcome))

    def _wait(self, call: _Call, seconds: float) -> None:
        """Wait before a retry; raise RequestStoppedError when the stop flag ends the wait."""
        if self._sleep is not None:
            self._sleep(seconds)
        elif pause(seconds, self.stop):
            return
        if stopped(self.stop):
            raise self._stopped(call)

    def _stopped(self, call: _Call) -> RequestStoppedError:
        """Return the error of a call the stop flag ended."""
        return RequestStoppedError(
            f"{call.endpoint} {call.symbol}: stopped after {call.sent} request(s)",
            attempts=call.attempt,
            requests=call.sent,
        )

    def _attempt(self, call: _Call, timeout: httpx.Timeout) -> httpx.Response | Exception:
        """Return one attempt's response, its body read by the deadline and capped, or its error.

        The body is decompressed as it is read, so a gzip bomb stops at the size cap.
        """
        try:
            response, body = get_capped(
                self._http, call.url, timeout, call.deadline, self.stop, self.config.max_reply_bytes
            )
            return _whole(response, body)
        except ReplyTooLargeError as exc:
            raise MalformedResponseError(
                _scrub(f"{call.endpoint} {call.symbol}: {exc}", self.config.api_key),
                status_code=200,
                attempts=call.attempt,
                requests=call.sent + 1,
            ) from None
        except (StoppedError, *RETRYABLE) as exc:
            return exc

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
        """Return one attempt's response, cancelled at the deadline, or its error.

        The body is decompressed as it is read and refused past `max_reply_bytes`.
        """
        try:
            async with (
                asyncio.timeout(call.left()),
                self._http.stream("GET", call.url, timeout=timeout) as response,
            ):
                body, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.config.max_reply_bytes:
                        raise ReplyTooLargeError(
                            f"the reply passed {self.config.max_reply_bytes / 2**20:g} MiB "
                            "decompressed (max_reply_bytes); refused"
                        )
                    body.append(chunk)
            return _whole(response, b"".join(body))
        except ReplyTooLargeError as exc:
            raise MalformedResponseError(
                _scrub(f"{call.endpoint} {call.symbol}: {exc}", self.config.api_key),
                status_code=200,
                attempts=call.attempt,
                requests=call.sent + 1,
            ) from None
        except TimeoutError:
            # Cancelled by the deadline: counted as sent, it may well have left the machine.
            return httpx.ReadTimeout("the request deadline has passed")
        except RETRYABLE as exc:
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
