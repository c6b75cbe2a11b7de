"""One durable sync for a batch of raw archive writes (warehouse.raw.one_sync)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import polars as pl

from warehouse import raw
from warehouse.raw import RawArchive, one_sync


def _count(monkeypatch) -> dict[str, int]:
    calls = {"fsync": 0, "sync": 0}
    real_fsync = raw.os.fsync

    def fsync(fd: int) -> None:
        calls["fsync"] += 1
        real_fsync(fd)

    def sync() -> None:
        calls["sync"] += 1

    monkeypatch.setattr(raw.os, "fsync", fsync)
    monkeypatch.setattr(raw.os, "sync", sync)
    return calls


def _put(archive: RawArchive, symbol: str) -> None:
    frame = pl.DataFrame({"strike": [100.0], "right": ["C"], "open_interest": [1]})
    as_of = datetime(2024, 3, 15, 20, 15, tzinfo=UTC)
    archive.put_input(
        source="datashop", symbol=symbol, as_of=as_of, spot=100.0, origin="t", frame=frame
    )


def test_writes_alone_fsync_each_file(tmp_path, monkeypatch):
    calls = _count(monkeypatch)
    archive = RawArchive(tmp_path)
    for symbol in ("SPY", "QQQ", "IWM"):
        _put(archive, symbol)
    assert calls == {"fsync": 3, "sync": 0}


def test_writes_in_one_sync_are_made_durable_once_at_the_end(tmp_path, monkeypatch):
    calls = _count(monkeypatch)
    archive = RawArchive(tmp_path)
    with one_sync():
        with one_sync():  # nested: only the outermost block syncs
            _put(archive, "SPY")
        _put(archive, "QQQ")
        assert calls == {"fsync": 0, "sync": 0}
    assert calls == {"fsync": 0, "sync": 1}
    assert len(list((tmp_path / "raw").rglob("*.parquet"))) == 2


def test_the_batch_is_per_thread(tmp_path, monkeypatch):
    calls = _count(monkeypatch)
    archive = RawArchive(tmp_path)
    with one_sync():
        other = threading.Thread(target=_put, args=(archive, "QQQ"))
        other.start()
        other.join()
    assert calls == {"fsync": 1, "sync": 1}
