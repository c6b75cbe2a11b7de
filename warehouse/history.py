"""Read queries of the stored history: what `gammalake.Lake` and the local API serve.

Every query reads Parquet files of the lake on a DuckDB in-memory connection that the History
keeps, under the shared swap lock (`warehouse.locks.reading`): a writer never swaps a file
under a running query, and no request pays for defining the catalog's views (about 60 ms a
connection), so the local API answers in a few milliseconds. A symbol is found by a filter
that DuckDB pushes into the Parquet row-group statistics (partitions hold every symbol,
sorted); one snapshot's strikes are read from its day's partition only. Files of the older
layout (lake/<dataset>/symbol=<SYM>/...) and datasets without the schema mark (which may mix
schema versions, see warehouse.lake) are read too, columns matched by name, until
`gammalake rebuild` moves or rewrites them.
Each query runs on a cursor of its own: threads may share one History; Parquet footers are
cached in the process (`parquet_metadata_cache`), so repeated queries skip re-reading them.

Method: the rows of one method are read (`default@v1`, ...). A symbol with no row of that
method falls back to its `vendor` rows (a vendor's figures, which no engine method made), as
backtests do; `method="vendor"` reads vendor rows only.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake
from warehouse.locks import reading
from warehouse.raw import INPUT, RawArchive, RawInput, read_envelope, read_input, rejected
from warehouse.schema import dataset

VENDOR = "vendor"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Symbols whose snapshot keys a History keeps (a few hundred KB each for ten years).
KEYS_CACHED = 512
#: The files `$files` of one dataset; columns matched by name (`$by_name`) only when the
#: dataset may hold files of an older layout or schema (`Lake.legacy`): binding by name opens
#: every file's footer (~0.6 ms each).
_READ = "read_parquet($files, union_by_name = $by_name, hive_partitioning = false)"
#: Rows of `$method` (or, for a symbol that has none, its vendor rows) of the files `$files`,
#: of the symbol `$symbol` where {one} is filled in.
_CHOSEN_SQL = f"""
WITH chosen AS (
    SELECT * FROM {_READ}
    WHERE method IN ($method, 'vendor'){{one}}
    QUALIFY method = CASE WHEN bool_or(method = $method) OVER (PARTITION BY symbol)
                          THEN $method ELSE 'vendor' END
)
"""
_CHOSEN = _CHOSEN_SQL.replace("{one}", "")
_ONE = _CHOSEN_SQL.replace("{one}", " AND symbol = $symbol")
#: Daily figures `history` returns (the snapshot columns, `underlying_price` as `spot`).
DAILY_COLUMNS = (
    *("trade_date", "as_of", "source", "method", "underlying_price", "net_gex", "net_dex"),
    *("net_vex", "net_chex", "net_gex_label", "regime", "gamma_flip", "gamma_flip_status"),
    *("call_wall", "put_wall", "max_positive_gamma", "max_negative_gamma"),
    *("highest_oi_strike", "zero_dte_magnet"),
)


#: The partition folders of a dataset and their modification times (ns), with the files of
#: those changed lately: `folders_version`.
Version = tuple[tuple[str, int, tuple[tuple[str, int, int], ...]], ...]
#: A folder changed less than this long ago (ns) is compared by its files too.
RECENT_NS = 3_000_000_000
#: Snapshot as_of times in microseconds since the epoch, ascending.
Stamps = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Span:
    """The first and last `as_of` of a symbol's stored snapshots (UTC) and how many there are."""

    first: datetime
    last: datetime
    snapshots: int


@dataclass(frozen=True)
class Found:
    """A snapshot row found for a moment, and the span of the history it was found in."""

    row: dict[str, Any]
    span: Span


@dataclass(frozen=True)
class Key:
    """A snapshot's key: symbol, source, method and as_of (UTC)."""

    symbol: str
    source: str
    method: str
    as_of: datetime
    #: The session the snapshot describes, when known: its rows are read from that day only.
    trade_date: date | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Key:
        """Return the key of a snapshot row (with its trade date, when the row has one)."""
        day = row.get("trade_date")
        return cls(row["symbol"], row["source"], row["method"], row["as_of"], day)


