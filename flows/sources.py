"""Building a flow's source from settings: synthetic, chains, flashalpha, flashalpha-historical."""

from __future__ import annotations

from datetime import datetime

from flows.quota import FileQuotaLedger
from flows.settings import Settings
from pipeline.engine.presets import preset
from pipeline.errors import InputError
from pipeline.sources.base import ChainFolderSource, Source, SyntheticSource
from pipeline.sources.flashalpha import (
    ClientConfig,
    FlashAlphaClient,
    FlashAlphaSource,
    plan_requests,
)

SOURCES = ("synthetic", "chains", "flashalpha", "flashalpha-historical")


def build_source(settings: Settings, name: str, symbols: list[str], at: datetime) -> Source:
    """Return the source called `name`, configured from `settings` for these symbols and time."""
    config = preset(settings.preset)
    if name == "synthetic":
        return SyntheticSource(
            market=settings.market(),
            config=config,
            nearest_expiries=settings.nearest_expiries,
            expiries=settings.synthetic_expiries,
            strikes=settings.synthetic_strikes,
        )
    if name == "chains":
        if settings.chains_dir is None or not settings.chains_dir.is_dir():
            raise InputError(
                f"source chains needs chains_dir (a folder of chain files); got "
                f"{settings.chains_dir}"
            )
        return ChainFolderSource(
            settings.chains_dir, config=config, nearest_expiries=settings.nearest_expiries
        )
    if name in ("flashalpha", "flashalpha-historical"):
        return flashalpha_source(settings, name, symbols, at)
    raise InputError(f"unknown source {name!r} (known: {', '.join(SOURCES)})")


def flashalpha_source(
    settings: Settings, name: str, symbols: list[str], at: datetime
) -> FlashAlphaSource:
    """Return the API source with today's request plan for `symbols` within the budget."""
    key = settings.api_key()
    if not key:
        raise InputError(
            "source flashalpha needs a key: set FLASHALPHA_API_KEY (or flashalpha_secret_block)"
        )
    historical = name == "flashalpha-historical"
    base = settings.flashalpha_historical_url if historical else settings.flashalpha_base_url
    config = ClientConfig(key, base_url=base)  # historical: each fetch sends its own `at`
    ledger = FileQuotaLedger(settings.home, settings.flashalpha_tier)
    planned, skipped = plan_requests(symbols, settings.flashalpha_tier, ledger.remaining())
    plan: dict[str, list] = {}
    for item in planned:
        plan.setdefault(item.symbol, []).append(item)
    source = FlashAlphaSource(
        FlashAlphaClient(config, ledger=ledger), plan, name=name, historical=historical
    )
    for item in skipped:
        source.errors.setdefault(item.symbol, []).append(
            f"{item.label()}: skipped, daily budget spent"
        )
    return source
