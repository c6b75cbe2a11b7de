"""Daily price bars: Yahoo-style or generic OHLCV files, and the synthetic market's bars.

Layouts (column names case-insensitive): Yahoo `Date,Open,High,Low,Close,Adj Close,Volume`,
or generic `date,open,high,low,close[,volume]`; CSV or Parquet. Every bad row is reported (line
and reason) and nothing is returned unless all rows are good. Each bar carries its session date
(`trade_date`) and its close time in America/New_York (`as_of`: 16:00, or the early close of a
half day), so a point-in-time join knows when the close was known.

A bar must be dated on a day the NYSE could have traded:
- not a Sunday, nor a Saturday after LAST_SATURDAY_SESSION (the NYSE traded on Saturdays until
  1952, so older Saturday bars are real);
- not a weekday the XNYS calendar says was closed (a holiday), where the calendar covers the day.
  exchange_calendars builds XNYS from 20 years before today to a year ahead (pipeline/sessions.py
  takes the defaults), so older holidays cannot be told apart and are let through;
- not after the latest close (a bar of today before 16:00 New York is not known yet);
- not before EARLIEST_BAR, 1885-02-16, the first day Dow Jones published a daily stock average:
  no daily bar of a US index is older, so an earlier date is a typo (the real ^GSPC file starts
  on 1927-12-30).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.errors import FileFormatError, InputError
from pipeline.sessions import close_times, nyse, previous_session, session_of, sessions_between
from pipeline.sources.synthetic import SYNTHETIC_START, SyntheticMarket
from pipeline.sources.tabular import LINE, load_csv, lower_name, shown

PRICE_COLUMNS = ("open", "high", "low", "close")
_COLUMNS = ("date", *PRICE_COLUMNS, "volume")
#: The first daily stock average (Dow Jones, 1885-02-16): no real daily bar is older.
EARLIEST_BAR = date(1885, 2, 16)
#: The NYSE's last Saturday session; later Saturdays are never sessions.
LAST_SATURDAY_SESSION = date(1952, 5, 24)
_MAX_LISTED = 20


class BarsError(FileFormatError):
    """A price file with bad rows; the message lists them (line and reason)."""


def _load(path: Path) -> pl.DataFrame:
    """Return the file's date, price and volume columns as text, with file line numbers."""
    if path.suffix.lower() not in {".parquet", ".pq"}:
        frame = load_csv(path, BarsError, lower_name, lambda names: _require(path, names))
    else:
        try:
            frame = pl.read_parquet(path)
            frame = frame.rename({c: lower_name(c) for c in frame.columns})
            _require(path, frame.columns)
            frame = frame.select(c for c in _COLUMNS if c in frame.columns)
            frame = frame.with_columns(pl.all().cast(pl.String)).with_row_index(LINE, offset=1)
        except (pl.exceptions.PolarsError, OSError, pl.exceptions.PanicException) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BarsError(path, f"cannot be read as Parquet: {shown(message)}") from None
    return frame.select(LINE, *(c for c in _COLUMNS if c in frame.columns))


def _require(path: Path, names: list[str]) -> None:
    """Refuse a file without a date or a price column."""
    missing = [c for c in ("date", *PRICE_COLUMNS) if c not in names]
    if missing:
        raise BarsError(path, f"missing column(s) {', '.join(missing)}", line=1)


def _parsed(frame: pl.DataFrame) -> pl.DataFrame:
    """Return date and price columns parsed (nulls where unparseable)."""
    prices = [pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in PRICE_COLUMNS]
    volume = (
        pl.col("volume").str.strip_chars().cast(pl.Float64, strict=False)
        if "volume" in frame.columns
        else pl.lit(None, dtype=pl.Float64)
    )
    parsed = frame.select(
        pl.col(LINE),
        pl.col("date").str.strip_chars().str.to_date(strict=False).alias("trade_date"),
        *prices,
        volume.alias("volume"),
    )
    # Yahoo writes 0 for an open it does not know (^GSPC 1962-1982): that is a missing open.
    unknown_open = (pl.col("open") == 0) & (pl.min_horizontal("high", "low", "close") > 0)
    return parsed.with_columns(
        unknown_open.fill_null(False).alias("_unknown_open"),
        pl.when(unknown_open).then(None).otherwise(pl.col("open")).alias("open"),
    )


