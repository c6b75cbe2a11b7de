"""`gammalake mcp`: the stored history as MCP tools for agents (Claude, Cursor, any MCP client).

Built on the official `mcp` SDK (2.x, `MCPServer`). Every tool reads through `gammalake.Lake`,
so its figures are the Lake's (and the local API's) exactly; nothing is fetched or computed
beyond what the Lake gives. Tools: `stored` (what is stored), `gex`, `dex`, `vex`, `chex`,
`exposure_levels`, `exposure_summary` (one symbol at one moment), `levels_history` (daily
levels over a range), `scanner`, `alerts` and `sql` (read-only, with a row limit).

Answers are compact by default (`compact`): the per-strike tools keep strikes within 10% of
spot and drop the volume and OI-change fields and the envelope; `levels_history` keeps eight
columns; dollar figures carry 4 significant digits, prices 2 decimals. `full=true` gives the
Lake's whole answer. `levels_history` without `start` gives the latest 60 sessions; `alerts`
lists its kinds and keeps the ones asked for (`kinds`).

Units (each tool's description states its own, the server's instructions all of them): GEX in
dollars per 1% move of the underlying, DEX in dollars of delta, VEX in dollars per volatility
point, CHEX in dollars per day; prices, strikes and levels in the underlying's currency;
distances in percent; times ISO 8601 in New York.

Errors (unknown symbol, a moment outside the stored history, bad SQL, a write statement, a limit
out of range) come back as tool errors (`isError`) carrying the Lake's one-line message, which
names what is stored; never a traceback, never invented data. Transports: stdio (`serve_stdio`)
and streamable HTTP (`serve_http`, on 127.0.0.1 by default, path /mcp), which sits behind the
API's Guard: the same keys (GAMMALAKE_API_KEYS) and the same Host check as `gammalake api`.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import FrameType
from typing import Annotated, Any

import polars as pl
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from gammalake.api.server import STOP_SIGNALS, Guard, Guarded, allowed_hosts, run_until_stopped
from gammalake.lake import Lake, parse_day
from pipeline.engine.method import ENGINE_VERSION
from pipeline.engine.presets import PRESETS
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from warehouse.errors import WarehouseInputError
from warehouse.sandbox import SHARED
from warehouse.schema import ALERT_KINDS

#: Rows `sql` returns unless asked otherwise, and the most it returns.
SQL_ROWS, SQL_MAX_ROWS = 200, 5_000
#: The largest `sql` result turned into a reply (bytes, as polars estimates the table): building
#: the JSON of a bigger one costs minutes and gigabytes after DuckDB is done, past its limits.
SQL_MAX_BYTES = 16 * 1024 * 1024
#: The most cells (rows times columns) a `sql` reply carries: each is a JSON key and value.
SQL_MAX_CELLS = 1_000_000
#: Sessions `levels_history` returns unless asked otherwise, and the most it returns.
HISTORY_ROWS, HISTORY_MAX_ROWS = 260, 5_000
#: Sessions `levels_history` returns without `start`: the latest ones.
HISTORY_LATEST = 60
#: Compact answers (the default; `full=True` gives the Lake's whole answer): per-strike rows
#: within COMPACT_BAND_PCT percent of spot only, without the fields COMPACT_DROPS, and no
#: envelope (endpoint_version, data_as_of); dollar figures (exposures, notionals) rounded to
#: COMPACT_DIGITS significant digits, other numbers (prices, strikes, percents) to 2 decimals.
COMPACT_BAND_PCT, COMPACT_DIGITS = 10.0, 4
COMPACT_DROPS = frozenset(
    {"endpoint_version", "data_as_of", "call_volume", "put_volume", "call_oi_change"}
    | {"put_oi_change"}
)
#: Columns of a compact `levels_history` row.
COMPACT_HISTORY = (
    *("trade_date", "spot", "gamma_flip", "call_wall", "put_wall", "zero_dte_magnet"),
    *("regime", "net_gex"),
)
#: Words in a field name that make it a dollar figure (rounded to significant digits).
_DOLLARS = ("gex", "dex", "vex", "chex", "notional")
#: Alerts `alerts` returns unless asked otherwise, and the most it returns.
ALERT_ROWS, ALERT_MAX_ROWS = 50, 1_000
#: The tools, in the order agents see them (methods of `LakeTools`).
TOOLS = (
    *("stored", "gex", "dex", "vex", "chex", "exposure_levels", "exposure_summary"),
    *("levels_history", "scanner", "alerts", "sql"),
)
#: Method spellings whose Lake is kept (each costs a scan of the stored methods once).
LAKES_KEPT = 64
#: Seconds a stdio server has to end after SIGINT or SIGTERM before it exits regardless.
STOP_GRACE = 1.0
#: Where the streamable HTTP transport answers.
HTTP_PATH = "/mcp"

UNITS = (
    "Units: GEX in dollars per 1% move of the underlying, DEX in dollars of delta, VEX in "
    "dollars per volatility point, CHEX in dollars per day; prices, strikes and levels in the "
    "underlying's currency; distances in percent; times ISO 8601 in New York."
)
INSTRUCTIONS = (
    "gammalake: a point-in-time history of options dealer exposure (GEX/DEX/VEX/CHEX, gamma "
    "flip, call and put walls) stored on this machine. Start with `stored` to see the symbols "
    "and the range each covers. `at` picks the latest snapshot known at that moment (a date "
    "means that session's last snapshot, known before the next open; a time is New York "
    "unless it has an offset; omitted: the latest). Nothing outside the stored history is "
    "invented: such calls return an error naming what is stored. Answers are compact by "
    "default (strikes within 10% of spot, $ figures to 4 significant digits); pass full=true "
    "for every strike and field. " + UNITS
)
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

Symbol = Annotated[str, Field(description="Ticker, e.g. SPY (see `stored`).")]
At = Annotated[
    str | None,
    Field(
        description="Moment: a date (2026-11-20: that session's last snapshot) or an ISO time "
        "(2026-11-20T15:30, New York unless an offset is given). Omitted: the latest snapshot."
    ),
]
Method = Annotated[
    str | None,
    Field(
        description=f"Whose figures: a preset name ({', '.join(sorted(PRESETS))}: its "
        f"method under this engine, v{ENGINE_VERSION}), an exact method like "
        f"default@v{ENGINE_VERSION} or default@v1, one with overrides like "
        f"default+am_settlement=false@v{ENGINE_VERSION}, or vendor. Omitted: the server's "
        "method. One that is not stored is an error listing the stored ones (see `stored`)."
    ),
]
Kinds = Annotated[
    list[str] | str | None,
    Field(
        description=f"Alert kinds to keep (a list or one,two): {', '.join(ALERT_KINDS)}. "
        "Omitted: every kind."
    ),
]
Full = Annotated[
    bool,
    Field(
        description=f"Whole answer: every strike and field, the envelope, exact numbers. "
        f"Default (false): compact, strikes within {COMPACT_BAND_PCT:g}% of spot, $ figures "
        f"to {COMPACT_DIGITS} significant digits, prices to 2 decimals."
    ),
]
Expiration = Annotated[
    str | None,
    Field(description="One expiration (ISO date) only, priced from the stored chain."),
]


@contextmanager
def _answers() -> Iterator[None]:
    """Turn the Lake's refusals (nothing stored, bad input, bad SQL) into one-line tool errors."""
    try:
        yield
    except (LookupError, InputError, WarehouseInputError) as exc:
        raise ToolError(str(exc)) from None


