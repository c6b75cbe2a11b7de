"""Cboe Open-Close Volume Summary end-of-day files: who traded each contract on Cboe.

One row per contract: who bought and sold it, opening or closing, on one Cboe exchange (C1,
C2, BZX or EDGX) in one session. Not a chain format: the file has no quotes or greeks, only
volumes, so it is not in the chain-format registry (FORMATS) and `gammalake import` offers
it as its own sub-command, `import openclose`. `flows/openclose.py` stores it (dataset
`open_close`) and turns it into dealer positions for the `open_close` preset.

The layout (Cboe DataShop, files `C1OpenClose_YYYY-MM-DD.csv`, zipped; one file per exchange
and day or month) is read by column name, in any order and case:
- quote_date (the session), underlying_symbol (`^SPX` for indices: stored as SPX),
  option_symbol (the root: SPX, SPXW), expiration_date, strike_price, call_put_flag (C/P);
- mm_buy_vol, mm_sell_vol: contracts market makers bought and sold (no open/close split);
- {firm, bd, cust_lt_100, cust_100_199, cust_gt_199, procust_lt_100, procust_100_199,
  procust_gt_199}_{open,close}_{buy,sell}_vol: contracts the other origins bought and sold
  to open or close, customers and professional customers by trade size (<100, 100-199, >199);
- optional: series_type (S standard, N non-standard: adjusted deliverables, left out and
  counted), open_interest and total_exchange_vol (end-of-day files only).
The `_qty` columns (trade counts) and prices are not read. The 10-minute interval files
(trade_datetime instead of quote_date) are refused: one end-of-day file per session and
exchange is what positions are cumulated from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.errors import FileFormatError
from pipeline.sources.formats.base import (
    LINE,
    article,
    clean_symbol,
    first_duplicate,
    format_for,
    osi_ids,
    rights,
    with_dates,
)

TITLE = "Cboe Open-Close Volume Summary"
#: Origins whose volume the file splits into opening and closing, buying and selling.
BUCKETS: tuple[str, ...] = (
    *("firm", "bd", "cust_lt_100", "cust_100_199", "cust_gt_199"),
    *("procust_lt_100", "procust_100_199", "procust_gt_199"),
)
ACTIONS: tuple[str, ...] = ("open_buy", "open_sell", "close_buy", "close_sell")
MM_COLUMNS: tuple[str, ...] = ("mm_buy_vol", "mm_sell_vol")
#: Every volume column read, as the file names them (contracts, whole numbers >= 0).
VOLUME_COLUMNS: tuple[str, ...] = (
    *MM_COLUMNS,
    *(f"{bucket}_{action}_vol" for bucket in BUCKETS for action in ACTIONS),
)
#: Contract columns: file name -> internal name (dates and text, parsed after).
_IDS: dict[str, str] = {
    "quote_date": "trade_date",
    "underlying_symbol": "symbol",
    "option_symbol": "root",
    "expiration_date": "expiration",
    "strike_price": "strike",
    "call_put_flag": "right",
}
#: Columns read when present: counts (open_interest, total_exchange_vol) and series_type.
_OPTIONAL_COUNTS: tuple[str, ...] = ("open_interest", "total_exchange_vol")
#: Internal columns parsed from text (messages show the cell as the file wrote it).
_TEXTS = frozenset({"trade_date", "symbol", "root", "expiration", "right"})
_EXCHANGE = re.compile(r"^(C1|C2|BZX|EDGX)[_-]?OpenClose", re.IGNORECASE)
#: Exchange stored when the file name does not say which Cboe exchange the file covers.
UNKNOWN_EXCHANGE = "cboe"


@dataclass(frozen=True)
class OpenCloseFile:
    """One Open-Close file read: its rows and what was left out.

    `frame`: one row per (trade_date, symbol, contract) with trade_date (Date), symbol
    (no '^'), root, contract (OSI-like id, SPXW240105C04700000), expiration (Date), strike
    (Float64), right ("C"/"P"), open_interest and total_exchange_vol (Int64, null when the
    file has none) and every VOLUME_COLUMNS (Int64 contracts). `exchange`: C1,
    C2, BZX or EDGX from the file name, else UNKNOWN_EXCHANGE. `nonstandard`: rows of
    non-standard series left out.
    """

    frame: pl.DataFrame
    exchange: str
    nonstandard: int


def matches(header: Sequence[str]) -> bool:
    """Return True for an Open-Close end-of-day header (quote_date and a volume column)."""
    names = {h.strip().lower() for h in header}
    volumes = not names.isdisjoint(VOLUME_COLUMNS)
    return volumes and {"quote_date", "underlying_symbol"} <= names


def exchange_of(name: str) -> str:
    """Return the Cboe exchange a file's name says it covers (C1OpenClose_... -> C1)."""
    found = _EXCHANGE.match(Path(name.rsplit(":", 1)[-1]).name)
    return found.group(1).upper() if found else UNKNOWN_EXCHANGE


