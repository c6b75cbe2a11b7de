"""Building a flow's source from settings, through the registry of sources.

Every source declares itself where it is registered (pipeline.sources.base.register, at the end
of its module): its name, its help line and what it can do. This module only looks sources up
and hands their builders the home's request ledgers (flows.quota), so nothing here names one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flows.settings import Settings
from pipeline.errors import InputError
from pipeline.sources.base import Plan, Sessions, Source, SourceSpec, registered

if TYPE_CHECKING:
    from pipeline.sources.http import QuotaLedger, WindowLedger

__all__ = ["HomeLedgers", "Sessions", "build_source", "computes", "run_fetches", "spec_of"]


@dataclass(frozen=True)
class HomeLedgers:
    """The request ledgers of a home: shared by every process using it (pipeline Ledgers)."""

    home: Path

    def window(self, name: str, limit: int, window_seconds: float) -> WindowLedger:
        """Return the sliding-window budget `name` kept in the home's quota folder."""
        from flows.quota import FileWindowLedger

        return FileWindowLedger(self.home, name, limit, window_seconds)

    def daily(self, tier: str) -> QuotaLedger:
        """Return the FlashAlpha daily budget of `tier` kept in the home's quota folder."""
        from flows.quota import FileQuotaLedger

        return FileQuotaLedger(self.home, tier)


def spec_of(name: str) -> SourceSpec:
    """Return the registered source called `name`; raise InputError naming the known ones."""
    specs = registered()
    if name not in specs:
        raise InputError(f"unknown source {name!r} (known: {', '.join(specs)})")
    return specs[name]


def build_source(
    settings: Settings, name: str, symbols: list[str], at: datetime, sessions: Sessions = 1
) -> Source:
    """Return the source called `name`, configured from `settings` for these symbols and time.

    `sessions`: how many fetches the run will make per symbol (a snapshot 1; a backfill the
    sessions it has to do); a budgeted source keeps budget back for them.
    """
    spec = spec_of(name)
    return spec.build(settings, name, Plan(symbols, at, sessions), HomeLedgers(settings.home))


def computes(name: str) -> bool:
    """Return True when the named source gives chains the engine prices (False: the API's).

    Known before the source is built, so a flow can work out its sessions to do (and so the
    `sessions` to pass to build_source) from the method first.
    """
    return spec_of(name).computes


def run_fetches(symbols: list[str], sessions: Sessions) -> int:
    """Return how many fetches a run of `symbols` makes (sessions per symbol, summed)."""
    return Plan(symbols, datetime.min, sessions).fetches()
