"""Reader for CBOE delayed-quotes `quotedata.csv` downloads (every layout seen since 2022).

Layout: an optional blank line, a title line `<name>,Last: <spot>,...`, a date line
`Date: <when>,...` (several formats), a header `Expiration Date,Calls,...` of exactly the 22
columns of HEADER_NAMES (call block, Strike, put block), then one row per expiration and strike.

Nothing in a file is trusted to be where the layout says: the header must name the 22 columns in
order, every row must have 22 fields, every number must be finite and plausible, each row's
option ids must be OCC ids of its own side, strike and expiration (so a shifted cell cannot pass
as data), and no contract may be listed twice. Any failure is one ChainFormatError naming the
file, line and column.
"""

from __future__ import annotations

import csv
import math
import re
from datetime import datetime, timedelta, timezone
from itertools import zip_longest
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from pipeline.chain import Chain, describe_duplicates, duplicate_contracts
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import ChainFormatError
from pipeline.roots import ROOTS
from pipeline.sources.tabular import (
    LINE,
    MAX_CONTRACTS,
    MAX_LINE_CHARS,
    Check,
    NumberOptions,
    NumberSpec,
    check_rows,
    clip,
    parse_numbers,
    parse_rows,
    raise_first,
    read_text,
    shown,
    split_lines,
)

if TYPE_CHECKING:
    from warehouse.schema import ColumnType

#: How the header line starts; files are recognised by it (see chains.is_cboe).
HEADER_START = "Expiration Date"
SIDE_COLUMNS = ["last", "net", "bid", "ask", "volume", "iv", "delta", "gamma", "open_interest"]
COLUMNS = [
    "expiration",
    "call_id",
    *[f"call_{c}" for c in SIDE_COLUMNS],
    "strike",
    "put_id",
    *[f"put_{c}" for c in SIDE_COLUMNS],
]
_CBOE_NAMES = ["Last Sale", "Net", "Bid", "Ask", "Volume", "IV", "Delta", "Gamma", "Open Interest"]
#: The header's names, in order (compared without case and surrounding spaces).
HEADER_NAMES = ["Expiration Date", "Calls", *_CBOE_NAMES, "Strike", "Puts", *_CBOE_NAMES]
#: Our column -> the header's name, for error messages ("Open Interest (puts)").
LABELS = {
    "expiration": "Expiration Date",
    "strike": "Strike",
    "call_id": "Calls",
    "put_id": "Puts",
    **{f"call_{c}": f"{n} (calls)" for c, n in zip(SIDE_COLUMNS, _CBOE_NAMES, strict=True)},
    **{f"put_{c}": f"{n} (puts)" for c, n in zip(SIDE_COLUMNS, _CBOE_NAMES, strict=True)},
}
#: An OCC option id: root, expiry yymmdd, C/P, strike in thousandths (SPXW240105C01200000).
OCC_ID = r"^(?P<root>[A-Z0-9]{1,6})(?P<day>\d{6})(?P<right>[CP])(?P<strike>\d{8})$"
#: The preamble (title, date, header) lies within the first lines.
PREAMBLE_LINES = 12
_TEXT_COLUMNS = {"expiration", "call_id", "put_id"}

