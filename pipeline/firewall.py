"""The firewall: checks every response or chain before anything of it is stored.

A source may answer with data that parses and is still wrong: another symbol's figures, a time
far from the moment asked for, NaN or Infinity, a null price, the same contract twice. Each
check raises `RejectedError` with one line naming the field; the flow archives the reason beside the
raw file, skips the snapshot, and the run says so (CLI line, `runs` row, exit code).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from pipeline.chain import Chain, describe_duplicates, duplicate_contracts
from pipeline.sessions import calendar_span
from pipeline.sources.base import FetchError

#: Numbers a vendor payload must carry (not null, finite), by endpoint; `[]` is each list item.
REQUIRED_NUMBERS: dict[str, tuple[str, ...]] = {
    "gex": ("underlying_price", "net_gex", "strikes[].strike", "strikes[].net_gex"),
    "dex": ("net_dex", "strikes[].strike", "strikes[].net_dex"),
    "vex": ("net_vex", "strikes[].strike", "strikes[].net_vex"),
    "chex": ("net_chex", "strikes[].strike", "strikes[].net_chex"),
    "summary": ("underlying_price",),
    "levels": (),
}
#: Contract counts above this are no real chain's (the largest listed OI is a few million).
MAX_CONTRACTS = 1e9


class RejectedError(FetchError):
    """A response or chain the checks refused; the message names the field at fault."""


@dataclass(frozen=True)
class Window:
    """How far a snapshot's time may stand from the moment asked for.

    `before`: a weekend or holiday answer describes the last session (a long weekend is 4
    days); `after`: a chain file saved the morning after, or over a weekend; `skew`: how far
    past the machine's clock a time may be (clocks differ a little, never by days).
    """

    before: timedelta = timedelta(days=7)
    after: timedelta = timedelta(days=4)
    skew: timedelta = timedelta(minutes=5)


def check_time(as_of: datetime, asked: datetime | None, now: datetime, window: Window) -> None:
    """Refuse an `as_of` without a zone, past the clock, off the calendar or far from `asked`."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise RejectedError(f"as_of {as_of.isoformat()} has no time zone")
    if as_of > now + window.skew:
        raise RejectedError(f"as_of {as_of.isoformat()} is in the future (now {now.isoformat()})")
    first = calendar_span()[0]
    if as_of.date() < first:
        raise RejectedError(
            f"as_of {as_of.isoformat()} is before {first}, where the NYSE calendar starts"
        )
    if asked is not None and not asked - window.before <= as_of <= asked + window.after:
        raise RejectedError(
            f"as_of {as_of.isoformat()} is not within {window.before.days} days before / "
            f"{window.after.days} days after the moment asked for, {asked.isoformat()}"
        )


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Yield (path, value) of every leaf of a JSON-like value ('gex.strikes[3].call_gex')."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")
    else:
        yield path, value


def _required(payload: Any, field: str, where: str) -> Iterator[tuple[str, Any]]:
    """Yield (path, value) of a required number, one per list item for `strikes[].x`."""
    if "[]." not in field:
        yield f"{where}.{field}", payload.get(field) if isinstance(payload, Mapping) else None
        return
    head, tail = field.split("[].", 1)
    items = payload.get(head) if isinstance(payload, Mapping) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        yield f"{where}.{head}[{i}].{tail}", item.get(tail) if isinstance(item, Mapping) else None


def check_numbers(name: str, payload: Any) -> None:
    """Refuse NaN or infinite numbers anywhere, and missing or null required numbers."""
    for path, value in _walk(payload, name):
        if isinstance(value, float) and not math.isfinite(value):
            raise RejectedError(f"{path} is {value} (numbers must be finite)")
    for field in REQUIRED_NUMBERS.get(name.split("_")[0], ()):
        for path, value in _required(payload, field, name):
            if value is None:
                raise RejectedError(f"{path} is missing or null")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RejectedError(f"{path} is {value!r}, not a number")


def check_payloads(
    payloads: Mapping[str, Any],
    symbol: str,
    asked: datetime | None,
    as_of: datetime,
    now: datetime,
    window: Window | None = None,
) -> None:
    """Refuse a vendor snapshot: another symbol, a bad time, or a bad number in any payload."""
    window = window or Window()
    for name, payload in payloads.items():
        got = payload.get("symbol") if isinstance(payload, Mapping) else None
        if got is not None and got != symbol:
            raise RejectedError(f"{name}.symbol is {got!r}, but {symbol} was asked for")
        check_numbers(name, payload)
        stamp = payload.get("as_of") if isinstance(payload, Mapping) else None
        if stamp is not None:
            check_time(_parsed(name, stamp), asked, now, window)
    check_time(as_of, asked, now, window)


def _parsed(name: str, text: Any) -> datetime:
    """Return a payload's as_of as a time; refuse one that does not parse."""
    from pipeline.normalize import PayloadError, parse_as_of

    try:
        return parse_as_of(str(text))
    except PayloadError:
        raise RejectedError(f"{name}.as_of {text!r} is not an ISO 8601 time") from None


def check_chain(
    chain: Chain, symbol: str, asked: datetime | None, now: datetime, window: Window | None = None
) -> None:
    """Refuse a chain: another symbol, a bad spot or time, bad numbers, duplicate contracts."""
    where = chain.origin or chain.symbol
    if chain.symbol != symbol:
        raise RejectedError(f"{where}: the chain is of {chain.symbol}, but {symbol} was asked for")
    if not math.isfinite(chain.spot):
        raise RejectedError(f"{where}: spot is {chain.spot}")
    check_time(chain.as_of, asked, now, window or Window())
    _check_contracts(chain.frame, where)


def _check_contracts(frame: pl.DataFrame, where: str) -> None:
    """Refuse non-finite numbers, impossible strikes or counts, and duplicate contracts.

    Every check runs in one pass; the offending row is looked up only when one fails.
    """
    checks: dict[str, pl.Expr] = {
        f"{c} is not finite": ~pl.col(c).is_finite()
        for c, t in frame.schema.items()
        if t.is_float()
    }
    checks["strike must be positive"] = pl.col("strike") <= 0
    limit = f"open_interest must be 0 to {MAX_CONTRACTS:.0e}"
    checks[limit] = ~pl.col("open_interest").is_between(0, MAX_CONTRACTS)
    flags = frame.select(e.fill_null(False).any().alias(m) for m, e in checks.items()).row(0)
    for (message, failing), hit in zip(checks.items(), flags, strict=True):
        if hit:
            row = frame.with_row_index("_row").filter(failing.fill_null(False)).row(0, named=True)
            raise RejectedError(f"{where}: contract row {row['_row'] + 1}: {message}")
    _check_duplicates(frame, where)


def _check_duplicates(frame: pl.DataFrame, where: str) -> None:
    """Refuse a contract listed twice (by id when the chain has ids, else expiry/strike/right)."""
    duplicates = duplicate_contracts(frame)
    if duplicates.height:
        raise RejectedError(f"{where}: {describe_duplicates(duplicates)}")