def read_open_close(
    path: Path, where: str | None = None, symbols: frozenset[str] | None = None
) -> OpenCloseFile:
    """Return the rows of the Open-Close file `path` (of `symbols` only, when given).

    `where` names the input in errors (a zip member's label); default the path. Bad input
    is one FileFormatError naming the file, and the line and column where known: another
    vendor's header or an interval file, a missing column, a cell that is not a number or
    date, a negative or fractional volume, a strike that is not positive, an option type
    other than C/P, an expiry before the session, a contract listed twice.
    """
    label = where or str(path)
    text = _load(path, label)
    nonstandard = 0
    if "series_type" in text.columns:
        kind = text.get_column("series_type").str.strip_chars().str.to_uppercase()
        other = (kind != "S") & (kind != "")  # empty: not said, so read (and checked)
        nonstandard = int(other.sum())
        text = text.filter(~other.fill_null(False))
    frame = _typed(text, label)
    if symbols is not None:
        frame = frame.filter(pl.col("symbol").is_in(sorted(symbols)))
    _refuse_duplicates(frame, label)
    return OpenCloseFile(frame.drop(LINE), exchange_of(label), nonstandard)


def _load(path: Path, label: str) -> pl.DataFrame:
    """Return the file's columns read as text under internal names, plus LINE (from 2)."""
    try:
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(label, f"cannot be read as CSV ({_first_line(exc)})") from None
    _refuse_foreign(header, label)
    wanted = {**_IDS, **{c: c for c in (*VOLUME_COLUMNS, *_OPTIONAL_COUNTS, "series_type")}}
    chosen = {
        name: wanted[name.strip().lower()] for name in header if name.strip().lower() in wanted
    }
    required = {*_IDS.values(), *VOLUME_COLUMNS}
    missing = [
        name for name, internal in wanted.items() if internal in required - set(chosen.values())
    ]
    if missing:
        raise FileFormatError(label, f"missing column(s) {', '.join(missing)}", line=1)
    try:
        frame = pl.read_csv(path, columns=list(chosen), infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise FileFormatError(label, f"cannot be read as CSV ({_first_line(exc)})") from None
    return frame.rename(chosen).with_row_index(LINE, offset=2)


def _refuse_foreign(header: Sequence[str], label: str) -> None:
    """Raise when `header` is not an Open-Close end-of-day header, naming what it looks like."""
    if matches(header):
        return
    names = {h.strip().lower() for h in header}
    if "trade_datetime" in names and not names.isdisjoint(VOLUME_COLUMNS):
        raise FileFormatError(
            label,
            f"is a 10-minute interval {TITLE} file; import the end-of-day files (one per session)",
            line=1,
        )
    other = format_for(header)
    if other is not None:
        raise FileFormatError(label, f"looks like {article(other.title)} file, not {TITLE}", line=1)
    raise FileFormatError(label, f"header is not {article(TITLE)} header", line=1)


def _first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _typed(text: pl.DataFrame, label: str) -> pl.DataFrame:
    """Return the text rows typed and checked (the first bad cell raises, naming it)."""
    counts = [c for c in (*VOLUME_COLUMNS, *_OPTIONAL_COUNTS) if c in text.columns]
    numbers = _numbers(text, ("strike", *counts), label)
    dated = with_dates(numbers, "trade_date", "expiration").with_columns(
        clean_symbol("symbol"),
        pl.col("root").str.strip_chars().str.to_uppercase().str.strip_chars_start("^"),
        rights("right"),
    )
    _check_rows(dated, text, counts, label)
    frame = dated.with_columns(pl.col(c).cast(pl.Int64) for c in counts)
    for column in _OPTIONAL_COUNTS:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Int64).alias(column))
    return frame.drop("series_type", strict=False).with_columns(osi_ids())


