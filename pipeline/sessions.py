"""NYSE sessions: which trading day a moment describes (exchange_calendars)."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def nyse() -> Any:
    """Return the NYSE (XNYS) calendar, loaded once on first use."""
    import warnings

    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads Series.values, which pandas 3.1 deprecates; harmless.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar("XNYS")


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
