"""Checked reading of text tables, with errors that name the file, line and column.

Every reader (CBOE quotedata, generic contracts, price bars, DIX.csv) goes through here, so a bad
file is refused the same way whatever its layout:
- `read_text`: UTF-8 text only (empty, binary, UTF-16 and other encodings are refused);
- `check_rows`: every row has the header's number of fields (a deleted or extra cell would shift
  the columns silently), no line runs on past a quote, no line is absurdly long;
- `parse_numbers`: numbers parse, are finite, and lie in their column's plausible range.
Checks are polars expressions over whole columns; only when one fails is the line looked up, so
a good file costs a few passes whatever its size.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import polars as pl

from pipeline.errors import FileFormatError

if TYPE_CHECKING:
    from warehouse.schema import ColumnType

#: Name of the row-number column readers add (file line of each row, 1-based).
LINE = "__line"
#: No row of a chain or price file comes near this; a longer line is garbage, not data.
MAX_LINE_CHARS = 10_000
#: Cells quoted in error messages are cut to this many characters.
MAX_SHOWN = 40
#: Most contracts one contract row may count (OI, volume): real rows hold at most millions.
MAX_CONTRACTS = 1e9
#: Most bytes read from one file: the largest real chain file (every SPX contract of a day)
#: is a few hundred MB; a bigger "file" is garbage or a device, and must not exhaust memory.
MAX_FILE_BYTES = 2 * 1024**3
_TEXT = "text"
_CONTROL = bytes([*range(9), 11, 12, *range(14, 32), 127])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL)
#: A blank row: nothing but spaces, tabs and commas (spreadsheets pad with empty rows).
_FILLED = pl.col(_TEXT).str.strip_chars(" \t,") != ""

ErrorType = type[FileFormatError]


def shown(value: object) -> str:
    """Return repr(value) for an error message, cut to MAX_SHOWN characters."""
    if isinstance(value, str) and len(value) > MAX_SHOWN:
        return f"{value[:MAX_SHOWN]!r}... ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}..."


def lower_name(name: str) -> str:
    """Return a header name trimmed and in lower case (for case-insensitive layouts)."""
    return name.strip().lower()


def clip(text: str, limit: int = 80) -> str:
    """Return `text` cut to `limit` characters (with an ellipsis), for messages."""
    return text if len(text) <= limit else f"{text[:limit]}..."


def read_text(path: Path, error: ErrorType = FileFormatError) -> str:
    """Return the file's UTF-8 text (BOM dropped, line ends as LF); refuse anything else."""
    raw = read_capped(path, error)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error(path, 'is UTF-16 text; save it as UTF-8 ("CSV UTF-8")')
    _refuse_control_bytes(path, raw, error)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(
            path, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8", line=line
        ) from None
    if not text.strip():
        raise error(path, "is empty")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def read_capped(
    path: Path, error: ErrorType = FileFormatError, limit: int = MAX_FILE_BYTES
) -> bytes:
    """Return the bytes of a regular file of at most `limit` bytes; refuse anything else.

    Opened without blocking and checked before reading, so a FIFO (which would block until a
    writer comes) or a device such as /dev/zero (endless) is refused in one line instead of
    hanging or running out of memory; a symlink counts as what it points at.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise error(path, f"cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(path, f"is not a regular file ({file_kind(mode)}): refused")
        try:
            raw = handle.read(limit + 1)
        except OSError as exc:
            raise error(path, f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise error(path, f"is larger than {limit:,} bytes, more than any chain file holds")
    return raw


def file_kind(mode: int) -> str:
    """Return what a stat mode describes, for messages: 'a FIFO', 'a device', 'a folder'..."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _refuse_control_bytes(path: Path, raw: bytes, error: ErrorType) -> None:
    """Refuse control bytes (NUL and the like): such a file is binary, or UTF-16 without a BOM."""
    controls = raw.translate(None, _NOT_CONTROL)
    if not controls:
        return
    at = raw.find(controls[:1])
    what = f"binary data (byte 0x{controls[0]:02x})"
    if controls[0] == 0 and raw.count(0) * 3 > len(raw):
        what = "UTF-16 text (every other byte is NUL); save it as UTF-8"
    raise error(path, f"holds {what}, not a CSV text file", line=raw.count(b"\n", 0, at) + 1)