def _count(value: int, name: str, most: int) -> int:
    """Return `value` when it is a count from 1 to `most`; else raise a ToolError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ToolError(f"{name}={value!r} is out of range: give 1 .. {most:,} rows")
    return value


def compact(value: Any, key: str = "") -> Any:
    """Return a JSON-ready answer made compact (see COMPACT_BAND_PCT): fewer rows and fields.

    `key` is the field the value sits under (it says how a number is rounded).
    """
    if isinstance(value, dict):
        kept = {k: compact(v, k) for k, v in value.items() if k not in COMPACT_DROPS}
        spot = value.get("underlying_price")
        if isinstance(kept.get("strikes"), list) and isinstance(spot, int | float):
            near = [r for r in kept["strikes"] if _near(r, float(spot))]
            kept |= {"strikes": near, "strikes_total": len(value["strikes"])}
        return kept
    if isinstance(value, list):
        return [compact(v, key) for v in value]
    if isinstance(value, float):
        if any(word in key for word in _DOLLARS) and value:
            return round(value, COMPACT_DIGITS - 1 - math.floor(math.log10(abs(value))))
        return round(value, 2)
    return value


def _near(row: Any, spot: float) -> bool:
    """Return True for a strike row within COMPACT_BAND_PCT percent of `spot`."""
    strike = row.get("strike") if isinstance(row, dict) else None
    return isinstance(strike, int | float) and abs(strike - spot) <= spot * COMPACT_BAND_PCT / 100


def shown(value: Any, full: bool) -> Any:
    """Return `value` JSON-ready (`plain`), compact unless `full`."""
    ready = plain(value)
    return ready if full else compact(ready)


def plain(value: Any) -> Any:
    """Return `value` as JSON-ready data: aware times in New York ISO, NaN and inf as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return (value.astimezone(NEW_YORK) if value.tzinfo else value).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return plain(float(value))
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