_ZONES = {"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "UTC": 0, "GMT": 0}

_DAY_FIRST = re.compile(r"^(?P<day>\d{1,2}) (?P<month>[A-Za-z]+) (?P<year>\d{4})")
_MONTH_FIRST = re.compile(r"^(?P<month>[A-Za-z]+) (?P<day>\d{1,2}) (?P<year>\d{4})")
_TIME = re.compile(
    r"(?P<h>\d{1,2}):(?P<m>\d{2})(?: ?(?P<ampm>[AP]M))?"
    r"(?: (?P<zone>[A-Z]{3})(?P<offset>[+-]\d{1,2}(?::?\d{2})?)?)?$"
)


def parse_cboe_date(text: str) -> datetime:
    """Return the moment of a CBOE `Date:` value as an aware datetime in America/New_York.

    Accepts "January 7, 2024 at 10:52 AM EST", "February 5 2022, 8:26 PM EST",
    "9 June 2023, 1:40 PM EDT", "8 June 2023 7:56 PM EDT" and "16 April 2023, 22:59 UTC−4".
    Raises ValueError when the text matches none of them.
    """
    clean = text.replace("\u2212", "-").replace('"', "").replace(",", " ")
    clean = re.sub(r"\s+", " ", re.sub(r"\bat\b", " ", clean)).strip()
    day = _DAY_FIRST.match(clean) or _MONTH_FIRST.match(clean)
    clock = _TIME.search(clean)
    if not day or not clock:
        raise ValueError(f"unrecognised date {text!r}")
    stamp = datetime.strptime(f"{day['year']} {day['month'][:3]} {day['day']}", "%Y %b %d")
    hour = int(clock["h"])
    if clock["ampm"]:
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} in {text!r} does not go with {clock['ampm']}")
        hour = hour % 12 + (12 if clock["ampm"] == "PM" else 0)
    stamp = stamp.replace(hour=hour, minute=int(clock["m"]))
    return stamp.replace(tzinfo=_zone_of(clock["zone"], clock["offset"])).astimezone(NEW_YORK)


def _zone_of(name: str | None, offset: str | None) -> timezone | ZoneInfo:
    """Return the zone of a date line: a named US zone, UTC±H[:MM], or New York when absent."""
    if name is None:
        return NEW_YORK
    if name not in _ZONES:
        raise ValueError(f"unknown time zone {name!r}")
    hours: float = _ZONES[name]
    if offset:
        sign = -1 if offset.startswith("-") else 1
        digits = offset[1:].replace(":", "")
        h, m = (digits, "0") if len(digits) <= 2 else (digits[:-2], digits[-2:])
        hours += sign * (int(h) + int(m) / 60)
    return timezone(timedelta(hours=hours))


def is_header(line: str) -> bool:
    """Return True for the header line of the layout (however its columns were edited)."""
    return line.lstrip(' \ufeff"').startswith(HEADER_START)


def _preamble(path: Path, lines: list[str]) -> tuple[float, datetime, int]:
    """Return spot, as_of and the 0-based index of the header line."""
    long = next((i for i, t in enumerate(lines) if len(t) > MAX_LINE_CHARS), None)
    header = next((i for i, t in enumerate(lines) if is_header(t)), None)
    if long is not None and (header is None or long <= header):
        message = f"is {len(lines[long]):,} characters long; a CBOE preamble line stays under "
        raise ChainFormatError(path, message + f"{MAX_LINE_CHARS:,}", line=long + 1)
    if header is None:
        raise ChainFormatError(
            path, f"no header line starting {HEADER_START!r} in the first {len(lines)} lines"
        )
    title = next((i for i in range(header) if "Last:" in lines[i]), None)
    if title is None:
        raise ChainFormatError(path, "no spot: no 'Last:' on the title line", line=header)
    spot = _spot(path, lines[title], title + 1)
    dated = next((i for i in range(header) if "Date:" in lines[i]), None)
    if dated is None:
        raise ChainFormatError(path, "no 'Date:' line before the header", line=header)
    when = lines[dated].split("Date:", 1)[1]
    when = re.split(r",\s*(?:Bid|Ask|Size|Volume):", when)[0]
    try:
        as_of = parse_cboe_date(when)
    except (ValueError, OverflowError) as exc:
        message = f"{shown(when.strip())} is not a time CBOE writes: {clip(str(exc))}"
        raise ChainFormatError(path, message, line=dated + 1, column="Date") from None
    return spot, as_of, header


