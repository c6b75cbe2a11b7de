"""Reader for generic contract files (CSV or Parquet), and `read_chain` that picks the reader.

Generic layout, one row per contract (see README "Chain files"):
  expiration (YYYY-MM-DD), strike, right (C/P/call/put), open_interest   -- required
  volume, iv, bid, ask, prev_open_interest, gamma, delta, contract       -- optional
  symbol, underlying_price, as_of (ISO 8601 with offset)                 -- optional, one value
The last three may be given as arguments instead; arguments win over columns. Header names are
matched trimmed, in lower case, with spaces as underscores ("Open Interest" = open_interest).
Refused with one ChainFormatError naming the file, line and column: a row whose field count is
not the header's, duplicated or unnamed header columns, a column name one typo away from a
known one, non-finite or implausible numbers, and a contract listed twice.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import stat
from datetime import datetime
from pathlib import Path

import polars as pl

from pipeline.chain import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    Chain,
    describe_duplicates,
    duplicate_contracts,
)
from pipeline.errors import ChainFormatError
from pipeline.sources.formats.quotedata import is_header, read_cboe
from pipeline.sources.tabular import (
    LINE,
    MAX_CONTRACTS,
    MAX_FILE_BYTES,
    MAX_LINE_CHARS,
    Check,
    NumberOptions,
    NumberSpec,
    file_kind,
    first_bad_line,
    load_csv,
    parse_numbers,
    raise_first,
    read_text,
    shown,
)

logger = logging.getLogger(__name__)

_RIGHTS = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}
_META = ("symbol", "underlying_price", "as_of")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *_META)
_PARQUET = {".parquet", ".pq"}
#: Bytes read to tell a CBOE download from a generic file: its preamble lies within them even
#: with a title far longer than any real one (the CBOE reader refuses overlong lines).
SNIFF_BYTES = 64 * 1024
#: A midnight time after a date ("2024-01-19 00:00:00", "2024-01-19T00:00"): still the day.
_MIDNIGHT = r"[ T]00:00(?::00(?:\.0+)?)?$"
_COUNT: NumberOptions = {"non_negative": True, "whole": True, "maximum": MAX_CONTRACTS}
#: How each numeric column must parse; counts are whole, in a plausible range.
_SPECS: dict[str, NumberOptions] = {
    "strike": {"positive": True},
    "open_interest": _COUNT,
    "volume": {"required": False, **_COUNT},
    "prev_open_interest": {"required": False, **_COUNT},
    **{c: {"required": False, "non_negative": True} for c in ("iv", "bid", "ask", "gamma")},
    "delta": {"required": False, "minimum": -1, "maximum": 1},
}


def regular_file(path: Path) -> bool:
    """Return True when `path` is (or links to) a regular file; note and skip anything else.

    A FIFO in a chains folder would block a reader forever (SIGINT cannot interrupt the open)
    and a link to /dev/zero reads until memory runs out, so folder scans keep regular files
    only; each other entry is logged once as a warning naming it.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # gone, or a dangling link: nothing to read
    if stat.S_ISREG(mode):
        return True
    logger.warning("%s is not a regular file (%s): skipped", path, file_kind(mode))
    return False


def normalise_name(name: str) -> str:
    """Return a header name as it is matched: trimmed, lower case, runs of spaces as `_`."""
    return re.sub(r"\s+", "_", name.strip().lower())


def _load(path: Path) -> pl.DataFrame:
    """Return the file's known columns as text with each row's file line (Parquet: row + 1)."""
    if path.suffix.lower() not in _PARQUET:
        frame = load_csv(
            path, ChainFormatError, normalise_name, lambda names: _check_columns(path, names)
        )
    else:
        frame = _load_parquet(path)
    # Columns gammalake does not read are dropped before anything parses them.
    return frame.select(c for c in frame.columns if c in KNOWN_COLUMNS or c == LINE)