def split_lines(text: str, first: int = 1) -> pl.DataFrame:
    """Return one row per line of `text`: LINE (file line; `first` for the first) and `text`."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the line break that ends the last line starts no line
    frame = pl.DataFrame({_TEXT: lines}, schema={_TEXT: pl.String})
    return frame.with_row_index(LINE, offset=first)


def header_names(
    path: Path,
    text: str,
    line: int,
    error: ErrorType = FileFormatError,
    normalise: Callable[[str], str] = str.strip,
) -> list[str]:
    """Return the names of a header line; refuse unnamed and duplicated columns.

    Trailing empty names are dropped (spreadsheets pad lines with commas).
    """
    if len(text) > MAX_LINE_CHARS or text.count('"') % 2:
        raise error(path, "the header line is not a CSV header", line=line)
    names = [normalise(n) for n in next(csv.reader([text]))]
    while names and not names[-1]:
        names.pop()
    if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
        raise error(
            path,
            f"the header is one column {shown(names[0])}: separate columns with commas",
            line=line,
        )
    seen: dict[str, int] = {}
    for number, name in enumerate(names, 1):
        if not name:
            raise error(path, f"header column {number} has no name", line=line)
        if name in seen:
            raise error(
                path,
                f"column {name!r} appears twice in the header (columns {seen[name]} and {number})",
                line=line,
            )
        seen[name] = number
    return names


def check_rows(
    path: Path, lines: pl.DataFrame, width: int, error: ErrorType = FileFormatError
) -> pl.DataFrame:
    """Return the filled lines of `lines` once each is known to hold `width` fields.

    Blank lines are dropped. Refused, naming the first bad line: a line over MAX_LINE_CHARS, an
    unclosed quote (a quoted field running over a line break), too few fields (a deleted cell
    shifts every cell after it), and extra fields with anything in them. Extra empty fields at
    the end are allowed: spreadsheets pad rows with commas, and they shift nothing.
    """
    text = pl.col(_TEXT)
    kept = lines.filter(_FILLED)
    quoted = kept.get_column(_TEXT).str.contains('"', literal=True).any()
    bare = text.str.replace_all(r'"[^"]*"', '""') if quoted else text
    stats = kept.select(
        LINE,
        bare.alias("_bare"),
        text.str.len_chars().alias("_chars"),
        (text.str.count_matches('"', literal=True) % 2 == 1).alias("_open_quote"),
        (bare.str.count_matches(",", literal=True) + 1).alias("_fields"),
    )
    suspect = stats.filter(
        (pl.col("_chars") > MAX_LINE_CHARS) | pl.col("_open_quote") | (pl.col("_fields") != width)
    )
    if suspect.height:
        _refuse_first_row(path, suspect, width, error)
    return kept


def _refuse_first_row(path: Path, suspect: pl.DataFrame, width: int, error: ErrorType) -> None:
    """Raise for the first row of `suspect` that is really bad (not just padded with commas)."""
    extra = pl.col("_bare").str.split(",").list.slice(width).list.join("")
    bad = suspect.with_columns(extra.str.strip_chars(' \t"').alias("_extra")).filter(
        (pl.col("_chars") > MAX_LINE_CHARS)
        | pl.col("_open_quote")
        | (pl.col("_fields") < width)
        | (pl.col("_extra") != "")
    )
    if bad.height == 0:
        return
    row = bad.row(0, named=True)
    if row["_chars"] > MAX_LINE_CHARS:
        message = f"is {row['_chars']:,} characters long; rows of this file stay under "
        message += f"{MAX_LINE_CHARS:,}"
    elif row["_open_quote"]:
        message = "has a quote that is never closed (a quoted field running over a line break?)"
    elif row["_fields"] < width:
        message = f"has {row['_fields']} fields, expected {width}: a cell is missing"
    else:
        cells = shown(row["_extra"])
        message = f"has {row['_fields']} fields, expected {width}: extra cell(s) {cells}"
    raise error(path, message, line=row[LINE])


def parse_rows(
    path: Path,
    rows: pl.DataFrame,
    columns: list[str],
    schema: dict[str, ColumnType] | None = None,
    error: ErrorType = FileFormatError,
) -> pl.DataFrame:
    """Return checked rows (from check_rows) as a frame of `columns` plus LINE.

    Columns are text unless `schema` types them; polars errors (a cell that does not fit its
    type) pass through, so a caller can retry as text to name the cell.
    """
    types: dict[str, ColumnType] = schema or dict.fromkeys(columns, pl.String)
    if rows.height == 0:
        return pl.DataFrame(schema={**types, LINE: pl.UInt32})
    body = "\n".join(rows.get_column(_TEXT).to_list()).encode()
    frame = pl.read_csv(
        body,
        has_header=False,
        schema={c: types[c] for c in columns},
        truncate_ragged_lines=True,
        extra_columns="ignore",
    )
    if frame.height != rows.height:
        raise error(path, "rows cannot be told apart (stray quotes?)")
    return frame.with_columns(rows.get_column(LINE))


def load_csv(
    path: Path,
    error: ErrorType = FileFormatError,
    normalise: Callable[[str], str] = str.strip,
    check_names: Callable[[list[str]], None] | None = None,
) -> pl.DataFrame:
    """Return a CSV whose first filled line is its header, as text columns plus LINE.

    Every check of read_text, header_names and check_rows applies; `normalise` maps each
    header name (e.g. to lower case) before duplicates are looked for; `check_names` sees the
    names before any row is read (wrong names say more than the rows they misalign).
    """
    lines = split_lines(read_text(path, error))
    filled = lines.filter(_FILLED)
    if filled.height == 0:
        raise error(path, "is empty")
    line, header = filled.row(0)
    names = header_names(path, header, line, error, normalise)
    if check_names is not None:
        check_names(names)
    rows = check_rows(path, filled.slice(1), len(names), error)
    try:
        return parse_rows(path, rows, names, error=error)
    except pl.exceptions.PolarsError as exc:
        raise error(path, f"cannot be read as CSV: {str(exc).splitlines()[0]}") from None


@dataclass(frozen=True)
class Check:
    """One way a row can be bad: `bad` holds on it; `column`'s value is shown in the error."""

    bad: pl.Expr
    column: str
    label: str
    message: str