class History:
    """Queries over the lake of one home folder (see the module docstring)."""

    def __init__(self, home: Path) -> None:
        """Open an in-memory DuckDB connection for the queries; nothing is read yet."""
        self.home = home
        self._lake = Lake(home)
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET GLOBAL parquet_metadata_cache = true")
        self._keys: dict[tuple[str, str], tuple[Version, pl.DataFrame, Stamps]] = {}

    def close(self) -> None:
        """Close the connection (queries after this fail)."""
        self._con.close()

    def files(self, name: str, symbol: str | None = None, day: date | None = None) -> list[str]:
        """Return the Parquet files that may hold rows of `symbol` on `day` (None: any), sorted.

        Call it under `reading(home)`: a compaction may remove files once the lock is free.
        """
        return partition_names(self._lake.root / name, symbol, day)

    def _frame(
        self,
        name: str,
        sql: str,
        params: dict[str, Any],
        symbol: str | None = None,
        day: date | None = None,
    ) -> pl.DataFrame:
        """Return the result of `sql` over the files of `symbol` on `day` ($files, $symbol).

        An empty frame of `name`'s columns when there is no such file.
        """
        with reading(self.home):
            files = self.files(name, symbol, day)
            if not files:
                return pl.DataFrame(schema=dataset(name).schema)
            given = _files_params(files, self._lake.legacy(name))
            params = {**params, **given} | ({"symbol": symbol} if symbol else {})
            cursor = self._con.cursor()
            try:
                return cursor.sql(sql, params=params).pl()
            finally:
                cursor.close()

    def methods(self, symbol: str) -> list[str]:
        """Return every method stored for `symbol`'s snapshots, sorted (for messages)."""
        sql = f"SELECT DISTINCT method FROM {_READ} WHERE symbol = $symbol ORDER BY 1"
        frame = self._frame("snapshots", sql, {}, symbol)
        return frame.get_column("method").to_list()

    def symbols(self, method: str) -> list[str]:
        """Return the symbols with snapshots of `method` or vendor snapshots, sorted."""
        sql = _CHOSEN + "SELECT DISTINCT symbol FROM chosen ORDER BY symbol"
        frame = self._frame("snapshots", sql, {"method": method})
        return frame.get_column("symbol").to_list()

    def span(self, symbol: str, method: str) -> Span | None:
        """Return the first and last as_of of `symbol`'s snapshots, or None when it has none.

        Read from the cached snapshot keys (`keys`): a scan of every year per request made
        the API's answers slower the longer the history.
        """
        keys = self.keys(symbol, method)
        if keys.height == 0:
            return None
        times = keys.get_column("as_of")
        return Span(times.min(), times.max(), keys.height)  # type: ignore[arg-type]

    def latest(self, symbol: str, method: str, at: datetime | None) -> Found | None:
        """Return the snapshot of `symbol` latest at or before `at` (None: the latest).

        None when there is none. Ties of as_of between sources go to the first source by name.
        The key comes from the symbol's snapshot keys (`keys`, cached and sorted, so a binary
        search finds it whatever the history's length), the row from its month's file only:
        reading every column of ten years of row groups was most of an API request's time.
        """
        keys, stamps = self._keyed(symbol, method)
        if keys.height == 0:
            return None
        index = len(stamps) if at is None else int(stamps.searchsorted(_micros(at), "right"))
        if index == 0:
            return None
        head = keys.row(index - 1, named=True)
        key = Key(symbol, head["source"], head["method"], head["as_of"], head["trade_date"])
        rows = self._of_snapshot("snapshots", key, "source")
        if rows.height == 0:  # removed since the keys were read (`gammalake forget`)
            return None
        first, last = keys.item(0, "as_of"), keys.item(keys.height - 1, "as_of")
        return Found(rows.row(0, named=True), Span(first, last, keys.height))

    def keys(self, symbol: str, method: str) -> pl.DataFrame:
        """Return the keys (source, method, as_of, trade_date) of `symbol`'s chosen snapshots.

        Sorted by as_of, and by source, last first, within one as_of (so the last row of a
        moment is its first source by name). Cached until a partition folder changes (their
        modification times are compared, `folders_version`: a stat per folder instead of a
        scan of every year).
        """
        return self._keyed(symbol, method)[0]

    def _keyed(self, symbol: str, method: str) -> tuple[pl.DataFrame, Stamps]:
        """Return `keys` and their as_of in microseconds since the epoch (cached together)."""
        with reading(self.home):
            version = folders_version(self._lake.root / "snapshots", symbol)
        cached = self._keys.get((symbol, method))
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        sql = _ONE + "SELECT source, method, as_of, trade_date FROM chosen"
        frame = self._frame("snapshots", sql, {"method": method}, symbol)
        frame = frame.sort(["as_of", "source"], descending=[False, True])
        stamps = frame.get_column("as_of").dt.epoch("us").to_numpy()
        if len(self._keys) >= KEYS_CACHED:
            self._keys.clear()
        self._keys[(symbol, method)] = (version, frame, stamps)
        return frame, stamps

    def _of_snapshot(self, name: str, key: Key, order: str) -> pl.DataFrame:
        """Return the rows of dataset `name` belonging to one snapshot, ordered by `order`."""
        sql = (
            f"SELECT * FROM {_READ} WHERE symbol = $symbol AND source = $source "
            f"AND method = $method AND as_of = $as_of ORDER BY {order}"
        )
        params = {"source": key.source, "method": key.method, "as_of": key.as_of}
        return self._frame(name, sql, params, key.symbol, key.trade_date)

    def strikes(self, key: Key) -> pl.DataFrame:
        """Return one snapshot's per-strike rows, lowest strike first ($ exposures, contracts)."""
        return self._of_snapshot("strikes", key, "strike")

    def expiries(self, key: Key) -> pl.DataFrame:
        """Return one snapshot's per-expiration rows, nearest expiration first."""
        return self._of_snapshot("expiries", key, "expiration")

    def daily(self, symbol: str, method: str, start: date | None, end: date | None) -> pl.DataFrame:
        """Return the last snapshot of each session from `start` to `end` (None: open), by day."""
        where = " AND ".join(
            ["true"]
            + (["trade_date >= $start"] if start else [])
            + (["trade_date <= $end"] if end else [])
        )
        sql = _ONE + (
            f"SELECT {', '.join(DAILY_COLUMNS)} FROM chosen WHERE {where} "
            "QUALIFY row_number() OVER (PARTITION BY trade_date ORDER BY as_of DESC, source) = 1 "
            "ORDER BY trade_date"
        )
        params = {"method": method, "start": start, "end": end}
        params = {k: v for k, v in params.items() if v is not None}
        frame = self._frame("snapshots", sql, params, symbol)
        return frame.select(DAILY_COLUMNS) if frame.height else _empty_daily()

    def sessions(self, symbol: str, method: str) -> list[date]:
        """Return the sessions (trade dates) with a stored snapshot of `symbol`, in order.

        From the cached snapshot keys (`keys`), not a scan of every year.
        """
        days = self.keys(symbol, method).get_column("trade_date")
        return days.unique().sort().to_list()

    def alerts(
        self,
        symbol: str | None,
        method: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        day: date | None = None,
        limit: int | None = None,
        kinds: Iterable[str] | None = None,
    ) -> pl.DataFrame:
        """Return alerts, newest first: of one symbol or all, as_of in [since, until], of `day`.

        `kinds` keeps alerts of those kinds only (None: every kind; empty: none).
        """
        where = ["true"]
        where += ["as_of >= $since"] if since else []
        where += ["as_of <= $until"] if until else []
        where += ["trade_date = $day"] if day else []
        where += ["list_contains($kinds::VARCHAR[], kind)"] if kinds is not None else []
        cap = f" LIMIT {int(limit)}" if limit is not None else ""
        sql = (_ONE if symbol else _CHOSEN) + (
            f"SELECT * FROM chosen WHERE {' AND '.join(where)} "
            f"ORDER BY as_of DESC, symbol, kind{cap}"
        )
        params: dict[str, Any] = {"method": method, "since": since, "until": until, "day": day}
        params = {k: v for k, v in params.items() if v is not None}
        if kinds is not None:
            params["kinds"] = list(kinds)
        return self._frame("alerts", sql, params, symbol)

    def raw_input_path(self, row: Mapping[str, Any]) -> Path:
        """Return the archived engine input (a chain) a snapshot row was priced from.

        Raises WarehouseInputError saying why when there is none: vendor figures (payloads, no
        chain), no raw reference, a missing file, or one the checks refused.
        """
        ref = row.get("raw_ref")
        what = f"{row['symbol']} {row['source']} snapshot of {row['as_of'].isoformat()}"
        if not ref or Path(ref).parts[2:3] != (INPUT,):
            held = f"payloads ({ref})" if ref else "no raw reference"
            raise WarehouseInputError(f"{what} ({row['method']}): raw/ holds {held}, no chain")
        path = self.home / ref
        if not path.is_file():
            raise WarehouseInputError(f"{what}: its raw input {ref} is missing")
        if rejected(path) is not None:
            raise WarehouseInputError(f"{what}: its raw input {ref} was refused by the checks")
        return path

    def raw_payload(self, row: Mapping[str, Any], endpoint: str) -> Any | None:
        """Return the payload of `endpoint` archived with a vendor snapshot, or None.

        E.g. `gex_2026-04-17`, the per-expiration gex a vendor source fetched with the snapshot.
        A refused or missing file is None.
        """
        archive = RawArchive(self.home)
        try:
            path = archive.payload_path(row["source"], endpoint, row["symbol"], row["as_of"])
        except WarehouseInputError:
            return None
        if not path.is_file() or rejected(path) is not None:
            return None
        return read_envelope(path).payload

    def raw_input(self, row: Mapping[str, Any]) -> RawInput:
        """Return the archived engine input of a snapshot row (see `raw_input_path`)."""
        return read_input(self.raw_input_path(row))