class LakeTools:
    """The MCP tools over one Lake; each method's docstring is the description agents read."""

    def __init__(self, lake: Lake) -> None:
        """Serve `lake` (its method is the default of every tool's `method`)."""
        self.lake = lake
        self._lakes: dict[str, Lake] = {lake.method: lake}

    def _of(self, method: str | None) -> Lake:
        """Return the Lake reading `method` (None: the server's), kept once it was found.

        A method that is not stored raises the Lake's InputError naming the stored ones.
        """
        if not method:
            return self.lake
        if method not in self._lakes:
            if len(self._lakes) >= LAKES_KEPT:  # many spellings of methods: start again
                self._lakes = {self.lake.method: self.lake}
            self._lakes[method] = self.lake.using(method)
        return self._lakes[method]

    def stored(self, method: Method = None) -> dict[str, Any]:
        """List the stored symbols and, for each, the first and last snapshot (ISO, New York).

        Call this first: every other tool answers only inside these ranges. Returns home,
        method (whose figures are listed), methods (every stored one: any of them, or its
        preset name, is a valid `method`), and symbols: [{symbol, first, last, sessions}].
        """
        with _answers():
            lake = self._of(method)
            rows = []
            for name in lake.symbols():
                first, last = lake.coverage(name)
                rows.append(
                    {
                        "symbol": name,
                        "first": first,
                        "last": last,
                        "sessions": len(lake.sessions(name)),
                    }
                )
            return plain(
                {
                    "home": str(lake.home),
                    "method": lake.method,
                    "methods": lake.stored_methods(),
                    "symbols": rows,
                }
            )

    def gex(
        self,
        symbol: Symbol,
        at: At = None,
        expiration: Expiration = None,
        min_oi: Annotated[
            int | None, Field(description="Only contracts with at least this open interest.")
        ] = None,
        method: Method = None,
        full: Full = False,
    ) -> dict[str, Any]:
        """Gamma exposure (GEX) by strike, as FlashAlpha's /v1/exposure/gex (GexResponse).

        GEX in dollars per 1% move of the underlying (call_gex, put_gex, net_gex per strike and
        in total); underlying_price, gamma_flip and strikes in the underlying's currency; OI in
        contracts; as_of ISO 8601 New York. net_gex_label: long_gamma or short_gamma.
        """
        with _answers():
            return shown(self._of(method).gex(symbol, at, expiration, min_oi), full)

    def dex(
        self,
        symbol: Symbol,
        at: At = None,
        expiration: Expiration = None,
        method: Method = None,
        full: Full = False,
    ) -> dict[str, Any]:
        """Delta exposure (DEX) by strike, as FlashAlpha's /v1/exposure/dex (DexResponse).

        DEX in dollars of delta (dealer delta times the underlying's price; call_dex, put_dex,
        net_dex); strikes and underlying_price in the underlying's currency; as_of ISO 8601
        New York.
        """
        with _answers():
            return shown(self._of(method).dex(symbol, at, expiration), full)

    def vex(
        self,
        symbol: Symbol,
        at: At = None,
        expiration: Expiration = None,
        method: Method = None,
        full: Full = False,
    ) -> dict[str, Any]:
        """Vanna exposure (VEX) by strike, as FlashAlpha's /v1/exposure/vex (VexResponse).

        VEX in dollars per volatility point (call_vex, put_vex, net_vex), with a plain-words
        vex_interpretation; strikes in the underlying's currency; as_of ISO 8601 New York.
        """
        with _answers():
            return shown(self._of(method).vex(symbol, at, expiration), full)

    def chex(
        self,
        symbol: Symbol,
        at: At = None,
        expiration: Expiration = None,
        method: Method = None,
        full: Full = False,
    ) -> dict[str, Any]:
        """Charm exposure (CHEX) by strike, as FlashAlpha's /v1/exposure/chex (ChexResponse).

        CHEX in dollars per day (call_chex, put_chex, net_chex), with a plain-words
        chex_interpretation; strikes in the underlying's currency; as_of ISO 8601 New York.
        """
        with _answers():
            return shown(self._of(method).chex(symbol, at, expiration), full)

    def exposure_levels(
        self, symbol: Symbol, at: At = None, method: Method = None, full: Full = False
    ) -> dict[str, Any]:
        """Key levels, as FlashAlpha's /v1/exposure/levels (ExposureLevelsResponse).

        levels: gamma_flip, call_wall (resistance), put_wall (support), max_positive_gamma,
        max_negative_gamma, highest_oi_strike, zero_dte_magnet (None without a same-day
        expiry); all prices in the underlying's currency. as_of ISO 8601 New York.
        """
        with _answers():
            return shown(self._of(method).exposure_levels(symbol, at), full)

    def exposure_summary(
        self, symbol: Symbol, at: At = None, method: Method = None, full: Full = False
    ) -> dict[str, Any]:
        """Regime and net exposures, as FlashAlpha's /v1/exposure/summary.

        regime (positive_gamma / negative_gamma), gamma_flip (price); exposures: net_gex
        ($ per 1% move), net_dex ($ of delta), net_vex ($ per vol point), net_chex ($ per day);
        interpretation in words; hedging_estimate for a +-1% move: dealer shares to trade
        (+ buy, - sell) and their notional in dollars; zero_dte: net_gex ($ per 1%) and
        pct_of_total_gex (percent). as_of ISO 8601 New York.
        """
        with _answers():
            return shown(self._of(method).exposure_summary(symbol, at), full)

    def levels_history(
        self,
        symbol: Symbol,
        start: Annotated[
            str | None,
            Field(description=f"First session (ISO date). Omitted: the latest {HISTORY_LATEST}."),
        ] = None,
        end: Annotated[str | None, Field(description="Last session (ISO date).")] = None,
        limit: Annotated[
            int | None,
            Field(
                description=f"Most sessions returned (1 .. {HISTORY_MAX_ROWS:,}; default "
                f"{HISTORY_ROWS} from `start`, else the latest {HISTORY_LATEST})."
            ),
        ] = None,
        method: Method = None,
        full: Full = False,
    ) -> dict[str, Any]:
        """Daily levels and exposures: one row per session (its last snapshot), oldest first.

        Without `start`: the latest 60 sessions (to `end`, if given); previous_end is the
        session before them (pass it as `end` for earlier ones). From `start`: at most `limit`
        rows; when more match, truncated is true and next_start is where to continue. Rows
        (compact): trade_date, spot, gamma_flip, call_wall, put_wall, zero_dte_magnet (prices
        in the underlying's currency, 2 decimals), regime, net_gex ($ per 1% move, 4
        significant digits); full=true adds as_of (ISO 8601 New York), max_positive_gamma,
        max_negative_gamma, highest_oi_strike, net_dex ($ of delta), net_vex ($ per vol
        point), net_chex ($ per day) and the rest, unrounded.
        """
        with _answers():
            most = _count(
                limit or (HISTORY_ROWS if start else HISTORY_LATEST), "limit", HISTORY_MAX_ROWS
            )
            first, last = parse_day(start, "start"), parse_day(end, "end")
            if first and last and first > last:
                raise InputError(f"start={first} is after end={last}")
            lake = self._of(method)
            covered = lake.coverage(symbol)
            before = None
            if first is None:  # the latest sessions: start where they begin
                days = [d for d in lake.sessions(symbol) if last is None or d <= last]
                first = days[-most] if len(days) > most else None
                before = days[-most - 1] if len(days) > most else None
            frame = lake.history(symbol, first, last)
            rows = frame.head(most)
            more = frame.item(most, "trade_date") if frame.height > most else None
            if not full:
                rows = rows.select(COMPACT_HISTORY)
            answer = {
                "symbol": symbol.strip().upper(),
                "method": lake.method,
                "covered": {"first": covered[0], "last": covered[1]},
                "rows": rows.to_dicts(),
                "row_count": rows.height,
                "truncated": more is not None or before is not None,
                "next_start": more,
                "previous_end": before,
            }
            return shown(answer, full)

    def scanner(
        self,
        at: At = None,
        symbols: Annotated[
            list[str] | str | None,
            Field(description="Symbols to scan (a list or SPY,QQQ). Omitted: every stored one."),
        ] = None,
        method: Method = None,
    ) -> dict[str, Any]:
        """Regime scanner: per symbol, its snapshot known at `at` and that session's alerts.

        Rows: symbol, as_of (ISO 8601 New York), spot, gamma_flip, call_wall, put_wall (prices
        in the underlying's currency), distance_to_flip_pct (percent: 100 * (spot - flip) /
        spot), regime, net_gex ($ per 1% move), alerts, and note (why a symbol has no row then).
        """
        with _answers():
            lake = self._of(method)
            names = symbols.split(",") if isinstance(symbols, str) else symbols
            return plain({"method": lake.method, "rows": lake.scanner(at, names)})

    def alerts(
        self,
        symbol: Annotated[
            str | None, Field(description="One symbol. Omitted: every symbol.")
        ] = None,
        since: Annotated[
            str | None,
            Field(description="Only alerts known since then (a date means 00:00 New York)."),
        ] = None,
        limit: Annotated[
            int, Field(description=f"Most alerts returned (1 .. {ALERT_MAX_ROWS:,}).")
        ] = ALERT_ROWS,
        kinds: Kinds = None,
        method: Method = None,
    ) -> dict[str, Any]:
        """Recent alerts (walls moved, flip crossed, spot near a wall), newest first.

        Kinds: flip_cross_up, flip_cross_down (spot crossed the gamma flip), gex_sign_flip
        (net GEX changed sign), near_call_wall, near_put_wall (spot near a wall),
        call_wall_moved, put_wall_moved (a wall changed strike); `kinds` keeps some only.
        Each: symbol, as_of (ISO 8601 New York), trade_date, kind, message, level (a price in
        the underlying's currency), source, method.
        """
        with _answers():
            most = _count(limit, "limit", ALERT_MAX_ROWS)
            lake = self._of(method)
            if symbol is not None:
                lake.coverage(symbol)  # an unknown symbol is an error naming the stored ones
            chosen = kinds.split(",") if isinstance(kinds, str) else kinds
            found = lake.alerts(symbol, since, most, kinds=chosen)
            return plain({"method": lake.method, "alerts": found})

    def sql(
        self,
        query: Annotated[str, Field(description="DuckDB SQL; reads only.")],
        limit: Annotated[
            int, Field(description=f"Most rows returned (1 .. {SQL_MAX_ROWS:,}).")
        ] = SQL_ROWS,
        method: Method = None,
    ) -> dict[str, Any]:
        """Read-only DuckDB SQL over the stored history's views: one statement, reads only.

        Views: snapshots (one row per snapshot: symbol, source, method, as_of, trade_date,
        underlying_price, net_gex/net_dex/net_vex/net_chex, regime, gamma_flip, call_wall,
        put_wall, ...), strikes (per strike: call/put/net gex, dex, vex, chex, OI, volume),
        expiries, daily_levels, regime_daily (levels with prices and pct_to_call_wall /
        pct_above_flip in percent), gex_profile, expiry_profile, oi_movers, alerts,
        prices_daily, runs; they hold the server's method (or `method`). GEX in dollars per 1%
        move, DEX in dollars of delta, VEX in dollars per vol point, CHEX in dollars per day.
        Result times are shown in ISO 8601 New York. Only files under the lake can be read;
        writes, settings and several statements at once are refused; a query stops after
        60 s; a result over 16 MiB or 1,000,000 cells is refused (select fewer rows or
        columns, or aggregate). Returns columns, rows (dicts) and truncated (true when more
        than `limit` rows matched).
        """
        with _answers():
            most = _count(limit, "limit", SQL_MAX_ROWS)
            frame = self._of(method).sql(query, limit=most + 1, limits=SHARED)
            _fits(frame.head(most))
            rows = frame.head(most).to_dicts()
            return plain(
                {
                    "columns": frame.columns,
                    "rows": rows,
                    "row_count": len(rows),
                    "truncated": frame.height > most,
                }
            )

    def all(self) -> list[Callable[..., dict[str, Any]]]:
        """Return the tools, in the order agents see them."""
        return [getattr(self, name) for name in TOOLS]