def _load_parquet(path: Path) -> pl.DataFrame:
    """Return a Parquet file's known columns as text, with LINE = row + 1."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ChainFormatError(path, f"is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError, pl.exceptions.PanicException) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ChainFormatError(path, f"cannot be read as Parquet: {shown(message)}") from None
    names = [normalise_name(c) for c in frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ChainFormatError(path, f"column {twice[0]!r} appears twice")
    _check_columns(path, names)
    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
    frame = frame.select(c for c in names if c in KNOWN_COLUMNS)
    texts = []
    for column in frame.columns:
        try:
            texts.append(frame.select(_as_text(frame, column)).to_series())
        except pl.exceptions.PolarsError:
            kind = frame.schema[column]
            raise ChainFormatError(
                path, f"holds {kind} values, not numbers or text", column=column
            ) from None
    return pl.DataFrame(texts).with_row_index(LINE, offset=1)


def _as_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    """Return a Parquet column as the text a CSV would hold (dates as YYYY-MM-DD, times ISO).

    Parquet writers store expirations as dates or as midnight timestamps; both are the day.
    """
    dtype = frame.schema[column]
    if column == "expiration" and isinstance(dtype, pl.Datetime | pl.Date):
        return pl.col(column).dt.strftime("%Y-%m-%d")
    if column == "as_of" and isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.strftime("%Y-%m-%dT%H:%M:%S%.f%:z")
    return pl.col(column).cast(pl.String)


def _check_columns(path: Path, columns: list[str]) -> None:
    """Refuse a file missing a required column, or with a name one typo from a known one."""
    for name in columns:
        if name in KNOWN_COLUMNS or name == LINE:
            continue
        close = difflib.get_close_matches(name, KNOWN_COLUMNS, n=1, cutoff=0.8)
        if close:
            raise ChainFormatError(
                path, f"column {shown(name)} is not one gammalake reads: did you mean {close[0]!r}?"
            )
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ChainFormatError(path, f"missing required column(s): {', '.join(missing)}", line=1)


def _constant(frame: pl.DataFrame, path: Path, column: str) -> str | None:
    """Return the single value of a per-file column, None when absent; raise when it varies."""
    if column not in frame.columns:
        return None
    values = frame.get_column(column).str.strip_chars().drop_nulls().unique(maintain_order=True)
    if values.len() > 1:
        line = first_bad_line(frame, pl.col(column).str.strip_chars() != values[0])
        raise ChainFormatError(
            path, "must hold one value for the whole file", line=line, column=column
        )
    return None if values.len() == 0 else str(values[0])


def _rights(frame: pl.DataFrame, path: Path) -> pl.Series:
    """Return `right` normalised to C/P, naming the first line with another value."""
    right = pl.col("right").str.strip_chars().str.to_uppercase()
    mapped = right.replace_strict(_RIGHTS, default=None, return_dtype=pl.String)
    check = Check(mapped.is_null(), "right", "right", "is not C, P, call or put")
    raise_first(frame, path, [check], ChainFormatError)
    return frame.select(mapped).to_series()


def _expirations(frame: pl.DataFrame, path: Path) -> pl.Series:
    """Return `expiration` as dates (YYYY-MM-DD, or with a midnight time as pandas writes)."""
    text = pl.col("expiration").str.strip_chars().str.replace(_MIDNIGHT, "")
    days = text.str.to_date("%Y-%m-%d", strict=False)
    check = Check(days.is_null(), "expiration", "expiration", "is not a date like 2024-01-19")
    raise_first(frame, path, [check], ChainFormatError)
    return frame.select(days).to_series()


def _spot(frame: pl.DataFrame, path: Path, spot: float | None) -> float:
    """Return the spot argument, else the file's underlying_price (positive and finite)."""
    if spot is not None:
        return spot
    text = _constant(frame, path, "underlying_price")
    if text is None:
        raise ChainFormatError(path, "no spot: add an underlying_price column or pass --spot")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ChainFormatError(
            path, f"{shown(text)} is not a positive finite number", column="underlying_price"
        )
    return value


def _as_of(frame: pl.DataFrame, path: Path, as_of: datetime | None) -> datetime:
    """Return the as_of argument, else the file's as_of column (ISO 8601 with an offset)."""
    if as_of is None:
        text = _constant(frame, path, "as_of")
        if text is None:
            raise ChainFormatError(path, "no as_of: add an as_of column or pass --as-of")
        try:
            as_of = datetime.fromisoformat(text)
        except ValueError:
            raise ChainFormatError(
                path, f"{shown(text)} is not an ISO 8601 time", column="as_of"
            ) from None
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ChainFormatError(path, f"as_of {as_of.isoformat()} has no UTC offset", column="as_of")
    return as_of