def _files_params(files: Iterable[str | Path], legacy: bool) -> dict[str, Any]:
    """Return the $files and $by_name parameters of `_READ` for `files`.

    `legacy`: the dataset may mix schema versions (`Lake.legacy`): columns matched by name.
    """
    names = [str(f) for f in files]
    return {"files": names, "by_name": legacy or not all("/source=" in f for f in names)}


def partition_files(root: Path, symbol: str | None, day: date | None) -> list[Path]:
    """Return the files under a dataset's folder `root` that may hold `symbol` on `day`.

    See `partition_names` (these as paths).
    """
    return [Path(f) for f in partition_names(root, symbol, day)]


def partition_names(root: Path, symbol: str | None, day: date | None) -> list[str]:
    """Return the names of the files under `root` that may hold `symbol` on `day`, sorted.

    Partitions by source and day are pruned by `day`; partitions by source and month hold
    every day of theirs. Folders of the older layout (symbol=<SYM>) are pruned by `symbol`.
    Lists only the folders it needs, with os.scandir: listing every file of ten years costs
    tens of ms, and pathlib's glob several times what scandir does.
    """
    if not root.is_dir():
        return []
    found: list[str] = []
    for entry in os.scandir(root):
        if entry.name.startswith("source="):
            if day is None:
                found += _parquet_under(entry.path, ("day=", "month="))
            else:
                for folder in (f"day={day}", f"month={day:%Y-%m}"):
                    found += _parquet_in(os.path.join(entry.path, folder))
        elif entry.name.startswith("symbol="):
            if symbol is None or entry.name == f"symbol={symbol}":
                found += [str(p) for p in Path(entry.path).glob("**/*.parquet")]
        elif entry.is_dir():  # the older `month=` grain of runs
            found += _parquet_in(entry.path)
    return sorted(found)


