"""`from gammalake import Lake`: the stored history in Python, shaped as the FlashAlpha SDK's.

`Lake(home).gex("SPY", at="2026-11-20")` returns what `FlashAlpha(key).gex("SPY")` returns
(the same field names and types, envelope included), built from the stored snapshot known at
that moment; no server, no key, no network. The Lake reads the lake through
`warehouse.history`; figures re-computed for `expiration=` / `min_oi=` are priced from the
snapshot's raw input chain under the snapshot's own method, never invented.

Moments (`at=`): None is the latest snapshot; a date (`2026-11-20`, or compact `20261120`) is
that session's view:
the latest snapshot known before the next NYSE session opens (so a snapshot taken that evening,
over the weekend or before the next open, which describes that session, is found by its date);
an ISO time (`2026-11-20T15:30`, `...-05:00`, New York when
no offset is given) is the latest snapshot known at or before it. Outside the stored history
(before the first snapshot, after the last one's day) is a `NotStoredError`, naming the range;
a year outside 1900 .. 2199 is an InputError.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from gammalake.payloads import engine_response, new_york, stored_response
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from warehouse.errors import WarehouseInputError
from warehouse.history import Found, History, Key, Span
from warehouse.home import resolve_home

if TYPE_CHECKING:
    from warehouse.sandbox import Limits

#: What `at=` accepts: None (latest), a date, a datetime, or their ISO text.
Moment = str | date | datetime | None
_LAST_SECOND = time(23, 59, 59, 999999)
_HAS_TIME = re.compile(r"[Tt ]")


class NotStoredError(LookupError):
    """Nothing stored for what was asked; the message says what is stored instead.

    An unknown symbol (with the stored symbols), a moment outside the stored history (with the
    covered range, first .. last as_of), an expiration the stored chain does not list, or
    figures a vendor snapshot does not hold.
    """


class NoInputError(NotStoredError):
    """Figures that need the raw chain (per expiration, min OI) of a snapshot that has none."""


class UnknownSymbolError(NotStoredError):
    """A symbol with no stored snapshot of the method read (nor vendor ones)."""


class OutsideError(NotStoredError):
    """A moment before a symbol's first stored snapshot or past its last one's session."""


class MomentError(InputError):
    """An `at=` that names no moment (not a date nor an ISO time, or a year out of range)."""


#: Years a moment may name: anything outside is a typo or a probe, refused as bad input.
YEARS = range(1900, 2200)


def alert_kinds(kinds: Sequence[str] | None) -> tuple[str, ...] | None:
    """Return `kinds` as a tuple of alert kind names, None when not given (every kind).

    A single string is one kind (`"gex_sign_flip"`). Raises InputError naming the first
    unknown kind and listing `warehouse.schema.ALERT_KINDS`.
    """
    from warehouse.schema import ALERT_KINDS

    if kinds is None:
        return None
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in chosen:
        if kind not in ALERT_KINDS:
            raise InputError(f"alert kind {kind!r} is not known; kinds: {', '.join(ALERT_KINDS)}")
    return chosen


def parse_moment(at: Moment, *, day_start: bool = False) -> datetime | None:
    """Return `at` as an aware datetime (New York when naive).

    A date (2026-11-20, or compact 20261120) is the moment just before the next NYSE session
    opens after it (its session's view; past the calendar's horizon, the date's last second);
    `day_start`: a date is its first moment instead (for `since=`). Raises InputError naming
    the value when it is neither a date nor an ISO time, or its year is outside YEARS.
    """
    if at is None:
        return None
    value = at if isinstance(at, date) else _parsed(str(at))
    if value.year not in YEARS:
        raise MomentError(
            f"at={at!r} is outside the years {YEARS.start} .. {YEARS.stop - 1} a moment may name"
        )
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=NEW_YORK)
    if day_start:
        return datetime.combine(value, time.min, NEW_YORK)
    return _before_next_open(value)


def _parsed(text: str) -> date | datetime:
    """Return ISO text as a date (no time part: 2026-11-20, 20261120) or a datetime."""
    cleaned = text.strip()
    try:
        if _HAS_TIME.search(cleaned):
            return datetime.fromisoformat(cleaned)
        return date.fromisoformat(cleaned)
    except ValueError:
        raise MomentError(
            f"at={text!r} is neither a date (2026-03-27) nor an ISO time "
            "(2026-03-27T15:30, New York unless an offset is given)"
        ) from None


def _before_next_open(day: date) -> datetime:
    """Return the last microsecond before the first NYSE session open after `day` (New York)."""
    from pipeline.sessions import session_table

    table = session_table()
    following = table.index_on_or_before(day) + 1
    if not 0 < following < len(table.days):  # before the calendar's first day, or past it
        return datetime.combine(day, _LAST_SECOND, NEW_YORK)
    opening = datetime.fromtimestamp(table.opens[following], UTC).astimezone(NEW_YORK)
    return opening - timedelta(microseconds=1)


def parse_day(value: str | date | None, name: str) -> date | None:
    """Return an ISO date (or a date) as a date; raise InputError naming `name` when it is not."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"{name}={value!r} is not a date like 2026-03-27") from None


def default_method(home: Path, preset_name: str | None = None) -> str:
    """Return the method a Lake reads by default, e.g. `default@v1`.

    The catalog's default method (catalog.json), else the current-engine method of the preset
    `preset_name` (None: the settings' `preset` of `home`).
    """
    from pipeline.engine.method import method_of
    from pipeline.engine.presets import preset
    from warehouse.catalog import default_method as catalog_method

    chosen = catalog_method(home)
    if chosen:
        return chosen
    if preset_name is None:
        from flows.settings import load_settings

        preset_name = load_settings(home).preset
    return method_of(preset(preset_name))


def _method(text: str) -> str:
    """Return the method `text` names (a preset name, a method string, or `vendor`)."""
    from pipeline.engine.method import resolve_method

    return resolve_method(text)


def _unknown_method(named: str, stored: list[str], home: Path) -> InputError:
    """Return the one-line refusal of a method that is not stored, naming the stored ones."""
    from pipeline.engine.presets import PRESETS

    listing = ", ".join(stored)
    return InputError(
        f"method {named} is not stored in {home} (stored methods: {listing}); "
        f"give one of them or a preset ({', '.join(sorted(PRESETS))})"
    )


@lru_cache(maxsize=8)
def _priced(home: Path, path: Path, stamp: int, method: str, as_of: datetime) -> ExposureSnapshot:
    """Return the engine snapshot of an archived input chain priced under `method` (cached).

    `stamp` (the file's mtime in ns) keys the cache, so a re-archived input is priced again.
    `as_of` is the stored row's moment: an input archived before schema 3 carries its fetch
    time, and the row the moment it describes (what it was priced at).
    """
    from flows.capture import Pricing
    from pipeline.chain import Chain
    from pipeline.engine.method import config_of
    from warehouse.raw import read_input

    item = read_input(path)
    chain = Chain(item.symbol, item.spot, as_of, item.frame, origin=item.origin)
    pricing = Pricing(config_of(method), home)  # the home: open_close reads its positions
    return ExposureSnapshot(pricing.priced_chain(chain), pricing.config)


class Lake:
    """The stored history of a gammalake home, read like the FlashAlpha API (see the module)."""

    def __init__(self, home: Path | str | None = None, method: str | None = None) -> None:
        """Open the home (default: $GAMMALAKE_HOME, else ~/.local/share/gammalake).

        `method`: whose figures to read, a preset name (`perfiliev`: its current-engine
        method), a method (`default@v1`, `default+am_settlement=false@v2`) or `vendor`;
        default: the catalog's default method, else the settings' preset's. A method other
        than that default must be stored (once anything is): InputError naming the stored
        ones otherwise. A symbol with no snapshot of the method is read from its vendor
        snapshots, if any.
        """
        self.home = resolve_home(Path(home) if home is not None else None)
        self._history = History(self.home)
        self._default = self.method = default_method(self.home)
        if method:
            self.method = self._stored_method(method)

    def __repr__(self) -> str:
        """Return `Lake('/path/to/home', method='default@v1')`."""
        return f"Lake({str(self.home)!r}, method={self.method!r})"

    def using(self, method: str) -> Lake:
        """Return a Lake of the same home reading `method` (sharing this one's connection).

        `method` as `Lake(home, method)` takes it; InputError naming the stored methods when it
        is neither a method nor stored.
        """
        if method == self.method:
            return self
        chosen = self._stored_method(method)
        if chosen == self.method:
            return self
        other = copy.copy(self)
        other.method = chosen
        return other

    def stored_methods(self) -> list[str]:
        """Return every method with stored snapshots in this home, sorted (`vendor` included).

        Example (demo home): `lake.stored_methods()` -> `['default@v1', 'default@v2']`
        """
        from warehouse.history import scan

        found = scan(self.home, "snapshots", "SELECT DISTINCT method FROM ROWS ORDER BY 1", {})
        return [] if found is None else found.get_column("method").to_list()

    def _stored_method(self, text: str) -> str:
        """Return the stored method `text` names; InputError naming the stored ones otherwise.

        A preset name or recipe is its current-engine method, a method is written as the
        engine writes it (`default+am_settlement=true@v2` is `default@v2`). The home's default
        method is always taken (it may fall back to vendor rows), and any method while nothing
        is stored.
        """
        stored = self.stored_methods()
        try:
            chosen = _method(text.strip())
        except InputError as exc:
            said = str(exc) if repr(text) in str(exc) else f"method {text!r}: {exc}"
            raise InputError(f"{said} (stored methods: {', '.join(stored) or 'none'})") from None
        if chosen in stored or chosen in (self.method, self._default) or not stored:
            return chosen
        named = repr(text) if text.strip() == chosen else f"{text!r} ({chosen})"
        raise _unknown_method(named, stored, self.home)

    # --- what is stored ---------------------------------------------------------------------

    def symbols(self) -> list[str]:
        """Return the symbols with snapshots of this method (or vendor snapshots), sorted.

        Example (demo home): `Lake("/tmp/lakehome").symbols()` -> `['QQQ', 'SPY']`
        """
        return self._history.symbols(self.method)

    def coverage(self, symbol: str) -> tuple[datetime, datetime]:
        """Return the first and last as_of of a symbol's stored snapshots (New York time).

        Unknown symbol: NotStoredError. Example (demo home): `lake.coverage("SPY")` ->
        `(datetime(2026, 10, 21, 16, 15, tzinfo=ZoneInfo('America/New_York')),
        datetime(2026, 11, 27, 13, 15, tzinfo=ZoneInfo('America/New_York')))`
        """
        span = self._span(self._symbol(symbol))
        return span.first.astimezone(NEW_YORK), span.last.astimezone(NEW_YORK)

    def tickers(self, symbol: str | None = None) -> dict[str, Any]:
        """Return what is stored, as FlashAlpha's GET /v1/tickers (`?symbol=`: one symbol).

        Without `symbol`: `tickers` (sorted), `count`, `method` and `coverage`, one entry per
        symbol; with it, that symbol's entry alone (UnknownSymbolError when it has none).
        An entry: symbol, first and last (as_of of its first and last snapshot, New York),
        from and to (their sessions), healthy_days (sessions with a snapshot), snapshots, and
        gaps: missing_sessions (NYSE sessions from .. to without one) and the first ten of
        them. Example (demo home): `lake.tickers()["tickers"]` -> `['QQQ', 'SPY']`
        """
        if symbol is not None:
            return self._coverage_entry(self._symbol(symbol))
        names = self.symbols()
        return {
            "tickers": names,
            "count": len(names),
            "method": self.method,
            "coverage": [self._coverage_entry(name) for name in names],
        }

    def _coverage_entry(self, symbol: str) -> dict[str, Any]:
        """Return one symbol's coverage (see `tickers`), from its cached snapshot keys."""
        from pipeline.sessions import sessions_between

        span = self._span(symbol)
        days = set(self._history.keys(symbol, self.method).get_column("trade_date").to_list())
        first, last = min(days), max(days)
        missing = [d for d in sessions_between(first, last) if d not in days]
        return {
            "symbol": symbol,
            "first": new_york(span.first),
            "last": new_york(span.last),
            "from": first.isoformat(),
            "to": last.isoformat(),
            "healthy_days": len(days),
            "snapshots": span.snapshots,
            "gaps": {
                "missing_sessions": len(missing),
                "first_missing": [d.isoformat() for d in missing[:10]],
            },
        }

    def sessions(self, symbol: str) -> list[date]:
        """Return the NYSE sessions (trade dates) with a stored snapshot of `symbol`, in order.

        Unknown symbol: NotStoredError. Example (demo home): `lake.sessions("SPY")[:3]` ->
        `[date(2026, 10, 21), date(2026, 10, 22), date(2026, 10, 23)]`
        """
        name = self._symbol(symbol)
        self._span(name)
        return self._history.sessions(name, self.method)

    # --- the FlashAlpha exposure endpoints --------------------------------------------------

    def gex(
        self,
        symbol: str,
        at: Moment = None,
        expiration: str | date | None = None,
        min_oi: int | None = None,
    ) -> dict[str, Any]:
        """Return GEX by strike ($ per 1% move) as the SDK's `GexResponse`.

        `expiration` (one expiration) and `min_oi` (contracts with at least that open interest)
        are priced from the snapshot's raw chain under its method (a vendor's archived
        per-expiration payload for vendor snapshots; NoInputError when there is neither).
        Example (the demo home of `gammalake demo --symbols SPY,QQQ --years 0.1`):
        `lake.gex("SPY", at="2026-11-20")` -> `{'symbol': 'SPY', 'underlying_price': 1006.48,
        'as_of': '2026-11-20T16:15:00-05:00', 'gamma_flip': 1173.1984656058248,
        'gamma_flip_status': 'available', 'net_gex': -9513220632.861275, 'net_gex_label':
        'short_gamma', 'strikes': [{'strike': 805.0, 'call_gex': 739530.8363725063,
        'put_gex': -9321243.310977513, 'net_gex': -8581712.474605007, 'call_oi': 958,
        'put_oi': 12451, 'call_volume': 140, 'put_volume': 1834, 'call_oi_change': 106,
        'put_oi_change': 1526}, ...81 strikes], 'endpoint_version': 'v1', 'data_as_of':
        {'node': 'gammalake', 'equity_feed': '2026-11-20T16:15:00-05:00',
        'equity_options_feed': '2026-11-20T16:15:00-05:00', 'index_feed': None, ...}}`
        """
        if min_oi is not None and (not isinstance(min_oi, int) or min_oi < 0):
            raise InputError(f"min_oi={min_oi!r} is not a count of contracts (0 or more)")
        return self._exposure("gex", symbol, at, expiration, min_oi)

    def dex(
        self, symbol: str, at: Moment = None, expiration: str | date | None = None
    ) -> dict[str, Any]:
        """Return DEX by strike ($ of underlying) as the SDK's `DexResponse`.

        Example (demo home): `lake.dex("SPY")` -> `{'symbol': 'SPY', 'underlying_price':
        959.78, 'as_of': '2026-11-27T13:15:00-05:00', 'net_dex': 208171341839.98932,
        'strikes': [{'strike': 760.0, 'call_dex': 146245156.84074563, 'put_dex':
        187166209.4178516, 'net_dex': 333411366.25859725}, ...], 'endpoint_version': 'v1',
        'data_as_of': {...}}`
        """
        return self._exposure("dex", symbol, at, expiration)

    def vex(
        self, symbol: str, at: Moment = None, expiration: str | date | None = None
    ) -> dict[str, Any]:
        """Return VEX by strike ($ per vol point) as the SDK's `VexResponse`.

        Example (demo home): `lake.vex("SPY")` -> `{..., 'net_vex': 1645414216.3907335,
        'vex_interpretation': 'Positive vanna: falling implied volatility makes dealers buy the
        underlying (supportive); a volatility spike makes them sell.', 'strikes': [{'strike':
        760.0, 'call_vex': -844002.5393889144, 'put_vex': 12016524.084668783, 'net_vex':
        11172521.54527987}, ...], ...}`
        """
        return self._exposure("vex", symbol, at, expiration)

    def chex(
        self, symbol: str, at: Moment = None, expiration: str | date | None = None
    ) -> dict[str, Any]:
        """Return CHEX by strike ($ per day) as the SDK's `ChexResponse`.

        Example (demo home): `lake.chex("SPY")` -> `{..., 'net_chex': -953679578.2850903,
        'chex_interpretation': 'Negative charm: time decay lowers dealer delta, so hedging buys
        the underlying as the session passes (support into the close).', 'strikes':
        [{'strike': 760.0, 'call_chex': 79435.07276720052, 'put_chex': -1211510.5385017884,
        'net_chex': -1132075.465734588}, ...], ...}`
        """
        return self._exposure("chex", symbol, at, expiration)

    def exposure_levels(self, symbol: str, at: Moment = None) -> dict[str, Any]:
        """Return the key levels (strikes, in the underlying's price) as `ExposureLevelsResponse`.

        Example (demo home): `lake.exposure_levels("SPY")["levels"]` -> `{'gamma_flip':
        1091.5014571866627, 'gamma_flip_status': 'available', 'max_positive_gamma': 1090.0,
        'max_negative_gamma': 960.0, 'call_wall': 960.0, 'put_wall': 960.0,
        'highest_oi_strike': 910.0, 'zero_dte_magnet': 960.0}`; `zero_dte_magnet` is None
        when no same-day expiry trades (e.g. `at="2026-11-20"`, a 16:15 snapshot).
        """
        found = self._find(symbol, at)
        return stored_response("levels", found.row)

    def exposure_summary(self, symbol: str, at: Moment = None) -> dict[str, Any]:
        """Return net exposures, regime, readings and hedges as `ExposureSummaryResponse`.

        Hedges: dealer shares to trade (+ buy, - sell) and their $ notional for a +-1% move.
        Example (demo home): `lake.exposure_summary("SPY")` -> `{'symbol': 'SPY',
        'underlying_price': 959.78, 'as_of': '2026-11-27T13:15:00-05:00', 'gamma_flip':
        1091.5014571866627, 'gamma_flip_status': 'available', 'regime': 'negative_gamma',
        'exposures': {'net_gex': -9859790951.134504, 'net_dex': 208171341839.98932,
        'net_vex': 1645414216.3907335, 'net_chex': -953679578.2850903}, 'interpretation':
        {'gamma': 'Dealers short gamma: hedging buys rallies and sells dips, amplifying moves;
        trend continuation likely.', 'vanna': ..., 'charm': ...}, 'hedging_estimate':
        {'spot_up_1pct': {'dealer_shares_to_trade': 9074280.181227088, 'direction': 'buy',
        'notional_usd': 8709312632.338135}, 'spot_down_1pct': {'dealer_shares_to_trade':
        -11302214.324812412, 'direction': 'sell', 'notional_usd': 10847639264.668457}},
        'zero_dte': {'net_gex': -917610714.7502487, 'pct_of_total_gex': 9.306594017033039,
        'expiration': '2026-11-27'}, 'endpoint_version': 'v1', 'data_as_of': {...}}`
        """
        found = self._find(symbol, at)
        row = found.row
        if row["hedge_up_1pct_shares"] is None and row["interpretation_gamma"] is None:
            raise NotStoredError(
                f"{self._what(row)} holds no summary (vendor payloads without /summary)"
            )
        return stored_response("summary", row)

    def expiries(self, symbol: str, at: Moment = None) -> list[dict[str, Any]]:
        """Return the stored per-expiration breakdown (gammalake's own), nearest first.

        Each row: expiration (ISO date), days_to_expiry, net_gex/dex/vex/chex ($ as above),
        call_oi/put_oi (contracts), pct_of_total_gex (%), top_strike and its net GEX.
        Example (demo home): `lake.expiries("SPY")[0]` -> `{'expiration': '2026-11-27',
        'days_to_expiry': 0.11458333333333333, 'net_gex': -917610714.7502484, 'net_dex':
        6355023939.362955, 'net_vex': 3271389.6919213566, 'net_chex': -280993169.49182165,
        'call_oi': 55936, 'put_oi': 168639, 'pct_of_total_gex': 9.306594017033035,
        'top_strike': 960.0, 'top_strike_net_gex': -705155394.8771658}`
        """
        found = self._find(symbol, at)
        frame = self._history.expiries(Key.of(found.row))
        columns = [c for c in frame.columns if c not in ("symbol", "source", "method", "as_of")]
        rows = frame.select(columns).drop("trade_date").to_dicts()
        return [{**r, "expiration": r["expiration"].isoformat()} for r in rows]

    # --- across time and symbols ------------------------------------------------------------

    def history(
        self, symbol: str, start: str | date | None = None, end: str | date | None = None
    ) -> pl.DataFrame:
        """Return one row per session (its last snapshot) from `start` to `end`, oldest first.

        Columns: trade_date, as_of (New York), source, method, spot, net_gex ($/1%), net_dex
        ($), net_vex ($/vol pt), net_chex ($/day), net_gex_label, regime, gamma_flip,
        gamma_flip_status, call_wall, put_wall, max_positive_gamma, max_negative_gamma,
        highest_oi_strike, zero_dte_magnet (levels in the underlying's price). An empty range
        gives an empty frame; an unknown symbol, NotStoredError. Example (demo home):
        `lake.history("SPY", "2026-11-24", "2026-11-25").select("trade_date", "spot",
        "gamma_flip", "regime").rows()` -> `[(date(2026, 11, 24), 974.1, 1118.6619407286316,
        'negative_gamma'), (date(2026, 11, 25), 970.5, 1101.7381826598873, 'negative_gamma')]`
        """
        name = self._symbol(symbol)
        self._span(name)
        first, last = parse_day(start, "start"), parse_day(end, "end")
        frame = self._history.daily(name, self.method, first, last)
        return frame.rename({"underlying_price": "spot"}).with_columns(
            pl.col("as_of").dt.convert_time_zone("America/New_York")
        )

    def scanner(self, at: Moment = None, symbols: list[str] | None = None) -> list[dict[str, Any]]:
        """Return, per symbol, its snapshot known at `at`: regime, flip, walls and the day's alerts.

        Each row: symbol, as_of (New York), trade_date, source, method, spot, gamma_flip,
        distance_to_flip_pct (100 * (spot - flip) / spot), regime, call_wall, put_wall, net_gex
        ($/1%), net_gex_label, alerts (that session's, known by `at`: kind, message, level,
        as_of) and note (None, or why the symbol has no row at that moment: its figures are
        then None). `symbols` None: every stored symbol. Example (demo home):
        `lake.scanner()[1]` -> `{'symbol': 'SPY', 'as_of': '2026-11-27T13:15:00-05:00',
        'trade_date': '2026-11-27', 'source': 'synthetic', 'method': 'default@v1', 'spot':
        959.78, 'gamma_flip': 1091.5014571866627, 'distance_to_flip_pct': -13.724130236789966,
        'regime': 'negative_gamma', 'call_wall': 960.0, 'put_wall': 960.0, 'net_gex':
        -9859790951.134504, 'net_gex_label': 'short_gamma', 'alerts': [{'kind':
        'call_wall_moved', 'message': 'SPY: call wall moved 980.00 -> 960.00', 'level': 960.0,
        'as_of': '2026-11-27T13:15:00-05:00'}, ...2 more], 'note': None}`
        """
        names = self.symbols() if symbols is None else [self._symbol(s) for s in symbols]
        moment = parse_moment(at)
        return [self._scan(name, moment) for name in names]

    def alerts(
        self,
        symbol: str | None = None,
        since: Moment = None,
        limit: int | None = 100,
        kinds: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Return stored alerts, newest first: of one symbol or all, since a moment (a date: 00:00).

        Each: symbol, as_of (New York), trade_date, kind, message, level (a price), source,
        method. `kinds` keeps those kinds only (names of `warehouse.schema.ALERT_KINDS`; an
        unknown one is an InputError line listing the known ones). Example (demo home):
        `lake.alerts("SPY", limit=1)` -> `[{'symbol': 'SPY',
        'as_of': '2026-11-27T13:15:00-05:00', 'trade_date': '2026-11-27', 'kind':
        'call_wall_moved', 'message': 'SPY: call wall moved 980.00 -> 960.00', 'level': 960.0,
        'source': 'synthetic', 'method': 'default@v1'}]`
        """
        name = self._symbol(symbol) if symbol is not None else None
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InputError(f"limit={limit!r} is not a count of rows (0 or more)")
        frame = self._history.alerts(
            name,
            self.method,
            since=parse_moment(since, day_start=True),
            limit=limit,
            kinds=alert_kinds(kinds),
        )
        return [_alert(row) for row in frame.iter_rows(named=True)]

    def sql(
        self, query: str, limit: int | None = None, limits: Limits | None = None
    ) -> pl.DataFrame:
        """Return the result of one read-only SQL statement over the catalog's views.

        Runs in the SQL sandbox (warehouse.sandbox; this Lake's method): only files under the
        lake can be read, nothing written, no setting changed; a refused statement, an SQL
        error or a query past `limits` (time, memory, temp disk; default: no time limit) is an
        InputError line. `limit` caps the rows returned. Example (demo home):
        `lake.sql("SELECT symbol, count(*) AS n FROM snapshots GROUP BY 1 ORDER BY 1").rows()`
        -> `[('QQQ', 27), ('SPY', 27)]`
        """
        from warehouse.sandbox import LOCAL, SandboxError
        from warehouse.sandbox import query as sandboxed

        try:
            return sandboxed(self.home, query, self.method, limits or LOCAL, limit)
        except SandboxError as exc:
            raise InputError(str(exc)) from None

    # --- internals --------------------------------------------------------------------------

    def _symbol(self, symbol: str) -> str:
        """Return a symbol upper-cased and checked (InputError when it is not a ticker)."""
        from warehouse.schema import validate_symbol

        text = symbol.strip().upper() if isinstance(symbol, str) else symbol
        try:
            return validate_symbol(text)
        except WarehouseInputError as exc:
            raise InputError(str(exc)) from None

    def _span(self, symbol: str) -> Span:
        """Return the stored span of a symbol; NotStoredError naming what is stored when none."""
        span = self._history.span(symbol, self.method)
        if span is None:
            raise self._unknown(symbol)
        return span

    def _unknown(self, symbol: str) -> NotStoredError:
        """Return the error for a symbol with no snapshot of this method (nor vendor ones)."""
        others = self._history.methods(symbol)
        if others:
            wanted = "vendor" if self.method == "vendor" else f"{self.method} or vendor"
            return UnknownSymbolError(
                f"{symbol}: no {wanted} snapshots stored (stored: "
                f"{', '.join(others)}); choose one with method="
            )
        stored = self.symbols()
        listing = ", ".join(stored) if stored else f"nothing yet in {self.home}"
        return UnknownSymbolError(f"{symbol}: not stored (stored symbols: {listing})")

    def _find(self, symbol: str, at: Moment) -> Found:
        """Return the snapshot of `symbol` known at `at`, or raise NotStoredError naming why."""
        name, moment = self._symbol(symbol), parse_moment(at)
        found = self._history.latest(name, self.method, moment)
        if found is None:
            span = self._span(name)  # raises for an unknown symbol
            raise _outside(name, at, moment, span)
        if moment is not None and moment > session_view_end(found.span.last):
            raise _outside(name, at, moment, found.span)
        return found

    def _exposure(
        self,
        greek: str,
        symbol: str,
        at: Moment,
        expiration: str | date | None,
        min_oi: int | None = None,
    ) -> dict[str, Any]:
        """Return a gex/dex/vex/chex response: stored, or re-priced from raw when filtered."""
        found = self._find(symbol, at)
        row = found.row
        if expiration is None and min_oi is None:
            if row[f"net_{greek}"] is None:
                raise NotStoredError(
                    f"{self._what(row)} holds no {greek.upper()} figures "
                    f"(vendor payloads without /{greek})"
                )
            return stored_response(greek, row, self._history.strikes(Key.of(row)))
        day = parse_day(expiration, "expiration")
        sent = self._vendor_payload(row, greek, day, min_oi)
        if sent is not None:
            return engine_response(greek, sent, row)
        snap = self._repriced(row)
        if day is not None:
            _check_listed(snap, day, self._what(row))
        payload: Any = (
            snap.gex(expiration=day, min_oi=min_oi)
            if greek == "gex"
            else getattr(snap, greek)(expiration=day)
        )
        return engine_response(greek, payload, row)

    def _vendor_payload(
        self, row: dict[str, Any], greek: str, day: date | None, min_oi: int | None
    ) -> dict[str, Any] | None:
        """Return the per-expiration payload a vendor sent with the snapshot, if archived."""
        if row["method"] != "vendor" or day is None or min_oi is not None:
            return None
        payload = self._history.raw_payload(row, f"{greek}_{day.isoformat()}")
        return payload if isinstance(payload, dict) and "strikes" in payload else None

    def _repriced(self, row: dict[str, Any]) -> ExposureSnapshot:
        """Return the snapshot's raw chain priced under its method; NoInputError when none.

        Only the engine version that made the row can re-make its figures: another one would
        give figures that are not the stored ones.
        """
        from pipeline.engine.method import ENGINE_VERSION, engine_version

        try:
            path = self._history.raw_input_path(row)
        except WarehouseInputError as exc:
            raise NoInputError(
                f"{exc}: figures by expiration or min_oi are priced from the raw chain, "
                "so they cannot be given for this snapshot"
            ) from None
        version = engine_version(row["method"])
        if version is None or not 1 <= version <= ENGINE_VERSION:
            raise NoInputError(
                f"{self._what(row)} was priced as {row['method']}; this engine (v1 to "
                f"v{ENGINE_VERSION}) cannot re-make its figures by expiration or min_oi "
                "(`gammalake rebuild` re-prices the history under this engine)"
            )
        stamp = path.stat().st_mtime_ns
        return _priced(self.home, path, stamp, row["method"], row["as_of"])

    def _what(self, row: dict[str, Any]) -> str:
        """Return how messages name a snapshot: `SPY synthetic snapshot of <time> (method)`."""
        return f"{row['symbol']} {row['source']} snapshot of {new_york(row['as_of'])}"

    def _scan(self, symbol: str, moment: datetime | None) -> dict[str, Any]:
        """Return one scanner row (see `scanner`)."""
        try:
            row = self._find(symbol, moment).row
        except NotStoredError as exc:
            return {**dict.fromkeys(_SCAN_FIELDS), "symbol": symbol, "alerts": [], "note": str(exc)}
        spot, flip = row["underlying_price"], row["gamma_flip"]
        alerts = self._history.alerts(
            symbol, self.method, until=moment, day=row["trade_date"], limit=None
        )
        return {
            "symbol": symbol,
            "as_of": new_york(row["as_of"]),
            "trade_date": row["trade_date"].isoformat(),
            "source": row["source"],
            "method": row["method"],
            "spot": spot,
            "gamma_flip": flip,
            "distance_to_flip_pct": None if flip is None else 100.0 * (spot - flip) / spot,
            "regime": row["regime"],
            "call_wall": row["call_wall"],
            "put_wall": row["put_wall"],
            "net_gex": row["net_gex"],
            "net_gex_label": row["net_gex_label"],
            "alerts": [_alert(a, brief=True) for a in alerts.iter_rows(named=True)],
            "note": None,
        }


_SCAN_FIELDS = (
    *("symbol", "as_of", "trade_date", "source", "method", "spot", "gamma_flip"),
    *("distance_to_flip_pct", "regime", "call_wall", "put_wall", "net_gex", "net_gex_label"),
)


def _alert(row: dict[str, Any], brief: bool = False) -> dict[str, Any]:
    """Return an alert row as a dict of JSON-ready values (brief: kind, message, level, as_of)."""
    out = {
        "symbol": row["symbol"],
        "as_of": new_york(row["as_of"]),
        "trade_date": row["trade_date"].isoformat(),
        "kind": row["kind"],
        "message": row["message"],
        "level": row["level"],
        "source": row["source"],
        "method": row["method"],
    }
    return {k: out[k] for k in ("kind", "message", "level", "as_of")} if brief else out


def session_view_end(moment: datetime) -> datetime:
    """Return the last instant a snapshot taken at `moment` is its session's latest view.

    Just before the next session opens: after that, a moment asks about a session (or a
    day) that has no snapshot of its own.
    """
    from pipeline.sessions import session_of

    return _before_next_open(session_of(moment))


def _outside(symbol: str, at: Moment, moment: datetime | None, span: Span) -> NotStoredError:
    """Return the error for a moment outside a symbol's stored history, naming the range."""
    if moment is None:
        asked = "now"
    elif isinstance(at, date) and not isinstance(at, datetime):
        asked = at.isoformat()  # a date: said as asked (it stands for that session's view)
    elif isinstance(at, str) and not _HAS_TIME.search(at.strip()):
        asked = at.strip()
    else:
        asked = moment.astimezone(NEW_YORK).isoformat(timespec="seconds")
    return OutsideError(
        f"{symbol}: nothing stored at {asked}; the stored history covers "
        f"{new_york(span.first)} .. {new_york(span.last)} ({span.snapshots} snapshots)"
    )


def _check_listed(snap: ExposureSnapshot, day: date, what: str) -> None:
    """Raise NotStoredError when the snapshot's chain lists no contract expiring on `day`."""
    listed = snap.chain.frame.get_column("expiration").unique().sort().to_list()
    if day not in listed:
        shown = ", ".join(d.isoformat() for d in listed[:12])
        more = f" (+{len(listed) - 12} more)" if len(listed) > 12 else ""
        raise NotStoredError(
            f"{what}: no contract expires {day.isoformat()}; its chain lists {shown}{more}"
        )