def _spot(path: Path, title: str, line: int) -> float:
    """Return the positive, finite spot of the title line's `Last:` field."""
    text = title.split("Last:", 1)[1].split(",", 1)[0].strip()
    try:
        spot = float(text)
    except ValueError:
        raise ChainFormatError(
            path, f"spot {shown(text)} is not a number", line=line, column="Last"
        ) from None
    if not (math.isfinite(spot) and spot > 0):
        raise ChainFormatError(
            path, f"spot {clip(text)} is not a positive finite number", line=line, column="Last"
        )
    return spot


def _check_header(path: Path, text: str, line: int) -> None:
    """Refuse a header that does not name HEADER_NAMES in order (trailing empty cells aside)."""
    if len(text) > MAX_LINE_CHARS or text.count('"') % 2:
        raise ChainFormatError(path, "the header line is not a CSV header", line=line)
    names = [n.strip() for n in next(csv.reader([text.lstrip("\ufeff")]))]
    while names and not names[-1]:
        names.pop()
    expected = len(HEADER_NAMES)
    pairs = zip_longest(names, HEADER_NAMES, fillvalue=None)
    for number, (got, want) in enumerate(pairs, 1):
        if got is None:
            message = f"the header has {len(names)} columns, expected {expected}: "
            message += f"column {number} {want!r} is missing"
        elif want is None:
            message = f"the header has {len(names)} columns, expected {expected}: "
            message += f"column {number} {shown(got)} is not part of the CBOE layout"
        elif got.lower() != want.lower():
            message = f"header column {number} is {shown(got)}, expected {want!r}"
        else:
            continue
        raise ChainFormatError(path, message, line=line)


def _symbol(frame: pl.DataFrame) -> str:
    """Return the underlying's symbol: the one most option ids' roots belong to (SPXW -> SPX).

    Roots are counted by underlying (pipeline.roots), so an SPX file of SPX and SPXW rows is
    SPX even when another root is as frequent as either; the firewall then refuses the rows
    of any other underlying. The ids are checked by now: the root is all but the last 15
    characters.
    """
    roots = frame.get_column("call_id").str.replace_all(r"\s+", "").str.head(-15)
    roots = roots.filter(roots.str.len_chars() > 0)
    if roots.len() == 0:
        return "UNKNOWN"
    aliases = {root: symbol for symbol, group in ROOTS.items() for root in group}
    return str(roots.replace(aliases).mode().sort()[0])


def _expirations(frame: pl.DataFrame, path: Path) -> pl.Series:
    """Return the expiration column as dates ("Fri Jan 05 2024"), naming a bad line."""
    text = pl.col("expiration").str.strip_chars()
    days = text.str.strptime(pl.Date, "%a %b %d %Y", strict=False)
    check = Check(
        days.is_null(), "expiration", "Expiration Date", "is not a date like 'Fri Jan 05 2024'"
    )
    raise_first(frame, path, [check], ChainFormatError)
    return frame.select(days).to_series()


def _number_specs() -> list[NumberSpec]:
    """Return how each numeric column of the CBOE layout must parse, and its plausible range."""
    specs = [NumberSpec("strike", "Strike", positive=True)]
    for side in ("call", "put"):
        count: NumberOptions = {"non_negative": True, "whole": True, "maximum": MAX_CONTRACTS}
        optional: NumberOptions = {"required": False, "non_negative": True}
        optional_count: NumberOptions = {**count, "required": False}
        specs += [
            NumberSpec(f"{side}_open_interest", LABELS[f"{side}_open_interest"], **count),
            NumberSpec(f"{side}_volume", LABELS[f"{side}_volume"], **optional_count),
            *(
                NumberSpec(f"{side}_{c}", LABELS[f"{side}_{c}"], **optional)
                for c in ("last", "iv", "bid", "ask", "gamma")
            ),
            NumberSpec(f"{side}_net", LABELS[f"{side}_net"], required=False),
            NumberSpec(
                f"{side}_delta", LABELS[f"{side}_delta"], required=False, minimum=-1, maximum=1
            ),
        ]
    return specs


