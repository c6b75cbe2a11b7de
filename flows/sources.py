"""Building a flow's source from settings: synthetic, chains, flashalpha, flashalpha-historical."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from flows.quota import FileQuotaLedger
from flows.settings import Settings
from pipeline.errors import InputError
from pipeline.sources.base import ChainFolderSource, Source, SyntheticSource
from pipeline.sources.flashalpha import ClientConfig, FlashAlphaClient, FlashAlphaSource

SOURCES = ("synthetic", "chains", "flashalpha", "flashalpha-historical")
API_SOURCES = ("flashalpha", "flashalpha-historical")
#: Fetches per symbol: one number for every symbol, or a number per symbol.
Sessions = int | Mapping[str, int]


def build_source(
    settings: Settings, name: str, symbols: list[str], at: datetime, sessions: Sessions = 1
) -> Source:
    """Return the source called `name`, configured from `settings` for these symbols and time.

    `sessions`: how many fetches the run will make per symbol (a snapshot 1; a backfill the
    sessions it has to do); the API source keeps budget back for them.
    """
    if name == "synthetic":
        return SyntheticSource(
            market=settings.market(),
            expiries=settings.synthetic_expiries,
            strikes=settings.synthetic_strikes,
        )
    if name == "chains":
        if settings.chains_dir is None or not settings.chains_dir.is_dir():
            raise InputError(
                f"source chains needs chains_dir (a folder of chain files); got "
                f"{settings.chains_dir}"
            )
        return ChainFolderSource(settings.chains_dir)
    if name in API_SOURCES:
        return flashalpha_source(settings, name, symbols, at, sessions)
    raise InputError(f"unknown source {name!r} (known: {', '.join(SOURCES)})")


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