def _price_checks() -> list[tuple[pl.Expr, str]]:
    """Return (failing-row expression, reason) pairs on the prices of a bar."""
    return [
        (
            pl.any_horizontal(pl.col(PRICE_COLUMNS).is_null()) & ~pl.col("_unknown_open"),
            "missing or non-numeric price",
        ),
        (
            pl.any_horizontal(
                [pl.col(c).is_nan() | pl.col(c).is_infinite() for c in PRICE_COLUMNS]
            ),
            "non-finite price",
        ),
        (pl.any_horizontal([pl.col(c) <= 0 for c in PRICE_COLUMNS]), "non-positive price"),
        (pl.col("high") < pl.col("low"), "high below low"),
        (
            (pl.col("open") > pl.col("high"))
            | (pl.col("open") < pl.col("low"))
            | (pl.col("close") > pl.col("high"))
            | (pl.col("close") < pl.col("low")),
            "open or close outside high-low",
        ),
        (pl.col("volume").is_nan() | pl.col("volume").is_infinite(), "non-finite volume"),
        (pl.col("volume") < 0, "negative volume"),
    ]


def calendar_checks(days: pl.Series, now: datetime | None = None) -> list[tuple[pl.Expr, str]]:
    """Return (failing-row expression, reason) pairs on `trade_date`, given the file's dates.

    Weekends, NYSE holidays where the calendar covers the day, days after the latest close
    (as of `now`, default the clock) and days before EARLIEST_BAR (see the module docstring).
    """
    day = pl.col("trade_date")
    weekday = day.dt.weekday()  # Monday 1 .. Sunday 7
    weekend = (weekday == 7) | ((weekday == 6) & (day > LAST_SATURDAY_SESSION))
    return [
        (day.is_null(), "missing or unreadable date"),
        (day.is_duplicated() & day.is_not_null(), "duplicate date"),
        (day < EARLIEST_BAR, f"dated before {EARLIEST_BAR}, older than any daily bar"),
        (weekend, "dated on a weekend"),
        (_holiday(days, weekday), "dated on an NYSE holiday (not a session)"),
        (_future(now), "dated after the latest close (in the future)"),
    ]


def _holiday(days: pl.Series, weekday: pl.Expr) -> pl.Expr:
    """Return whether a weekday inside the XNYS calendar's span is not a session."""
    calendar = nyse()
    first, last = calendar.first_session.date(), calendar.last_session.date()
    inside = days.drop_nulls().filter(days.drop_nulls().is_between(first, last))
    low, high = inside.min(), inside.max()  # None when empty
    sessions = (
        sessions_between(low, high) if isinstance(low, date) and isinstance(high, date) else []
    )
    day = pl.col("trade_date")
    return (
        day.is_between(first, last)
        & (weekday <= 5)
        & ~day.is_in(pl.Series(sessions, dtype=pl.Date).implode())
    )


def _new_york(now: datetime | None) -> datetime:
    """Return `now` (default the clock) in New York time."""
    from pipeline.engine.timing import NEW_YORK

    return (now or datetime.now(NEW_YORK)).astimezone(NEW_YORK)


def last_closed_session(now: datetime | None = None) -> date:
    """Return the latest NYSE session closed by `now` (default the clock).

    Its close is 16:00 New York, 13:00 on half days; a session open at `now` is not closed.
    """
    moment = _new_york(now)
    day = session_of(moment)  # the latest session that had opened
    return day if close_times([day])[0] <= moment else previous_session(day)


def refuse_unclosed(end: date, option: str, now: datetime | None = None) -> None:
    """Refuse a span ending at `end` that reaches past the last session closed by `now`.

    A bar is known once its session has closed: a session still open (its close would be
    the intraday price) and any day after today are refused, naming `option` and the last
    closed session.
    """
    moment = _new_york(now)
    last = last_closed_session(moment)
    if end > moment.date() or sessions_between(last + timedelta(days=1), end):
        raise InputError(
            f"{option} {end} is past the last closed session {last}: a daily bar is known "
            f"only once its session has closed"
        )


def _future(now: datetime | None) -> pl.Expr:
    """Return whether a day's close comes after `now` (New York; default the clock)."""
    moment = _new_york(now)
    today = moment.date()
    closed_today = close_times([today])[0] <= moment
    day = pl.col("trade_date")
    return (day > today) | ((day == today) & (not closed_today))


def bar_problems(bars: pl.DataFrame, now: datetime | None = None) -> list[str]:
    """Return one 'line N: reason' per bad row, in file order (empty when all are good)."""
    checks = calendar_checks(bars.get_column("trade_date"), now) + _price_checks()
    flagged = bars.select(
        pl.col(LINE), *(expr.fill_null(False).alias(reason) for expr, reason in checks)
    )
    reasons = [reason for _, reason in checks]
    # Only the bad rows are looked at one by one: a good file costs one vectorised pass.
    bad = flagged.filter(pl.any_horizontal(reasons))
    return [
        f"line {row[LINE]}: {', '.join(r for r in reasons if row[r])}"
        for row in bad.iter_rows(named=True)
    ]


