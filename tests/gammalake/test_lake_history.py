"""A Lake's cost per request does not grow with the stored history, and it sees new snapshots.

The home holds SPY's synthetic snapshots on one session of each of six months, written the way
a collector writes them (`warehouse.lake.Lake.write_all`). Every file a query reads is recorded
(`History._frame` wrapped): once a symbol's keys are cached, a request at any moment reads only
its snapshot's month of `snapshots` and day of `strikes`, whatever else is stored. A snapshot
written afterwards, into a month already read or a new one, is found by the next request.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gammalake.api.server import ExposureApi
from gammalake.lake import Lake
from pipeline.sessions import sessions_between
from tests.conftest import METHOD, session_close, synthetic_rows
from warehouse import catalog
from warehouse.history import History
from warehouse.lake import Lake as Storage

DAYS = ("2024-01-05", "2024-02-05", "2024-03-05", "2024-04-05", "2024-05-06", "2024-06-05")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Return a home holding SPY on one session of each of six months."""
    storage = Storage(tmp_path / "home")
    for day in DAYS:
        storage.write_all(synthetic_rows("SPY", session_close(day)))
    catalog.rebuild(storage.home, METHOD)
    return storage.home


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Return the list every History query appends the files it reads to."""
    seen: list[str] = []
    frame = History._frame

    def recorded(self: History, name: str, sql: str, params: dict[str, Any], *args: Any) -> Any:
        seen.extend(self.files(name, *args))
        return frame(self, name, sql, params, *args)

    monkeypatch.setattr(History, "_frame", recorded)
    return seen


def _names(files: list[str]) -> set[str]:
    """Return the dataset/partition of each file read ('snapshots/month=2024-03')."""
    return {"/".join(Path(f).parts[-4:-1:2]) for f in files}


def test_a_request_at_any_moment_reads_its_own_partitions_only(home: Path, reads: list[str]):
    lake = Lake(home)
    api = ExposureApi(lake, frozenset())
    api.answer("gex", "SPY", {})  # the first request reads the symbol's keys
    reads.clear()
    for day in (DAYS[2], DAYS[-1]):
        api.answer("gex", "SPY", {"at": day})  # at=: Cache-Control asks the covered range
        assert _names(reads) == {
            f"snapshots/month={day[:7]}",
            f"strikes/day={day}",
        }, day
        reads.clear()
    assert lake.coverage("SPY")[1] == session_close(DAYS[-1])
    assert lake.sessions("SPY")[2].isoformat() == DAYS[2]
    assert reads == []


def test_a_snapshot_written_later_is_found_by_the_next_request(home: Path):
    lake = Lake(home)
    assert lake.gex("SPY")["as_of"].startswith(DAYS[-1])
    storage = Storage(home)
    storage.write_all(synthetic_rows("SPY", session_close("2024-06-06")))  # a month read
    assert lake.gex("SPY")["as_of"].startswith("2024-06-06")
    assert lake.tickers("SPY")["healthy_days"] == len(DAYS) + 1
    storage.write_all(synthetic_rows("SPY", session_close("2024-07-01")))  # a new month
    assert lake.exposure_levels("SPY")["as_of"].startswith("2024-07-01")
    assert lake.coverage("SPY")[1] == session_close("2024-07-01")


def test_a_write_within_one_tick_of_the_clock_is_seen(home: Path):
    lake = Lake(home)
    folder = home / "lake/snapshots/source=synthetic/month=2024-06"
    Storage(home).write_all(synthetic_rows("SPY", session_close("2024-06-06")))
    assert lake.gex("SPY")["as_of"].startswith("2024-06-06")
    stamp = folder.stat().st_mtime_ns
    Storage(home).write_all(synthetic_rows("SPY", session_close("2024-06-07")))
    os.utime(folder, ns=(stamp, stamp))  # as a file system stamping times in coarse ticks
    assert lake.gex("SPY")["as_of"].startswith("2024-06-07")


def test_tickers_count_the_sessions_missing_between_the_first_and_last(home: Path):
    spy = Lake(home).tickers("SPY")
    assert (spy["from"], spy["to"], spy["healthy_days"]) == (DAYS[0], DAYS[-1], len(DAYS))
    between = sessions_between(date.fromisoformat(DAYS[0]), date.fromisoformat(DAYS[-1]))
    assert spy["gaps"]["missing_sessions"] == len(between) - len(DAYS) > 90
    assert spy["gaps"]["first_missing"][:2] == ["2024-01-08", "2024-01-09"]
