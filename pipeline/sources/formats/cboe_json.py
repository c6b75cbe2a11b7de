"""Cboe's delayed-quotes JSON reply: what one reply (or a saved `.json` file) becomes.

The feed names a chain `{NAME}.json`, NAME the symbol with a leading underscore for indices
(`_SPX`, see INDEX_SYMBOLS) and without for ETFs and stocks (`SPY`). See
../shared/reference/cboe-delayed-quotes.md. What a reply becomes (`read_reply`):
- a Chain of `symbol` without the underscore (`SPX`), one row per contract; `contract` holds the
  OSI id as sent (`SPXW240105C04700000`), parsed into `root` (kept so AM-settled SPX monthlies
  and PM-settled SPXW are told apart), `expiration`, `right` and `strike` (8 digits / 1000);
  `iv` a fraction (0.35 = 35 %), bid/ask in premium points, open_interest and volume in
  contracts, gamma and delta as sent. Every number is finite, else the reply is refused with a
  ChainFormatError naming the field;
- spot = `data.current_price` (`data.close` only when current_price is absent or null);
- as_of = the top-level `timestamp` (naive UTC, made timezone-aware UTC);
- oi_as_of (`oi_session`): open interest in the feed is the previous session's close, which
  OPRA publishes the next morning: on the New York date of as_of (or, on a weekend or holiday,
  of the last session before it) the OI describes the session before that one;
- the underlying's session bar (`session_bar`), only when as_of is at or after the session's
  close on that session's own date (13:00 on half days); before the close there is none.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from pipeline.chain import AS_OF_YEARS, Chain, describe_duplicates, duplicate_contracts
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import ChainFormatError
from pipeline.sources.tabular import MAX_CONTRACTS, shown

#: Index symbols: the feed names them with a leading underscore (`_SPX`); stored as `SPX`.
INDEX_SYMBOLS = frozenset({"SPX", "NDX", "RUT", "VIX", "XSP", "DJX", "OEX", "XEO", "MRUT"})
#: An OSI option id as the feed sends it: root (unpadded, or padded to 6 with spaces), expiry
#: yymmdd, C or P, strike x 1000 in 8 digits (SPXW240105C04700000).
OSI_ID = r"^(?P<root>[A-Z0-9]{1,6}) *(?P<day>\d{6})(?P<right>[CP])(?P<strike>\d{8})$"


# --- symbols -----------------------------------------------------------------------------


def feed_name(symbol: str) -> str:
    """Return the feed's name of a stored symbol: `_SPX` for an index, `SPY` otherwise."""
    upper = symbol.strip().upper().removeprefix("_")
    return f"_{upper}" if upper in INDEX_SYMBOLS else upper


def stored_name(name: str) -> str:
    """Return the stored symbol of a feed name (`_SPX` -> `SPX`, `spy` -> `SPY`)."""
    return name.strip().upper().removeprefix("_")


# --- the reply ---------------------------------------------------------------------------


class MalformedReplyError(ChainFormatError):
    """A body that is not a JSON object at all: cut off, not UTF-8, or not JSON."""


@dataclass(frozen=True)
class FeedChain:
    """One parsed reply: the chain, the session its OI describes, the underlying's bar.

    `bar`: keys trade_date (date), open, high, low, close (the underlying's price units) and
    volume (shares or contracts as the feed counts them), or None before the close. `notes`:
    what the reply lacked that the chain can do without (e.g. a bar field).
    """

    chain: Chain
    oi_as_of: date | None
    bar: dict[str, Any] | None
    notes: tuple[str, ...] = ()


