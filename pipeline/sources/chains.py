"""Reader for generic contract files (CSV or Parquet), and `read_chain` that picks the reader.

Generic layout, one row per contract (see README "Chain files"):
  expiration (YYYY-MM-DD), strike, right (C/P/call/put), open_interest   -- required
  volume, iv, bid, ask, prev_open_interest, gamma, delta                 -- optional
  symbol, underlying_price, as_of (ISO 8601 with offset)                 -- optional, one value
The last three may be given as arguments instead; arguments win over columns.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from pipeline.chain import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, Chain
from pipeline.errors import ChainFormatError
from pipeline.sources.cboe import HEADER_START, read_cboe
from pipeline.sources.tabular import LINE, NumberSpec, first_bad_line, parse_numbers

_RIGHTS = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}
_WHOLE = {"open_interest", "volume", "prev_open_interest"}
_META = ("symbol", "underlying_price", "as_of")


def _load(path: Path) -> pl.DataFrame:
    """Return the file as all-text columns with each row's file line (Parquet: row + 1)."""
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            frame = pl.read_parquet(path)
            frame = frame.with_columns(pl.all().cast(pl.String))
            return frame.with_row_index(LINE, offset=1)
        frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ChainFormatError(path, f"cannot be read: {exc}".splitlines()[0]) from None
    return frame.with_row_index(LINE, offset=2)


def _constant(frame: pl.DataFrame, path: Path, column: str) -> str | None:
    """Return the single value of a per-file column, None when absent; raise when it varies."""
    if column not in frame.columns:
        return None
    values = frame.get_column(column).drop_nulls().unique()
    if values.len() > 1:
        line = first_bad_line(frame, pl.col(column) != values[0])
        raise ChainFormatError(
            path, "must hold one value for the whole file", line=line, column=column
        )
    return None if values.len() == 0 else str(values[0])


def _rights(frame: pl.DataFrame, path: Path) -> pl.Series:
    """Return `right` normalised to C/P, naming the first line with another value."""
    right = frame.get_column("right").str.strip_chars().str.to_uppercase()
    mapped = right.replace_strict(_RIGHTS, default=None)
    line = first_bad_line(frame, pl.lit(mapped.is_null()))
    if line is not None:
        raise ChainFormatError(path, "must be C, P, call or put", line=line, column="right")
    return mapped


def _expirations(frame: pl.DataFrame, path: Path) -> pl.Series:
    """Return `expiration` as dates (YYYY-MM-DD)."""
    days = frame.get_column("expiration").str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    line = first_bad_line(frame, pl.lit(days.is_null()))
    if line is not None:
        raise ChainFormatError(
            path, "is not a date like 2024-01-19", line=line, column="expiration"
        )
    return days


def _meta(
    frame: pl.DataFrame,
    path: Path,
    symbol: str | None,
    spot: float | None,
    as_of: datetime | None,
) -> tuple[str, float, datetime]:
    """Return symbol, spot and as_of from the arguments or the file's per-file columns."""
    symbol = symbol or _constant(frame, path, "symbol") or path.stem.split("_")[0].upper()
    if spot is None:
        text = _constant(frame, path, "underlying_price")
        if text is None:
            raise ChainFormatError(path, "no spot: add an underlying_price column or pass --spot")
        try:
            spot = float(text)
        except ValueError:
            raise ChainFormatError(
                path, f"{text!r} is not a number", column="underlying_price"
            ) from None
    if as_of is None:
        text = _constant(frame, path, "as_of")
        if text is None:
            raise ChainFormatError(path, "no as_of: add an as_of column or pass --as-of")
        try:
            as_of = datetime.fromisoformat(text)
        except ValueError:
            raise ChainFormatError(
                path, f"{text!r} is not an ISO 8601 time", column="as_of"
            ) from None
    return symbol, spot, as_of


def read_contracts(
    path: str | Path,
    *,
    symbol: str | None = None,
    spot: float | None = None,
    as_of: datetime | None = None,
) -> Chain:
    """Return the chain in a generic contract CSV/Parquet file; errors name line and column."""
    path = Path(path)
    frame = _load(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ChainFormatError(path, f"missing required column(s): {', '.join(missing)}", line=1)
    if frame.height == 0:
        raise ChainFormatError(path, "has no contract rows")
    optional = [c for c, t in OPTIONAL_COLUMNS.items() if t != "String"]
    numeric = [c for c in ("strike", *optional) if c in frame.columns]
    text = {
        c: frame.get_column(c)
        for c, t in OPTIONAL_COLUMNS.items()
        if t == "String" and c in frame.columns
    }
    numbers = parse_numbers(
        frame,
        path,
        [
            NumberSpec(
                c,
                c,
                required=c in REQUIRED_COLUMNS or c == "open_interest",
                non_negative=c in _WHOLE or c == "strike",
                whole=c in _WHOLE,
            )
            for c in [*numeric, "open_interest"]
        ],
    )
    contracts = pl.DataFrame(
        {
            "expiration": _expirations(frame, path),
            "right": _rights(frame, path),
            **numbers,
            **text,
        }
    )
    sym, s, when = _meta(frame, path, symbol, spot, as_of)
    if when.tzinfo is None:
        raise ChainFormatError(path, f"as_of {when.isoformat()} has no UTC offset", column="as_of")
    return Chain(sym, s, when, contracts, origin=str(path))


def is_cboe(path: Path) -> bool:
    """Return True when the file looks like a CBOE quotedata download."""
    with path.open("rb") as handle:
        head = handle.read(4096).decode("utf-8-sig", errors="replace")
    return HEADER_START in head


def read_chain(
    path: str | Path,
    *,
    symbol: str | None = None,
    spot: float | None = None,
    as_of: datetime | None = None,
) -> Chain:
    """Return the chain in `path`, CBOE quotedata or generic layout, detected from content.

    For CBOE files `spot` and `as_of`, when given, replace the file's `Last:` and `Date:`.
    """
    path = Path(path)
    if not path.is_file():
        raise ChainFormatError(path, "no such file")
    if path.suffix.lower() not in {".parquet", ".pq"} and is_cboe(path):
        chain = read_cboe(path, symbol=symbol)
        if spot is None and as_of is None:
            return chain
        return Chain(
            chain.symbol, spot or chain.spot, as_of or chain.as_of, chain.frame, chain.origin
        )
    return read_contracts(path, symbol=symbol, spot=spot, as_of=as_of)
