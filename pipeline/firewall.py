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

from pipeline.chain import Chain, canonical_ids, describe_duplicates, duplicate_contracts
from pipeline.roots import CHAIN_SYMBOL, OSI_PATTERN, roots_of
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


#: Plausible ranges of a chain's numbers; anything outside is refused naming the field. Wide on
#: purpose (no listed option comes near a bound) and tight enough that the engine's products
#: (GEX = OI x 100 x gamma x spot^2 / 100, summed over a chain) stay far from float overflow.
SPOT_RANGE = (0.0, 1e7)  # exclusive: price units of the underlying (BRK.A is under 1e6)
STRIKE_RANGE = (0.0, 1e7)  # exclusive, and within the factors of spot below
#: Strikes stand at most this many times above spot (listed strikes stay within a few times).
STRIKE_SPOT_FACTOR = 100.0
#: ... and at least spot over this: real chains list tiny strikes far below spot (NDX 1.0 at
#: spot 14,694 in refdata), so the bound below is far wider; 1e-300 is no listed strike.
STRIKE_BELOW_FACTOR = 1e5
MIN_IV = 1e-4  # 0.01 %: the smallest positive IV a quote can mean
IV_RANGE = (0.0, 20.0)  # a fraction: 20 = 2000 % (meme-stock 0DTE IVs reach a few hundred %)
DELTA_RANGE = (-1.0, 1.0)
GAMMA_RANGE = (0.0, 1e6)  # per unit of spot: short-dated, low-priced contracts reach thousands
PRICE_RANGE = (0.0, 1e7)  # bid and ask, premium in price units
MAX_EXPIRY_YEARS = 30  # listed LEAPS run about 3 years; later is a corrupt date
#: Column -> (low, high), both inclusive; MAX_CONTRACTS bounds OI and volume (whole contracts).
CONTRACT_RANGES: dict[str, tuple[float, float]] = {
    "iv": IV_RANGE,
    "delta": DELTA_RANGE,
    "gamma": GAMMA_RANGE,
    "bid": PRICE_RANGE,
    "ask": PRICE_RANGE,
    "open_interest": (0, MAX_CONTRACTS),
    "volume": (0, MAX_CONTRACTS),
    "prev_open_interest": (0, MAX_CONTRACTS),
}


def check_chain(
    chain: Chain, symbol: str, asked: datetime | None, now: datetime, window: Window | None = None
) -> None:
    """Refuse a chain: another symbol, a bad time, or contents check_contents refuses."""
    where = chain.origin or chain.symbol
    if chain.symbol != symbol:
        raise RejectedError(f"{where}: the chain is of {chain.symbol}, but {symbol} was asked for")
    try:
        check_time(chain.as_of, asked, now, window or Window())
    except RejectedError as exc:
        raise RejectedError(f"{where}: {exc}") from None
    check_contents(chain)


def check_contents(chain: Chain) -> None:
    """Refuse a chain whose symbol, spot or contracts cannot be trusted (time aside).

    Refused, in one line naming the origin and the field: a symbol that is no ticker, a spot
    outside SPOT_RANGE, non-finite numbers, strikes outside STRIKE_RANGE or far from spot,
    IV/greeks/prices/counts outside CONTRACT_RANGES, expirations past MAX_EXPIRY_YEARS, a
    root that is not the symbol's (pipeline.roots.ROOTS), and a contract listed twice (ids
    compared canonical).
    """
    where = chain.origin or chain.symbol
    _check_symbol(chain.symbol, where)
    low, high = SPOT_RANGE
    if not (math.isfinite(chain.spot) and low < chain.spot < high):
        raise RejectedError(
            f"{where}: spot {chain.spot!r} is outside the plausible range ({low:g}, {high:g})"
        )
    _check_contracts(chain.frame, where, chain.spot)
    _check_expirations(chain, where)
    check_roots(chain.frame, chain.symbol, where)


def _check_expirations(chain: Chain, where: str) -> None:
    """Refuse an expiration more than MAX_EXPIRY_YEARS after the chain's time.

    (Expirations before it are fine: the engine drops and counts them.)
    """
    day = chain.as_of.date()
    last = day.replace(year=min(day.year + MAX_EXPIRY_YEARS, 9999), month=1, day=1)
    late = chain.frame.with_row_index("_row").filter(pl.col("expiration") > last)
    if late.height:
        row = late.row(0, named=True)
        label = f" ({row['contract']})" if row.get("contract") else ""
        raise RejectedError(
            f"{where}: contract row {row['_row'] + 1}{label}: expiration {row['expiration']} is "
            f"more than {MAX_EXPIRY_YEARS} years after as_of {day}"
        )


