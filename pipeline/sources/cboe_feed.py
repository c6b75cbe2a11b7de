"""Cboe's free delayed-quotes JSON feed as a snapshot source (`cboe`), and its reply parser.

The feed: `{base_url}/{NAME}.json`, NAME the symbol with a leading underscore for indices
(`_SPX`, see INDEX_SYMBOLS) and without for ETFs and stocks (`SPY`); no key, no login; replies
are refused without a browser-like User-Agent; roughly 60 chains per time window before 429s;
quotes delayed about 15 minutes; no history (every call is the chain now). See
../shared/reference/cboe-delayed-quotes.md.

What a reply becomes (`read_reply`, also used for saved `.json` files by the chain reader):
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

Weekends and holidays: the feed serves the last session's chain again with the same timestamp.
The source returns that true as_of (never the moment asked for), so the snapshot flow sees a
moment it already stored and skips it (flows/snapshot.py, "already stored").

HTTP (`CboeFeedSource`): a configurable browser-like User-Agent; retries with capped
exponential backoff on 429 (honouring Retry-After in seconds or as an HTTP date), 5xx,
timeouts, dropped connections and cut-off or malformed bodies; a per-request timeout and an
overall deadline per fetch; 403 halts the run (RunHaltedError: the feed refuses this client);
404 is an unknown symbol (FetchError); at most `concurrency` requests in flight per source.
Every attempt first takes a slot in a sliding-window request budget (a WindowLedger: in memory
here, `flows.quota.FileWindowLedger` across processes). A slot is held from its reservation
until `window_seconds` after its request ended, so the server, which sees each request between
those two times, never counts more than `limit` in any window. When the window is spent the
fetch waits for a slot if that fits its deadline, else raises RunHaltedError saying when the
window reopens. Logs and errors name the URL path only (the feed has no query secrets; the
pattern is kept from the FlashAlpha client).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx
import polars as pl

from pipeline.chain import AS_OF_YEARS, Chain, describe_duplicates, duplicate_contracts
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import ChainFormatError
from pipeline.sources.base import Fetched, FetchError, RunHaltedError

# The FlashAlpha client's deadline-capped sockets (every read and write ends by the fetch's
# deadline, so a server trickling bytes cannot hold a fetch past it). Private there; shared here
# rather than copied.
from pipeline.sources.flashalpha import _DEADLINE, _DeadlineTransport
from pipeline.sources.tabular import MAX_CONTRACTS, shown

logger = logging.getLogger(__name__)

FEED_URL = "https://cdn.cboe.com/api/global/delayed_quotes/options"
#: A current desktop browser's User-Agent: the feed refuses requests without a browser-like one.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
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


# --- the request window ------------------------------------------------------------------


@dataclass
class WindowBook:
    """The requests of one sliding window: slot key -> when the slot is held from (epoch s).

    A slot is held from its reservation; once its request ends it is held again from then
    (`release`), or dropped when the request never left the machine. It frees `window_seconds`
    after the time it is held from. Pure bookkeeping: ledgers add the clock and the sharing.
    """

    limit: int
    window_seconds: float
    slots: dict[str, float] = field(default_factory=dict)

    def reserve(self, key: str, now: float) -> float:
        """Hold a slot under `key` and return 0.0, or return seconds until one frees (> 0)."""
        self._expire(now)
        if len(self.slots) < self.limit:
            self.slots[key] = now
            return 0.0
        return max(1e-3, min(self.slots.values()) + self.window_seconds - now)

    def held(self, now: float) -> int:
        """Return the slots held at `now` (requests counted in the window ending then)."""
        self._expire(now)
        return len(self.slots)

    def release(self, key: str, *, sent: bool, now: float) -> None:
        """End a slot's request: hold it a window from `now` when `sent`, else free it."""
        if sent:
            self.slots[key] = max(now, self.slots.get(key, now))
        else:
            self.slots.pop(key, None)

    def _expire(self, now: float) -> None:
        """Drop the slots whose window has passed."""
        for key in [k for k, held in self.slots.items() if held + self.window_seconds <= now]:
            del self.slots[key]


class WindowLedger(Protocol):
    """A sliding-window request budget: at most `limit` requests per `window_seconds`."""

    limit: int
    window_seconds: float

    def reserve(self, key: str) -> float:
        """Hold a slot for request `key`: return 0.0, or seconds until one frees (none held)."""
        ...

    def release(self, key: str, *, sent: bool) -> None:
        """End request `key`: `sent` holds its slot a window from now; unsent frees it."""
        ...