def _fits(frame: pl.DataFrame) -> None:
    """Refuse (ToolError, one line) a result too large to send: too many cells or bytes."""
    cells = frame.height * frame.width
    if cells > SQL_MAX_CELLS:
        raise ToolError(
            f"the result holds {cells:,} cells ({frame.height:,} rows x {frame.width:,} "
            f"columns), over the {SQL_MAX_CELLS:,} a reply may carry: select fewer rows or columns"
        )
    size = frame.estimated_size()
    if size > SQL_MAX_BYTES:
        raise ToolError(
            f"the result holds {size / 2**20:,.0f} MiB ({frame.height:,} rows), over the "
            f"{SQL_MAX_BYTES // 2**20} MiB a reply may carry: select fewer rows or columns, "
            "or aggregate"
        )


def create_server(lake: Lake) -> MCPServer:
    """Return the MCP server of `lake`'s tools (read-only; units in every description)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("gammalake")
    except PackageNotFoundError:  # a source tree that was never installed
        number = "0"
    server: MCPServer = MCPServer(
        "gammalake", instructions=INSTRUCTIONS, version=number, log_level="WARNING"
    )
    for tool in LakeTools(lake).all():
        server.add_tool(tool, description=_description(tool), annotations=READ_ONLY)
    return server


def _description(tool: Callable[..., Any]) -> str:
    """Return a tool's description: its docstring on one line (it states the units)."""
    return " ".join((tool.__doc__ or "").split())


