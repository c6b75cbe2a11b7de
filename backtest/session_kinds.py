"""Kinds of NYSE session where engine conventions bite: half days and monthly expiry Fridays.

Two methods (engine v1 and v2 above all) can agree on ordinary days and part on these: a half
day closes at 13:00, so its own expiry stops trading three hours before 16:00; a monthly expiry
Friday is the day AM-settled index options settle at the open. `by_kind` gives a pair's
disagreement per kind, so a user sees where the difference lives.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from pipeline.sessions import close_times, previous_session, sessions_between

KINDS = ("half day", "expiry Friday", "other")


def monthly_expiry(year: int, month: int) -> date:
    """Return the session of a month's standard expiration: the third Friday, else the day before.

    (When the third Friday is an NYSE holiday, as on Good Friday, options expire the session
    before.)
    """
    first = date(year, month, 1)
    friday = first + timedelta(days=(4 - first.weekday()) % 7 + 14)
    return friday if sessions_between(friday, friday) else previous_session(friday)


def session_kinds(days: list[date]) -> list[str]:
    """Return each session's kind: `half day` (13:00 close), `expiry Friday`, or `other`."""
    if not days:
        return []
    expiries = {monthly_expiry(d.year, d.month) for d in days}
    closes = close_times(days)
    return [
        "half day" if close.hour == 13 else "expiry Friday" if day in expiries else "other"
        for day, close in zip(days, closes, strict=True)
    ]


def by_kind(pairs: pl.DataFrame) -> list[dict[str, Any]]:
    """Return a pair's disagreement on each kind of session both methods have.

    `pairs`: `backtest.compare.pair_sessions` output. Per kind: sessions; median |net GEX A -
    net GEX B| in % of |net GEX A|; median |flip A - flip B| in points; regime agreement, call
    and put wall equality in %. Kinds with no session are left out.
    """
    both = pairs.filter(pl.col("in_a") & pl.col("in_b"))
    kinds = session_kinds(both.get_column("trade_date").to_list())
    both = both.with_columns(pl.Series("kind", kinds, pl.String))
    return [
        _kind_row(kind, part)
        for kind in KINDS
        if (part := both.filter(pl.col("kind") == kind)).height
    ]


def _kind_row(kind: str, part: pl.DataFrame) -> dict[str, Any]:
    """Return one kind's figures (see `by_kind`)."""
    gex = part.drop_nulls(["net_gex_a", "net_gex_b"]).filter(pl.col("net_gex_a") != 0)
    gap = (100 * (gex["net_gex_a"] - gex["net_gex_b"]).abs() / gex["net_gex_a"].abs()).to_numpy()
    flips = part.drop_nulls(["gamma_flip_a", "gamma_flip_b"])
    points = (flips["gamma_flip_a"] - flips["gamma_flip_b"]).abs().to_numpy()
    return {
        "kind": kind,
        "sessions": part.height,
        "net_gex_median_gap_pct": _median(gap),
        "flip_median_gap_points": _median(points),
        "regime_agreement_pct": _share(part, "gamma"),
        "call_wall_equal_pct": _share(part, "call_wall"),
        "put_wall_equal_pct": _share(part, "put_wall"),
    }


def _median(values: np.ndarray) -> float | None:
    """Return the median, None of no values."""
    return float(np.median(values)) if values.size else None


def _share(part: pl.DataFrame, column: str) -> float | None:
    """Return the % of sessions where both know `column` and give the same value."""
    both = part.drop_nulls([f"{column}_a", f"{column}_b"])
    if not both.height:
        return None
    return 100 * both.filter(pl.col(f"{column}_a") == pl.col(f"{column}_b")).height / both.height