def _id_matches(side: str) -> pl.Expr:
    """Return, per row, whether the side's OCC id names the row's right, strike and expiry.

    Pure arithmetic on slices of the id (SPXW 240105 C 01200000) against the row's `_strike`
    (thousandths) and `_yymmdd` (see _check_ids), so it is cheap enough for every file; null
    (no id, a malformed id) counts as no match.
    """
    text = pl.col(f"{side}_id").str.strip_chars()
    matches = (
        (text.str.slice(-9, 1) == side[0].upper())
        & (text.str.slice(-8).cast(pl.Int64, strict=False) == pl.col("_strike"))
        & (text.str.slice(-15, 6).cast(pl.Int64, strict=False) == pl.col("_yymmdd"))
    )
    return matches.fill_null(False)


def _id_checks(side: str) -> list[Check]:
    """Return the detailed checks behind _id_matches, for naming what is wrong with an id."""
    column, label = f"{side}_id", LABELS[f"{side}_id"]
    text = pl.col(column).str.strip_chars()
    named_strike = text.str.slice(-8).cast(pl.Float64, strict=False) / 1000
    named_day = text.str.slice(-15, 6).str.strptime(pl.Date, "%y%m%d", strict=False)
    checks = [
        (text.fill_null("") == "", "is empty"),
        (~text.str.contains(OCC_ID), "is not an option id like SPXW240105C01200000"),
        (text.str.slice(-9, 1) != side[0].upper(), f"is not a {side} id"),
        ((named_strike - pl.col("strike")).abs() > 5e-4, "names another strike than the row's"),
        (named_day != pl.col("expiration"), "names another expiration than the row's"),
        (~_id_matches(side), "does not name the row's contract"),
    ]
    return [Check(bad, column, label, message) for bad, message in checks]


def _check_ids(path: Path, frame: pl.DataFrame, expiration: pl.Series, strike: pl.Series) -> None:
    """Refuse rows whose option ids do not name their own side, strike and expiration.

    A deleted or moved cell that keeps the row's field count still breaks one of these.
    """
    day = pl.col("expiration")
    # dt.month()/day() are Int8: widen before multiplying.
    year, month = day.dt.year().cast(pl.Int64) % 100, day.dt.month().cast(pl.Int64)
    ids = frame.select(LINE, "call_id", "put_id").with_columns(expiration, strike)
    ids = ids.with_columns(
        (year * 10_000 + month * 100 + day.dt.day().cast(pl.Int64)).alias("_yymmdd"),
        (pl.col("strike") * 1000).round().cast(pl.Int64, strict=False).alias("_strike"),
    )
    if ids.select((_id_matches("call") & _id_matches("put")).all()).item():
        return
    raise_first(ids, path, _id_checks("call") + _id_checks("put"), ChainFormatError)


def _side(
    numbers: dict[str, pl.Series], side: str, frame: pl.DataFrame, expiration: pl.Series
) -> pl.DataFrame:
    """Return the call or put block as long-format contract rows (with their file lines)."""
    return pl.DataFrame(
        {
            "contract": frame.get_column(f"{side}_id").str.strip_chars(),
            "expiration": expiration,
            "strike": numbers["strike"],
            "right": pl.repeat("C" if side == "call" else "P", expiration.len(), eager=True),
            "open_interest": numbers[f"{side}_open_interest"],
            "volume": numbers[f"{side}_volume"].fill_null(0),
            **{c: numbers[f"{side}_{c}"] for c in ("iv", "bid", "ask", "gamma", "delta")},
            LINE: frame.get_column(LINE),
        }
    )


def _typed_rows(body: bytes) -> pl.DataFrame:
    """Return the data rows with numbers typed; raise a polars error when a cell is no number."""
    return pl.read_csv(
        body,
        has_header=False,
        schema=_typed_schema(),
        truncate_ragged_lines=True,
        extra_columns="ignore",
    )