def decode_reply(body: bytes, origin: str) -> dict[str, Any]:
    """Return the JSON object of a reply body; raise MalformedReplyError saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedReplyError(
            origin, f"the body is not UTF-8 text (byte {exc.start})"
        ) from None
    if not text.strip():
        raise MalformedReplyError(origin, "the body is empty")
    try:
        reply = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedReplyError(origin, _json_problem(text, exc, len(body))) from None
    except RecursionError:
        raise MalformedReplyError(origin, "the body nests JSON too deeply") from None
    if not isinstance(reply, dict):
        raise MalformedReplyError(
            origin, f"the body is a JSON {type(reply).__name__}, not an object"
        )
    return reply


def _json_problem(text: str, exc: json.JSONDecodeError, size: int) -> str:
    """Return what is wrong with a body json cannot read: cut off, or malformed (and where)."""
    cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
    if cut:
        return f"the body ends after {size:,} bytes before its JSON does (truncated)"
    return f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


def parse_feed(body: bytes, *, origin: str, symbol: str | None = None) -> FeedChain:
    """Return the parsed reply in `body` (see read_reply); raise ChainFormatError if refused."""
    return read_reply(decode_reply(body, origin), origin=origin, symbol=symbol)


def read_reply(reply: Mapping[str, Any], *, origin: str, symbol: str | None = None) -> FeedChain:
    """Return the chain, OI session and bar of a decoded reply.

    `symbol`: the symbol asked for (stored or feed form); the reply must name it. `origin`
    names where the reply came from (URL or file) in every error, a ChainFormatError whose
    column is the reply field at fault (`data.options[12].iv`).
    """
    data = reply.get("data")
    if not isinstance(data, Mapping):
        raise ChainFormatError(origin, f"data is {shown(data)}, not an object", column="data")
    name = _reply_symbol(reply, data, origin, symbol)
    as_of = _as_of(reply, origin)
    spot = _spot(data, origin)
    frame = contracts_frame(data.get("options"), origin)
    bar, notes = session_bar(data, as_of, origin)
    chain = Chain(name, spot, as_of, frame, origin=origin)
    return FeedChain(chain, oi_session(as_of), bar, notes)


def _reply_symbol(
    reply: Mapping[str, Any], data: Mapping[str, Any], origin: str, expected: str | None
) -> str:
    """Return the stored symbol the reply names (`symbol`, `data.symbol`); refuse another one."""
    pairs = (("symbol", reply.get("symbol")), ("data.symbol", data.get("symbol")))
    named = {k: v for k, v in pairs if v is not None}
    if not named:
        raise ChainFormatError(origin, "the reply names no symbol (symbol, data.symbol)")
    for key, value in named.items():
        if not isinstance(value, str) or not stored_name(value):
            raise ChainFormatError(origin, f"is {shown(value)}, not a symbol", column=key)
    want = stored_name(expected if expected is not None else next(iter(named.values())))
    wrong = {k: v for k, v in named.items() if stored_name(v) != want}
    if wrong:
        key, value = next(iter(wrong.items()))
        what = "the reply is for" if expected is not None else "symbol and data.symbol disagree:"
        message = f"{what} {stored_name(value)} ({key} {value!r}), not {want}"
        raise ChainFormatError(origin, message, column=key)
    return want


def _as_of(reply: Mapping[str, Any], origin: str) -> datetime:
    """Return the reply's `timestamp` as an aware UTC time (the feed writes naive UTC)."""
    text = reply.get("timestamp")
    example = "a time like '2026-10-02 21:15:00'"
    if not isinstance(text, str):
        raise ChainFormatError(origin, f"is {shown(text)}, not {example}", column="timestamp")
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ChainFormatError(
            origin, f"{shown(text)} is not {example}", column="timestamp"
        ) from None
    # Naive, as the feed sends it: UTC. An explicit offset, should one appear, is honoured.
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    first, last = AS_OF_YEARS
    if not first <= stamp.year <= last:
        raise ChainFormatError(origin, f"{text!r} is outside {first}..{last}", column="timestamp")
    return stamp


def _spot(data: Mapping[str, Any], origin: str) -> float:
    """Return the underlying's price: data.current_price, else data.close (price units)."""
    # current_price is the last (delayed) trade. close stands in only when the feed leaves
    # current_price out or null: after the close the two are the same price.
    for key in ("current_price", "close"):
        value = data.get(key)
        if value is not None:
            problem = _number_problem(value, _Spec(positive=True))
            if problem:
                raise ChainFormatError(origin, f"spot {problem}", column=f"data.{key}")
            return float(value)
    message = "no spot: data.current_price and data.close are both missing"
    raise ChainFormatError(origin, message, column="data.current_price")


# --- contracts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """What a number must be: present (`required`), whole, within [minimum, maximum], > 0."""

    required: bool = False
    whole: bool = False
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False


_COUNT = _Spec(whole=True, minimum=0, maximum=MAX_CONTRACTS)
#: Contract fields read, and what each must be (missing ones are nulls; volume nulls are 0).
CONTRACT_NUMBERS: dict[str, _Spec] = {
    "open_interest": _Spec(required=True, whole=True, minimum=0, maximum=MAX_CONTRACTS),
    "volume": _COUNT,
    "iv": _Spec(minimum=0),
    "bid": _Spec(minimum=0),
    "ask": _Spec(minimum=0),
    "gamma": _Spec(minimum=0),
    "delta": _Spec(minimum=-1, maximum=1),
}