def folders_version(root: Path, symbol: str | None) -> Version:
    """Return the partition folders under `root` with their modification times (ns), sorted.

    A writer puts a file in place by renaming it into its folder and removes the files it
    replaced, so any change of a partition's files changes its folder's time: comparing
    these is comparing the files, at a stat per folder rather than per file. A folder changed
    within RECENT_NS also lists its files (name, inode, time): a file system stamps times in
    ticks of a few ms (ext4) up to 2 s (FAT), so two writes in one tick leave one time. Files
    of the older layout (symbol=<SYM>/...) are listed one by one.
    """
    if not root.is_dir():
        return ()
    now = time.time_ns()
    out: list[tuple[str, int, tuple[tuple[str, int, int], ...]]] = []
    for entry in os.scandir(root):
        if entry.name.startswith("source="):
            for sub in os.scandir(entry.path):
                if sub.name.startswith(("day=", "month=")) and sub.is_dir():
                    out.append(_folder_version(sub.path, sub.stat().st_mtime_ns, now))
        elif entry.name.startswith("symbol="):
            if symbol is None or entry.name == f"symbol={symbol}":
                out += [(str(p), p.stat().st_mtime_ns, ()) for p in Path(entry.path).glob("**/*")]
        elif entry.is_dir():
            out.append(_folder_version(entry.path, entry.stat().st_mtime_ns, now))
    return tuple(sorted(out))