class MemoryWindowLedger:
    """A WindowLedger for one process (tests, single runs); thread-safe."""

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        """Allow `limit` requests per `window_seconds`; `clock` returns epoch seconds."""
        self.limit, self.window_seconds = limit, window_seconds
        self._book = WindowBook(limit, window_seconds)
        self._clock = clock
        self._lock = threading.Lock()

    def reserve(self, key: str) -> float:
        """Hold a slot for `key`: return 0.0, or seconds until a slot frees."""
        with self._lock:
            return self._book.reserve(key, self._clock())

    def release(self, key: str, *, sent: bool) -> None:
        """End request `key` (see WindowBook.release)."""
        with self._lock:
            self._book.release(key, sent=sent, now=self._clock())

    def held(self) -> int:
        """Return the slots held now (requests counted in the current window)."""
        with self._lock:
            return self._book.held(self._clock())


# --- HTTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CboeConfig:
    """How to call the feed (seconds throughout).

    `limit` requests per sliding `window_seconds`: public reports put the feed's limit at
    roughly 60 chains per window without saying how long the window is; 300 s is a cautious
    guess (a 100-symbol list then takes two windows). `timeout` bounds each connect, read and
    write; `deadline` one whole fetch: window waits, attempts and retry waits (so it must
    exceed `window_seconds` for a list longer than `limit` to complete). `retries`: attempts
    after the first. `concurrency`: requests in flight at once per source. Backoff waits
    `backoff` * 2^n (capped at `max_backoff`), +-20 % jitter.
    """

    base_url: str = FEED_URL
    user_agent: str = DEFAULT_USER_AGENT
    limit: int = 60
    window_seconds: float = 300.0
    timeout: float = 20.0
    deadline: float = 420.0
    retries: int = 3
    concurrency: int = 4
    backoff: float = 0.5
    max_backoff: float = 20.0

    def __post_init__(self) -> None:
        """Refuse settings no run could work with, before any request."""
        if not self.user_agent.strip():
            raise ValueError("the Cboe feed refuses requests without a User-Agent: set user_agent")
        if (
            urlsplit(self.base_url).scheme not in ("http", "https")
            or not urlsplit(self.base_url).netloc
        ):
            raise ValueError(f"base URL {self.base_url!r} is not an http(s) URL")
        checks = {
            "limit": self.limit >= 1,
            "window_seconds": self.window_seconds > 0,
            "timeout": self.timeout > 0,
            "deadline": self.deadline > 0,
            "retries": self.retries >= 0,
            "concurrency": self.concurrency >= 1,
            "backoff": self.backoff >= 0 and self.max_backoff >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"CboeConfig: invalid {', '.join(bad)} ({self!r})")


@dataclass(frozen=True)
class _Reply:
    """One HTTP response: status, headers, the whole (decoded) body."""

    status: int
    headers: httpx.Headers
    body: bytes


@dataclass
class _Call:
    """One fetch across its attempts, against its deadline (monotonic seconds)."""

    symbol: str
    url: str
    deadline: float
    attempt: int = 0
    sent: int = 0  # attempts that left the machine
    started: float = field(default_factory=time.monotonic)

    @property
    def path(self) -> str:
        """Return the URL's host and path (what logs and errors name; the feed has no query)."""
        parts = urlsplit(self.url)
        return f"{parts.netloc}{parts.path}"

    def left(self) -> float:
        """Return seconds left before the deadline (negative once passed)."""
        return self.deadline - time.monotonic()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Return a Retry-After header as seconds to wait (>= 0): delay-seconds or an HTTP date.

    None when absent or unreadable. `now` (aware) is when the header was received.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


#: Transport errors worth another attempt; the first three mean nothing left the machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRYABLE = (httpx.TimeoutException, httpx.TransportError)


def _within(chunks: Iterator[bytes], call: _Call, request: httpx.Request) -> Iterator[bytes]:
    """Yield a body's chunks; raise ReadTimeout once the fetch's deadline has passed."""
    for chunk in chunks:
        if call.left() <= 0:
            raise httpx.ReadTimeout("the fetch deadline has passed", request=request)
        yield chunk