def _number_problem(value: object, spec: _Spec) -> str | None:
    """Return what is wrong with one number (None when it is fine or an allowed null)."""
    if value is None:
        return "is missing" if spec.required else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"is {shown(value)}, not a number"
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return f"is {shown(value)}, too large for a number"
    if not math.isfinite(value):
        return f"is {value}, not a finite number"
    if spec.whole and value != int(value):
        return f"is {value}, not a whole number"
    if spec.positive and value <= 0:
        return f"is {value}, not above 0"
    if spec.minimum is not None and value < spec.minimum:
        return f"is {value}, below {spec.minimum:g}"
    if spec.maximum is not None and value > spec.maximum:
        return f"is {value}, above {spec.maximum:g}"
    return None


def _numbers(options: list[Mapping[str, Any]], name: str, ids: list[str], origin: str) -> list:
    """Return one contract field of every option, each checked against CONTRACT_NUMBERS."""
    spec = CONTRACT_NUMBERS[name]
    values = [item.get(name) for item in options]
    if _all_fine(values, spec):
        return values
    for i, value in enumerate(values):
        problem = _number_problem(value, spec)
        if problem:
            column = f"data.options[{i}].{name}"
            raise ChainFormatError(origin, f"{ids[i]}: {name} {problem}", column=column)
    return values


def _all_fine(values: list, spec: _Spec) -> bool:
    """Return True when every value passes `spec` (one vectorised pass: the common case)."""
    allowed = {int, float} if spec.required else {int, float, type(None)}
    if not set(map(type, values)) <= allowed:
        return False
    # JSON integers are unbounded: one of 400 digits overflows float conversion.
    if any(type(v) is int and not -(2**63) <= v < 2**63 for v in values):
        return False
    column = pl.Series(values, dtype=pl.Float64, strict=False).drop_nulls()
    good = column.is_finite()
    if spec.whole:
        good &= column == column.floor()
    if spec.positive:
        good &= column > 0
    if spec.minimum is not None:
        good &= column >= spec.minimum
    if spec.maximum is not None:
        good &= column <= spec.maximum
    return bool(good.all())