def serve_stdio(server: MCPServer, banner: str | None = None) -> None:
    """Serve over stdin/stdout until the client closes stdin, Ctrl-C or SIGTERM (stdout: MCP only).

    After SIGINT or SIGTERM the process says one line on stderr and exits 130 or 143. The SDK
    reads stdin in a worker thread that no signal interrupts, so a stop alone would wait for
    the client's next line: a daemon timer therefore exits anyway once STOP_GRACE seconds have
    passed (the server only reads, nothing is left half-written). A SIGINT that was ignored when
    the process started stays ignored. `banner` is said on stderr once the handlers are in
    place, so a stop sent on seeing it is always handled so.
    """
    caught: list[int] = []
    timers: list[threading.Timer] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)
        # The SDK logs an exception a task meets (KeyboardInterrupt included) as a rich
        # traceback on stderr; a stop is one line, so nothing more is logged after it.
        logging.disable(logging.CRITICAL)
        timer = threading.Timer(STOP_GRACE, _exit_stopped, args=(signum,))
        timer.daemon = True
        timer.start()
        timers.append(timer)
        raise KeyboardInterrupt

    ignored = signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    stops = [sig for sig in STOP_SIGNALS if not (ignored and sig == signal.SIGINT)]
    previous = {sig: signal.signal(sig, stop) for sig in stops}
    try:
        if banner is not None:
            say(banner)
        server.run("stdio")
    except KeyboardInterrupt:
        if not caught:
            raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        for timer in timers:
            timer.cancel()
        say(_stopped(caught[0]))
        sys.exit(128 + caught[0])