class CboeFeedSource:
    """The feed as a snapshot source: `fetch(symbol, at)` returns the chain Cboe serves now.

    `at` is not sent (the feed has no history): the Fetched carries the feed's own as_of, the
    session its OI describes (`oi_as_of`), and the underlying's bar after the close. Thread-safe:
    fetches of different symbols may run at once; at most `config.concurrency` requests are in
    flight, and every attempt takes a slot of `ledger` (default: in memory, config.limit per
    config.window_seconds; pass `flows.quota.FileWindowLedger` to share it across processes).
    A 403 halts the source: every later fetch raises RunHaltedError without a request.
    `transport` replaces the deadline-capped sockets (tests); `sleep` is how waits wait.
    """

    name = "cboe"
    computes = True

    def __init__(
        self,
        config: CboeConfig | None = None,
        *,
        ledger: WindowLedger | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        """Open the HTTP client; nothing is requested until `fetch`."""
        self.config = config or CboeConfig()
        self.ledger: WindowLedger = ledger or MemoryWindowLedger(
            self.config.limit, self.config.window_seconds
        )
        self._gate = threading.BoundedSemaphore(self.config.concurrency)
        headers = {"User-Agent": self.config.user_agent, "Accept": "application/json"}
        self._http = httpx.Client(
            transport=transport or _DeadlineTransport(),
            timeout=self.config.timeout,
            headers=headers,
        )
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._halted: str | None = None

    def url(self, symbol: str) -> str:
        """Return the feed URL of a stored symbol (`SPX` -> .../_SPX.json)."""
        return f"{self.config.base_url.rstrip('/')}/{quote(feed_name(symbol), safe='')}.json"

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the chain the feed serves now for `symbol` (see the class docstring).

        Raise FetchError when nothing usable arrived (unknown symbol, a refused reply, retries
        spent), RunHaltedError when the run must stop (403; the window cannot reopen within
        the deadline; 429s that do not stop); both carry the requests sent.
        """
        self._refuse_if_halted(symbol)
        call = _Call(symbol, self.url(symbol), time.monotonic() + self.config.deadline)
        reply = self._receive(call)
        try:
            feed = read_reply(reply, origin=call.url, symbol=symbol)
        except ChainFormatError as exc:
            raise FetchError(
                f"{symbol}: the Cboe reply is refused: {exc}", requests=call.sent
            ) from None
        return Fetched(
            symbol,
            feed.chain.as_of,
            chain=feed.chain,
            request={"chain": self._meta(call)},
            requests=call.sent,
            errors=feed.notes,
            bar=feed.bar,
            oi_as_of=feed.oi_as_of,
        )

    def _meta(self, call: _Call) -> dict[str, Any]:
        """Return what the raw archive may record about the request (URL without query)."""
        return {
            "url": call.url,
            "status": 200,
            "attempts": call.attempt,
            "requests": call.sent,
            "elapsed_ms": round((time.monotonic() - call.started) * 1000, 1),
            "received_at": datetime.now(UTC).isoformat(),
        }

    def _refuse_if_halted(self, symbol: str, requests: int = 0) -> None:
        """Raise RunHaltedError, sending nothing more, once the feed has refused this client."""
        with self._lock:
            reason = self._halted
        if reason is not None:
            raise RunHaltedError(
                f"run halted ({reason}): {symbol} not requested", requests=requests
            )

    def _receive(self, call: _Call) -> dict[str, Any]:
        """Return the decoded reply, retrying what is worth retrying; raise when final."""
        while True:
            key = self._take_slot(call)
            outcome = self._judge(call, self._attempt(call, key))
            if isinstance(outcome, dict):
                return outcome
            if outcome >= call.left():
                raise self._expired(call, f"a retry wait of {outcome:.1f} s")
            self._sleep(outcome)

    def _take_slot(self, call: _Call) -> str:
        """Return the key of a window slot held for the next attempt, waiting for one if need be.

        Raise RunHaltedError when the window reopens only after the fetch's deadline.
        """
        key = uuid.uuid4().hex
        while True:
            wait = self.ledger.reserve(key)
            if wait <= 0:
                return key
            if wait >= call.left():
                reopens = datetime.now(UTC) + timedelta(seconds=wait)
                raise RunHaltedError(
                    f"{call.symbol}: the request window is spent ({self.ledger.limit} chains "
                    f"per {self.ledger.window_seconds:g} s); it reopens at "
                    f"{reopens:%Y-%m-%d %H:%M:%S} UTC (in {wait:.1f} s), after this fetch's "
                    f"deadline ({max(0.0, call.left()):.1f} s left): not requested",
                    requests=call.sent,
                )
            logger.info("cboe %s: request window spent, waiting %.1f s", call.symbol, wait)
            self._sleep(wait)

    def _attempt(self, call: _Call, key: str) -> _Reply | Exception:
        """Return one attempt's reply, its body read by the deadline, or its transport error.

        Sends nothing when the source was halted meanwhile (by another thread's 403).
        """
        sent = False
        try:
            left = call.left()
            if left <= 0 or not self._gate.acquire(timeout=left):
                raise self._expired(call, f"waiting for one of {self.config.concurrency} slots")
            try:
                self._refuse_if_halted(call.symbol, call.sent)
                call.attempt += 1
                sent = True
                return self._get(call, httpx.Timeout(min(self.config.timeout, call.left())))
            except _NOT_SENT as exc:
                sent = False
                return exc
            except _RETRYABLE as exc:
                return exc
            finally:
                self._gate.release()
        finally:
            self.ledger.release(key, sent=sent)
            call.sent += int(sent)

    def _get(self, call: _Call, timeout: httpx.Timeout) -> _Reply:
        """Send one GET and read the whole body by the deadline (raises httpx errors)."""
        token = _DEADLINE.set(call.deadline)
        try:
            with self._http.stream("GET", call.url, timeout=timeout) as response:
                body = b"".join(_within(response.iter_bytes(), call, response.request))
                return _Reply(response.status_code, response.headers, body)
        finally:
            _DEADLINE.reset(token)

    def _judge(self, call: _Call, result: _Reply | Exception) -> dict[str, Any] | float:
        """Return the decoded reply, or seconds to wait before retrying; raise when final."""
        final = call.attempt > self.config.retries
        if isinstance(result, Exception):
            return self._transport_failed(call, result, final)
        status = result.status
        if status == 200:
            try:
                return decode_reply(result.body, call.url)
            except MalformedReplyError as exc:
                if final:
                    raise FetchError(
                        f"{call.symbol}: {exc} (after {call.attempt} attempt(s))",
                        requests=call.sent,
                    ) from None
                return self._backoff(call, f"unreadable body: {exc}")
        if status == 403:
            raise self._refused(call, result)
        if status == 404:
            raise FetchError(
                f"{call.symbol}: the Cboe feed has no chain named {feed_name(call.symbol)} "
                f"(HTTP 404 for {call.path}): unknown symbol",
                requests=call.sent,
            )
        if status == 429:
            return self._rate_limited(call, result, final)
        if status >= 500 and not final:
            return self._backoff(call, f"HTTP {status}")
        raise FetchError(
            f"{call.symbol}: HTTP {status} from the Cboe feed for {call.path} after "
            f"{call.attempt} attempt(s): {shown(result.body[:200].decode(errors='replace'))}",
            requests=call.sent,
        )

    def _transport_failed(self, call: _Call, exc: Exception, final: bool) -> float:
        """Return seconds to wait after a timeout or dropped connection; raise when final."""
        if call.left() <= 0:
            raise self._expired(call, type(exc).__name__)
        if final:
            note = "; nothing reached the server" if call.sent == 0 else ""
            raise FetchError(
                f"{call.symbol}: no reply from the Cboe feed for {call.path}: "
                f"{type(exc).__name__} after {call.attempt} attempt(s){note}",
                requests=call.sent,
            )
        return self._backoff(call, type(exc).__name__)

    def _rate_limited(self, call: _Call, reply: _Reply, final: bool) -> float:
        """Return Retry-After (or a backoff) in seconds; raise RunHaltedError if it cannot wait."""
        header = reply.headers.get("Retry-After")
        wait = retry_after_seconds(header)
        if wait is None:
            wait = self._delay(call.attempt)
        if final or wait >= call.left():
            why = "retries spent" if final else f"waiting {wait:.1f} s would pass the deadline"
            raise RunHaltedError(
                f"{call.symbol}: the Cboe feed is rate-limiting this client (HTTP 429 for "
                f"{call.path}, Retry-After {header!r}; {why}): lower CboeConfig.limit or "
                f"raise window_seconds",
                requests=call.sent,
            )
        logger.info("cboe %s: HTTP 429, retrying after %.1f s", call.symbol, wait)
        return wait

    def _refused(self, call: _Call, reply: _Reply) -> RunHaltedError:
        """Halt the source after a 403 and return the error to raise."""
        reason = (
            f"the Cboe feed refused this client (HTTP 403 for {call.path}); it refuses "
            f"requests without a browser-like User-Agent (sent {self.config.user_agent!r})"
        )
        with self._lock:
            self._halted = self._halted or reason
        return RunHaltedError(f"{call.symbol}: {reason}", requests=call.sent)

    def _backoff(self, call: _Call, why: str) -> float:
        """Return the wait before the next attempt (seconds), logging why."""
        wait = self._delay(call.attempt)
        logger.info("cboe %s: %s from %s, retrying in %.2f s", call.symbol, why, call.path, wait)
        return wait

    def _delay(self, attempt: int) -> float:
        """Return backoff * 2^(attempt-1), capped at max_backoff, +-20 % jitter (seconds)."""
        wait = min(self.config.max_backoff, self.config.backoff * 2 ** (attempt - 1))
        return wait * (1 + 0.2 * (2 * self._rng.random() - 1))

    def _expired(self, call: _Call, doing: str) -> FetchError:
        """Return the error of a fetch that hit its deadline."""
        return FetchError(
            f"{call.symbol}: fetch deadline of {self.config.deadline:g} s reached ({doing}) "
            f"after {call.attempt} attempt(s) for {call.path}",
            requests=call.sent,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> CboeFeedSource:
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on exit."""
        self.close()