def _option_ids(options: object, origin: str) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Return the option objects and their ids (stripped); refuse a list that is not one."""
    if not isinstance(options, list):
        raise ChainFormatError(origin, f"is {shown(options)}, not a list", column="data.options")
    if not options:
        raise ChainFormatError(
            origin, "is empty: the reply lists no contract", column="data.options"
        )
    ids = []
    for i, item in enumerate(options):
        if not isinstance(item, Mapping):
            message = f"is {shown(item)}, not an object"
            raise ChainFormatError(origin, message, column=f"data.options[{i}]")
        option = item.get("option")
        if not isinstance(option, str):
            message = f"is {shown(option)}, not an option id"
            raise ChainFormatError(origin, message, column=f"data.options[{i}].option")
        ids.append(option.strip())
    return options, ids


def _osi_parts(ids: list[str], origin: str) -> pl.DataFrame:
    """Return root, expiration (date), right (C/P) and strike (8 digits / 1000) of each id."""
    parts = pl.Series("id", ids, dtype=pl.String).str.extract_groups(OSI_ID).struct.unnest()
    frame = parts.select(
        pl.col("root"),
        pl.concat_str(pl.lit("20"), pl.col("day"))
        .str.strptime(pl.Date, "%Y%m%d", strict=False)
        .alias("expiration"),
        pl.col("right"),
        # Thousandths read as decimal text ("00012370" -> "00012.370" -> 12.37): exactly the
        # float a CSV's "12.37" gives (polars divides by multiplying with 0.001, which is not).
        pl.concat_str(pl.col("strike").str.head(5), pl.lit("."), pl.col("strike").str.tail(3))
        .cast(pl.Float64, strict=False)
        .alias("strike"),
    )
    checks = [
        (pl.col("root").is_null(), "is not an OSI option id like SPXW240105C04700000"),
        (pl.col("expiration").is_null(), "names no real expiration date (yymmdd)"),
        (pl.col("strike") <= 0, "names a strike of 0"),
    ]
    for bad, message in checks:
        hit = frame.with_row_index("_row").filter(bad.fill_null(False))
        if hit.height:
            row = int(hit.item(0, "_row"))
            raise ChainFormatError(
                origin, f"{shown(ids[row])} {message}", column=f"data.options[{row}].option"
            )
    return frame


def contracts_frame(options: object, origin: str) -> pl.DataFrame:
    """Return the chain frame of `data.options`: one checked row per contract.

    Columns: contract (OSI id), expiration, strike, right, open_interest, volume, iv, bid,
    ask, gamma, delta (see CONTRACT_NUMBERS for units and ranges), root. Refuses a contract
    listed twice.
    """
    items, ids = _option_ids(options, origin)
    parts = _osi_parts(ids, origin)
    numbers = {name: _numbers(items, name, ids, origin) for name in CONTRACT_NUMBERS}
    counts = {"open_interest": [int(v) for v in numbers["open_interest"]]}
    counts["volume"] = [0 if v is None else int(v) for v in numbers["volume"]]
    floats = {
        name: pl.Series(name, numbers[name], dtype=pl.Float64, strict=False)
        for name in ("iv", "bid", "ask", "gamma", "delta")
    }
    frame = pl.DataFrame(
        {
            "contract": pl.Series(ids, dtype=pl.String),
            "expiration": parts.get_column("expiration"),
            "strike": parts.get_column("strike"),
            "right": parts.get_column("right"),
            **{k: pl.Series(k, v, dtype=pl.Int64) for k, v in counts.items()},
            **floats,
            "root": parts.get_column("root"),
        }
    )
    duplicates = duplicate_contracts(frame)
    if duplicates.height:
        raise ChainFormatError(origin, describe_duplicates(duplicates))
    return frame


# --- sessions: OI date and the session bar -----------------------------------------------


def _in_calendar(day: date) -> bool:
    """Return True when the NYSE calendar covers `day`."""
    from pipeline.sessions import calendar_span

    first, last = calendar_span()
    return first <= day <= last


def oi_session(as_of: datetime) -> date | None:
    """Return the session whose close the feed's open interest at `as_of` describes.

    OI published the morning of session D is D-1's close, so a chain stamped on D (before the
    open, during the session or after the close) carries D-1's OI; on a weekend or holiday the
    last publication was the morning of the session before it (Saturday: Thursday's OI). None
    when as_of lies outside the NYSE calendar.
    """
    import pandas as pd

    from pipeline.sessions import nyse

    day = as_of.astimezone(NEW_YORK).date()
    if not _in_calendar(day):
        return None
    calendar = nyse()
    published = calendar.date_to_session(pd.Timestamp(day), "previous")
    if published == calendar.first_session:
        return None
    return calendar.previous_session(published).date()


_BAR_FIELDS = ("open", "high", "low", "close", "volume")


def session_bar(
    data: Mapping[str, Any], as_of: datetime, origin: str
) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """Return the underlying's bar of the session as_of closes, and notes on what was missing.

    Only when as_of is at or after that session's close (13:00 on half days) on the session's
    own New York date: before the close the session is not over; on a later date (a weekend
    reply stamped on Saturday) the data fields may no longer be that session's. Prices in the
    underlying's units; volume as the feed counts it. A non-finite or negative field refuses
    the reply; a missing field or an impossible bar (low above high) drops the bar, noted.
    """
    from pipeline.sessions import close_times, session_of

    day = as_of.astimezone(NEW_YORK).date()
    if not _in_calendar(day):
        return None, ()
    session = session_of(as_of)
    if session != day or as_of < close_times([session])[0]:
        return None, ()
    missing = [f"data.{k}" for k in _BAR_FIELDS if data.get(k) is None]
    for key in _BAR_FIELDS:
        problem = _number_problem(data.get(key), _Spec(minimum=0))
        if problem:
            raise ChainFormatError(origin, f"{key} {problem}", column=f"data.{key}")
    if missing:
        return None, (f"bar of {session}: {', '.join(missing)} missing",)
    bar = {k: float(data[k]) for k in _BAR_FIELDS}
    if not _is_bar(bar):
        shown_bar = ", ".join(f"{bar[k]:g}" for k in ("open", "high", "low", "close"))
        return None, (f"bar of {session}: not a bar (open, high, low, close {shown_bar})",)
    return {"trade_date": session, **bar}, ()


def _is_bar(bar: Mapping[str, float]) -> bool:
    """Return True when 0 < low <= open, close <= high."""
    low, high = bar["low"], bar["high"]
    return 0 < low <= min(bar["open"], bar["close"]) and max(bar["open"], bar["close"]) <= high
