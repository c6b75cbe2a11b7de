"""The Source protocol, what a fetch returns, and the registry of sources.

A source turns (symbol, moment) into what was received: a chain for the engine to price, or
payloads shaped like the FlashAlpha API's, plus what the raw archive should record. It never
touches gammalake's folders: the flow archives, checks, prices and stores.

Every source declares what it can do once, where it is registered (`register(SourceSpec(...))`
at the end of its module); the CLI's choices and help and the flows read `registered()`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.chain import Chain

if TYPE_CHECKING:
    from pipeline.engine.config import EngineConfig
    from pipeline.sources.http import QuotaLedger, WindowLedger


@dataclass(frozen=True)
class Fetched:
    """What a source returned for one symbol at one moment.

    Engine sources (`computes`) return `chain`, the engine's input as received, and no
    payloads: the flow archives the chain, checks it and prices it under the run's method.
    Vendor sources return `payloads` by endpoint with `request` metadata per endpoint for the
    raw archive. `as_of` is the moment the data describes (a feed's own timestamp, a vendor's
    snapshot time, a session's close); `fetched_at` when gammalake received it (UTC, the
    clock at fetch; a rebuild passes the archived one). `requests` the API requests this
    fetch really sent (counted against budgets, failed ones included); `errors` what was asked
    for and did not arrive (the snapshot may still be storable without it). `bar`: the
    underlying's daily bar when the reply carries one after the close (keys trade_date, open,
    high, low, close, volume; prices in the underlying's units), stored in `prices`.
    `oi_as_of`: the session whose close the chain's open interest describes, when the source
    says (a feed's OI is the previous session's, published the next morning), stored in the
    `chains` dataset's column of that name. `refused`: why the source's parser refused what
    arrived (then `payloads` hold it as received and `as_of` is the moment asked for): the flow
    archives it, marked rejected with this reason, and stores nothing.
    """

    symbol: str
    as_of: datetime
    payloads: dict[str, Any] = field(default_factory=dict)
    chain: Chain | None = None
    request: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    errors: tuple[str, ...] = ()
    bar: dict[str, Any] | None = None
    oi_as_of: date | None = None
    refused: str | None = None
    fetched_at: datetime | None = field(default_factory=lambda: datetime.now(UTC))


class FetchError(Exception):
    """Nothing storable came back for a symbol at a moment; says why and what it cost."""

    def __init__(self, message: str, *, requests: int = 0) -> None:
        """Keep the API requests the failed fetch still spent."""
        super().__init__(message)
        self.requests = requests


class MissingInputError(FetchError):
    """The source has no input for that day (a chain folder without the day's file)."""


class RunHaltedError(FetchError):
    """The run must stop now: the key was refused, or the request budget is spent."""


class FetchStoppedError(RunHaltedError):
    """The run's stop flag was set: the fetch was abandoned (or not started), nothing sent after."""


class Source(Protocol):
    """Anything that can produce a snapshot of a symbol at a moment."""

    @property
    def name(self) -> str:
        """Return the source's name, stored in every row it produced (e.g. `synthetic`)."""
        ...

    @property
    def computes(self) -> bool:
        """Return True when fetch gives a chain the engine prices; False: vendor payloads."""
        ...

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the snapshot input of `symbol` at `at` (timezone-aware); raise FetchError."""
        ...


#: Fetches per symbol: one number for every symbol, or a number per symbol.
Sessions = int | Mapping[str, int]


@dataclass(frozen=True)
class Plan:
    """What a source is built for: the symbols, the run's moment and its fetches per symbol."""

    symbols: list[str]
    at: datetime
    sessions: Sessions = 1

    def fetches(self) -> int:
        """Return how many fetches the run makes (sessions per symbol, summed)."""
        if isinstance(self.sessions, Mapping):
            return sum(max(0, int(self.sessions.get(s, 0))) for s in self.symbols)
        return len(self.symbols) * max(0, self.sessions)


class Ledgers(Protocol):
    """Where built sources count their requests (the flows keep them in the home)."""

    def window(self, name: str, limit: int, window_seconds: float) -> WindowLedger:
        """Return the sliding-window budget called `name` (`limit` per `window_seconds`)."""
        ...

    def daily(self, tier: str) -> QuotaLedger:
        """Return the daily request budget of a FlashAlpha plan."""
        ...


#: Builds a source from the run's settings (flows.settings.Settings), its name and plan.
Builder = Callable[[Any, str, Plan, Ledgers], Source]


@dataclass(frozen=True)
class SourceSpec:
    """What a source can do, declared once where it is registered.

    `computes`: it gives chains the engine prices (False: vendor payloads); `history`: it can
    give past sessions (a backfill), else only the chain of now; `needs_key`: it needs an API
    key; `network`: it sends requests over the network. `help`: one line for `--source`.
    """

    name: str
    help: str
    build: Builder
    computes: bool = True
    history: bool = False
    needs_key: bool = False
    network: bool = False


_REGISTRY: dict[str, SourceSpec] = {}
#: Modules that register the built-in sources when imported (in `--source` order).
BUILT_IN = (
    "pipeline.sources.synthetic",
    "pipeline.sources.files",
    "pipeline.sources.cboe_feed",
    "pipeline.sources.flashalpha",
)


def register(spec: SourceSpec) -> SourceSpec:
    """Add a source to the registry (a later one of the same name replaces it); return it."""
    _REGISTRY[spec.name] = spec
    return spec


def registered() -> dict[str, SourceSpec]:
    """Return every registered source by name, the built-in ones first (imported on first use)."""
    for module in BUILT_IN:
        importlib.import_module(module)
    return dict(_REGISTRY)


def watch_stop(source: Source, stop: Any) -> None:
    """Hand the run's stop flag (anything with `is_set()`) to `source` when it can use it.

    HTTP sources then end their waits and abandon a request in flight once it is set; sources
    that only read files or compute finish their fetch (they never wait).
    """
    watch: Callable[[Any], None] | None = getattr(source, "watch", None)
    if watch is not None:
        watch(stop)


def engine_payloads(chain: Chain, config: EngineConfig, expiries: int = 0) -> dict[str, Any]:
    """Return every payload of a chain, plus gex of its `expiries` nearest expirations."""
    from pipeline.engine.snapshot import ExposureSnapshot

    snapshot = ExposureSnapshot(chain, config)
    payloads = snapshot.payloads()
    for row in payloads["expiries"]["expiries"][:expiries]:
        payloads[f"gex_{row['expiration']}"] = snapshot.gex(expiration=row["expiration"])
    return payloads
