"""Building a flow's source from settings: synthetic, chains, flashalpha, flashalpha-historical."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from flows.settings import Settings
from pipeline.errors import InputError
from pipeline.sources.base import ChainFolderSource, Source, SyntheticSource

if TYPE_CHECKING:
    from pipeline.sources.flashalpha import FlashAlphaSource

API_SOURCES = ("flashalpha", "flashalpha-historical")
#: Fetches per symbol: one number for every symbol, or a number per symbol.
Sessions = int | Mapping[str, int]


@dataclass(frozen=True)
class Run:
    """What a source is built for: the symbols, the run's moment and its fetches per symbol."""

    symbols: list[str]
    at: datetime
    sessions: Sessions = 1


def _synthetic(settings: Settings, name: str, run: Run) -> Source:
    """Return the simulated market (no key, no network)."""
    return SyntheticSource(
        market=settings.market(),
        expiries=settings.synthetic_expiries,
        strikes=settings.synthetic_strikes,
    )


def _chains(settings: Settings, name: str, run: Run) -> Source:
    """Return the folder of chain files named by `chains_dir`."""
    if settings.chains_dir is None or not settings.chains_dir.is_dir():
        raise InputError(
            f"source chains needs chains_dir (a folder of chain files); got {settings.chains_dir}"
        )
    return ChainFolderSource(settings.chains_dir)


def _cboe(settings: Settings, name: str, run: Run) -> Source:
    """Return Cboe's free delayed-quotes feed, its window budget shared through the home."""
    # Imported here: httpx and the client cost ~0.15 s that other sources never need.
    from flows.quota import FileWindowLedger
    from pipeline.sources.cboe_feed import CboeConfig, CboeFeedSource

    defaults = CboeConfig()
    window = settings.cboe_window
    try:
        config = CboeConfig(
            base_url=settings.cboe_url or defaults.base_url,
            user_agent=settings.cboe_user_agent or defaults.user_agent,
            limit=settings.cboe_window_limit,
            window_seconds=window,
            # A fetch may wait for the next window: its deadline must outlast one.
            deadline=max(defaults.deadline, window + settings.request_deadline_seconds),
            concurrency=settings.fetch_concurrency,
        )
    except ValueError as exc:
        raise InputError(f"source cboe: {exc}") from None
    ledger = FileWindowLedger(settings.home, "cboe", config.limit, config.window_seconds)
    return CboeFeedSource(config, ledger=ledger)


def _flashalpha(settings: Settings, name: str, run: Run) -> Source:
    """Return the FlashAlpha API (live, or historical replay)."""
    return flashalpha_source(settings, name, run.symbols, run.at, run.sessions)


#: Every source by name: how to build it from settings for a run.
BUILDERS: dict[str, Callable[[Settings, str, Run], Source]] = {
    "synthetic": _synthetic,
    "chains": _chains,
    "cboe": _cboe,
    "flashalpha": _flashalpha,
    "flashalpha-historical": _flashalpha,
}
SOURCES = tuple(BUILDERS)
#: Sources that can give a past session (a backfill); the others answer with now only.
HISTORY_SOURCES = ("synthetic", "chains", "flashalpha-historical")


def build_source(
    settings: Settings, name: str, symbols: list[str], at: datetime, sessions: Sessions = 1
) -> Source:
    """Return the source called `name`, configured from `settings` for these symbols and time.

    `sessions`: how many fetches the run will make per symbol (a snapshot 1; a backfill the
    sessions it has to do); the API source keeps budget back for them.
    """
    builder = BUILDERS.get(name)
    if builder is None:
        raise InputError(f"unknown source {name!r} (known: {', '.join(SOURCES)})")
    return builder(settings, name, Run(symbols, at, sessions))


def computes(name: str) -> bool:
    """Return True when the named source gives chains the engine prices (False: the API's).

    Known before the source is built, so a flow can work out its sessions to do (and so the
    `sessions` to pass to build_source) from the method first.
    """
    return name not in API_SOURCES


def run_fetches(symbols: list[str], sessions: Sessions) -> int:
    """Return how many fetches a run of `symbols` makes (sessions per symbol, summed)."""
    if isinstance(sessions, Mapping):
        return sum(max(0, int(sessions.get(s, 0))) for s in symbols)
    return len(symbols) * max(0, sessions)


def flashalpha_source(
    settings: Settings,
    name: str,
    symbols: list[str],
    at: datetime,
    sessions: Sessions = 1,
) -> FlashAlphaSource:
    """Return the API source for a run of `sessions` fetches per symbol within today's budget.

    Every request ends by `settings.request_deadline_seconds`; requests are counted in the
    home's daily ledger (`flows.quota`). `at` is the run's moment (historical fetches send
    their own).
    """
    # Imported here: httpx and the client cost ~0.15 s that engine-source runs never need.
    from flows.quota import FileQuotaLedger
    from pipeline.sources.flashalpha import ClientConfig, FlashAlphaClient, FlashAlphaSource

    key = settings.api_key()
    if not key:
        raise InputError(
            "source flashalpha needs a key: set FLASHALPHA_API_KEY (or flashalpha_secret_block)"
        )
    historical = name == "flashalpha-historical"
    base = settings.flashalpha_historical_url if historical else settings.flashalpha_base_url
    config = ClientConfig(key, base_url=base, deadline=settings.request_deadline_seconds)
    ledger = FileQuotaLedger(settings.home, settings.flashalpha_tier)
    return FlashAlphaSource(
        FlashAlphaClient(config, ledger=ledger),
        tier=settings.flashalpha_tier,
        fetches=run_fetches(symbols, sessions),
        name=name,
        historical=historical,
    )
