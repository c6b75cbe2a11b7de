"""Table schemas of the lake: columns and types, keys, and partition grain of every dataset.

Every row carries `symbol`, `source`, `as_of` (the moment the data describes, UTC: a feed's own
timestamp, a vendor file's snapshot time, a session's close) and `trade_date` (the NYSE session
it describes); snapshots and chains also carry `fetched_at`, when gammalake received it.
Exposure rows (snapshots, strikes, expiries, alerts) also carry `method`: how the figures were
made (an engine preset and version such as `default@v1`, or `vendor`), part of their key, so
histories of two methods live side by side. Bump SCHEMA_VERSION when a column changes meaning
or type; `gammalake doctor` reports files written under another version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

import polars as pl
from polars.datatypes import DataTypeClass

from warehouse.errors import WarehouseInputError

SCHEMA_VERSION = 3
UTC_TIME = pl.Datetime("us", "UTC")
#: Partition grains. `source_day` and `source_month` (the defaults) hold every symbol of a
#: source in one partition, sorted by symbol, so the file count grows with time, not with
#: symbols; the `symbol_*` grains and `month` are the layout before (a folder per symbol),
#: kept so an old lake can be read, compared in benchmarks and migrated.
Grain = Literal["source_day", "source_month", "symbol_day", "symbol_month", "symbol_year", "month"]
#: Grains whose partitions hold every symbol (several part files until compacted).
SHARED_GRAINS: frozenset[str] = frozenset({"source_day", "source_month"})
#: A column's type as the schemas spell it: a class (`pl.Float64`) or an instance
#: (`pl.Datetime("us", "UTC")`, `pl.List(pl.String)`); polars accepts both.
ColumnType: TypeAlias = pl.DataType | DataTypeClass

_SYMBOL = re.compile(r"^[A-Z0-9^][A-Z0-9.^_-]{0,19}$")
_SOURCE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_METHOD = re.compile(r"^[a-z][a-z0-9_]*(\+[a-z_]+=[A-Za-z0-9_.:-]+)*@v\d+$|^vendor$")

KEYS: dict[str, ColumnType] = {
    "symbol": pl.String,
    "source": pl.String,
    "as_of": UTC_TIME,
    "trade_date": pl.Date,
}
#: Keys of exposure rows: the method is part of a snapshot's identity.
METHOD_KEYS: dict[str, ColumnType] = {**KEYS, "method": pl.String}
_GREEKS = ("gex", "dex", "vex", "chex")


@dataclass(frozen=True)
class Dataset:
    """One table of the lake.

    `replace_key`: writing a row whose replace_key exists replaces every stored row with that
    key (a re-written snapshot replaces all its strikes). `unique_key`: no two rows may share
    it. `grain`: the partition folders; `placed_by`: the date column that places a row in
    them. `row_group`: rows per Parquet row group, small enough that a reader of one symbol
    skips the others' groups by their min/max statistics.
    """

    name: str
    columns: dict[str, ColumnType]
    replace_key: tuple[str, ...]
    unique_key: tuple[str, ...]
    grain: Grain = "source_month"
    placed_by: str = "trade_date"
    row_group: int = 4096

    @property
    def schema(self) -> pl.Schema:
        """Return the polars schema of the dataset."""
        return pl.Schema(self.columns)


def _hedges() -> dict[str, ColumnType]:
    """Return the hedge-estimate columns (shares and $ notional per move)."""
    moves = ("up_half_pct", "down_half_pct", "up_1pct", "down_1pct")
    out: dict[str, ColumnType] = {}
    for move in moves:
        out[f"hedge_{move}_shares"] = pl.Float64
        out[f"hedge_{move}_notional"] = pl.Float64
    return out


SNAPSHOT_COLUMNS: dict[str, ColumnType] = {
    **METHOD_KEYS,
    "underlying_price": pl.Float64,
    **{f"net_{g}": pl.Float64 for g in _GREEKS},
    "net_gex_label": pl.String,
    "gamma_flip": pl.Float64,
    "gamma_flip_status": pl.String,
    "regime": pl.String,
    "max_positive_gamma": pl.Float64,
    "max_negative_gamma": pl.Float64,
    "call_wall": pl.Float64,
    "put_wall": pl.Float64,
    "highest_oi_strike": pl.Float64,
    "zero_dte_magnet": pl.Float64,
    "zero_dte_net_gex": pl.Float64,
    "zero_dte_pct_of_total_gex": pl.Float64,
    "zero_dte_expiration": pl.Date,
    **_hedges(),
    "interpretation_gamma": pl.String,
    "interpretation_vanna": pl.String,
    "interpretation_charm": pl.String,
    "dix": pl.Float64,
    "strike_count": pl.Int64,
    "warnings": pl.List(pl.String),
    "raw_ref": pl.String,
    # When gammalake received the data; `as_of` is the moment the data describes (schema 3).
    "fetched_at": UTC_TIME,
}

STRIKE_COLUMNS: dict[str, ColumnType] = {
    **METHOD_KEYS,
    "strike": pl.Float64,
    **{f"{side}_{g}": pl.Float64 for g in _GREEKS for side in ("call", "put", "net")},
    "call_oi": pl.Int64,
    "put_oi": pl.Int64,
    "call_volume": pl.Int64,
    "put_volume": pl.Int64,
    "call_oi_change": pl.Int64,
    "put_oi_change": pl.Int64,
}

EXPIRY_COLUMNS: dict[str, ColumnType] = {
    **METHOD_KEYS,
    "expiration": pl.Date,
    "days_to_expiry": pl.Float64,
    **{f"net_{g}": pl.Float64 for g in _GREEKS},
    "call_oi": pl.Int64,
    "put_oi": pl.Int64,
    "pct_of_total_gex": pl.Float64,
    "top_strike": pl.Float64,
    "top_strike_net_gex": pl.Float64,
}

CHAIN_COLUMNS: dict[str, ColumnType] = {
    **KEYS,
    "contract": pl.String,
    "expiration": pl.Date,
    "strike": pl.Float64,
    "right": pl.String,
    "open_interest": pl.Int64,
    "volume": pl.Int64,
    "iv": pl.Float64,
    "bid": pl.Float64,
    "ask": pl.Float64,
    "prev_open_interest": pl.Int64,
    "gamma": pl.Float64,
    "delta": pl.Float64,
    # The session whose close the open interest describes (a feed's OI is the previous
    # session's, published the next morning); null when the source does not say.
    "oi_as_of": pl.Date,
    "fetched_at": UTC_TIME,
}

PRICE_COLUMNS: dict[str, ColumnType] = {
    **KEYS,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
}

#: Every value of an alert's `kind` (flows/alerts.py derives them), in the order users see them
#: listed: the CLI, API, dashboard and MCP filters and the study's table.
ALERT_KINDS = (
    "flip_cross_up",
    "flip_cross_down",
    "gex_sign_flip",
    "near_call_wall",
    "near_put_wall",
    "call_wall_moved",
    "put_wall_moved",
)

ALERT_COLUMNS: dict[str, ColumnType] = {
    **METHOD_KEYS,
    "kind": pl.String,
    "message": pl.String,
    "level": pl.Float64,
}

RUN_COLUMNS: dict[str, ColumnType] = {
    **KEYS,
    "run_id": pl.String,
    "flow": pl.String,
    "method": pl.String,
    "symbols": pl.List(pl.String),
    "finished_at": UTC_TIME,
    "status": pl.String,
    "rows_written": pl.Int64,
    "requests_used": pl.Int64,
    "failures": pl.List(pl.String),
    "notes": pl.List(pl.String),
    "duration_seconds": pl.Float64,
}

#: Who bought and sold each contract on one Cboe exchange in one session (Cboe Open-Close
#: end-of-day files, `gammalake import openclose`): the dealer positions of the `open_close`
#: preset. Volumes are contracts; `as_of` is the session's close (the file is published
#: after it); `exchange` is C1, C2, BZX, EDGX (or "cboe" when the file name does not say).
_OPEN_CLOSE_BUCKETS = (
    *("firm", "bd", "cust_lt_100", "cust_100_199", "cust_gt_199"),
    *("procust_lt_100", "procust_100_199", "procust_gt_199"),
)
OPEN_CLOSE_COLUMNS: dict[str, ColumnType] = {
    **KEYS,
    "exchange": pl.String,
    "contract": pl.String,
    "root": pl.String,
    "expiration": pl.Date,
    "strike": pl.Float64,
    "right": pl.String,
    "open_interest": pl.Int64,
    "total_exchange_vol": pl.Int64,
    "mm_buy_vol": pl.Int64,
    "mm_sell_vol": pl.Int64,
    **{
        f"{bucket}_{action}_vol": pl.Int64
        for bucket in _OPEN_CLOSE_BUCKETS
        for action in ("open_buy", "open_sell", "close_buy", "close_sell")
    },
    "fetched_at": UTC_TIME,
}
#: An Open-Close file's rows of one symbol, session and exchange are replaced together.
_OPEN_CLOSE_KEY = ("symbol", "source", "as_of", "exchange")

#: A snapshot's key; a chain (the engine's input) is the same whatever method prices it.
SNAPSHOT_KEY = ("symbol", "source", "method", "as_of")
_INPUT = ("symbol", "source", "as_of")
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("snapshots", SNAPSHOT_COLUMNS, SNAPSHOT_KEY, SNAPSHOT_KEY),
        # Per-strike and per-contract tables: a day of a whole market is 10^5-10^6 rows.
        Dataset(
            "strikes",
            STRIKE_COLUMNS,
            SNAPSHOT_KEY,
            (*SNAPSHOT_KEY, "strike"),
            grain="source_day",
            row_group=16384,
        ),
        Dataset(
            "expiries",
            EXPIRY_COLUMNS,
            SNAPSHOT_KEY,
            (*SNAPSHOT_KEY, "expiration"),
            grain="source_day",
            row_group=8192,
        ),
        Dataset(
            "chains",
            CHAIN_COLUMNS,
            _INPUT,
            (*_INPUT, "contract"),
            grain="source_day",
            row_group=32768,
        ),
        Dataset(
            "prices",
            PRICE_COLUMNS,
            ("symbol", "source", "trade_date"),
            ("symbol", "source", "trade_date"),
        ),
        # A snapshot's alerts are replaced together: kinds that no longer apply go.
        Dataset("alerts", ALERT_COLUMNS, SNAPSHOT_KEY, (*SNAPSHOT_KEY, "kind")),
        # A run's `symbol` is "*" (all of its symbols); it is placed by when it ran.
        Dataset("runs", RUN_COLUMNS, ("run_id",), ("run_id",), placed_by="as_of"),
        Dataset(
            "open_close",
            OPEN_CLOSE_COLUMNS,
            _OPEN_CLOSE_KEY,
            (*_OPEN_CLOSE_KEY, "contract"),
            grain="source_day",
            row_group=32768,
        ),
    )
}


def dataset(name: str) -> Dataset:
    """Return the dataset called `name`, or raise naming the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise WarehouseInputError(
            f"unknown dataset {name!r} (known: {', '.join(DATASETS)})"
        ) from None


