"""`gammalake demo`: the engine end to end on the synthetic market, no key and no network."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from rich.table import Table

from flows.console import level, make_console, money, print_snapshot
from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.synthetic import SyntheticMarket

#: Mid-session, so same-day expiries are still live and the 0DTE magnet shows.
DEMO_TIME = time(14, 30)


def latest_session(today: date) -> date:
    """Return the latest NYSE session on or before `today`."""
    import exchange_calendars as xcals
    import pandas as pd

    calendar = xcals.get_calendar("XNYS")
    return calendar.date_to_session(pd.Timestamp(today), direction="previous").date()


def scanner_table(payloads: dict[str, dict[str, Any]]) -> Table:
    """Return one row per symbol: spot, net GEX, regime, flip, walls, magnet."""
    table = Table(title="synthetic market scan (preset default)")
    for name in (
        "symbol",
        "spot",
        "net GEX",
        "regime",
        "gamma flip",
        "call wall",
        "put wall",
        "0DTE magnet",
    ):
        table.add_column(name, justify="left" if name in ("symbol", "regime") else "right")
    for symbol, p in payloads.items():
        lv = p["levels"]["levels"]
        table.add_row(
            symbol,
            level(p["summary"]["underlying_price"]),
            money(p["summary"]["exposures"]["net_gex"]),
            p["summary"]["regime"],
            level(lv["gamma_flip"]),
            level(lv["call_wall"]),
            level(lv["put_wall"]),
            level(lv["zero_dte_magnet"]),
        )
    return table


def run_demo(symbols: list[str], today: date | None = None) -> dict[str, dict[str, Any]]:
    """Print a scan of `symbols` and the full snapshot of the first; return the payloads."""
    session = latest_session(today or datetime.now(NEW_YORK).date())
    as_of = datetime.combine(session, DEMO_TIME, NEW_YORK)
    market = SyntheticMarket()
    payloads = {
        s: ExposureSnapshot(market.chain(s, as_of), preset("default")).payloads() for s in symbols
    }
    console = make_console()
    console.print(f"[bold]gammalake demo[/] - synthetic chains at {as_of.isoformat()}")
    console.print(scanner_table(payloads))
    print_snapshot(payloads[symbols[0]], "default")
    console.print("\nNext:")
    console.print("  gammalake chain path/to/quotedata.csv            # a CBOE download")
    console.print("  gammalake chain path/to/quotedata.csv --json     # every payload as JSON")
    console.print("  gammalake chain FILE --preset perfiliev          # Perfiliev's conventions")
    return payloads
