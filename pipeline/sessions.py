"""NYSE sessions: which trading day a moment describes (exchange_calendars).

exchange_calendars is the authority, but building its calendar costs ~0.8 s (pandas, holiday
rules), more than a whole one-symbol snapshot. So the sessions with their open and close are
kept in a small table (`SessionTable`), built from the calendar once and cached in the user's
cache folder, keyed by the library's version and rebuilt a week later (the calendar's horizon,
a year ahead, moves with the date). Everything here answers from that table; `nyse()` stays
for the rare callers that need the full calendar.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")

#: First session the calendar holds. Fixed, not "20 years ago" (the library's default), so the
#: sessions a stored history covers never slide out of it (rebuilds must keep working).
CALENDAR_START = "1990-01-02"


@lru_cache(maxsize=1)
def nyse() -> Any:
    """Return the NYSE (XNYS) calendar from CALENDAR_START to a year ahead, loaded once."""
    import warnings

    import exchange_calendars as xcals

    # exchange_calendars 4.13 reads Series.values on tz-aware data, which pandas 3.1 deprecates
    # (harmless; the library's to fix). Only that exact message is silenced.
    warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops")
    return xcals.get_calendar("XNYS", start=CALENDAR_START)


#: Rebuild the cached table after this long (its horizon is a year ahead of its build day).
TABLE_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True)
class SessionTable:
    """Every NYSE session the calendar knows, in order, with its open and close.

    `days` are ordinals (date.toordinal()); `opens` and `closes` are UTC epoch seconds.
    """

    days: tuple[int, ...]
    opens: tuple[int, ...]
    closes: tuple[int, ...]

    @property
    def first(self) -> date:
        """Return the first session."""
        return date.fromordinal(self.days[0])

    @property
    def last(self) -> date:
        """Return the last session (about a year ahead)."""
        return date.fromordinal(self.days[-1])

    def between(self, start: date, end: date) -> list[date]:
        """Return the sessions from `start` to `end`, both included."""
        lo, hi = bisect_left(self.days, start.toordinal()), bisect_right(self.days, end.toordinal())
        return [date.fromordinal(d) for d in self.days[lo:hi]]

    def index_on_or_before(self, day: date) -> int:
        """Return the index of `day`, or of the session before it (-1: before the first)."""
        return bisect_right(self.days, day.toordinal()) - 1

    def close(self, day: date) -> datetime | None:
        """Return the session's close in New York, or None when `day` is not a session."""
        i = self.index_on_or_before(day)
        if i < 0 or self.days[i] != day.toordinal():
            return None
        return datetime.fromtimestamp(self.closes[i], UTC).astimezone(NEW_YORK)

    def is_open(self, moment: datetime) -> bool:
        """Return True when `moment` falls inside a session (open to close)."""
        i = self.index_on_or_before(moment.astimezone(NEW_YORK).date())
        stamp = moment.timestamp()
        return i >= 0 and self.opens[i] <= stamp < self.closes[i]


def _cache_file() -> Path:
    """Return the cached table's file ($XDG_CACHE_HOME/gammalake, else ~/.cache/gammalake)."""
    from importlib.metadata import version

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    name = f"xnys-{CALENDAR_START}-exchange_calendars-{version('exchange_calendars')}.json"
    return Path(base) / "gammalake" / name


def _build_table() -> SessionTable:
    """Return the table of the exchange_calendars calendar (the slow path)."""
    schedule = nyse().schedule
    days = tuple(d.toordinal() for d in schedule.index.date)
    opens = tuple(int(t.timestamp()) for t in schedule["open"])
    closes = tuple(int(t.timestamp()) for t in schedule["close"])
    return SessionTable(days, opens, closes)


def _read_cached(path: Path) -> SessionTable | None:
    """Return the cached table when present, whole and fresh, else None."""
    import json

    try:
        data = json.loads(path.read_text())
        built = datetime.fromisoformat(data["built"])
        table = SessionTable(tuple(data["days"]), tuple(data["opens"]), tuple(data["closes"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    fresh = datetime.now(UTC) - built < TABLE_MAX_AGE
    whole = len(table.days) == len(table.opens) == len(table.closes) > 0
    return table if fresh and whole else None


def _write_cached(path: Path, table: SessionTable) -> None:
    """Write the table beside its readers atomically; a cache that cannot be written is skipped."""
    import json

    body = {"built": datetime.now(UTC).isoformat(), "days": table.days}
    body |= {"opens": table.opens, "closes": table.closes}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(json.dumps(body))
        os.replace(temp, path)
    except OSError:
        pass  # a read-only home: every process builds the table itself, slower but right


@lru_cache(maxsize=1)
def session_table() -> SessionTable:
    """Return the NYSE session table: from the cache when fresh, else built and cached."""
    path = _cache_file()
    table = _read_cached(path)
    if table is None:
        table = _build_table()
        _write_cached(path, table)
    return table


def session_of(moment: datetime) -> date:
    """Return the NYSE session a snapshot taken at `moment` describes.

    The latest session that had opened by `moment`: a 16:15 snapshot describes that day, a
    Sunday or a pre-open snapshot describes the previous session.
    """
    table = session_table()
    i = table.index_on_or_before(moment.astimezone(NEW_YORK).date())
    if i >= 0 and table.opens[i] > moment.timestamp():
        i -= 1
    if i < 0:
        raise ValueError(f"{moment.isoformat()} is before the NYSE calendar ({table.first})")
    return date.fromordinal(table.days[i])


def previous_session(day: date) -> date:
    """Return the session before `day` (a session or not)."""
    table = session_table()
    i = table.index_on_or_before(day - timedelta(days=1))
    if i < 0:
        raise ValueError(f"no NYSE session before {day} (the calendar starts {table.first})")
    return date.fromordinal(table.days[i])


def close_times(days: list[date]) -> list[datetime]:
    """Return each session's close in New York.

    The NYSE close where the calendar covers the day (13:00 on half days), 16:00 otherwise.
    """
    table = session_table()
    return [table.close(d) or datetime.combine(d, time(16, 0), NEW_YORK) for d in days]


def sessions_between(start: date, end: date) -> list[date]:
    """Return the NYSE sessions from `start` to `end`, both included."""
    return session_table().between(start, end) if start <= end else []


def after_close(day: date, delay_minutes: int) -> datetime:
    """Return `delay_minutes` after the session's close (13:00 on half days), New York time."""
    return close_times([day])[0] + timedelta(minutes=delay_minutes)


def calendar_span() -> tuple[date, date]:
    """Return the first and last session the NYSE calendar knows."""
    table = session_table()
    return table.first, table.last


def market_moment(at: datetime) -> datetime:
    """Return the moment a market snapshot taken at `at` describes, New York time.

    `at` itself while a session is open; otherwise the close of the last session that opened
    by then (13:00 on half days): a 16:15 or a Sunday snapshot describes that close. Past the
    calendar's horizon (about a year ahead) `at` itself.
    """
    table = session_table()
    if table.is_open(at) or at.astimezone(NEW_YORK).date() > table.last:
        return at.astimezone(NEW_YORK)  # past the calendar's horizon nothing is known of it
    day = session_of(at)
    return table.close(day) or datetime.combine(day, time(16, 0), NEW_YORK)
