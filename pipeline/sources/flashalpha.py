"""FlashAlpha exposure API client over httpx: live and historical, sync and async.

Method names and parameters follow the public `flashalpha` SDK (`gex`, `dex`, `vex`, `chex`,
`exposure_levels`, `exposure_summary`). Every call returns the payload with request metadata
for the raw archive (URL without the key, status, timing, attempts). Retries: 429 (honouring
Retry-After), 5xx, timeouts and dropped connections, with capped exponential backoff and
jitter; other 4xx are final. Every attempt is first reserved in a quota ledger, so a run never
sends more requests than the budget allows. The API key is sent only in the X-Api-Key header
and is scrubbed from every message.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import httpx

NEW_YORK_TZ = ZoneInfo("America/New_York")
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
    """Any failure of a FlashAlpha request (never includes the API key)."""

    def __init__(
        self, message: str, status_code: int | None = None, response: Any = None, attempts: int = 0
    ) -> None:
        """Keep the status, the parsed body (when any) and how many attempts were made."""
        super().__init__(message)
        self.status_code = status_code
        self.response = response
        self.attempts = attempts


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
    """Connect or read timeouts, or dropped connections, after every retry."""


class MalformedResponseError(FlashAlphaError):
    """A 200 whose body is not JSON or lacks a required field."""


class QuotaExceededError(FlashAlphaError):
    """The daily request budget is spent; nothing was sent."""


class QuotaLedger(Protocol):
    """Counts requests against a daily budget (shared across processes by implementations)."""

    def try_spend(self) -> bool:
        """Reserve one request; return False (and reserve nothing) when the budget is spent."""
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
    """Where and how to call the API. `at` makes every request historical (minute or date)."""

    api_key: str = field(repr=False)
    base_url: str = LIVE_URL
    timeout: float = 30.0
    at: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        """Refuse an empty key before any request."""
        if not self.api_key:
            raise AuthenticationError("no FlashAlpha API key: set FLASHALPHA_API_KEY")


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


def _error_for(response: httpx.Response, key: str, attempts: int) -> FlashAlphaError:
    """Return the typed error of a non-200 response."""
    body = _body(response)
    detail = body.get("message") or body.get("detail") if isinstance(body, dict) else None
    status = response.status_code
    message = _scrub(
        f"HTTP {status} from {response.request.url.path}: "
        f"{detail or str(body)[:200] or response.reason_phrase}",
        key,
    )
    common = {"status_code": status, "response": body, "attempts": attempts}
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
    """One logical request across its attempts."""

    endpoint: str
    symbol: str
    url: str
    config: ClientConfig
    rng: random.Random
    attempt: int = 0
    started: float = field(default_factory=time.perf_counter)

    def outcome(self, result: httpx.Response | Exception) -> ApiResponse | float:
        """Return the response, or seconds to wait before retrying; raise when final."""
        policy, key = self.config.retry, self.config.api_key
        final = self.attempt >= policy.attempts
        if isinstance(result, Exception):
            if final:
                raise RequestTimeoutError(
                    _scrub(
                        f"{self.endpoint} {self.symbol}: "
                        f"{type(result).__name__} after {self.attempt} "
                        "attempts",
                        key,
                    ),
                    attempts=self.attempt,
                )
            return policy.delay(self.attempt, None, self.rng)
        if result.status_code == 200:
            return self._parsed(result)
        error = _error_for(result, key, self.attempt)
        wait = _retry_after(result) if result.status_code == 429 else None
        retryable = result.status_code == 429 or result.status_code >= 500
        if retryable and not final and (wait is None or wait <= policy.max_retry_after):
            return policy.delay(self.attempt, wait, self.rng)
        raise error

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
            )
        meta = {
            "url": self.url,
            "endpoint": self.endpoint,
            "symbol": self.symbol,
            "status": 200,
            "attempts": self.attempt,
            "elapsed_ms": round((time.perf_counter() - self.started) * 1000, 1),
            "received_at": datetime.now(UTC).isoformat(),
        }
        return ApiResponse(self.endpoint, self.symbol, payload, meta)


_RETRYABLE = (httpx.TimeoutException, httpx.TransportError)


class _Base:
    """What the sync and async clients share: URLs, calls, the ledger."""

    def __init__(self, config: ClientConfig, ledger: QuotaLedger | None, seed: int | None) -> None:
        """Keep the configuration, the quota ledger and a jitter generator."""
        self.config = config
        self.ledger = ledger or UnlimitedLedger()
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

    def _reserve(self, call: _Call) -> None:
        """Count the next attempt against the budget, or raise without sending it."""
        if not self.ledger.try_spend():
            raise QuotaExceededError(
                f"daily request budget spent: {call.endpoint} {call.symbol} not requested",
                attempts=call.attempt,
            )
        call.attempt += 1

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
    """Synchronous client; pass `transport` to route requests anywhere (tests: a local server)."""

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
            transport=transport, timeout=config.timeout, headers=self._headers
        )
        self._sleep = sleep

    def request(self, endpoint: str, symbol: str, **params: Any) -> ApiResponse:
        """Return the checked payload of one endpoint, retrying what is worth retrying."""
        call = self._call(endpoint, symbol, params)
        while True:
            self._reserve(call)
            try:
                result: httpx.Response | Exception = self._http.get(call.url)
            except _RETRYABLE as exc:
                result = exc
            outcome = call.outcome(result)
            if isinstance(outcome, ApiResponse):
                return outcome
            self._sleep(outcome)

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
            self._reserve(call)
            try:
                result: httpx.Response | Exception = await self._http.get(call.url)
            except _RETRYABLE as exc:
                result = exc
            outcome = call.outcome(result)
            if isinstance(outcome, ApiResponse):
                return outcome
            await self._sleep(outcome)

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
    if tier not in TIER_BUDGETS:
        raise ValueError(f"unknown FlashAlpha plan {tier!r} (known: {', '.join(TIER_BUDGETS)})")
    wanted = [PlannedRequest(e, s) for s in symbols for e in ("levels", "gex")]
    wanted += [PlannedRequest(e, s) for e in ("dex", "vex", "chex") for s in symbols]
    if tier in SUMMARY_TIERS:
        wanted += [PlannedRequest("summary", s) for s in symbols]
    for symbol, days in (expirations or {}).items():
        wanted += [PlannedRequest("gex", symbol, {"expiration": d}) for d in days]
    if remaining is None:
        return wanted, []
    return wanted[:remaining], wanted[remaining:]


@dataclass
class FlashAlphaSource:
    """The API as a snapshot source: each symbol's planned requests, in priority order.

    Responses that arrive are kept even when a later request of the same symbol fails, so no
    request already paid for is lost; `errors` says what is missing.
    """

    client: FlashAlphaClient
    plan: dict[str, list[PlannedRequest]]
    name: str = "flashalpha"
    computes: bool = False
    historical: bool = False  # send each fetch's own moment as `at`
    errors: dict[str, list[str]] = field(default_factory=dict)
    spent: dict[str, int] = field(default_factory=dict)

    def fetch(self, symbol: str, at: datetime) -> Any:
        """Return the symbol's responses as a Fetched (see pipeline.sources.base)."""
        from pipeline.normalize import parse_as_of
        from pipeline.sources.base import Fetched

        payloads: dict[str, Any] = {}
        request: dict[str, dict[str, Any]] = {}
        spent = 0
        for item in self.plan.get(symbol, []):
            key = item.endpoint if not item.params else f"gex_{item.params['expiration']}"
            params = dict(item.params)
            if self.historical:
                params["at"] = at.astimezone(NEW_YORK_TZ).strftime("%Y-%m-%dT%H:%M")
            try:
                response = self.client.request(item.endpoint, symbol, **params)
            except FlashAlphaError as exc:
                spent += exc.attempts
                self.errors.setdefault(symbol, []).append(f"{item.label()}: {exc}")
                continue
            spent += response.meta["attempts"]
            payloads[key], request[key] = response.payload, response.meta
        self.spent[symbol] = self.spent.get(symbol, 0) + spent
        head = payloads.get("gex") or payloads.get("summary") or payloads.get("levels") or {}
        as_of = parse_as_of(head["as_of"]) if "as_of" in head else at
        return Fetched(symbol, as_of, payloads, None, request, spent)