def _stopped(signum: int) -> str:
    """Return the line said when a stop signal ended the server."""
    return f"gammalake mcp: stopped by {signal.Signals(signum).name}"


def _exit_stopped(signum: int) -> None:
    """End the process now with 128 + `signum`, saying why (the stop grace has passed)."""
    say(_stopped(signum))
    os._exit(128 + signum)


def serve_http(
    server: MCPServer,
    host: str = "127.0.0.1",
    port: int = 8788,
    ready: Callable[[str], None] | None = None,
    guard: Guard | None = None,
) -> None:
    """Serve streamable HTTP at http://host:port/mcp until SIGINT or SIGTERM (port 0: any).

    After a stop signal the open requests finish, one line is said and the process exits 130
    (SIGINT) or 143 (SIGTERM): `run_until_stopped`.

    `ready` is called with the endpoint's URL once the socket listens. `guard` (default: no
    key, loopback Host names) is checked before the SDK sees a request: the API's keys
    (X-Api-Key or Authorization: Bearer) and Host check, so MCP over HTTP is no back door.
    """
    import uvicorn

    app = http_app(server, host, guard or Guard(hosts=allowed_hosts(host)))

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if ready is not None and self.started:
                bound = self.servers[0].sockets[0].getsockname()
                ready(f"http://{_url_host(bound[0])}:{bound[1]}{HTTP_PATH}")

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    run_until_stopped(_Server(config), "gammalake mcp")


def http_app(server: MCPServer, host: str, guard: Guard) -> Guarded:
    """Return the streamable HTTP app of `server` at HTTP_PATH behind `guard` (every path)."""
    app = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    return Guarded(app, replace(guard, open_paths=frozenset(), open_prefixes=()))


def _url_host(host: str) -> str:
    """Return a host as it is written in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host


def say(text: str) -> None:
    """Print a line for people on stderr (stdout belongs to the stdio transport)."""
    print(text, file=sys.stderr, flush=True)