def _contracts(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Return the contract rows, every cell checked, with their file lines."""
    specs = [NumberSpec(c, c, **_SPECS[c]) for c in _SPECS if c in frame.columns]
    numbers = parse_numbers(frame, path, specs, ChainFormatError)
    text = {
        c: frame.get_column(c).str.strip_chars()
        for c, t in OPTIONAL_COLUMNS.items()
        if t == "String" and c in frame.columns
    }
    return pl.DataFrame(
        {
            "expiration": _expirations(frame, path),
            "right": _rights(frame, path),
            **numbers,
            **text,
            LINE: frame.get_column(LINE),
        }
    )


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
    _check_columns(path, frame.columns)
    if frame.height == 0:
        raise ChainFormatError(path, "has no contract rows")
    contracts = _contracts(frame, path)
    duplicates = duplicate_contracts(contracts)
    if duplicates.height:
        lines = contracts.get_column(LINE).to_list()
        raise ChainFormatError(path, describe_duplicates(duplicates, lines))
    named = _constant(frame, path, "symbol")
    name = symbol or (named or path.stem.split("_")[0]).strip().upper()
    return Chain(
        name,
        _spot(frame, path, spot),
        _as_of(frame, path, as_of),
        contracts.drop(LINE),
        origin=str(path),
    )


def is_cboe(path: Path) -> bool:
    """Return True when the file looks like a CBOE quotedata download.

    Its header line, or its title (`Last:`) and date (`Date:`) lines, within the first lines:
    a file whose header was edited is still read as CBOE, so the error says what is wrong.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES).decode("utf-8-sig", errors="replace")
    except OSError:
        return False  # the generic reader says why the file cannot be read
    # All lines of the first SNIFF_BYTES: a file with blank lines before its preamble, or a
    # long title, is still CBOE (and refused as such, with the reason).
    lines = head.replace("\r", "\n").split("\n")
    if any(is_header(line) for line in lines):
        return True
    return any("Last:" in line for line in lines) and any("Date:" in line for line in lines)


def has_own_time(path: Path) -> bool:
    """Return True when the file states its own time (CBOE `Date:`, JSON timestamp, as_of).

    Never raises: a file that cannot be read says False, and read_chain then refuses it in
    one line (a garbage Parquet footer, an unreadable file). At most one line of
    MAX_LINE_CHARS is read from a generic CSV's head.
    """
    suffix = path.suffix.lower()
    if suffix == ".json":
        return True  # a Cboe feed reply: its top-level timestamp
    try:
        if suffix in _PARQUET:
            return "as_of" in {normalise_name(n) for n in pl.read_parquet_schema(path)}
        if is_cboe(path):
            return True
        with path.open("rb") as handle:
            header = handle.readline(MAX_LINE_CHARS).decode("utf-8-sig", errors="replace")
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return False
    return "as_of" in {normalise_name(n) for n in header.split(",")}


def read_cboe_json(path: Path, *, symbol: str | None = None) -> Chain:
    """Return the chain of a saved Cboe delayed-quotes JSON reply (see formats.cboe_json)."""
    from pipeline.sources.formats.cboe_json import parse_feed

    text = read_text(path, ChainFormatError)  # UTF-8 only, BOM dropped, not empty
    return parse_feed(text.encode(), origin=str(path), symbol=symbol).chain


def read_chain(
    path: str | Path,
    *,
    symbol: str | None = None,
    spot: float | None = None,
    as_of: datetime | None = None,
) -> Chain:
    """Return the chain in `path`: CBOE quotedata, a saved Cboe JSON reply, or generic layout.

    `.json` files are replies of Cboe's delayed-quotes feed (pipeline.sources.formats.cboe_json;
    a given `symbol` must be the one the reply names); other files are told apart by content.
    For CBOE files `spot` and `as_of`, when given, replace the file's own spot and time.
    Every problem is one ChainFormatError (an InputError) naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise ChainFormatError(path, "no such file")
    if not regular_file(path):
        raise ChainFormatError(
            path, f"is not a regular file ({file_kind(os.stat(path).st_mode)}): refused"
        )
    json_reply = path.suffix.lower() == ".json"
    if json_reply or (path.suffix.lower() not in _PARQUET and is_cboe(path)):
        chain = (
            read_cboe_json(path, symbol=symbol) if json_reply else read_cboe(path, symbol=symbol)
        )
        if spot is None and as_of is None:
            return chain
        return Chain(
            chain.symbol,
            chain.spot if spot is None else spot,
            chain.as_of if as_of is None else as_of,
            chain.frame,
            chain.origin,
        )
    return read_contracts(path, symbol=symbol, spot=spot, as_of=as_of)