def validate_symbol(symbol: str) -> str:
    """Return `symbol` if it is a plain ticker (A-Z, 0-9, . ^ _ -), else raise naming it."""
    if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol):
        raise WarehouseInputError(
            f"invalid symbol {symbol!r}: use upper-case letters, digits and . ^ _ - (max 20)"
        )
    return symbol


def validate_source(source: str) -> str:
    """Return `source` if it is a plain lower-case name, else raise naming it."""
    if not isinstance(source, str) or not _SOURCE.fullmatch(source):
        raise WarehouseInputError(f"invalid source {source!r}: use lower-case letters, digits, - _")
    return source


def validate_method(method: str) -> str:
    """Return `method` if it reads like `default@v1`, `perfiliev+days_per_year=252@v1` or vendor."""
    if not isinstance(method, str) or not _METHOD.fullmatch(method):
        raise WarehouseInputError(
            f"invalid method {method!r}: use PRESET[+setting=value...]@vN or vendor"
        )
    return method


def conform(spec: Dataset, frame: pl.DataFrame) -> pl.DataFrame:
    """Return `frame` with exactly the dataset's columns, in order and types.

    Missing key columns and unknown columns are refused (naming them); other missing columns
    become nulls; every symbol and source is validated; duplicate unique keys are refused.
    """
    missing_keys = [c for c in spec.unique_key if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in spec.columns]
    if missing_keys or unknown:
        parts = [f"missing key column(s) {', '.join(missing_keys)}"] if missing_keys else []
        parts += [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
        raise WarehouseInputError(f"{spec.name}: {'; '.join(parts)}")
    out = frame.select(
        (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t, strict=True).alias(c)
        for c, t in spec.columns.items()
    )
    if "symbol" in spec.replace_key:  # runs use "*" for "all their symbols"
        for symbol in out.get_column("symbol").unique().to_list():
            validate_symbol(symbol)
    for source in out.get_column("source").unique().to_list():
        validate_source(source)
    if "method" in spec.columns:
        for method in out.get_column("method").drop_nulls().unique().to_list():
            validate_method(method)
    nulls = [c for c in spec.unique_key if out.get_column(c).null_count()]
    if nulls:
        raise WarehouseInputError(f"{spec.name}: null values in key column(s) {', '.join(nulls)}")
    if out.select(spec.unique_key).is_duplicated().any():
        raise WarehouseInputError(f"{spec.name}: rows repeat the key {', '.join(spec.unique_key)}")
    return out
