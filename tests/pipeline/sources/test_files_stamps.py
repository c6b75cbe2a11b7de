"""A chain file without a time of its own describes its day's session close (16:00, 13:00)."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from pipeline.engine.timing import NEW_YORK
from pipeline.sources.files import ChainFolderSource
from pipeline.sources.synthetic import SyntheticMarket


def ny(text: str) -> datetime:
    """Return a New York time from ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def write_file(folder, day: str, own_time: str | None = None) -> None:
    """Write SPY's generic chain file of `day`, with an `as_of` column when `own_time`."""
    chain = SyntheticMarket().chain("SPY", ny(f"{day}T12:00"), expiries=3, strikes=11)
    frame = chain.frame.drop("prev_open_interest").with_columns(underlying_price=pl.lit(chain.spot))
    if own_time is not None:
        frame = frame.with_columns(as_of=pl.lit(ny(own_time).isoformat()))
    frame.write_csv(folder / f"SPY_{day}.csv")


@pytest.mark.parametrize(
    ("day", "close"),
    [("2024-03-15", "2024-03-15T16:00"), ("2024-11-29", "2024-11-29T13:00")],
)
def test_a_file_without_a_time_is_stamped_at_its_sessions_close(tmp_path, day, close):
    undated, dated = tmp_path / "undated", tmp_path / "dated"
    undated.mkdir()
    dated.mkdir()
    write_file(undated, day)
    write_file(dated, day, own_time=f"{day}T12:34")
    got = ChainFolderSource(undated).fetch("SPY", ny(f"{day}T16:15"))
    assert got.as_of == ny(close)
    assert got.chain is not None and got.chain.as_of == ny(close)
    # A file that states its own time keeps it.
    assert ChainFolderSource(dated).fetch("SPY", ny(f"{day}T16:15")).as_of == ny(f"{day}T12:34")
