"""The option chain: the engine's one input type, and the checks every reader applies to it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pipeline.errors import InputError

if TYPE_CHECKING:
    import polars as pl

#: Columns of a chain frame. One row per contract; `right` is "C" or "P".
REQUIRED_COLUMNS: dict[str, str] = {
    "expiration": "Date",
    "strike": "Float64",
    "right": "String",
    "open_interest": "Int64",
}
#: Columns a chain may carry; missing ones are filled with nulls (volume with 0).
OPTIONAL_COLUMNS: dict[str, str] = {
    "volume": "Int64",
    "iv": "Float64",
    "bid": "Float64",
    "ask": "Float64",
    "prev_open_interest": "Int64",
    "gamma": "Float64",
    "delta": "Float64",
    "contract": "String",
}


#: Years an as_of may fall in. Not a sanity window (the firewall judges how far from the
#: moment asked for a chain may be): the engine's date arithmetic overflows near year 1 and
#: 9999, so this only keeps impossible times from raising deep inside it.
AS_OF_YEARS = (1800, 2500)


@dataclass(frozen=True)
class Chain:
    """One option chain as of one moment.

    `frame` has the columns of REQUIRED_COLUMNS and OPTIONAL_COLUMNS; `spot` is the underlying
    price in the chain's currency; `as_of` is timezone-aware; `origin` names where it came from
    (a file path or a source name) so errors can point at it.
    """

    symbol: str
    spot: float
    as_of: datetime
    frame: pl.DataFrame
    origin: str = ""

    def __post_init__(self) -> None:
        """Reject a chain the engine cannot use, naming the origin and the field."""
        where = self.origin or self.symbol
        if self.as_of.tzinfo is None or self.as_of.utcoffset() is None:
            raise InputError(f"{where}: as_of {self.as_of.isoformat()} has no timezone")
        first, last = AS_OF_YEARS
        if not first <= self.as_of.year <= last:
            raise InputError(
                f"{where}: as_of {self.as_of.isoformat()} is outside the years {first}..{last}"
            )
        if not _positive_number(self.spot):
            raise InputError(f"{where}: spot must be a positive finite number, got {self.spot!r}")
        missing = [c for c in REQUIRED_COLUMNS if c not in self.frame.columns]
        if missing:
            raise InputError(f"{where}: chain is missing column(s) {', '.join(missing)}")


def _positive_number(value: object) -> bool:
    """Return True for a finite number above zero (not a bool, None, NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value > 0


#: Key of a contract without an id: two rows with the same key are the same contract.
CONTRACT_FIELDS = ("expiration", "strike", "right")


def duplicate_contracts(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the contracts `frame` lists more than once: columns `key` (str) and `rows`.

    `rows` is the list of 0-based row positions sharing `key`, one frame row per duplicated
    contract, in order of first appearance; empty when there is none. A row is keyed by its
    `contract` id when it has one, else by expiration, strike and right (`key` is then
    "2024-01-19 470.0 C"). Rows with ids are never matched on expiration/strike/right: real
    SPX files list SPX and SPXW contracts with the same expiry, strike and right under
    different ids, and both are real. Ids are compared canonical (whitespace removed, upper
    case: the root, expiry, type and strike an OSI id spells), so `SPY   230915C00450000`
    and `SPY230915C00450000` are one contract. Costs one hashing pass when there is none.
    """
    import polars as pl

    key = _contract_key(frame)
    empty = pl.DataFrame(schema={"key": pl.String, "rows": pl.List(pl.UInt32)})
    if frame.height == 0 or frame.select(key.n_unique()).item() == frame.height:
        return empty
    return (
        frame.with_row_index("_row")
        .filter(key.is_duplicated())
        .group_by(key.alias("_key"), maintain_order=True)
        .agg(_key_label(frame).first().alias("key"), pl.col("_row").alias("rows"))
        .select("key", "rows")
    )


def canonical_ids() -> pl.Expr:
    """Return the `contract` column in canonical form: no whitespace, upper case.

    OSI pads a root to six characters with spaces (`SPY   230915C00450000`); feeds and files
    send both forms, so the same contract under both must key the same (see roots.canonical_id).
    """
    import polars as pl

    return pl.col("contract").cast(pl.String).str.replace_all(r"\s+", "").str.to_uppercase()


def _ids(frame: pl.DataFrame) -> pl.Expr | None:
    """Return the canonical contract ids with blanks as null, or None without a contract column."""
    import polars as pl

    if "contract" not in frame.columns:
        return None
    contract = canonical_ids()
    return pl.when(contract != "").then(contract)


def _contract_key(frame: pl.DataFrame) -> pl.Expr:
    """Return the expression keying each row: its id, else its expiration, strike and right."""
    import polars as pl

    ids = _ids(frame)
    if ids is None:
        return pl.struct(*CONTRACT_FIELDS)
    if _all_have_ids(frame.get_column("contract")):
        return canonical_ids()
    no_id = ids.is_null()
    fields = [pl.when(no_id).then(pl.col(c)).alias(c) for c in CONTRACT_FIELDS]
    return pl.struct(ids.alias("contract"), *fields)


def _all_have_ids(ids: pl.Series) -> bool:
    """Return True when no contract id is null or blank (the fast, common case)."""
    import polars as pl

    if ids.null_count():
        return False
    return not (ids.cast(pl.String).str.strip_chars() == "").any()


def _key_label(frame: pl.DataFrame) -> pl.Expr:
    """Return how a key is shown: the id, or 'expiration strike right'."""
    import polars as pl

    fields = pl.format(
        "{} {} {}", *(pl.col(c).cast(pl.String).fill_null("?") for c in CONTRACT_FIELDS)
    )
    ids = _ids(frame)
    return fields if ids is None else pl.coalesce(ids, fields)


def describe_duplicates(
    duplicates: pl.DataFrame, lines: Sequence[int] | None = None, limit: int = 3
) -> str:
    """Return a one-line account of duplicate_contracts' result (at most `limit` contracts).

    E.g. "duplicate contract: SPY240119C00470000 listed 2 times (lines 5, 9)". `lines` maps a
    row position to its file line; without it rows are counted from 1 ("contract rows 1, 4").
    """
    parts = []
    for key, rows in duplicates.head(limit).iter_rows():
        where = [lines[r] for r in rows] if lines is not None else [r + 1 for r in rows]
        label = "lines" if lines is not None else "contract rows"
        parts.append(f"{key} listed {len(rows)} times ({label} {', '.join(map(str, where))})")
    more = duplicates.height - limit
    tail = f"; and {more} more duplicated contract(s)" if more > 0 else ""
    return "duplicate contract: " + "; ".join(parts) + tail


def complete_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Return `frame` with every optional column present (nulls, or 0 for volume), typed."""
    import polars as pl

    dtypes = {"Date": pl.Date, "Float64": pl.Float64, "Int64": pl.Int64, "String": pl.String}
    columns = {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}
    exprs = []
    for name, dtype in columns.items():
        if name in frame.columns:
            exprs.append(pl.col(name).cast(dtypes[dtype]))
        elif name == "volume":
            exprs.append(pl.lit(0, dtype=pl.Int64).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=dtypes[dtype]).alias(name))
    return frame.select(exprs)
