"""History imports: price bars and SqueezeMetrics DIX.csv into the lake (all or nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pipeline.sources.dix import read_dix
from pipeline.sources.prices import read_bars, synthetic_bars
from pipeline.sources.synthetic import SyntheticMarket
from warehouse import catalog
from warehouse.lake import Lake


@dataclass(frozen=True)
class Imported:
    """Rows written per dataset, the span covered, and notes for the user."""

    rows: dict[str, int]
    first: date
    last: date
    notes: list[str]


def import_prices(home: Path, path: Path, symbol: str, source: str = "import") -> Imported:
    """Validate every bar of `path`, then store them all as `prices` of `symbol`."""
    bars = read_bars(path, symbol, source)
    written = Lake(home).write_all({"prices": bars.rows})
    catalog.ensure(home)
    days = bars.rows.get_column("trade_date")
    return Imported(written, days.min(), days.max(), bars.notes)


def import_synthetic_prices(
    home: Path, symbols: list[str], start: date, end: date, market: SyntheticMarket
) -> Imported:
    """Store the synthetic market's daily bars of `symbols` for sessions in [start, end]."""
    total = 0
    for symbol in symbols:
        total += Lake(home).write("prices", synthetic_bars(market, symbol, start, end))
    catalog.ensure(home)
    return Imported({"prices": total}, start, end, [])


def import_dix(home: Path, path: Path) -> Imported:
    """Validate DIX.csv, then store its daily snapshots and SPX closes."""
    dix = read_dix(path)
    written = Lake(home).write_all({"snapshots": dix.snapshots, "prices": dix.prices})
    catalog.ensure(home)
    days = dix.snapshots.get_column("trade_date")
    return Imported(written, days.min(), days.max(), [])


def update_prices(settings: object, symbols: list[str], start: date) -> Imported:
    """Store bars from the day after each symbol's last stored bar to the latest session."""
    from datetime import datetime

    from pipeline.engine.timing import NEW_YORK
    from pipeline.errors import InputError
    from pipeline.sessions import session_of

    if settings.source != "synthetic":
        raise InputError(
            f"prices update follows the synthetic source only; for "
            f"{settings.source} use `gammalake prices import FILE --symbol ...`"
        )
    home = settings.home
    latest = session_of(datetime.now(NEW_YORK))
    stored = {}
    if "prices" in Lake(home).datasets():
        found = catalog.query(
            home,
            "SELECT symbol, max(trade_date) AS last FROM prices WHERE "
            "source = 'synthetic' GROUP BY symbol",
        )
        stored = dict(found.iter_rows())
    market, total = settings.market(), 0
    for symbol in symbols:
        first = stored[symbol] + timedelta(days=1) if symbol in stored else start
        if first <= latest:
            total += Lake(home).write("prices", synthetic_bars(market, symbol, first, latest))
    catalog.ensure(home)
    return Imported({"prices": total}, start, latest, [])