def _folder_version(
    folder: str, changed: int, now: int
) -> tuple[str, int, tuple[tuple[str, int, int], ...]]:
    """Return a folder's entry of `folders_version`: its files too when changed lately."""
    if now - changed > RECENT_NS:
        return folder, changed, ()
    files = ((e.name, e.inode(), e.stat().st_mtime_ns) for e in os.scandir(folder))
    return folder, changed, tuple(sorted(files))


def _parquet_under(folder: str, prefixes: tuple[str, ...]) -> list[str]:
    """Return the Parquet files in those sub-folders of `folder` named with one of `prefixes`."""
    out: list[str] = []
    for entry in os.scandir(folder):
        if entry.name.startswith(prefixes) and entry.is_dir():
            out += _parquet_in(entry.path)
    return out


def _parquet_in(folder: str) -> list[str]:
    """Return the Parquet files directly in `folder` (none when it does not exist)."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [e.path for e in entries if e.name.endswith(".parquet") and e.is_file()]


def _empty_daily() -> pl.DataFrame:
    """Return an empty frame with the columns and types of `History.daily`."""
    schema = dataset("snapshots").schema
    return pl.DataFrame(schema={c: schema[c] for c in DAILY_COLUMNS})


def _micros(moment: datetime) -> int:
    """Return an aware moment as microseconds since the epoch (as polars' `dt.epoch("us")`)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def scan(
    home: Path,
    name: str,
    sql: str,
    params: dict[str, Any],
    days: Iterable[date] | None = None,
    tables: Mapping[str, pl.DataFrame] | None = None,
) -> pl.DataFrame | None:
    """Return `sql` over dataset `name`'s files (`ROWS` in the SQL), None when it has none.

    `days`: only partitions of those days (None: all). `tables`: frames the SQL joins by name.
    The flows use this instead of the catalog's views: defining every view binds every file
    of every dataset, a cost that grew with the lake on each batch of a wide snapshot.
    """
    lake = Lake(home)
    root = lake.root / name
    with reading(home):
        if days is None:
            files = partition_files(root, None, None)
        else:
            files = sorted({f for d in set(days) for f in partition_files(root, None, d)})
        if not files:
            return None
        con = _scans(
            os.getpid()
        ).cursor()  # a cursor is a connection of its own: threads may scan at once
        try:
            for table, frame in (tables or {}).items():
                con.register(table, frame)
            query = sql.replace("ROWS", _READ)
            given = _files_params(files, lake.legacy(name))
            return con.sql(query, params={**params, **given}).pl()
        finally:
            con.close()


@functools.cache
def _scans(pid: int) -> duckdb.DuckDBPyConnection:
    """Return the in-memory database `scan`s take cursors of, one per process (`pid`).

    Opening one costs 30-60 ms, which per batch of a wide snapshot added up; a forked
    worker process gets its own.
    """
    del pid  # the cache key only
    con = duckdb.connect(":memory:")
    con.execute("SET GLOBAL parquet_metadata_cache = true")
    return con
