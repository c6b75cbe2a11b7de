"""The synthetic source stamps (and prices) a chain at the moment it describes, not at the fetch.

A daily run fetches after the close (16:15); the chain it gets is the market at the close, so
its `as_of` is 16:00 (13:00 on a half day), as a feed's own timestamp would be, and the run's
clock goes to `fetched_at`. Intraday fetches describe their own moment.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.engine.timing import NEW_YORK
from pipeline.sources.synthetic import SyntheticMarket, SyntheticSource


def ny(text: str) -> datetime:
    """Return a New York time from ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("fetched", "described"),
    [
        ("2024-03-15T16:15", "2024-03-15T16:00"),  # a daily run after the close
        ("2024-11-29T13:15", "2024-11-29T13:00"),  # a half day (day after Thanksgiving)
        ("2024-11-29T16:15", "2024-11-29T13:00"),  # ... fetched at the usual hour
        ("2024-03-17T09:00", "2024-03-15T16:00"),  # a Sunday: Friday's close
        ("2024-03-18T08:00", "2024-03-15T16:00"),  # before Monday's open
    ],
)
def test_a_fetch_is_stamped_at_the_moment_it_describes(fetched, described):
    source = SyntheticSource(expiries=3, strikes=11)
    got = source.fetch("SPY", ny(fetched))
    assert got.as_of == ny(described)
    assert got.chain is not None and got.chain.as_of == ny(described)
    # An intraday fetch of the same session describes its own moment.
    intraday = ny(f"{described[:10]}T11:30")
    assert source.fetch("SPY", intraday).as_of == intraday


def test_the_chain_is_the_market_at_that_moment_and_the_fetch_time_is_kept():
    before = datetime.now(UTC)
    got = SyntheticSource(expiries=3, strikes=11).fetch("SPY", ny("2024-11-29T13:15"))
    after = datetime.now(UTC)
    at_close = SyntheticMarket().chain("SPY", ny("2024-11-29T13:00"), expiries=3, strikes=11)
    assert got.chain is not None and got.chain.frame.equals(at_close.frame)
    assert got.fetched_at is not None and before <= got.fetched_at <= after
