"""The `prices` flow: keep the watchlist's daily bars up to date."""

from __future__ import annotations

from datetime import date, datetime

from prefect import flow

from flows.imports import Imported, update_prices
from flows.settings import Settings


@flow(name="gammalake-prices")
def prices_flow(
    settings: Settings, symbols: list[str], start: date, now: datetime | None = None
) -> Imported:
    """Store bars from each symbol's last stored one to the last closed session; return counts.

    `now` (default the clock) decides which session has closed (see update_prices).
    """
    return update_prices(settings, symbols, start, now)
