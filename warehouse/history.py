"""Read queries of the stored history: what `gammalake.Lake` and the local API serve.

Every query reads Parquet files of the lake (one symbol's, lake/<dataset>/symbol=<SYM>/...,
whatever the partition grain) on a DuckDB in-memory connection that the History keeps, under
the shared swap lock (`warehouse.locks.reading`): a writer never swaps a file under a running
query, and no request pays for defining the catalog's views (about 60 ms a connection), so the
local API answers in a few milliseconds. Each query runs on a cursor of its own: threads may
share one History.

Method: the rows of one method are read (`default@v1`, ...). A symbol with no row of that
method falls back to its `vendor` rows (a vendor's figures, which no engine method made), as
backtests do; `method="vendor"` reads vendor rows only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake
from warehouse.locks import reading
from warehouse.raw import INPUT, RawArchive, RawInput, read_envelope, read_input, rejected
from warehouse.schema import dataset

VENDOR = "vendor"
#: The files `$files` of one dataset, columns matched by name (older files may lack some).
_READ = "read_parquet($files, union_by_name = true, hive_partitioning = false)"
#: Rows of `$method` (or, for a symbol that has none, its vendor rows) of the files `$files`.
_CHOSEN = f"""
WITH chosen AS (
    SELECT * FROM {_READ}
    WHERE method IN ($method, 'vendor')
    QUALIFY method = CASE WHEN bool_or(method = $method) OVER (PARTITION BY symbol)
                          THEN $method ELSE 'vendor' END
)
"""
#: Daily figures `history` returns (the snapshot columns, `underlying_price` as `spot`).
DAILY_COLUMNS = (
    *("trade_date", "as_of", "source", "method", "underlying_price", "net_gex", "net_dex"),
    *("net_vex", "net_chex", "net_gex_label", "regime", "gamma_flip", "gamma_flip_status"),
    *("call_wall", "put_wall", "max_positive_gamma", "max_negative_gamma"),
    *("highest_oi_strike", "zero_dte_magnet"),
)


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

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Key:
        """Return the key of a snapshot row."""
        return cls(row["symbol"], row["source"], row["method"], row["as_of"])


class History:
    """Queries over the lake of one home folder (see the module docstring)."""

    def __init__(self, home: Path) -> None:
        """Open an in-memory DuckDB connection for the queries; nothing is read yet."""
        self.home = home
        self._lake = Lake(home)
        self._con = duckdb.connect(":memory:")

    def close(self) -> None:
        """Close the connection (queries after this fail)."""
        self._con.close()

    def files(self, name: str, symbol: str | None = None) -> list[str]:
        """Return the Parquet files of dataset `name` (of one symbol when given), sorted."""
        root = self._lake.root / dataset(name).name
        pattern = f"symbol={symbol}/**/*.parquet" if symbol else "**/*.parquet"
        return [str(p) for p in sorted(root.glob(pattern))]

    def _frame(self, name: str, sql: str, params: dict[str, Any], files: list[str]) -> pl.DataFrame:
        """Return the result of `sql` over `files` ($files), or an empty frame of `name`."""
        if not files:
            return pl.DataFrame(schema=dataset(name).schema)
        with reading(self.home):
            cursor = self._con.cursor()
            try:
                return cursor.sql(sql, params={**params, "files": files}).pl()
            finally:
                cursor.close()

    def methods(self, symbol: str) -> list[str]:
        """Return every method stored for `symbol`'s snapshots, sorted (for messages)."""
        sql = f"SELECT DISTINCT method FROM {_READ} ORDER BY 1"
        frame = self._frame("snapshots", sql, {}, self.files("snapshots", symbol))
        return frame.get_column("method").to_list()

    def symbols(self, method: str) -> list[str]:
        """Return the symbols with snapshots of `method` or vendor snapshots, sorted."""
        sql = _CHOSEN + "SELECT DISTINCT symbol FROM chosen ORDER BY symbol"
        frame = self._frame("snapshots", sql, {"method": method}, self.files("snapshots"))
        return frame.get_column("symbol").to_list()

    def span(self, symbol: str, method: str) -> Span | None:
        """Return the first and last as_of of `symbol`'s snapshots, or None when it has none."""
        sql = _CHOSEN + "SELECT min(as_of), max(as_of), count(*) FROM chosen"
        frame = self._frame("snapshots", sql, {"method": method}, self.files("snapshots", symbol))
        if frame.height == 0 or frame.item(0, 2) == 0:
            return None
        return Span(frame.item(0, 0), frame.item(0, 1), frame.item(0, 2))

    def latest(self, symbol: str, method: str, at: datetime | None) -> Found | None:
        """Return the snapshot of `symbol` latest at or before `at` (None: the latest).

        None when there is none. Ties of as_of between sources go to the first source by name.
        """
        until = "" if at is None else "QUALIFY as_of <= $at"
        sql = _CHOSEN + (
            "SELECT *, min(as_of) OVER () AS _first, max(as_of) OVER () AS _last, "
            f"count(*) OVER () AS _count FROM chosen {until} ORDER BY as_of DESC, source LIMIT 1"
        )
        params: dict[str, Any] = {"method": method} | ({} if at is None else {"at": at})
        frame = self._frame("snapshots", sql, params, self.files("snapshots", symbol))
        if frame.height == 0:
            return None
        row = frame.row(0, named=True)
        span = Span(row.pop("_first"), row.pop("_last"), row.pop("_count"))
        return Found(row, span)

    def _of_snapshot(self, name: str, key: Key, order: str) -> pl.DataFrame:
        """Return the rows of dataset `name` belonging to one snapshot, ordered by `order`."""
        sql = (
            f"SELECT * FROM {_READ} WHERE source = $source "
            f"AND method = $method AND as_of = $as_of ORDER BY {order}"
        )
        params = {"source": key.source, "method": key.method, "as_of": key.as_of}
        return self._frame(name, sql, params, self.files(name, key.symbol))

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
        sql = _CHOSEN + (
            f"SELECT {', '.join(DAILY_COLUMNS)} FROM chosen WHERE {where} "
            "QUALIFY row_number() OVER (PARTITION BY trade_date ORDER BY as_of DESC, source) = 1 "
            "ORDER BY trade_date"
        )
        params = {"method": method, "start": start, "end": end}
        params = {k: v for k, v in params.items() if v is not None}
        frame = self._frame("snapshots", sql, params, self.files("snapshots", symbol))
        return frame.select(DAILY_COLUMNS) if frame.height else _empty_daily()

    def sessions(self, symbol: str, method: str) -> list[date]:
        """Return the sessions (trade dates) with a stored snapshot of `symbol`, in order."""
        sql = _CHOSEN + "SELECT DISTINCT trade_date FROM chosen ORDER BY trade_date"
        frame = self._frame("snapshots", sql, {"method": method}, self.files("snapshots", symbol))
        return frame.get_column("trade_date").to_list()

    def alerts(
        self,
        symbol: str | None,
        method: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        day: date | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Return alerts, newest first: of one symbol or all, as_of in [since, until], of `day`."""
        where = ["true"]
        where += ["as_of >= $since"] if since else []
        where += ["as_of <= $until"] if until else []
        where += ["trade_date = $day"] if day else []
        cap = f" LIMIT {int(limit)}" if limit is not None else ""
        sql = _CHOSEN + (
            f"SELECT * FROM chosen WHERE {' AND '.join(where)} "
            f"ORDER BY as_of DESC, symbol, kind{cap}"
        )
        params = {"method": method, "since": since, "until": until, "day": day}
        params = {k: v for k, v in params.items() if v is not None}
        return self._frame("alerts", sql, params, self.files("alerts", symbol))

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


def _empty_daily() -> pl.DataFrame:
    """Return an empty frame with the columns and types of `History.daily`."""
    schema = dataset("snapshots").schema
    return pl.DataFrame(schema={c: schema[c] for c in DAILY_COLUMNS})