def _check_symbol(symbol: str, where: str) -> None:
    """Refuse a chain symbol that is no ticker (pipeline.roots.CHAIN_SYMBOL)."""
    if not CHAIN_SYMBOL.fullmatch(symbol):
        raise RejectedError(
            f"{where}: symbol {symbol!r} is not a ticker (upper-case letters and digits, "
            "then '.' or '-', at most 10 characters)"
        )


def chain_roots(frame: pl.DataFrame) -> pl.Expr | None:
    """Return each row's option root: the `root` column, else parsed from an OSI `contract` id.

    Null where a row has no id or an id that is not OSI (generic files may use their own ids);
    None when the frame has neither column.
    """
    if "root" in frame.columns:
        return pl.col("root").cast(pl.String).str.strip_chars().str.to_uppercase()
    if "contract" in frame.columns:
        return canonical_ids().str.extract(OSI_PATTERN, 1)
    return None


def check_roots(frame: pl.DataFrame, symbol: str, where: str) -> None:
    """Refuse a chain holding a contract whose root does not belong to `symbol` (ROOTS)."""
    roots = chain_roots(frame)
    if roots is None or frame.height == 0:
        return
    allowed = sorted(roots_of(symbol))
    foreign = frame.with_row_index("_row").filter(~roots.is_in(allowed).fill_null(True))
    if foreign.height:
        row = foreign.row(0, named=True)
        root = frame.select(roots).item(row["_row"], 0)
        label = f" ({row['contract']})" if row.get("contract") else ""
        raise RejectedError(
            f"{where}: contract row {row['_row'] + 1}{label}: root {root!r} does not belong to "
            f"{symbol} (its roots: {', '.join(allowed)}); {foreign.height} such row(s)"
        )


def _range_checks(frame: pl.DataFrame, spot: float) -> dict[str, pl.Expr]:
    """Return message -> failing-row expression of every plausibility check on the contracts."""
    checks: dict[str, pl.Expr] = {
        f"{c} is not finite": ~pl.col(c).is_finite()
        for c, t in frame.schema.items()
        if t.is_float()
    }
    low, high = STRIKE_RANGE
    checks[f"strike is outside ({low:g}, {high:g})"] = (pl.col("strike") <= low) | (
        pl.col("strike") >= high
    )
    factor = STRIKE_SPOT_FACTOR
    checks[f"strike is more than {factor:g} times spot {spot:g}"] = pl.col("strike") > (
        spot * factor
    )
    below = STRIKE_BELOW_FACTOR
    checks[f"strike is below spot {spot:g} / {below:g}"] = pl.col("strike") < spot / below
    for column, (low, high) in CONTRACT_RANGES.items():
        if column in frame.columns:
            checks[f"{column} is outside [{low:g}, {high:g}]"] = ~pl.col(column).is_between(
                low, high
            )
    if "iv" in frame.columns:
        # 0 stands for "no IV" (solved from the quotes); a positive IV this small is a unit
        # error that overflows the greeks (d1 ~ 1/IV).
        tiny = pl.col("iv").is_between(0.0, MIN_IV, closed="none")
        checks[f"iv is above 0 but below {MIN_IV:g}"] = tiny
    return checks


def _check_contracts(frame: pl.DataFrame, where: str, spot: float) -> None:
    """Refuse non-finite or implausible numbers and duplicate contracts.

    Every check runs in one pass; the offending row is looked up only when one fails.
    """
    checks = _range_checks(frame, spot)
    flags = frame.select(e.fill_null(False).any().alias(m) for m, e in checks.items()).row(0)
    for (message, failing), hit in zip(checks.items(), flags, strict=True):
        if hit:
            row = frame.with_row_index("_row").filter(failing.fill_null(False)).row(0, named=True)
            column = message.split(" ", 1)[0]
            label = f" ({row['contract']})" if row.get("contract") else ""
            raise RejectedError(
                f"{where}: contract row {row['_row'] + 1}{label}: {message}, "
                f"got {row.get(column)!r}"
            )
    _check_duplicates(frame, where)


def _check_duplicates(frame: pl.DataFrame, where: str) -> None:
    """Refuse a contract listed twice (canonical id, else expiry/strike/right)."""
    duplicates = duplicate_contracts(frame)
    if duplicates.height:
        raise RejectedError(f"{where}: {describe_duplicates(duplicates)}")


def check_finite_payloads(payloads: Mapping[str, Any], where: str) -> None:
    """Refuse payloads (engine output or vendor) holding a NaN or infinite number anywhere.

    A finite but absurd input can overflow the engine; nothing non-finite is ever stored or
    printed. The message names the origin and the payload field (`dex.net_dex`).
    """
    for name, payload in payloads.items():
        for path, value in _walk(payload, name):
            if isinstance(value, float) and not math.isfinite(value):
                raise RejectedError(f"{where}: {path} is {value} (numbers must be finite)")
