"""NYSE sessions: which trading day a moment describes (exchange_calendars)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from pipeline.engine.timing import NEW_YORK

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


def session_of(moment: datetime) -> date:
    """Return the NYSE session a snapshot taken at `moment` describes.

    The latest session that had opened by `moment`: a 16:15 snapshot describes that day, a
    Sunday or a pre-open snapshot describes the previous session.
    """
    import pandas as pd

    calendar = nyse()
    stamp = pd.Timestamp(moment).tz_convert("UTC")
    session = calendar.date_to_session(stamp.tz_convert("America/New_York").date(), "previous")
    if calendar.session_open(session) > stamp:
        session = calendar.previous_session(session)
    return session.date()


def close_times(days: list[date]) -> list[datetime]:
    """Return each session's close in New York.

    The NYSE close where the calendar covers the day (13:00 on half days), 16:00 otherwise.
    """
    import pandas as pd

    calendar = nyse()
    first, last = calendar.first_session.date(), calendar.last_session.date()
    inside = [d for d in days if first <= d <= last]
    closes: dict[date, datetime] = {}
    if inside:
        schedule = calendar.schedule.loc[pd.Timestamp(min(inside)) : pd.Timestamp(max(inside))]
        for session, close in schedule["close"].items():
            closes[session.date()] = close.tz_convert("America/New_York").to_pydatetime()
    return [closes.get(d) or datetime.combine(d, time(16, 0), NEW_YORK) for d in days]


def sessions_between(start: date, end: date) -> list[date]:
    """Return the NYSE sessions from `start` to `end`, both included."""
    import pandas as pd

    if end < start:
        return []
    return [s.date() for s in nyse().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def after_close(day: date, delay_minutes: int) -> datetime:
    """Return `delay_minutes` after the session's close (13:00 on half days), New York time."""
    return close_times([day])[0] + timedelta(minutes=delay_minutes)


def calendar_span() -> tuple[date, date]:
    """Return the first and last session the NYSE calendar knows."""
    calendar = nyse()
    return calendar.first_session.date(), calendar.last_session.date()
