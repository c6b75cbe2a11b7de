"""Rebuilding raw records archived before stamps (schema 3): v2 restamps them, v1 keeps its own.

Before schema 3 a synthetic input and a chain file without a time of its own were archived at
the moment the run asked for (16:15; 13:15 on a half day) and no fetch time was kept. A
plain rebuild at engine v2 re-derives them at the moment they describe (the session's close)
with the old stamp as `fetched_at`; a re-derivation under a v1 method writes what v1 wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from flows.capture import Pricing
from flows.rebuild import rebuild_from_raw, rederive
from flows.store import store_chain
from pipeline.chain import Chain
from pipeline.engine.method import config_of
from pipeline.engine.presets import preset
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.synthetic import SyntheticMarket
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.raw import RawArchive

V1 = Pricing(config_of("default@v1"))
V2 = Pricing(preset("default", 2))
#: Old stamps of a daily run (16:15, and 13:15 after the half day's 13:00 close) and the closes.
OLD = ("2024-11-26T16:15", "2024-11-27T16:15", "2024-11-29T13:15")
CLOSES = ("2024-11-26T16:00", "2024-11-27T16:00", "2024-11-29T13:00")
PAIRS = tuple(zip(CLOSES, OLD, strict=True))


def ny(text: str) -> datetime:
    """Return a New York time from ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def utc(text: str) -> datetime:
    """Return a New York time from ISO text, in UTC (as the lake returns it)."""
    return ny(text).astimezone(UTC)


def small_chain(when: datetime, symbol: str = "SPY") -> Chain:
    """Return a small synthetic chain at `when`."""
    return SyntheticMarket().chain(symbol, when, expiries=4, strikes=15)


def archive_old(home: Path, chain: Chain, source: str = "synthetic") -> Path:
    """Archive `chain` as gammalake did before schema 3: at its stamp, no fetch time, v1."""
    raw = RawArchive(home)
    path = raw.put_input(
        source=source,
        symbol=chain.symbol,
        as_of=chain.as_of,
        spot=chain.spot,
        origin=chain.origin,
        frame=chain.frame,
    )
    raw.add_method(path, "default@v1")
    return path


def old_home(home: Path) -> Path:
    """Return a home whose raw/ holds SPY's old-style synthetic inputs, and v1 rows of them."""
    for text in OLD:
        archive_old(home, small_chain(ny(text)))
    rebuild_from_raw(home, V1)
    return home


def stamps(home: Path, method: str) -> list[tuple[datetime, datetime]]:
    """Return (as_of, fetched_at) of `method`'s snapshots, in time order."""
    snaps = Lake(home).read("snapshots").filter(pl.col("method") == method).sort("as_of")
    return snaps.select("as_of", "fetched_at").rows()


def test_a_v1_rebuild_of_old_inputs_keeps_the_stamps_v1_wrote(tmp_path):
    home = old_home(tmp_path)
    assert stamps(home, "default@v1") == [(utc(t), utc(t)) for t in OLD]


def test_a_v2_rebuild_stamps_old_inputs_at_the_close_and_keeps_the_fetch_time(tmp_path):
    home = old_home(tmp_path)
    done = rebuild_from_raw(home, V2)
    assert done.restamped == 3 and done.refused == []
    assert stamps(home, "default@v2") == [(utc(c), utc(t)) for c, t in PAIRS]
    assert stamps(home, "default@v1") == [(utc(t), utc(t)) for t in OLD]  # beside, untouched
    chains = Lake(home).read("chains").select("as_of", "fetched_at").unique().sort("as_of")
    assert chains.rows() == [(utc(c), utc(t)) for c, t in PAIRS]


def test_views_show_one_version_per_session(tmp_path):
    home = old_home(tmp_path)
    rebuild_from_raw(home, V2)
    catalog.rebuild(home, "default@v2")
    levels = catalog.query(home, "SELECT method, as_of FROM daily_levels ORDER BY as_of")
    assert levels.rows() == [("default@v2", utc(c)) for c in CLOSES]
    counted = catalog.query(
        home, "SELECT trade_date, count(DISTINCT method) AS n FROM method_strikes GROUP BY 1"
    )
    assert set(counted.get_column("n")) == {1}


def test_a_v1_rebuild_after_v2_writes_the_same_v1_rows(tmp_path):
    home = old_home(tmp_path)
    first = Lake(home).read("snapshots").sort("as_of")
    rebuild_from_raw(home, V2)
    rebuild_from_raw(home, V1, vendor=False)  # `gammalake rebuild --preset default@v1`
    again = Lake(home).read("snapshots").filter(pl.col("method") == "default@v1").sort("as_of")
    assert again.equals(first)


def test_an_old_and_a_new_record_of_one_session_make_one_snapshot(tmp_path):
    home = old_home(tmp_path)
    store_chain(home, small_chain(ny(CLOSES[0])), V2, source="synthetic")
    new = stamps(home, "default@v2")
    assert [a for a, _f in new] == [utc(CLOSES[0])]
    done = rebuild_from_raw(home, V2)
    assert done.refused == []
    assert stamps(home, "default@v2")[0] == new[0]  # the new record, its own fetch time
    assert [a for a, _f in stamps(home, "default@v2")] == [utc(c) for c in CLOSES]


def test_rederive_finds_the_raw_input_of_a_restamped_snapshot(tmp_path):
    home = old_home(tmp_path)
    rebuild_from_raw(home, V2)
    captured = rederive(home, "synthetic", "SPY", "default@v2", utc(CLOSES[1]))
    assert captured is not None and captured.headline["as_of"] == utc(CLOSES[1])


def chain_file(folder: Path, own_time: bool) -> Chain:
    """Write SPY's generic chain file of 2024-11-26 (with an as_of column when `own_time`)."""
    chain = small_chain(ny(OLD[0]))
    frame = chain.frame.with_columns(underlying_price=pl.lit(chain.spot))
    if own_time:
        frame = frame.with_columns(as_of=pl.lit(ny(OLD[0]).isoformat()))
    path = folder / "SPY_2024-11-26.csv"
    frame.write_csv(path)
    return Chain(chain.symbol, chain.spot, chain.as_of, chain.frame, origin=str(path))


@pytest.mark.parametrize(("own_time", "described"), [(False, CLOSES[0]), (True, OLD[0])])
def test_an_old_chain_file_record_is_restamped_only_without_a_time_of_its_own(
    tmp_path, own_time, described
):
    folder = tmp_path / "files"
    folder.mkdir()
    archive_old(tmp_path / "home", chain_file(folder, own_time), source="chains")
    rebuild_from_raw(tmp_path / "home", V2)
    [(as_of, fetched_at)] = stamps(tmp_path / "home", "default@v2")
    assert as_of == utc(described)
    # Stamped at the asked moment: that was the fetch; its own time: when it was archived.
    assert fetched_at == utc(OLD[0]) if not own_time else fetched_at > utc(OLD[0])
