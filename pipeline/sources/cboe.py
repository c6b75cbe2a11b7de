"""Reader for CBOE delayed-quotes `quotedata.csv` downloads (every layout seen since 2022).

Layout: an optional blank line, a title line `<name>,Last: <spot>,...`, a date line
`Date: <when>,...` (several formats), a header `Expiration Date,Calls,...` of 22 columns
(call block, Strike, put block), then one row per expiration and strike.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from pipeline.chain import Chain
from pipeline.errors import ChainFormatError
from pipeline.sources.tabular import LINE, NumberSpec, first_bad_line, parse_numbers

HEADER_START = "Expiration Date,Calls"
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
#: Our column -> the header's name, for error messages ("Open Interest (puts)").
LABELS = {
    "expiration": "Expiration Date",
    "strike": "Strike",
    **{f"call_{c}": f"{n} (calls)" for c, n in zip(SIDE_COLUMNS, _CBOE_NAMES, strict=True)},
    **{f"put_{c}": f"{n} (puts)" for c, n in zip(SIDE_COLUMNS, _CBOE_NAMES, strict=True)},
}
# Weekly / PM-settled roots that belong to the same underlying.
ROOT_ALIASES = {"SPXW": "SPX", "NDXP": "NDX", "RUTW": "RUT", "VIXW": "VIX", "XSPW": "XSP"}

_ZONES = {"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "UTC": 0, "GMT": 0}
_NEW_YORK = ZoneInfo("America/New_York")
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
    hour = int(clock["h"]) % 12 + (12 if clock["ampm"] == "PM" else 0)
    if not clock["ampm"]:
        hour = int(clock["h"])
    stamp = stamp.replace(hour=hour, minute=int(clock["m"]))
    return stamp.replace(tzinfo=_zone_of(clock["zone"], clock["offset"])).astimezone(_NEW_YORK)


def _zone_of(name: str | None, offset: str | None) -> timezone | ZoneInfo:
    """Return the zone of a date line: a named US zone, UTC±H[:MM], or New York when absent."""
    if name is None:
        return _NEW_YORK
    if name not in _ZONES:
        raise ValueError(f"unknown time zone {name!r}")
    hours = _ZONES[name]
    if offset:
        sign = -1 if offset.startswith("-") else 1
        digits = offset[1:].replace(":", "")
        h, m = (digits, "0") if len(digits) <= 2 else (digits[:-2], digits[-2:])
        hours += sign * (int(h) + int(m) / 60)
    return timezone(timedelta(hours=hours))


def _preamble(path: Path, lines: list[str]) -> tuple[float, datetime, int]:
    """Return spot, as_of and the 0-based index of the header line."""
    header = next((i for i, t in enumerate(lines) if t.startswith(HEADER_START)), None)
    if header is None:
        raise ChainFormatError(path, f"no header line starting {HEADER_START!r} in the first lines")
    title = next((i for i in range(header) if "Last:" in lines[i]), None)
    if title is None:
        raise ChainFormatError(path, "no spot: no 'Last:' on the title line", line=header)
    spot_text = lines[title].split("Last:", 1)[1].split(",", 1)[0].strip()
    try:
        spot = float(spot_text)
    except ValueError:
        raise ChainFormatError(
            path, f"spot {spot_text!r} is not a number", line=title + 1, column="Last"
        ) from None
    if not spot > 0:
        raise ChainFormatError(path, f"spot {spot} is not positive", line=title + 1, column="Last")
    dated = next((i for i in range(header) if "Date:" in lines[i]), None)
    if dated is None:
        raise ChainFormatError(path, "no 'Date:' line before the header", line=header)
    when = lines[dated].split("Date:", 1)[1]
    when = re.split(r",\s*(?:Bid|Ask|Size|Volume):", when)[0]
    try:
        as_of = parse_cboe_date(when)
    except ValueError as exc:
        raise ChainFormatError(path, str(exc), line=dated + 1, column="Date") from None
    return spot, as_of, header


def _symbol(frame: pl.DataFrame) -> str:
    """Return the underlying's symbol from the option ids' root (SPXW240105C... -> SPX)."""
    ids = frame.get_column("call_id").drop_nulls()
    roots = ids.str.extract(r"^([A-Z]+)\d", 1).drop_nulls()
    if roots.len() == 0:
        return "UNKNOWN"
    root = str(roots.mode().sort()[0])
    return ROOT_ALIASES.get(root, root)


def _expirations(frame: pl.DataFrame, path: Path) -> pl.Series:
    """Return the expiration column as dates ("Fri Jan 05 2024"), naming a bad line."""
    text = frame.get_column("expiration").str.strip_chars()
    days = text.str.strptime(pl.Date, "%a %b %d %Y", strict=False)
    line = first_bad_line(frame, pl.lit(days.is_null()))
    if line is not None:
        value = frame.filter(pl.col(LINE) == line).get_column("expiration")[0]
        raise ChainFormatError(
            path,
            f"value {value!r} is not a date like 'Fri Jan 05 2024'",
            line=line,
            column="Expiration Date",
        )
    return days


def _number_specs() -> list[NumberSpec]:
    """Return how each numeric column of the CBOE layout must parse."""
    specs = [NumberSpec("strike", "Strike", non_negative=True)]
    for side in ("call", "put"):
        specs.append(
            NumberSpec(
                f"{side}_open_interest",
                LABELS[f"{side}_open_interest"],
                non_negative=True,
                whole=True,
            )
        )
        specs.append(
            NumberSpec(
                f"{side}_volume",
                LABELS[f"{side}_volume"],
                required=False,
                non_negative=True,
                whole=True,
            )
        )
        specs += [
            NumberSpec(f"{side}_{c}", LABELS[f"{side}_{c}"], required=False)
            for c in ("iv", "bid", "ask", "gamma", "delta")
        ]
    return specs


def _side(
    numbers: dict[str, pl.Series], side: str, expiration: pl.Series, ids: pl.Series
) -> pl.DataFrame:
    """Return the call or put block as long-format contract rows."""
    return pl.DataFrame(
        {
            "contract": ids.str.strip_chars(),
            "expiration": expiration,
            "strike": numbers["strike"],
            "right": pl.repeat("C" if side == "call" else "P", expiration.len(), eager=True),
            "open_interest": numbers[f"{side}_open_interest"],
            "volume": numbers[f"{side}_volume"].fill_null(0),
            **{c: numbers[f"{side}_{c}"] for c in ("iv", "bid", "ask", "gamma", "delta")},
        }
    )


def _read_rows(body: bytes) -> pl.DataFrame:
    """Return the data rows, numbers typed; as text when some cell is not a number.

    The typed read is the fast path; the text read lets parse_numbers name the bad cell.
    """
    if not body.strip():
        return pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String))
    text_columns = {"expiration", "call_id", "put_id"}
    typed = {c: pl.String if c in text_columns else pl.Float64 for c in COLUMNS}
    options = {"has_header": False, "new_columns": COLUMNS, "truncate_ragged_lines": True}
    try:
        return pl.read_csv(io.BytesIO(body), schema_overrides=typed, **options)
    except pl.exceptions.PolarsError:
        return pl.read_csv(
            io.BytesIO(body),
            infer_schema=False,
            schema_overrides=dict.fromkeys(COLUMNS, pl.String),
            **options,
        )


def read_cboe(path: str | Path, *, symbol: str | None = None) -> Chain:
    """Return the chain in a CBOE quotedata.csv; raise ChainFormatError naming line and column.

    The symbol comes from the option ids unless given; spot from `Last:`; as_of from `Date:`.
    """
    path = Path(path)
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    head = text.split("\n", 12)[:12]
    spot, as_of, header = _preamble(path, [h.rstrip("\r") for h in head])
    body = raw.split(b"\n", header + 1)[-1] if raw.count(b"\n") > header else b""
    frame = _read_rows(body)
    frame = frame.with_row_index(LINE, offset=header + 2).filter(
        pl.any_horizontal(pl.col(COLUMNS).is_not_null())
    )
    if frame.height == 0:
        raise ChainFormatError(path, "no option rows after the header", line=header + 1)
    expiration = _expirations(frame, path)
    numbers = parse_numbers(frame, path, _number_specs())
    contracts = pl.concat(
        [_side(numbers, side, expiration, frame[f"{side}_id"]) for side in ("call", "put")]
    )
    return Chain(symbol or _symbol(frame), spot, as_of, contracts, origin=str(path))
