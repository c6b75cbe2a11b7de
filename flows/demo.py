"""`gammalake demo`: the engine, the lake and the catalog end to end on the synthetic market.

No key and no network: it stores a few weeks of synthetic daily snapshots (16:15 New York) and
an intraday one (14:30) for the latest NYSE session, then queries them.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from rich.table import Table

from flows.console import level, make_console, money, print_snapshot
from flows.sqlcmd import run_query, table_of
from flows.store import store_snapshot
from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.sessions import nyse
from pipeline.sources.synthetic import SyntheticMarket
from warehouse import catalog
from warehouse.queries import EXAMPLES

DAILY_TIME = time(16, 15)
INTRADAY_TIME = time(14, 30)


def recent_sessions(today: date, count: int) -> list[date]:
    """Return the last `count` NYSE sessions on or before `today`, oldest first."""
    import pandas as pd

    calendar = nyse()
    last = calendar.date_to_session(pd.Timestamp(today), direction="previous")
    return [s.date() for s in calendar.sessions_window(last, -count)]


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


def store_history(home: Path, symbols: list[str], days: list[date]) -> dict[str, Any]:
    """Store daily snapshots for `days` and an intraday one on the last; return the latter."""
    market = SyntheticMarket()
    moments = [datetime.combine(d, DAILY_TIME, NEW_YORK) for d in days]
    moments.append(datetime.combine(days[-1], INTRADAY_TIME, NEW_YORK))
    latest: dict[str, Any] = {}
    for moment in moments:
        for symbol in symbols:
            chain = market.chain(symbol, moment)
            payloads = ExposureSnapshot(chain, preset("default")).payloads()
            store_snapshot(home, payloads, source="synthetic", as_of=moment, refresh_catalog=False)
            latest[symbol] = payloads
    catalog.ensure(home)
    return latest


def run_demo(
    home: Path, symbols: list[str], *, sessions: int = 15, today: date | None = None
) -> dict[str, dict[str, Any]]:
    """Store synthetic history in `home`, print a scan, a snapshot and example queries."""
    days = recent_sessions(today or datetime.now(NEW_YORK).date(), sessions)
    console = make_console()
    console.print(
        f"[bold]gammalake demo[/] - {len(symbols)} symbols x {len(days)} sessions "
        f"({days[0]} .. {days[-1]}) of synthetic chains into {home}"
    )
    payloads = store_history(home, symbols, days)
    console.print(scanner_table(payloads))
    print_snapshot(payloads[symbols[0]], "default")
    for title, sql in EXAMPLES.items():
        console.print(f'\n[bold]{title}[/]  (gammalake sql "...", see README)')
        console.print(table_of(run_query(home, sql)))
    console.print(
        f"\nData: {home}/lake (Parquet), raw payloads: {home}/raw, "
        f"DuckDB catalog: {home}/warehouse.duckdb"
    )
    console.print("Next:")
    console.print('  gammalake sql "SELECT * FROM regime_daily ORDER BY trade_date DESC"')
    console.print("  gammalake chain path/to/quotedata.csv --save    # a CBOE download, stored")
    console.print("  gammalake doctor                                # check the lake")
    return payloads