def _numbers(text: pl.DataFrame, columns: Sequence[str], label: str) -> pl.DataFrame:
    """Return `text` with `columns` as Float64; raise naming the first bad cell.

    Bad: not a number, or empty in a required column (optional counts may be empty: null).
    Cells are parsed as written, in one pass; only a column where a cell failed is parsed
    again without surrounding blanks (stripping every cell tripled a day file's read time).
    """
    parsed = text.with_columns(pl.col(c).cast(pl.Float64, strict=False) for c in columns)
    for column in columns:
        given = text.get_column(column).null_count()
        if parsed.get_column(column).null_count() > given:
            stripped = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
            parsed = parsed.with_columns(text.select(stripped).to_series())
        nulls = parsed.get_column(column).null_count()
        if nulls > (given if column in _OPTIONAL_COUNTS else 0):
            _refuse_cell(text, parsed, column, label)
    return parsed


def _refuse_cell(text: pl.DataFrame, parsed: pl.DataFrame, column: str, label: str) -> None:
    """Raise naming the first cell of `column` that did not parse (or is empty, if required).

    Blank cells of an optional count are not refused: they read as null.
    """
    blank = text.get_column(column).str.strip_chars().fill_null("") == ""
    bad = parsed.get_column(column).is_null()
    if column in _OPTIONAL_COUNTS:
        bad = bad & ~blank
    if not bad.any():
        return  # only blank optional cells: null
    row = text.filter(bad).row(0, named=True)
    what = "is empty" if not (row[column] or "").strip() else "is not a number"
    raise FileFormatError(label, f"{row[column]!r} {what}", line=row[LINE], column=column)


def _checks(counts: list[str]) -> list[tuple[pl.Expr, str, str]]:
    """Return (bad-row expression, column, message) of every row check, in order."""
    checks: list[tuple[pl.Expr, str, str]] = [
        (pl.col("symbol").is_null() | (pl.col("symbol") == ""), "symbol", "is empty"),
        (pl.col("trade_date").is_null(), "trade_date", "is not a date"),
        (pl.col("expiration").is_null(), "expiration", "is not a date"),
        (pl.col("root").is_null() | (pl.col("root") == ""), "root", "is empty"),
        (pl.col("right").is_null(), "right", "is not an option type (C/P)"),
        (
            ~(pl.col("strike") > 0) | ~pl.col("strike").is_finite(),
            "strike",
            "is not positive",
        ),
    ]
    for column in counts:
        value = pl.col(column)
        checks.append((value < 0, column, "is a negative count"))
        checks.append((~value.is_finite() | (value % 1 != 0), column, "is not a whole number"))
    late = pl.col("expiration") < pl.col("trade_date")
    return [*checks, (late, "expiration", "is before the quote date")]


def _check_rows(frame: pl.DataFrame, text: pl.DataFrame, counts: list[str], label: str) -> None:
    """Raise naming the first bad row (line, file column, the cell as written); one pass."""
    checks = _checks(counts)
    flags = frame.select(
        bad.fill_null(False).any().alias(str(i)) for i, (bad, _, _) in enumerate(checks)
    )
    for hit, (bad, column, message) in zip(flags.row(0), checks, strict=True):
        if hit:
            row = frame.filter(bad.fill_null(False)).row(0, named=True)
            shown = _shown(row[column])
            if column in _TEXTS:  # dates and letters as the file wrote them
                written = text.filter(pl.col(LINE) == row[LINE]).row(0, named=True)[column]
                shown = repr(written)
            raise FileFormatError(
                label, f"{shown} {message}", line=row[LINE], column=_file_name(column)
            )


def _file_name(internal: str) -> str:
    """Return the file's name of an internal column (for messages)."""
    return next((name for name, i in _IDS.items() if i == internal), internal)


def _shown(value: object) -> str:
    """Return a cell for a message: text quoted, numbers and dates as they read."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) or value is None else str(value)


def _refuse_duplicates(frame: pl.DataFrame, label: str) -> None:
    """Raise naming the first contract listed twice for one session and underlying (lines)."""
    found = first_duplicate(frame, ("trade_date", "symbol", "contract"))
    if found is not None:
        first, lines = found
        raise FileFormatError(
            label,
            f"contract {first['contract']} ({first['symbol']}) is listed twice for "
            f"{first['trade_date']} on lines {lines}",
        )
