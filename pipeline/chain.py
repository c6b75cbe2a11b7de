"""The option chain: the engine's one input type, and the checks every reader applies to it."""

from __future__ import annotations

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
        if not self.spot > 0:
            raise InputError(f"{where}: spot must be a positive number, got {self.spot!r}")
        missing = [c for c in REQUIRED_COLUMNS if c not in self.frame.columns]
        if missing:
            raise InputError(f"{where}: chain is missing column(s) {', '.join(missing)}")


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
