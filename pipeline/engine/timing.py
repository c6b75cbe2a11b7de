"""Time to expiry, in years, from a snapshot moment to each contract's expiry moment.

The expiry moment of a PM-settled contract is the NYSE close of its expiration date (13:00 on
half days) or a fixed time (engine v1: 16:00); AM-settled contracts expire at the open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
from numpy.typing import NDArray

from pipeline.engine.config import SESSION_CLOSE, EngineConfig
from pipeline.sessions import NEW_YORK, close_times

__all__ = ["AM_EXPIRY", "AM_ROOTS", "NEW_YORK", "ExpiryClock", "expiry_clock", "session_date"]
#: Option roots whose contracts settle at the open of the expiration date (AM-settled): SPX
#: monthlies (SPXW weeklies settle PM), NDX (NDXP: PM), RUT (RUTW: PM), VIX.
AM_ROOTS = frozenset({"SPX", "NDX", "RUT", "VIX"})
#: The opening time AM-settled contracts expire at (New York).
AM_EXPIRY = "09:30"


@dataclass(frozen=True)
class ExpiryClock:
    """Years to expiry per contract, and which contracts are past expiry or same-day.

    `years` is NaN where `expired` or `dropped_zero_dte` is True.
    """

    years: NDArray[np.float64]
    expired: NDArray[np.bool_]
    same_day: NDArray[np.bool_]
    dropped_zero_dte: NDArray[np.bool_]


def session_date(as_of: datetime) -> date:
    """Return the New York calendar date of a timezone-aware moment."""
    return as_of.astimezone(NEW_YORK).date()


def _close_epochs(days: NDArray[np.datetime64], close: str) -> NDArray[np.float64]:
    """Return the POSIX seconds of `close` on each date, DST-correct.

    `close` is HH:MM New York, or SESSION_CLOSE: the NYSE close of each date (13:00 on half
    days; 16:00 on a date the calendar has no session for).
    """
    unique, inverse = np.unique(days, return_inverse=True)
    dates: list[date] = [d.astype(object) for d in unique]
    if close == SESSION_CLOSE:
        moments = close_times(dates)
    else:
        hh, mm = (int(x) for x in close.split(":"))
        moments = [datetime.combine(d, time(hh, mm), NEW_YORK) for d in dates]
    epochs = np.array([m.timestamp() for m in moments], dtype=np.float64)
    return epochs[inverse]


def expiry_clock(
    expirations: NDArray[np.datetime64],
    as_of: datetime,
    config: EngineConfig,
    am_settled: NDArray[np.bool_] | None = None,
) -> ExpiryClock:
    """Return years to expiry for each expiration date (datetime64[D]) under `config`.

    `am_settled` marks contracts that expire at the open (AM_EXPIRY) of their date: in
    calendar time they are measured to it; by business days they are expired once the
    snapshot is past the open of their expiration date.
    """
    today = np.datetime64(session_date(as_of), "D")
    same_day = expirations == today
    am = np.zeros(expirations.shape, dtype=bool) if am_settled is None else am_settled
    if config.year_basis == "business":
        # By date, not by the count's sign: busday_count from a Sunday back to Friday is 0.
        opened = as_of.timestamp() >= _close_epochs(np.array([today]), AM_EXPIRY)[0]
        expired = (expirations < today) | (am & same_day & opened)
        count = np.busday_count(today, np.maximum(expirations, today)).astype(np.float64)
        zero = count == 0
        dropped = zero & (config.zero_dte == "drop")
        count = np.where(zero & ~dropped, 1.0, count)
        years = count / config.days_per_year
    else:
        ends = _close_epochs(expirations, config.expiry_close)
        if am.any():
            ends = np.where(am, _close_epochs(expirations, AM_EXPIRY), ends)
        seconds = ends - as_of.timestamp()
        expired = seconds <= 0
        dropped = np.zeros_like(expired)
        years = seconds / (config.days_per_year * 86400.0)
    years = np.where(expired | dropped, np.nan, years)
    return ExpiryClock(years, expired, same_day & ~expired & ~dropped, dropped)