def _fast_rows(body: bytes, first: int) -> pl.DataFrame | None:
    """Return the data rows when whole-file counts prove each line has 22 fields, else None.

    The proof: no quotes, one row per line, no row short of its last cell (polars leaves it
    null), and commas = 21 x lines, so no row has more either. Anything else (a blank line, a
    bad cell) goes the checked way, which names the line.
    """
    if b'"' in body:
        return None
    try:
        frame = _typed_rows(body)
    except pl.exceptions.PolarsError:
        return None
    octets = np.frombuffer(body, dtype=np.uint8)  # numpy counts bytes ~3x faster than bytes.count
    lines = int(np.count_nonzero(octets == ord("\n"))) + (not body.endswith(b"\n"))
    commas = int(np.count_nonzero(octets == ord(",")))
    if frame.height != lines or commas != (len(COLUMNS) - 1) * lines:
        return None
    if frame.select(pl.col(COLUMNS[-1]).is_null().any()).item():
        return None
    return frame.with_row_index(LINE, offset=first)


def _checked_rows(path: Path, body: bytes, first: int) -> pl.DataFrame:
    """Return the data rows after checking every line (field count, quotes, length)."""
    lines = split_lines(body.decode(), first)
    rows = check_rows(path, lines, len(COLUMNS), ChainFormatError)
    if rows.height == 0:
        raise ChainFormatError(path, "no option rows after the header", line=first - 1)
    try:
        return parse_rows(path, rows, COLUMNS, _typed_schema(), ChainFormatError)
    except pl.exceptions.PolarsError:
        pass
    try:
        return parse_rows(path, rows, COLUMNS, error=ChainFormatError)
    except pl.exceptions.PolarsError as exc:
        message = f"cannot be read as CSV: {shown(str(exc).splitlines()[0])}"
        raise ChainFormatError(path, message) from None


def _typed_schema() -> dict[str, ColumnType]:
    """Return the typed read's schema: ids and expiration as text, every other column Float64."""
    return {c: pl.String if c in _TEXT_COLUMNS else pl.Float64 for c in COLUMNS}


def _refuse_duplicates(path: Path, contracts: pl.DataFrame) -> None:
    """Refuse a file listing a contract (option id) more than once, naming the lines."""
    duplicates = duplicate_contracts(contracts)
    if duplicates.height:
        lines = contracts.get_column(LINE).to_list()
        raise ChainFormatError(path, describe_duplicates(duplicates, lines))


def _contracts(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    """Return the rows as long-format contracts (with file lines) once every cell is checked."""
    expiration = _expirations(frame, path)
    numbers = parse_numbers(frame, path, _number_specs(), ChainFormatError)
    _check_ids(path, frame, expiration, numbers["strike"])
    contracts = pl.concat([_side(numbers, side, frame, expiration) for side in ("call", "put")])
    _refuse_duplicates(path, contracts)
    return contracts


def read_cboe(path: str | Path, *, symbol: str | None = None) -> Chain:
    """Return the chain in a CBOE quotedata.csv; raise ChainFormatError naming line and column.

    The symbol comes from the option ids unless given; spot from `Last:`; as_of from `Date:`.
    """
    path = Path(path)
    text = read_text(path, ChainFormatError)
    head = text.split("\n", PREAMBLE_LINES)[:PREAMBLE_LINES]
    spot, as_of, header = _preamble(path, head)
    _check_header(path, head[header], header + 1)
    parts = text.split("\n", header + 1)
    body = parts[-1].encode() if len(parts) > header + 1 else b""
    first = header + 2
    try:
        frame = _fast_rows(body, first)
        frame = _checked_rows(path, body, first) if frame is None else frame
        contracts = _contracts(path, frame)
    except ChainFormatError:
        # A bad cell can be the symptom of a bad row (a deleted cell shifts the rest): name
        # the row when it is one.
        _checked_rows(path, body, first)
        raise
    return Chain(symbol or _symbol(frame), spot, as_of, contracts.drop(LINE), origin=str(path))