@dataclass(frozen=True)
class BarImport:
    """Rows for the `prices` dataset, and notes on what was read as missing."""

    rows: pl.DataFrame
    notes: list[str]


def read_bars(
    path: str | Path, symbol: str, source: str = "import", *, now: datetime | None = None
) -> BarImport:
    """Return `prices` rows from a bar file; raise BarsError listing every bad row.

    `now` (default the clock) decides which bars would be in the future.
    """
    path = Path(path)
    if not path.is_file():
        raise BarsError(path, "no such file")
    bars = _parsed(_load(path))
    if bars.height == 0:
        raise BarsError(path, "no rows")
    problems = bar_problems(bars, now)
    if problems:
        listed = "; ".join(problems[:_MAX_LISTED])
        more = f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise BarsError(path, f"{len(problems)} bad row(s), nothing imported: {listed}{more}")
    unknown = bars.filter(pl.col("_unknown_open"))
    notes = []
    if unknown.height:
        marked = unknown.get_column("trade_date").dt
        span = f"{marked.min()} .. {marked.max()}"
        notes.append(
            f"{unknown.height} bars have open 0, Yahoo's mark for an unknown open "
            f"({span}): stored with no open"
        )
    bars = bars.drop("_unknown_open", LINE).sort("trade_date")
    days = bars.get_column("trade_date").to_list()
    rows = bars.with_columns(
        pl.lit(symbol).alias("symbol"),
        pl.lit(source).alias("source"),
        pl.Series("as_of", close_times(days)).dt.convert_time_zone("UTC"),
    )
    return BarImport(rows, notes)


def session_span(start: date, end: date, options: tuple[str, str] = ("start", "end")) -> list[date]:
    """Return the NYSE sessions in [start, end]; raise InputError naming `options` when none.

    Refused: start after end, a span outside the XNYS calendar, a span with no session (a
    weekend or holiday only).
    """
    first, last = options
    if start > end:
        raise InputError(f"{first} {start} is after {last} {end}")
    calendar = nyse()
    low, high = calendar.first_session.date(), calendar.last_session.date()
    if start < low or end > high:
        raise InputError(
            f"{first} {start} .. {last} {end} is outside the NYSE calendar ({low} .. {high})"
        )
    sessions = sessions_between(start, end)
    if not sessions:
        raise InputError(
            f"no NYSE session from {first} {start} to {last} {end} (a weekend or holiday only)"
        )
    return sessions


def synthetic_bars(
    market: SyntheticMarket,
    symbol: str,
    start: date,
    end: date,
    *,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Return `prices` rows of the synthetic market for NYSE sessions in [start, end].

    The close is the market's spot; the open is the previous session's close with a small gap;
    the high and low reach past both by a range that scales with that day's volatility. Each
    bar depends only on its own day, so overlapping requests agree. Raises InputError when
    the span holds no session (see session_span) or reaches past the last session closed by
    `now` (default the clock; see refuse_unclosed).
    """
    import pandas as pd

    calendar = nyse()
    sessions = session_span(start, end)
    refuse_unclosed(end, "end", now)
    if sessions[0] < SYNTHETIC_START:
        raise InputError(f"start {start}: the synthetic market starts {SYNTHETIC_START}")
    opened = pd.Timestamp(sessions[0])
    # The calendar's first session has no previous one: its own close stands in.
    first = (
        calendar.previous_session(opened).date() if opened > calendar.first_session else sessions[0]
    )
    closes = np.array([market.spot(symbol, d) for d in sessions])
    previous = np.concatenate([[market.spot(symbol, first)], closes[:-1]])
    noise = np.array([market._rng("bar", symbol, str(d)).standard_normal(2) for d in sessions])
    daily = np.array([market.step_volatility(symbol, d) for d in sessions]) / math.sqrt(252)
    opens = previous * np.exp(0.15 * daily * noise[:, 0])
    span = 0.5 * daily * np.abs(noise[:, 1]) * closes
    return pl.DataFrame(
        {
            "symbol": symbol,
            "source": "synthetic",
            "trade_date": sessions,
            "as_of": close_times(sessions),
            "open": opens.round(2),
            "close": closes,
            "high": (np.maximum(opens, closes) + span).round(2),
            "low": (np.minimum(opens, closes) - span).round(2),
            "volume": np.round(1e6 * (20 + 10 * np.abs(noise[:, 1]))),
        }
    ).with_columns(pl.col("as_of").dt.convert_time_zone("UTC"))