def raise_first(
    frame: pl.DataFrame, path: str | Path, checks: list[Check], error: ErrorType = FileFormatError
) -> None:
    """Raise for the first check (in list order) that fails on some row, naming its first line.

    All checks run in one pass; the failing row is only looked up when one fails.
    """
    if not checks or frame.height == 0:
        return
    flags = frame.select(
        c.bad.fill_null(False).any().alias(str(i)) for i, c in enumerate(checks)
    ).row(0)
    for hit, check in zip(flags, checks, strict=True):
        if hit:
            row = frame.filter(check.bad.fill_null(False)).row(0, named=True)
            value = row[check.column]
            what = "cell" if value is None or str(value).strip() == "" else f"value {shown(value)}"
            raise error(path, f"{what} {check.message}", line=row[LINE], column=check.label)


@dataclass(frozen=True)
class NumberSpec:
    """How one column must parse: `label` is the name users see in errors.

    Every number must be finite (NaN and infinities are refused) unless `finite` is False;
    `minimum`/`maximum` bound plausible values; `positive` refuses zero as well.
    """

    column: str
    label: str
    required: bool = True
    non_negative: bool = False
    whole: bool = False
    positive: bool = False
    finite: bool = True
    minimum: float | None = None
    maximum: float | None = None


class NumberOptions(TypedDict, total=False):
    """The settings of a NumberSpec past column and label, to share them as `**options`."""

    required: bool
    non_negative: bool
    whole: bool
    positive: bool
    finite: bool
    minimum: float | None
    maximum: float | None


def _value(spec: NumberSpec, dtype: pl.DataType) -> pl.Expr:
    """Return the column as Float64: text is stripped and parsed, numbers are cast."""
    if dtype == pl.String:
        return pl.col(spec.column).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.col(spec.column).cast(pl.Float64)


def _checks(spec: NumberSpec, dtype: pl.DataType) -> list[Check]:
    """Return the checks of one column, most basic first."""
    value = _value(spec, dtype)
    found: list[tuple[pl.Expr, str]] = []
    if dtype == pl.String:
        text = pl.col(spec.column).str.strip_chars()
        found.append((text.is_not_null() & (text != "") & value.is_null(), "is not a number"))
    if spec.required:
        found.append((value.is_null(), "is empty"))
    if spec.finite:
        found.append((~value.is_finite(), "is not a finite number"))
    if spec.non_negative:
        found.append((value < 0, "is negative"))
    if spec.positive:
        found.append((value <= 0, "is not positive"))
    if spec.minimum is not None:
        found.append((value < spec.minimum, f"is below {spec.minimum:g}"))
    if spec.maximum is not None:
        found.append((value > spec.maximum, f"is implausibly large (over {spec.maximum:,.0f})"))
    if spec.whole:
        found.append((value != value.round(0), "is not a whole number"))
    return [Check(bad, spec.column, spec.label, message) for bad, message in found]


def parse_numbers(
    frame: pl.DataFrame,
    path: str | Path,
    specs: list[NumberSpec],
    error: ErrorType = FileFormatError,
) -> dict[str, pl.Series]:
    """Return each spec's column as Float64 (Int64 when `whole`); raise on the first bad cell.

    Columns may be text (parsed here) or already numeric (checked only).
    """
    schema = frame.schema
    raise_first(frame, path, [c for s in specs for c in _checks(s, schema[s.column])], error)
    parsed = frame.select(_value(s, schema[s.column]) for s in specs)
    return {
        s.column: parsed.get_column(s.column).cast(pl.Int64) if s.whole else parsed[s.column]
        for s in specs
    }


def first_bad_line(frame: pl.DataFrame, bad: pl.Expr) -> int | None:
    """Return the file line of the first row where `bad` holds, or None."""
    hit = frame.filter(bad.fill_null(False)).get_column(LINE)
    return int(hit[0]) if hit.len() else None
