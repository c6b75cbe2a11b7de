"""History imports: price bars and SqueezeMetrics DIX.csv into the lake (all or nothing).

Every input is checked in full before the first write: a bad row, an empty symbol list, a
span with no NYSE session or one reaching past the last closed session is one InputError naming
the file or the option, and nothing is stored. A bar exists only once its session has closed:
today's bar before the close (its "close" would be an intraday price) is never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from flows.settings import Settings
from pipeline.errors import InputError
from pipeline.sources.dix import read_dix
from pipeline.sources.prices import (
    last_closed_session,
    read_bars,
    refuse_unclosed,
    session_span,
    synthetic_bars,
)
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


def _require_symbols(symbols: list[str], option: str = "--symbols") -> None:
    """Refuse an empty symbol list: an empty option must not mean "nothing" or "everything"."""
    if not symbols:
        raise InputError(f"{option} names no symbol")


def import_prices(home: Path, path: Path, symbol: str, source: str = "import") -> Imported:
    """Validate every bar of `path`, then store them all as `prices` of `symbol`."""
    if not symbol.strip():
        raise InputError("--symbol is empty: name the symbol the bars belong to")
    bars = read_bars(path, symbol, source)
    written = Lake(home).write_all({"prices": bars.rows})
    catalog.ensure(home)
    return Imported(written, *_span(bars.rows.get_column("trade_date")), bars.notes)


def import_synthetic_prices(
    home: Path,
    symbols: list[str],
    start: date,
    end: date,
    market: SyntheticMarket,
    now: datetime | None = None,
) -> Imported:
    """Store the synthetic market's daily bars of `symbols` for sessions in [start, end].

    Refused before any write: no symbol, --start after --end, a span with no session, an
    --end past the last session closed by `now` (default the clock).
    """
    _require_symbols(symbols)
    session_span(start, end, ("--start", "--end"))
    refuse_unclosed(end, "--end", now)
    bars = pl.concat([synthetic_bars(market, s, start, end, now=now) for s in symbols])
    written = Lake(home).write_all({"prices": bars})
    catalog.ensure(home)
    return Imported(written, start, end, [])


def import_dix(home: Path, path: Path) -> Imported:
    """Validate DIX.csv, then store its daily snapshots and SPX closes."""
    dix = read_dix(path)
    written = Lake(home).write_all({"snapshots": dix.snapshots, "prices": dix.prices})
    catalog.ensure(home)
    return Imported(written, *_span(dix.snapshots.get_column("trade_date")), [])


def _span(days: pl.Series) -> tuple[date, date]:
    """Return the first and last day of a non-empty Date column (readers refuse empty files)."""
    first, last = days.min(), days.max()
    assert isinstance(first, date) and isinstance(last, date)
    return first, last


def check_update(
    settings: Settings, symbols: list[str], start: date, now: datetime | None = None
) -> date:
    """Return the last session closed by `now` once `prices update`'s input is good; else raise.

    Refused: another source than synthetic, no symbol, a --start after the last closed session
    or outside the NYSE calendar. The CLI calls it before starting the flow, so a bad option
    is one line and not a failed flow run.
    """
    if settings.source != "synthetic":
        raise InputError(
            f"prices update follows the synthetic source only; for "
            f"{settings.source} use `gammalake prices import FILE --symbol ...`"
        )
    _require_symbols(symbols)
    latest = last_closed_session(now)
    session_span(start, latest, ("--start", "the latest session"))
    return latest


def update_prices(
    settings: Settings, symbols: list[str], start: date, now: datetime | None = None
) -> Imported:
    """Store bars from the day after each symbol's last stored bar to the last closed session.

    `now` (default the clock) decides which session has closed: a session still open gets no
    bar. Everything check_update refuses is refused before any write.
    """
    latest = check_update(settings, symbols, start, now)
    home = settings.home
    stored = _last_stored(home)
    firsts = {s: stored[s] + timedelta(days=1) if s in stored else start for s in symbols}
    market = settings.market()
    frames = [
        synthetic_bars(market, symbol, first, latest, now=now)
        for symbol, first in firsts.items()
        if first <= latest
    ]
    written = Lake(home).write_all({"prices": pl.concat(frames)}) if frames else {"prices": 0}
    catalog.ensure(home)
    return Imported(written, start, latest, [])


def _last_stored(home: Path) -> dict[str, date]:
    """Return the last stored synthetic bar's day per symbol."""
    if "prices" not in Lake(home).datasets():
        return {}
    found = catalog.query(
        home,
        "SELECT symbol, max(trade_date) AS last FROM prices WHERE "
        "source = 'synthetic' GROUP BY symbol",
    )
    return dict(found.iter_rows())
