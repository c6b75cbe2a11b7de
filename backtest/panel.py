"""Point-in-time panels: daily bars joined to the exposure figures known at each decision time.

Each session has a decision time (default 16:30 New York, after the close and after the 16:15
snapshot) and a fill (default the next session's open). The join is a DuckDB ASOF JOIN on the
snapshot's `as_of`, so a row only ever sees snapshots stamped at or before its decision time:
a 16:15 snapshot cannot reach a decision taken at 15:45, and so cannot trade that day's close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from pathlib import Path

import duckdb
import polars as pl

from warehouse import catalog
from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake

#: Where an order decided on session d fills: the open or close of d+1, or d's own close.
FILLS = ("next_open", "next_close", "same_close")
#: Snapshot columns carried into the panel, under the names strategies use.
KNOWN = {
    "as_of": "known_as_of",
    "underlying_price": "spot",
    "gamma_flip": "gamma_flip",
    "regime": "regime",
    "call_wall": "call_wall",
    "put_wall": "put_wall",
    "net_gex": "net_gex",
    "net_dex": "net_dex",
    "net_vex": "net_vex",
    "net_chex": "net_chex",
    "max_positive_gamma": "max_positive_gamma",
    "max_negative_gamma": "max_negative_gamma",
    "highest_oi_strike": "highest_oi_strike",
    "zero_dte_magnet": "zero_dte_magnet",
    "dix": "dix",
}
_CLOSE = time(16, 0)
#: The method of a vendor's figures (FlashAlpha API, DIX.csv): no engine made them.
VENDOR = "vendor"


@dataclass(frozen=True)
class Timing:
    """When decisions are taken (New York wall time) and where they fill.

    `max_age_days`: a snapshot older than this (calendar days) at decision time counts as
    unknown, so a gap in the history leaves the strategy without a signal rather than on
    stale levels.
    """

    decide: time = time(16, 30)
    fill: str = "next_open"
    max_age_days: float = 4.0

    def __post_init__(self) -> None:
        if self.fill not in FILLS:
            raise WarehouseInputError(f"fill {self.fill!r} unknown (use {', '.join(FILLS)})")
        if self.fill == "same_close" and self.decide > _CLOSE:
            raise WarehouseInputError(
                f"a decision at {self.decide:%H:%M} cannot fill at that session's 16:00 close; "
                "decide at or before 16:00 or fill next_open"
            )

    @property
    def lag(self) -> int:
        """Return the sessions between decision and fill (0 for same_close, else 1)."""
        return 0 if self.fill == "same_close" else 1

    @property
    def price(self) -> str:
        """Return the bar column the fill uses: `open` or `close`."""
        return "open" if self.fill == "next_open" else "close"


@dataclass(frozen=True)
class Panel:
    """One symbol's bars with what was known at each decision (polars frame, one row a session).

    `source` and `method` say which snapshots the known columns came from (`vendor` for a
    vendor source's figures).
    """

    symbol: str
    source: str
    method: str
    timing: Timing
    frame: pl.DataFrame

    def column(self, name: str) -> pl.Series:
        """Return one column of the panel."""
        return self.frame.get_column(name)

    @property
    def span(self) -> tuple[date, date]:
        """Return the first and last session of the panel."""
        dates = self.column("trade_date")
        first, last = dates.min(), dates.max()
        if not isinstance(first, date) or not isinstance(last, date):  # _panel refuses these
            raise WarehouseInputError(f"the panel of {self.symbol} has no sessions")
        return first, last


_SQL = """
WITH bars AS (
    SELECT symbol, trade_date, open, high, low, close, volume, as_of AS closed_at,
           timezone('America/New_York', trade_date + $decide::TIME) AS wanted,
           CASE WHEN $same THEN least(wanted, as_of) ELSE wanted END AS decided_at
    FROM prices_daily
    WHERE symbol IN (SELECT symbol FROM chosen) AND trade_date BETWEEN $start AND $end
      AND close IS NOT NULL
), known AS (
    SELECT symbol AS known_symbol, {known}
    FROM snapshots JOIN chosen USING (symbol, source, method)
)
SELECT bars.* EXCLUDE (wanted), known.* EXCLUDE (known_symbol)
FROM bars ASOF LEFT JOIN known
  ON bars.symbol = known.known_symbol AND bars.decided_at > known.known_as_of
ORDER BY symbol, trade_date
"""


def load_panel(
    home: Path,
    symbol: str,
    start: date,
    end: date,
    *,
    method: str,
    source: str | None = None,
    timing: Timing | None = None,
) -> Panel:
    """Return the point-in-time panel of one symbol (see `load_panels`)."""
    panels = load_panels(home, [symbol], start, end, method=method, source=source, timing=timing)
    return panels[symbol]


def load_panels(
    home: Path,
    symbols: list[str],
    start: date,
    end: date,
    *,
    method: str,
    source: str | None = None,
    timing: Timing | None = None,
    implied_vol: bool = False,
) -> dict[str, Panel]:
    """Return the point-in-time panel of each symbol over sessions in [start, end].

    Known columns come from snapshots made by `method` (e.g. `default@v1`), or from `vendor`
    rows where the source is a vendor's (see `snapshot_sources`). Prices are in the bars'
    currency, exposures in $ as stored; `known_as_of` (UTC) is the stamp of the snapshot each
    row saw, null when none was known or it was too old. A panel starts at the first session
    that knew a snapshot. One connection and one scan serve all. `implied_vol` adds `atm_iv`
    when chains are stored: the known snapshot's call and put IV (fractions) at the strike
    nearest spot, expiry nearest 30 days (at least 7).
    """
    timing = timing or Timing()
    datasets = Lake(home).datasets()
    if "snapshots" not in datasets:
        raise WarehouseInputError(f"no snapshots in {home}: run `gammalake backfill` first")
    with catalog.reader(home) as con:
        chosen = snapshot_sources(con, symbols, source, method)
        con.register("chosen", _chosen_frame(symbols, chosen))
        frame = _joined(con, timing, start, end, implied_vol and "chains" in datasets)
    parts = frame.partition_by("symbol", as_dict=True, include_key=False)
    return {
        symbol: _panel(symbol, picked, timing, parts.get((symbol,)), (start, end), home)
        for symbol, picked in zip(symbols, chosen, strict=True)
    }


def _joined(
    con: duckdb.DuckDBPyConnection, timing: Timing, start: date, end: date, iv: bool
) -> pl.DataFrame:
    """Return the bars of the `chosen` symbols ASOF-joined to their known snapshots (+ ATM IV)."""
    known = ", ".join(f"{column} AS {name}" for column, name in KNOWN.items())
    params = {
        "start": start,
        "end": end,
        "decide": timing.decide.isoformat(),
        "same": timing.fill == "same_close",
    }
    frame = con.sql(_SQL.format(known=known), params=params).pl()
    if iv:
        frame = frame.join(con.sql(_IV_SQL).pl(), on=["symbol", "known_as_of"], how="left")
    return frame


def covered(panels: dict[str, Panel]) -> list[str]:
    """Return the first and last session any of `panels` covers (ISO dates)."""
    spans = [p.span for p in panels.values()]
    return [str(min(s[0] for s in spans)), str(max(s[1] for s in spans))]


def _chosen_frame(symbols: list[str], chosen: list[tuple[str, str]]) -> pl.DataFrame:
    """Return the (symbol, source, method) rows the panel query joins snapshots to."""
    return pl.DataFrame(
        {
            "symbol": symbols,
            "source": [s for s, _ in chosen],
            "method": [m for _, m in chosen],
        },
        schema={"symbol": pl.String, "source": pl.String, "method": pl.String},
    )


def _panel(
    symbol: str,
    picked: tuple[str, str],
    timing: Timing,
    frame: pl.DataFrame | None,
    span: tuple[date, date],
    home: Path,
) -> Panel:
    """Return one symbol's panel from its rows of the joined frame, or raise saying what lacks."""
    source, method = picked
    if frame is None or frame.is_empty():
        raise WarehouseInputError(
            f"no price bars of {symbol} between {span[0]} and {span[1]} in {home}: store them "
            "with `gammalake prices import FILE --symbol ...` or `gammalake prices synthetic ...`"
        )
    first = frame.get_column("known_as_of").arg_min()  # bars before any snapshot: nothing known
    if first is None:
        raise WarehouseInputError(
            f"no {source} snapshot ({method}) of {symbol} was known by any session from "
            f"{span[0]} to {span[1]}"
        )
    fresh = _drop_stale(frame.slice(first), timing.max_age_days)
    return Panel(symbol, source, method, timing, fresh)


def _drop_stale(frame: pl.DataFrame, max_age_days: float) -> pl.DataFrame:
    """Return `frame` with every known column nulled where the snapshot is too old."""
    age = (pl.col("decided_at") - pl.col("known_as_of")).dt.total_seconds() / 86400.0
    fresh = age <= max_age_days
    names = list(KNOWN.values())
    return frame.with_columns(
        [pl.when(fresh).then(pl.col(n)).otherwise(None).alias(n) for n in names]
    )


def snapshot_sources(
    con: duckdb.DuckDBPyConnection, symbols: list[str], source: str | None, method: str
) -> list[tuple[str, str]]:
    """Return the (source, method) of the snapshots to use for each symbol.

    A source qualifies when it holds rows of `method`, or `vendor` rows (a vendor's figures,
    which no engine method made). `source` picks one; without it, the only qualifying one.
    """
    found = con.sql(
        "SELECT symbol, source, list(DISTINCT method ORDER BY method) FROM snapshots "
        "WHERE list_contains($1, symbol) GROUP BY symbol, source ORDER BY symbol, source",
        params=[symbols],
    ).fetchall()
    stored: dict[str, dict[str, list[str]]] = {}
    for symbol, name, methods in found:
        stored.setdefault(symbol, {})[name] = methods
    return [_one_source(symbol, stored.get(symbol, {}), source, method) for symbol in symbols]


def _one_source(
    symbol: str, stored: dict[str, list[str]], source: str | None, method: str
) -> tuple[str, str]:
    """Return the (source, method) to use for `symbol`, or raise naming what is stored."""
    if not stored:
        raise WarehouseInputError(f"no snapshots of {symbol} in the lake")
    if source is not None and source not in stored:
        raise WarehouseInputError(
            f"no {source} snapshots of {symbol} (stored: {', '.join(stored)})"
        )
    wanted = {source: stored[source]} if source is not None else stored
    usable = {s: m for s, methods in wanted.items() if (m := _usable(methods, method))}
    if not usable:
        where = f" from {source}" if source is not None else ""
        raise WarehouseInputError(
            f"no {method} snapshots of {symbol}{where} (stored: {_listing(wanted)}): "
            "choose one with --method"
        )
    if len(usable) > 1:
        raise WarehouseInputError(
            f"{symbol} has snapshots from {', '.join(usable)}: choose one with --source"
        )
    return next(iter(usable.items()))


def _usable(methods: list[str], method: str) -> str | None:
    """Return `method` if stored, else `vendor` if stored (a vendor source), else None."""
    if method in methods:
        return method
    return VENDOR if VENDOR in methods else None


def _listing(stored: dict[str, list[str]]) -> str:
    """Return the stored sources with their methods, e.g. `synthetic: default@v1, ...`."""
    return "; ".join(f"{name}: {', '.join(methods)}" for name, methods in stored.items())


_IV_SQL = """
WITH quotes AS (
    SELECT c.symbol, c.as_of, c.expiration, c.strike, c.iv, s.underlying_price AS spot,
           date_diff('day', timezone('America/New_York', c.as_of)::DATE, c.expiration) AS dte
    FROM chains AS c
    JOIN chosen USING (symbol, source)
    -- chains have no method (they are the engine's input): the snapshot of the chosen method
    JOIN snapshots AS s
      ON s.symbol = c.symbol AND s.source = c.source AND s.as_of = c.as_of
     AND s.method = chosen.method
    WHERE c.iv > 0
), expiry AS (
    SELECT symbol, as_of, arg_min(expiration, abs(dte - 30)) AS expiration
    FROM quotes WHERE dte >= 7 GROUP BY ALL
), strike AS (
    SELECT q.symbol, q.as_of, q.expiration, arg_min(q.strike, abs(q.strike - q.spot)) AS strike
    FROM quotes AS q JOIN expiry USING (symbol, as_of, expiration) GROUP BY ALL
)
SELECT symbol, as_of AS known_as_of, avg(iv) AS atm_iv
FROM quotes JOIN strike USING (symbol, as_of, expiration, strike)
GROUP BY ALL
"""
