"""The FlashAlpha API as a snapshot source (`flashalpha`, `flashalpha-historical`).

`FlashAlphaSource` turns the client (flashalpha_client.py) into a snapshot source: per fetch it
buys the required endpoints (gex, levels) first, and optional ones only while the budget still
covers the required requests of the run's fetches to come (`RunBudget`, over a daily
QuotaLedger). The client's names are re-exported here for callers of the API source.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
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
from pipeline.sources.flashalpha_checks import REQUIRED
from pipeline.sources.flashalpha_client import (
    HISTORICAL_URL,
    LIVE_URL,
    PATHS,
    ApiResponse,
    AsyncFlashAlphaClient,
    AuthenticationError,
    ClientConfig,
    FlashAlphaClient,
    FlashAlphaError,
    MalformedResponseError,
    NotFoundError,
    PlannedRequest,
    QuotaExceededError,
    RateLimitError,
    RequestStoppedError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    TierRestrictedError,
    UnreachableError,
)
from pipeline.sources.http import QuotaLedger, StopSignal, UnlimitedLedger

__all__ = [
    "HISTORICAL_URL",
    "LIVE_URL",
    "OPTIONAL_ENDPOINTS",
    "PATHS",
    "REQUIRED",
    "REQUIRED_ENDPOINTS",
    "SUMMARY_TIERS",
    "TIER_BUDGETS",
    "ApiResponse",
    "AsyncFlashAlphaClient",
    "AuthenticationError",
    "ClientConfig",
    "FlashAlphaClient",
    "FlashAlphaError",
    "FlashAlphaSource",
    "MalformedResponseError",
    "NotFoundError",
    "PlannedRequest",
    "QuotaExceededError",
    "QuotaLedger",
    "RateLimitError",
    "RequestStoppedError",
    "RequestTimeoutError",
    "RetryPolicy",
    "RunBudget",
    "ServerError",
    "TierRestrictedError",
    "UnlimitedLedger",
    "UnreachableError",
    "build",
    "fetch_plan",
    "plan_requests",
]

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
        self._open()

    def _open(self) -> None:
        """Build the lock and the per-thread claims (not picklable)."""
        self._lock = threading.Lock()
        self._held = threading.local()  # the claims of the fetch running in this thread

    def __getstate__(self) -> dict[str, Any]:
        """Return the state to pickle: the ledger and the counts, no lock or thread claims."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_held")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled budget with a new lock and no fetch running."""
        self.__dict__.update(state)
        self._open()

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
    refused: dict[str, Any] = field(default_factory=dict)  # 200 bodies the checks refused


#: Errors that end the run: the key or the plan is refused, or the budget is spent (elsewhere).
_HALTING = (AuthenticationError, TierRestrictedError, QuotaExceededError, RequestStoppedError)


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
    RunBudget). Thread-safe: fetches of different symbols may run at once. `watch(stop)`: once
    the run's stop flag is set, the request in flight is abandoned, nothing more is sent and
    fetches raise FetchStoppedError. Picklable (Dask): locks and the HTTP client are rebuilt.
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

    def __getstate__(self) -> dict[str, Any]:
        """Return the state to pickle: everything but the lock (the client pickles itself)."""
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled source with a new lock."""
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def watch(self, stop: StopSignal) -> None:
        """Stop waiting and requesting once `stop` is set (the run's stop flag)."""
        self.client.stop = stop

    def not_afforded(self) -> tuple[str, ...]:
        """Return one line per fetch not requested (budget spent or run halted), in order."""
        with self._lock:
            return tuple(self._not_afforded)

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return what arrived for `symbol` at `at` (see pipeline.sources.base.Fetched).

        A gex reply the client's checks refused is returned with `refused` set (the flow
        archives it as rejected). Raise FetchError when nothing storable arrived (gex, or
        summary where gex is not planned), RunHaltedError when the run must stop
        (FetchStoppedError once the stop flag is set); all carry the requests spent.
        """
        required, optional = fetch_plan(symbol, self.tier, self.expirations.get(symbol, ()))
        when = at.astimezone(NEW_YORK).strftime("%Y-%m-%dT%H:%M")
        if self.client.stop is not None and self.client.stop.is_set():
            raise FetchStoppedError(f"stopped: {symbol} at {when} not requested", requests=0)
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
                if isinstance(exc, MalformedResponseError) and exc.response is not None:
                    got.refused[item.endpoint] = exc.response  # archived, marked rejected
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
        """Return the Fetched of what arrived, or raise when nothing storable did.

        A gex reply the client's checks refused comes back with `refused` set, for the flow to
        archive as rejected.
        """
        endpoints = {p.endpoint for p in planned if not p.params}
        storable = "gex" in got.payloads or ("gex" not in endpoints and "summary" in got.payloads)
        if not storable:
            why = "; ".join(got.errors) or "no payload"
            with self._lock:
                halted = self._halted is not None
            if "gex" in got.refused and not halted:
                return Fetched(
                    symbol,
                    at,
                    {**got.payloads, **got.refused},
                    request=got.request,
                    requests=got.requests,
                    refused=f"{symbol} at {when}: the FlashAlpha reply is refused: {why}",
                )
            error: type[FetchError] = RunHaltedError if halted else FetchError
            if any(": stopped after " in e for e in got.errors):
                error = FetchStoppedError
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


def _run_halted(message: str, requests: int) -> FetchError:
    """Return a RunHaltedError carrying the requests spent."""
    return RunHaltedError(message, requests=requests)


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


def build(settings: Any, name: str, plan: Plan, ledgers: Ledgers) -> FlashAlphaSource:
    """Return the API source for a run of `plan.fetches()` fetches within today's budget.

    `settings`: a flows Settings (api_key(), flashalpha_tier, flashalpha_base_url,
    flashalpha_historical_url, request_deadline_seconds). Every request ends by the deadline;
    requests are counted in `ledgers.daily(tier)`. `name`: flashalpha or flashalpha-historical
    (which sends each fetch's own moment).
    """
    key = settings.api_key()
    if not key:
        raise InputError(
            "source flashalpha needs a key: set FLASHALPHA_API_KEY (or flashalpha_secret_block)"
        )
    historical = name == "flashalpha-historical"
    base = settings.flashalpha_historical_url if historical else settings.flashalpha_base_url
    config = ClientConfig(key, base_url=base, deadline=settings.request_deadline_seconds)
    client = FlashAlphaClient(config, ledger=ledgers.daily(settings.flashalpha_tier))
    return FlashAlphaSource(
        client,
        tier=settings.flashalpha_tier,
        fetches=plan.fetches(),
        name=name,
        historical=historical,
    )


register(
    SourceSpec(
        name="flashalpha",
        help="The FlashAlpha API, live (needs FLASHALPHA_API_KEY).",
        build=build,
        computes=False,
        history=False,
        needs_key=True,
        network=True,
    )
)
register(
    SourceSpec(
        name="flashalpha-historical",
        help="The FlashAlpha historical API: point-in-time replay (needs a key).",
        build=build,
        computes=False,
        history=True,
        needs_key=True,
        network=True,
    )
)
