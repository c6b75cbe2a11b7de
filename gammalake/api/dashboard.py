"""The dashboard at `/` of `gammalake api`: the article's views over the stored history.

    GET /                               the page (static/index.html); its state lives in the
                                        query: ?symbol=SPY&at=2024-03-15&method=default@v1
    GET /assets/plotly.min.js           plotly.js of the installed plotly package
    GET /assets/{app.js,app.css,...}    the page's own files (static/), no build step
    GET /dashboard/meta                 symbols, methods, the default method, stored reports
    GET /dashboard/sessions/{symbol}    its sessions, and the snapshots of each with several
    GET /dashboard/series/{symbol}      sessions; price with the known flip, walls and regime
                                        shading; net GEX over time
    GET /dashboard/day/{symbol}?at=     one moment (a date: its last snapshot; 2024-03-28T12:30:
                                        the latest by then): regime headline, key levels (0DTE
                                        magnet), GEX by strike, gamma profile, per-expiry
                                        breakdown, OI movers, the dealers' hedging estimate
    GET /dashboard/gex/{symbol}?at=&expiration=
                                        GEX by strike of one expiry, re-priced from raw as the
                                        API's ?expiration= (`Lake.gex`)
    ...&overlay=all_short@v2            (day, series) a second method's flip and walls drawn
                                        over the first's charts: `overlay` in the day's JSON,
                                        dotted lines in the price chart
    GET /dashboard/greeks/{symbol}?at=  one moment's DEX, VEX and CHEX by strike
    GET /dashboard/scanner?at=          the watchlist at that moment, with that day's alerts,
                                        net DEX/VEX/CHEX and whether all four exposures align
    GET /dashboard/alerts?at=&kinds=    the alerts feed known at that moment, newest first
                                        (kinds: comma-separated `warehouse.schema.ALERT_KINDS`)
    GET /reports/{name}                 a stored backtest or study report (and its plotly.min.js)

With API keys configured, `/` and `/assets/*` stay open (the page) and everything else, the
/dashboard data and /reports included, asks for a key: the page prompts for it once and keeps
it in a same-site cookie (`gammalake_key`), which its fetches and report links then send.

Every /dashboard endpoint takes `method=` (default: the Lake's) and answers JSON; errors carry
the API's shape, {"status": 404, "message": "..."}: a method (or overlay) that is not stored
is 400, naming the stored ones. Figures are plotly JSON made by
`backtest.charts`, the module the reports draw with, so both draw alike. Nothing is fetched
from outside: plotly.js and the page's files are served from here.

Units: exposures in $ as stored (GEX per 1% move, DEX $ of underlying, VEX per vol point,
CHEX per day), charts in $ bn or $ mn as their axes say; levels and spot in the underlying's
price; distances in % of spot; OI in contracts.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.utils import PlotlyJSONEncoder
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from backtest import charts
from gammalake.api.server import LAKES_KEPT, clip
from gammalake.lake import Lake, alert_kinds, parse_moment, session_view_end
from gammalake.payloads import GREEKS, new_york, stored_response
from warehouse.history import History, Key
from warehouse.schema import ALERT_KINDS, validate_symbol

#: The page's own files (index.html, app.js, app.css, favicon.svg).
STATIC = Path(__file__).parent / "static"
#: Rows of the OI movers table.
OI_MOVERS = 10
#: The alerts feed: days looked back from the moment shown, and rows at most.
FEED_DAYS = 14
FEED_ROWS = 40
#: Hypothetical spots the gamma profile is priced at (over the flip search range).
PROFILE_POINTS = 161
#: Height of the smaller charts (px): gamma profile, DEX, VEX, CHEX.
PANEL_HEIGHT = 300
#: Seconds the watchlist tables (daily levels of every symbol, every alert) are reused, and
#: (NEWER) the least before they are read again when a session past their last is asked for.
WATCH_TTL = 30.0
NEWER = 0.5
#: Fields of a scanner row (`Lake.scanner`), before its alerts and note.
SCAN_FIELDS = (
    *("symbol", "as_of", "trade_date", "source", "method", "spot", "gamma_flip"),
    *("distance_to_flip_pct", "regime", "call_wall", "put_wall", "net_gex", "net_gex_label"),
    *("net_dex", "net_vex", "net_chex", "aligned"),
)
#: Day panels kept ready (JSON bytes), by method, symbol and snapshot.
DAY_CACHE = 128
#: The key-levels panel, in the article's order: field and label.
KEY_LEVELS = (
    ("call_wall", "Call wall (resistance)"),
    ("put_wall", "Put wall (support)"),
    ("max_positive_gamma", "Max + gamma (pin)"),
    ("max_negative_gamma", "Max - gamma (amplify)"),
    ("highest_oi_strike", "Highest OI (magnet)"),
    ("zero_dte_magnet", "0DTE magnet (intraday)"),
    ("gamma_flip", "Gamma flip"),
)
#: The stored hedge estimates (row columns hedge_<move>_shares/_notional) and their move, %.
HEDGE_MOVES = (("up_1pct", 1.0), ("up_half_pct", 0.5), ("down_half_pct", -0.5), ("down_1pct", -1.0))
#: The 0DTE magnet's line on the GEX chart.
MAGNET_COLOUR = "#8250df"
_REGIMES = {"positive_gamma": "positive", "negative_gamma": "negative"}
_REPORT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.(html|json|js)$")
_ASSET_CACHE = "public, max-age=86400"


def dumps(value: Any) -> bytes:
    """Return `value` as JSON bytes (figures, numpy values; NaN and infinities as null)."""
    return json.dumps(value, cls=PlotlyJSONEncoder, separators=(",", ":")).encode()


def _json(body: bytes, status: int = 200) -> Response:
    """Return a JSON response that browsers must re-validate (the lake may grow)."""
    return Response(
        body, status, media_type="application/json", headers={"Cache-Control": "no-cache"}
    )


def _error(status: int, message: str) -> Response:
    """Return an error in the API's shape: {"status": 404, "message": "..."} (message clipped)."""
    return _json(dumps({"status": status, "message": clip(message)}), status)


def _symbol(text: str) -> str:
    """Return a symbol upper-cased and checked (ValueError naming it when it is not a ticker)."""
    return validate_symbol(text.strip().upper())


def _figure(fig: go.Figure | None) -> dict[str, Any] | None:
    """Return a figure as the dict plotly.js draws (None kept)."""
    return None if fig is None else fig.to_plotly_json()


def _optional(call: Callable[[], Any]) -> tuple[Any, str | None]:
    """Return (call(), None), or (None, the reason) when nothing is stored for it."""
    try:
        return call(), None
    except LookupError as exc:
        return None, str(exc)


# --- one moment -------------------------------------------------------------------------------


def distance_pct(spot: float | None, level: float | None) -> float | None:
    """Return how far `level` is from spot, in % of spot (the article's (spot - flip) / spot)."""
    if spot is None or level is None or not spot:
        return None
    return 100.0 * (spot - level) / spot


def headline(gex: dict[str, Any], summary: dict[str, Any] | None) -> dict[str, Any]:
    """Return the regime headline: spot, flip, regime, distance to the flip (%), net exposures.

    `side` is "above" (spot above the flip: positive gamma, green), "below" (red) or "unknown".
    """
    spot, flip = gex["underlying_price"], gex["gamma_flip"]
    side = "unknown" if flip is None else ("above" if spot > flip else "below")
    regime = (summary or {}).get("regime") or {
        "above": "positive_gamma",
        "below": "negative_gamma",
    }.get(side, "undetermined")
    exposures = (summary or {}).get("exposures") or {}
    return {
        "spot": spot,
        "gamma_flip": flip,
        "gamma_flip_status": gex["gamma_flip_status"],
        "side": side,
        "regime": regime,
        "distance_to_flip_pct": distance_pct(spot, flip),
        "net_gex": gex["net_gex"],
        "net_gex_label": gex["net_gex_label"],
        "net_dex": exposures.get("net_dex"),
        "net_vex": exposures.get("net_vex"),
        "net_chex": exposures.get("net_chex"),
        "interpretation": (summary or {}).get("interpretation"),
        "zero_dte": (summary or {}).get("zero_dte"),
    }


def key_levels(levels: dict[str, Any], spot: float) -> list[dict[str, Any]]:
    """Return the key levels panel: key, label, value (price or None) and distance from spot (%).

    Distance is (spot - level) / spot in %: positive when the level is below spot.
    """
    return [
        {
            "key": key,
            "label": label,
            "value": levels.get(key),
            "distance_pct": distance_pct(spot, levels.get(key)),
        }
        for key, label in KEY_LEVELS
    ]


def oi_movers(strikes: list[dict[str, Any]], top: int = OI_MOVERS) -> dict[str, Any]:
    """Return the strikes with the largest |call OI change| + |put OI change| (contracts).

    A null change (no earlier snapshot to compare) counts as unknown: a strike with neither
    change known is left out, and `note` says so when no strike has one.
    """
    known = [
        s
        for s in strikes
        if s.get("call_oi_change") is not None or s.get("put_oi_change") is not None
    ]

    def size(row: dict[str, Any]) -> int:
        return abs(row.get("call_oi_change") or 0) + abs(row.get("put_oi_change") or 0)

    rows = sorted(known, key=size, reverse=True)[:top]
    keep = ("strike", "call_oi_change", "put_oi_change", "call_oi", "put_oi")
    note = None if known else "no OI change known: no earlier snapshot of this symbol to compare"
    return {"rows": [{k: r.get(k) for k in keep} for r in rows], "note": note}


def gex_figure(gex: dict[str, Any], magnet: float | None = None) -> go.Figure:
    """Return GEX by strike (call, put, net; spot and flip lines), $ bn per 1% move.

    `magnet`: the 0DTE magnet (a strike), drawn as a dotted line when the snapshot has one.
    """
    rows = gex["strikes"]
    fig = charts.gex_by_strike_chart(
        [r["strike"] for r in rows],
        [r["call_gex"] for r in rows],
        [r["put_gex"] for r in rows],
        spot=gex["underlying_price"],
        flip=gex["gamma_flip"],
    )
    fig.update_traces(hovertemplate="strike %{x:,.2f}: %{y:,.3f} $ bn per 1% move")
    if magnet is not None:
        fig.add_trace(go.Scatter(**_magnet_line(magnet, gex["underlying_price"])))
        fig.update_layout(yaxis2=_LINE_AXIS)
    return charts.legend_above_labels(charts.keep_line_labels_apart(fig))


def _magnet_line(magnet: float, spot: float) -> dict[str, Any]:
    """Return the 0DTE magnet as a vertical dotted line trace over the plot's full height."""
    away = distance_pct(spot, magnet) or 0.0
    where = f"{abs(away):.2f}% {'below' if away > 0 else 'above'} spot"
    return {
        "x": [magnet, magnet],
        "y": [0, 1],
        "yaxis": "y2",
        "mode": "lines",
        "name": f"0DTE magnet {magnet:,.2f}",
        "line": {"color": MAGNET_COLOUR, "dash": "dot", "width": 2.5},
        "hovertemplate": f"0DTE magnet {magnet:,.2f} (strike), {where}<extra></extra>",
    }


def hedging(row: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Return the dealers' hedge for moves of spot: move (%), shares (+ buy), notional ($).

    From the snapshot's stored estimate (the summary's, with the engine's +-0.5% too): the
    shares dealers trade to stay hedged when spot moves that much, and their value in $
    (notional, always positive; `direction` says buy or sell). None when none is stored.
    """
    rows = []
    for move, pct in HEDGE_MOVES:
        shares = row.get(f"hedge_{move}_shares")
        if shares is None or (isinstance(shares, float) and math.isnan(shares)):
            continue
        notional = row.get(f"hedge_{move}_notional")
        direction = "buy" if shares >= 0 else "sell"
        rows.append(
            {"move_pct": pct, "shares": shares, "direction": direction, "notional": notional}
        )
    return rows or None


def greek_figure(greek: str, payload: dict[str, Any], flip: float | None) -> go.Figure:
    """Return DEX, VEX or CHEX by strike (call, put, net) from its SDK-shaped payload."""
    rows = payload["strikes"]
    fig = charts.greek_by_strike_chart(
        greek,
        [r["strike"] for r in rows],
        [r[f"call_{greek}"] for r in rows],
        [r[f"put_{greek}"] for r in rows],
        spot=payload["underlying_price"],
        flip=flip,
    )
    unit = charts.GREEKS[greek][1]
    return fig.update_traces(hovertemplate=f"strike %{{x:,.2f}}: %{{y:,.3f}} {unit}")


@lru_cache(maxsize=32)
def _profile_curve(path: Path, stamp: int, method: str) -> tuple[list[float], list[float]]:
    """Return (spots, total GEX $ per 1% move) of an archived chain priced under `method`.

    Spots span the method's flip search range; `stamp` (the file's mtime, ns) keys the cache.
    """
    from pipeline.chain import Chain
    from pipeline.engine.book import build_book
    from pipeline.engine.flip import GammaProfile
    from pipeline.engine.method import config_of
    from warehouse.raw import read_input

    item = read_input(path)
    config = config_of(method)
    book = build_book(
        Chain(item.symbol, item.spot, item.as_of, item.frame, origin=item.origin), config
    )
    profile = GammaProfile(book)
    if profile.empty:
        raise LookupError(f"{item.symbol}: no contract of the stored chain can be re-priced")
    low, high = config.flip.range_low * item.spot, config.flip.range_high * item.spot
    spots = np.linspace(low, high, PROFILE_POINTS)
    return spots.tolist(), profile(spots).tolist()


@dataclass(frozen=True)
class Snapshot:
    """Every payload of one stored snapshot, as the Lake gives them, read with one lookup.

    `payloads`: gex, dex, vex, chex, levels and summary in the SDK's shapes, None when the
    snapshot holds none (vendor payloads without that endpoint; `notes` says so); `expiries`
    as `Lake.expiries` gives them; `row` the stored snapshot row.
    """

    row: dict[str, Any]
    payloads: dict[str, dict[str, Any] | None]
    expiries: list[dict[str, Any]]
    notes: dict[str, str]


def read_snapshot(
    lake: Lake, history: History, levels: dict[str, Any], *, expiries: bool = True
) -> Snapshot:
    """Return all payloads of the snapshot whose `lake.exposure_levels` response is `levels`.

    The Lake found it (and raised its NotStoredError, naming the stored range, when there is
    none); the rest is built from that row and its strikes by the Lake's own functions
    (`gammalake.payloads.stored_response`): one lookup instead of one per payload, so equal to
    `lake.gex(symbol, at)` and the others (tested). `expiries` False skips the per-expiry
    rows (left empty).
    """
    found = history.latest(levels["symbol"], lake.method, parse_moment(levels["as_of"]))
    if found is None:
        raise LookupError(f"{levels['symbol']}: no snapshot at {levels['as_of']}")
    row, key = found.row, Key.of(found.row)
    strikes = history.strikes(key)
    payloads: dict[str, dict[str, Any] | None] = {"levels": levels}
    notes: dict[str, str] = {}
    for greek in GREEKS:
        stored = row[f"net_{greek}"] is not None
        payloads[greek] = stored_response(greek, row, strikes) if stored else None
        if not stored:
            notes[greek] = f"no {greek.upper()} stored (vendor payloads without /{greek})"
    summary = row["hedge_up_1pct_shares"] is not None or row["interpretation_gamma"] is not None
    payloads["summary"] = stored_response("summary", row) if summary else None
    if not summary:
        notes["summary"] = "no summary stored (vendor payloads without /summary)"
    by_expiry = _expiries(history.expiries(key)) if expiries else []
    return Snapshot(row, payloads, by_expiry, notes)


def _expiries(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Return stored per-expiry rows as `Lake.expiries` does (ISO expiration, no key columns)."""
    keep = [c for c in frame.columns if c not in ("symbol", "source", "method", "as_of")]
    rows = frame.select(keep).drop("trade_date").to_dicts()
    return [{**r, "expiration": r["expiration"].isoformat()} for r in rows]


def profile_figure(history: History, snap: Snapshot) -> go.Figure:
    """Return the gamma profile (total GEX re-priced at hypothetical spots) with its flip.

    Priced from the snapshot's raw chain under its method; LookupError naming why when the
    snapshot has no chain (vendor figures), was priced by another engine version, or none of
    it can be priced.
    """
    from pipeline.engine.method import ENGINE_VERSION, engine_version

    try:
        path = history.raw_input_path(snap.row)
    except ValueError as exc:
        raise LookupError(f"no gamma profile: {exc}") from None
    if engine_version(snap.row["method"]) != ENGINE_VERSION:
        raise LookupError(
            f"no gamma profile: the snapshot was priced as {snap.row['method']} and this engine "
            f"is v{ENGINE_VERSION}, whose profile would not be the stored figures' "
            "(`gammalake rebuild` re-prices the history)"
        )
    spots, totals = _profile_curve(path, path.stat().st_mtime_ns, snap.row["method"])
    levels = snap.payloads["levels"] or {}
    fig = charts.gamma_profile_chart(
        spots, totals, spot=levels["underlying_price"], flip=levels["levels"]["gamma_flip"]
    )
    fig.update_layout(height=PANEL_HEIGHT)
    fig.update_traces(hovertemplate="spot %{x:,.2f}: %{y:,.3f} $ bn per 1% move<extra></extra>")
    return charts.keep_line_labels_apart(fig)


def day_panels(lake: Lake, history: History, levels: dict[str, Any]) -> dict[str, Any]:
    """Return the views of one moment but DEX/VEX/CHEX (see `greek_panels`), as plotly JSON.

    `levels`: the moment's `lake.exposure_levels` response. The gamma profile is priced on a
    thread while the GEX figure is built.
    """
    snap = read_snapshot(lake, history, levels)
    gex = snap.payloads["gex"]
    if gex is None:
        raise LookupError(f"{levels['symbol']} at {levels['as_of']}: {snap.notes['gex']}")
    with ThreadPoolExecutor(1) as pool:
        profile = pool.submit(_optional, lambda: _figure(profile_figure(history, snap)))
        magnet = levels["levels"].get("zero_dte_magnet")
        figures = {"gex": _figure(gex_figure(gex, magnet))}
        figures["profile"], profile_note = profile.result()
    notes = {k: v for k, v in snap.notes.items() if k in ("summary",)}
    return {
        "symbol": gex["symbol"],
        "as_of": gex["as_of"],
        "trade_date": str(snap.row["trade_date"]),  # the session it describes
        "headline": headline(gex, snap.payloads["summary"]),
        "levels": key_levels(levels["levels"], gex["underlying_price"]),
        "expiries": snap.expiries,
        "oi_movers": oi_movers(gex["strikes"]),
        "hedging": hedging(snap.row),
        "figures": figures,
        "notes": {**notes, **({"profile": profile_note} if profile_note else {})},
    }


def expiry_panel(lake: Lake, symbol: str, at: str | None, expiration: str) -> dict[str, Any]:
    """Return GEX by strike of one expiry only, re-priced from the snapshot's raw chain.

    The API's `?expiration=` (`Lake.gex`, the same function): symbol, as_of, expiration,
    net_gex ($ per 1% move, that expiry's) and its figure (as `gex_figure`, $ bn per 1%).
    """
    gex = lake.gex(symbol, at, expiration=expiration)
    return {
        "symbol": gex["symbol"],
        "as_of": gex["as_of"],
        "expiration": expiration,
        "net_gex": gex["net_gex"],
        "figure": _figure(gex_figure(gex)),
    }


def _greek_json(
    greek: str, payload: dict[str, Any] | None, flip: float | None
) -> dict[str, Any] | None:
    """Return one greek's by-strike figure as plotly JSON, None when it is not stored."""
    return None if payload is None else _figure(greek_figure(greek, payload, flip))


def greek_panels(lake: Lake, history: History, levels: dict[str, Any]) -> dict[str, Any]:
    """Return DEX, VEX and CHEX by strike of one moment (plotly JSON; None when not stored).

    Apart from `day_panels`: the page asks for them once their charts are on screen.
    """
    snap = read_snapshot(lake, history, levels, expiries=False)
    flip = levels["levels"]["gamma_flip"]
    figures = {g: _greek_json(g, snap.payloads[g], flip) for g in ("dex", "vex", "chex")}
    notes = {k: v for k, v in snap.notes.items() if k in figures}
    return {
        "symbol": levels["symbol"],
        "as_of": levels["as_of"],
        "figures": figures,
        "notes": notes,
    }


# --- a second method over the first ----------------------------------------------------------

#: How each method's levels are drawn: the method shown as the charts draw them (dashed flip,
#: solid walls), the one laid over it dotted, thicker.
SHOWN_DASH = {"gamma_flip": "dash", "call_wall": "solid", "put_wall": "solid"}
OVERLAY_DASH = "dot"
#: The hidden y axis (0 .. 1) level lines span, so they reach the plot's full height.
_LINE_AXIS = {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True}
_WITH_TIME = re.compile(r"[Tt ]")


def _session(as_of: str) -> date:
    """Return the NYSE session a snapshot of ISO time `as_of` describes."""
    from pipeline.sessions import session_of

    return session_of(datetime.fromisoformat(as_of))


def _levels_of(levels: dict[str, Any] | None) -> dict[str, float | None]:
    """Return the flip and walls of a levels response (all None when there is none)."""
    inner = (levels or {}).get("levels") or {}
    return {key: inner.get(key) for key in charts.LEVELS}


def overlay_panel(lake: Lake, shown: dict[str, Any], method: str, at: str | None) -> dict[str, Any]:
    """Return `lake`'s method's flip and walls in the session of `shown`, to draw over it.

    `shown`: the levels response of the snapshot on screen, of `method`; `at`: the moment
    asked for. The overlay is the same symbol's snapshot of that session (`at` itself
    when it names a time of day), so two methods stamped at different times of the same day
    meet. Returns method, as_of, levels (gamma_flip, call_wall, put_wall: prices, None when
    not stored then), gamma_flip_status (why a flip is None), distance_pct (from the shown
    spot, % as `distance_pct`), note (why levels are None), and figures: the level lines of
    both methods for the GEX and profile charts ({data, layout} to add to theirs).
    """
    day = _session(shown["as_of"])
    moment = at.strip() if at and _WITH_TIME.search(at.strip()) else day.isoformat()
    other: dict[str, Any] | None = None
    note = None
    try:
        other = lake.exposure_levels(shown["symbol"], moment)
    except LookupError as exc:
        note = str(exc)
    if other is not None and _session(other["as_of"]) != day:
        note = (
            f"{shown['symbol']}: no {lake.method} snapshot in the session of {day} "
            f"(its latest by then is of {other['as_of']})"
        )
        other = None
    spot, values = shown["underlying_price"], _levels_of(other)
    pairs = [(method, _levels_of(shown), None), (lake.method, values, OVERLAY_DASH)]
    lines = level_lines(pairs, spot)
    return {
        "method": lake.method,
        "as_of": None if other is None else other["as_of"],
        "levels": values,
        "gamma_flip_status": None if other is None else other["levels"]["gamma_flip_status"],
        "distance_pct": {key: distance_pct(spot, value) for key, value in values.items()},
        "note": note,
        "figures": {"gex": lines, "profile": lines},
    }


def level_lines(
    methods: list[tuple[str, dict[str, float | None], str | None]], spot: float
) -> dict[str, Any]:
    """Return plotly traces drawing each method's flip and walls as vertical lines, and layout.

    `methods`: (method, levels, dash) each; dash None draws as the charts do (SHOWN_DASH).
    Lines span the plot's height on a hidden axis; the legend groups them under the method's
    name; a hover names the method, the level (a price) and its distance from `spot` (%).
    """
    data = []
    for method, levels, dash in methods:
        drawn = [(k, v) for k, v in levels.items() if v is not None]
        for index, (key, value) in enumerate(drawn):
            style = dash or SHOWN_DASH[key]
            data.append(_level_line(method, key, value, spot, style, titled=index == 0))
    layout = {"yaxis2": _LINE_AXIS, "showlegend": True}
    return {"data": data, "layout": layout}


def _level_line(
    method: str, key: str, value: float, spot: float, dash: str, *, titled: bool
) -> dict[str, Any]:
    """Return one level as a vertical line trace (see `level_lines`)."""
    label = charts.LEVELS[key]
    away = distance_pct(spot, value) or 0.0
    where = f"{abs(away):.2f}% {'below' if away > 0 else 'above'} spot"
    trace: dict[str, Any] = {
        "type": "scatter",
        "x": [value, value],
        "y": [0, 1],
        "yaxis": "y2",
        "mode": "lines",
        "name": f"{label} {value:,.2f}",
        "legendgroup": method,
        "line": {
            "color": charts.COLOURS[key],
            "dash": dash,
            "width": 2.5 if dash == OVERLAY_DASH else 1.5,
        },
        "hovertemplate": f"{method}<br>{label} {value:,.2f} (price), {where}<extra></extra>",
    }
    if titled:
        trace["legendgrouptitle"] = {"text": method}
    return trace


def with_field(body: bytes, name: str, value: Any) -> bytes:
    """Return a JSON object's bytes with one more field (the cached body is not parsed again)."""
    return body[:-1] + b',"' + name.encode() + b'":' + dumps(value) + b"}"


# --- across time ------------------------------------------------------------------------------


def price_bars(lake: Lake, symbol: str) -> dict[date, tuple[float | None, ...]]:
    """Return stored daily bars (open, high, low, close) by session; empty when none are stored.

    One source per session (the first by name) when several stored bars of the same day.
    """
    query = (
        "SELECT trade_date, open, high, low, close FROM prices "
        f"WHERE symbol = '{validate_symbol(symbol)}' "
        "QUALIFY row_number() OVER (PARTITION BY trade_date ORDER BY source) = 1"
    )
    try:
        rows = lake.sql(query).rows()
    except ValueError:  # no prices dataset yet
        return {}
    return {row[0]: tuple(row[1:]) for row in rows}


def session_bars(
    days: list[date], spots: list[float], stored: dict[date, tuple[float | None, ...]]
) -> dict[str, list[float | None]]:
    """Return open, high, low, close per session: the stored bar, else the spot as its close.

    A bar without a high or low gets its close there (the price chart's y range stays right).
    """
    bars = [stored.get(d) or (None, None, None, s) for d, s in zip(days, spots, strict=True)]
    opens, highs, lows, closes = (list(column) for column in zip(*bars, strict=True))
    return {
        "open": opens,
        "high": [c if h is None else h for h, c in zip(highs, closes, strict=True)],
        "low": [c if lo is None else lo for lo, c in zip(lows, closes, strict=True)],
        "close": closes,
    }


def _close_line_only(price: go.Figure) -> None:
    """Make a price chart without stored bars draw its closes (the spots) as a line at any zoom.

    Candles of open = high = low = close are dashes; `candle_days` -1 keeps `ZOOM_SCRIPT` on the
    line whatever the span.
    """
    price.update_traces(visible=False, selector={"meta": "candles"})
    price.update_traces(visible=True, selector={"meta": "close"})
    meta = dict(price.layout.meta)
    price.update_layout(meta={"gammalake": {**meta["gammalake"], "candle_days": -1}})


#: Top margin (px) of an across-time chart: a legend row at the top, the range buttons under it.
SERIES_TOP = 56


def _legend_above_buttons(fig: go.Figure) -> None:
    """Put the legend of an across-time chart in a row of its own above its range buttons.

    `charts._time_axis` draws both just above the plot (buttons left, legend right), where a
    long legend runs into the buttons. The legend moves to the top of the figure and the top
    margin holds both rows (app.js adds margin when a narrow chart wraps the legend). A chart
    without a legend keeps its margin.
    """
    if fig.layout.showlegend is False:
        return
    fig.update_layout(
        margin={"t": SERIES_TOP},
        legend={"yref": "container", "y": 1, "yanchor": "top", "x": 1, "xanchor": "right"},
    )


def series_panels(lake: Lake, symbol: str, overlay: Lake | None = None) -> dict[str, Any]:
    """Return the sessions and the across-time figures of a symbol (price, net GEX).

    The price chart draws each session's bar with the flip and walls of its last snapshot and
    its regime as shading (`backtest.charts.price_chart`, as the backtest reports do);
    `overlay`: a second method whose flip and walls are drawn over them, dotted
    (`overlay_series`).
    """
    frame = lake.history(symbol)
    days = frame.get_column("trade_date").to_list()
    dates = [d.isoformat() for d in days]
    stored = price_bars(lake, symbol)
    bars = session_bars(days, frame.get_column("spot").to_list(), stored) if days else {}
    known = {k: frame.get_column(k).to_list() for k in charts.LEVELS}
    regime = [_REGIMES.get(r or "") for r in frame.get_column("regime").to_list()]
    price = charts.price_chart(dates, bars, known, regime=regime, link="dashboard")
    price.update_layout(height=440, margin={"t": 30})
    for label in charts.LEVELS.values():  # the level lines say what they are, in price
        price.update_traces(
            hovertemplate=f"{label} %{{y:,.2f}} (price)<extra></extra>", selector={"name": label}
        )
    if days and not stored:
        _close_line_only(price)
    overlay_note = (
        None if overlay is None else overlay_series(price, lake.method, symbol, days, overlay)
    )
    _legend_above_buttons(price)
    net = charts.net_gex_chart(dates, frame.get_column("net_gex").to_list(), link="dashboard")
    net.update_traces(hovertemplate="%{x}: %{y:,.3f} $ bn per 1% move<extra></extra>")
    net.update_layout(height=240, margin={"t": 30})
    _legend_above_buttons(net)
    missing = sum(1 for d in days if d not in stored)
    note = (
        f"{missing} of {len(days)} sessions have no stored bar: the snapshot's spot is drawn "
        "as their close (gammalake prices import / synthetic stores bars)"
    )
    return {
        "symbol": symbol,
        "sessions": dates,
        "figures": {"price": _figure(price), "net_gex": _figure(net)},
        "note": note if missing else None,
        "overlay": None if overlay is None else {"method": overlay.method, "note": overlay_note},
    }


def session_moments(keys: pl.DataFrame) -> dict[str, list[str]]:
    """Return, for each session with more than one stored snapshot, their as_of (New York ISO).

    `keys`: the symbol's snapshot keys (`History.keys`: trade_date, as_of), oldest first in
    each list. Sessions with one snapshot are left out (the day's own as_of names it).
    """
    if keys.height == 0:
        return {}
    many = (
        keys.select("trade_date", "as_of")
        .unique()
        .filter(pl.len().over("trade_date") > 1)
        .sort("as_of")
    )
    moments: dict[str, list[str]] = {}
    for day, moment in many.iter_rows():
        moments.setdefault(day.isoformat(), []).append(new_york(moment))
    return moments


def overlay_series(
    price: go.Figure, method: str, symbol: str, days: list[date], overlay: Lake
) -> str | None:
    """Draw `overlay`'s flip and walls of each session over a price chart of `method`'s.

    `days`: the sessions drawn. The shown levels are grouped under `method` in the legend, the
    overlay's under its own, dotted; a session the overlay has no snapshot of is a gap.
    Returns a note when the overlay misses sessions or the symbol (else None).
    """
    note = None
    try:
        other = overlay.history(symbol).iter_rows(named=True)
    except LookupError as exc:
        other, note = iter(()), str(exc)
    by_day = {row["trade_date"]: row for row in other}
    shown = [t for t in price.data if t.name in charts.LEVELS.values()]
    for index, trace in enumerate(shown):
        trace.update(legendgroup=method, legendgrouptitle_text=method if index == 0 else None)
    dates = [d.isoformat() for d in days]
    for index, (key, label) in enumerate(charts.LEVELS.items()):
        price.add_scatter(
            x=dates,
            y=[(by_day.get(d) or {}).get(key) for d in days],
            name=f"{label} ({overlay.method})",
            mode="lines",
            legendgroup=overlay.method,
            legendgrouptitle_text=overlay.method if index == 0 else None,
            line={"color": charts.COLOURS[key], "dash": OVERLAY_DASH, "width": 2.2, "shape": "hv"},
            hovertemplate=f"{overlay.method} {label} %{{y:,.2f}} (price)<extra></extra>",
        )
    gaps = sum(1 for d in days if d not in by_day)
    if note is None and gaps:
        note = f"{overlay.method} has no snapshot in {gaps} of the {len(days)} sessions shown"
    return note


# --- reports ----------------------------------------------------------------------------------


def _report_title(path: Path) -> str:
    """Return the <title> of a report page (its file name when it has none)."""
    with path.open("rb") as page:  # the head only: a report may be large
        head = page.read(4000).decode("utf-8", errors="replace")
    match = re.search(r"<title>(.*?)</title>", head, re.S | re.I)
    return re.sub(r"\s+", " ", match.group(1)).strip() if match else path.stem


def stored_reports(folder: Path) -> list[dict[str, Any]]:
    """Return the HTML reports of `folder`, newest first: name, kind, title, url, modified, KB.

    Only the files `/reports/{name}` serves are listed: a link out of the folder is left out.
    """
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("*.html") if _REPORT.fullmatch(p.name)]
    served = [p for p in found if _inside(folder, p.name) is not None]
    pages = sorted(served, key=lambda p: p.stat().st_mtime, reverse=True)
    return [
        {
            "name": page.name,
            "kind": page.name.split("-", 1)[0],
            "title": _report_title(page),
            "url": f"/reports/{page.name}",
            "modified": date.fromtimestamp(page.stat().st_mtime).isoformat(),
            "kb": round(page.stat().st_size / 1024),
        }
        for page in pages
    ]


# --- the watchlist ----------------------------------------------------------------------------


class Watchlist:
    """The scanner and the alerts feed at any session, from two tables read once.

    `Lake.scanner(at)` looks each symbol up again; a slider replaying sessions asks for it at
    every step. Here `Lake.history` of every symbol (its last snapshot per session) and every
    `Lake.alerts` row are read once and re-read when older than `ttl` seconds (a new snapshot
    shows within that), and each session is a look-up. Rows equal `Lake.scanner`'s for a date
    (tested); a moment with a time of day is asked of `Lake.scanner` itself.
    """

    def __init__(self, lake: Lake, ttl: float = WATCH_TTL, history: History | None = None) -> None:
        """Serve `lake`'s symbols; nothing is read before the first question."""
        self.lake = lake
        self.history = history or History(lake.home)
        self.ttl = ttl
        self._lock = threading.Lock()
        self._read = -math.inf
        self._sessions: dict[str, list[dict[str, Any]]] = {}
        self._alerts: list[dict[str, Any]] = []
        self._by_day: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._newest = date.min  # the last session in the tables

    def _fresh(self, moment: datetime | None) -> None:
        """Re-read the tables when older than `ttl` s, or `NEWER` s when asked past their end.

        A page following the last session asks for the next one as soon as it is stored.
        """
        with self._lock:
            age = time.monotonic() - self._read
            past = moment is not None and moment.date() > self._newest
            if age <= self.ttl and not (past and age > NEWER):
                return
            sessions = {s: self.lake.history(s).to_dicts() for s in self.lake.symbols()}
            ends = [rows[-1]["trade_date"] for rows in sessions.values() if rows]
            self._newest = max(ends, default=date.min)
            alerts = self.lake.alerts(limit=None)
            by_day: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for alert in alerts:
                alert["moment"] = datetime.fromisoformat(alert["as_of"])
                by_day.setdefault((alert["symbol"], alert["trade_date"]), []).append(alert)
            self._sessions, self._alerts, self._by_day = sessions, alerts, by_day
            self._read = time.monotonic()

    def scanner(self, at: str | None) -> list[dict[str, Any]]:
        """Return `Lake.scanner(at)`'s rows: per symbol its regime, flip, walls, day's alerts."""
        if at is not None and len(at.strip()) != 10:
            return [self._with_exposures(row) for row in self.lake.scanner(at)]
        moment = parse_moment(at)
        self._fresh(moment)
        return [self._row(s, rows, moment) for s, rows in self._sessions.items()]

    def _row(
        self, symbol: str, rows: list[dict[str, Any]], moment: datetime | None
    ) -> dict[str, Any]:
        """Return one scanner row: the symbol's last session known at `moment`."""
        index = len(rows) if moment is None else bisect_right([r["as_of"] for r in rows], moment)
        after = bool(rows) and moment is not None and moment > session_view_end(rows[-1]["as_of"])
        if not index or after:
            return _unscanned(symbol, rows, moment)
        row = rows[index - 1]
        spot, flip = row["spot"], row["gamma_flip"]
        alerts = self._by_day.get((symbol, row["trade_date"].isoformat()), [])
        return {
            "symbol": symbol,
            "as_of": new_york(row["as_of"]),
            "trade_date": row["trade_date"].isoformat(),
            **{k: row[k] for k in ("source", "method", "spot", "gamma_flip")},
            "distance_to_flip_pct": None if flip is None else 100.0 * (spot - flip) / spot,
            **{k: row[k] for k in ("regime", "call_wall", "put_wall", "net_gex", "net_gex_label")},
            **exposures(row),
            "alerts": [
                {k: a[k] for k in ("kind", "message", "level", "as_of")}
                for a in alerts
                if moment is None or a["moment"] <= moment
            ],
            "note": None,
        }

    def _with_exposures(self, row: dict[str, Any]) -> dict[str, Any]:
        """Return a `Lake.scanner` row with its snapshot's net DEX, VEX, CHEX and `aligned`."""
        found = None
        if row["as_of"] is not None:
            moment = datetime.fromisoformat(row["as_of"])
            found = self.history.latest(row["symbol"], self.lake.method, moment)
        values = exposures(found.row if found else {})
        return {
            **{k: v for k, v in row.items() if k not in ("alerts", "note")},
            **values,
            "alerts": row["alerts"],
            "note": row["note"],
        }

    def feed(self, at: str | None, kinds: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Return the alerts known at `at` (None: now) of its last FEED_DAYS days, newest first.

        `kinds`: only those kinds (None: every kind).
        """
        moment = parse_moment(at)
        self._fresh(moment)
        alerts = self._alerts if kinds is None else [a for a in self._alerts if a["kind"] in kinds]
        if moment is None:
            return [_public(a) for a in alerts[:FEED_ROWS]]
        since = moment - timedelta(days=FEED_DAYS)
        known = (a for a in alerts if since <= a["moment"] <= moment)
        return [_public(a) for a in islice(known, FEED_ROWS)]


def exposures(row: dict[str, Any]) -> dict[str, Any]:
    """Return a snapshot row's net DEX, VEX, CHEX ($ as stored) and whether all four agree.

    `aligned`: 1 when net GEX, DEX, VEX and CHEX are all positive, -1 all negative, 0 mixed,
    None when one is unknown (the sign test of `backtest.strategies.alignment` with agree=4).
    """
    values = {f"net_{g}": _number(row.get(f"net_{g}")) for g in GREEKS}
    signs = {math.copysign(1, v) if v else 0 for v in values.values() if v is not None}
    known = all(v is not None for v in values.values())
    aligned = None if not known else (int(signs.pop()) if len(signs) == 1 else 0)
    return {**{k: v for k, v in values.items() if k != "net_gex"}, "aligned": aligned}


def _number(value: Any) -> float | None:
    """Return a stored figure, None for a missing one or NaN."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _unscanned(symbol: str, rows: list[dict[str, Any]], moment: datetime | None) -> dict[str, Any]:
    """Return the scanner row of a symbol with nothing stored at `moment` (figures None)."""
    span = f"{rows[0]['as_of'].date()} .. {rows[-1]['as_of'].date()}" if rows else "none"
    asked = moment.isoformat(timespec="seconds") if moment else "now"
    note = f"{symbol}: nothing stored at {asked}; stored sessions {span}"
    return {**dict.fromkeys(SCAN_FIELDS), "symbol": symbol, "alerts": [], "note": note}


def _public(alert: dict[str, Any]) -> dict[str, Any]:
    """Return an alert row as `Lake.alerts` gives it (without the parsed moment)."""
    return {k: v for k, v in alert.items() if k != "moment"}


# --- the app ----------------------------------------------------------------------------------


class Dashboard:
    """The dashboard's data over a Lake (one sibling Lake per method asked for)."""

    def __init__(self, lake: Lake, reports: Path) -> None:
        """Serve `lake`; `reports` is the folder of stored reports (it may not exist yet)."""
        self.lake = lake
        self.reports = reports
        self.history = History(lake.home)
        self._lakes: dict[str, Lake] = {lake.method: lake}
        self._days: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._watch: dict[str, Watchlist] = {}
        self._series: dict[tuple[str, str, str], tuple[Any, float, bytes]] = {}
        self._lock = threading.Lock()

    def lake_for(self, method: str | None) -> Lake:
        """Return the Lake reading `method` (None or empty: the default)."""
        if not method:
            return self.lake
        with self._lock:
            if method not in self._lakes:
                if len(self._lakes) >= LAKES_KEPT:  # many spellings of methods: start again
                    self._lakes = {self.lake.method: self.lake}
                self._lakes[method] = self.lake.using(method)
            return self._lakes[method]

    def methods(self) -> list[str]:
        """Return every method with stored snapshots (the default first when none is stored)."""
        names = self.lake.stored_methods()
        return names if self.lake.method in names else [self.lake.method, *names]

    def meta(self, method: str | None) -> dict[str, Any]:
        """Return what the page's controls offer: symbols, methods, reports."""
        lake = self.lake_for(method)
        symbols = lake.symbols()
        return {
            "method": lake.method,
            "default_method": self.lake.method,
            "methods": self.methods(),
            "symbols": symbols,
            "coverage": {s: self.coverage(lake, s) for s in symbols},
            "home": str(self.lake.home),
            "reports": stored_reports(self.reports),
            "alert_kinds": list(ALERT_KINDS),
        }

    def coverage(self, lake: Lake, symbol: str) -> list[str] | None:
        """Return the first and last stored session of `symbol` (ISO dates), None without any."""
        keys = self.history.keys(symbol, lake.method)
        if keys.height == 0:
            return None
        days = keys.get_column("trade_date")
        return [days.min().isoformat(), days.max().isoformat()]  # type: ignore[union-attr]

    def day(
        self, symbol: str, at: str | None, method: str | None, overlay: str | None = None
    ) -> bytes:
        """Return the JSON of one moment's views (cached by the snapshot it shows).

        `overlay`: a second method, whose flip and walls in the same session come in the
        field `overlay` (`overlay_panel`: one more snapshot lookup, the views stay cached).
        """
        body, levels = self._cached("day", day_panels, symbol, at, method)
        if not overlay:
            return body
        shown = self.lake_for(method).method
        panel = overlay_panel(self.lake_for(overlay), levels, shown, at)
        return with_field(body, "overlay", panel)

    def expiry_gex(
        self, symbol: str, at: str | None, method: str | None, expiration: str | None
    ) -> dict[str, Any]:
        """Return GEX by strike of one expiry of the snapshot shown at `at` (`expiry_panel`)."""
        if not expiration:
            raise ValueError("expiration= is missing: one stored expiry, e.g. 2024-03-15")
        return expiry_panel(self.lake_for(method), symbol, at, expiration)

    def greeks(self, symbol: str, at: str | None, method: str | None) -> bytes:
        """Return the JSON of one moment's DEX, VEX and CHEX by strike (cached likewise)."""
        return self._cached("greeks", greek_panels, symbol, at, method)[0]

    def _cached(
        self,
        kind: str,
        build: Callable[[Lake, History, dict[str, Any]], dict[str, Any]],
        symbol: str,
        at: str | None,
        method: str | None,
    ) -> tuple[bytes, dict[str, Any]]:
        """Return `build`'s JSON for the snapshot shown at `at`, and its levels response.

        The JSON comes from the cache when made before. The key is the snapshot's levels
        response (as_of and levels), so a re-written snapshot is built again.
        """
        lake = self.lake_for(method)
        levels = lake.exposure_levels(symbol, at)
        key = (kind, lake.method, levels["symbol"], json.dumps(levels, sort_keys=True))
        with self._lock:
            if key in self._days:
                self._days.move_to_end(key)
                return self._days[key], levels
        body = dumps({**build(lake, self.history, levels), "method": lake.method})
        with self._lock:
            self._days[key] = body
            while len(self._days) > DAY_CACHE:
                self._days.popitem(last=False)
        return body, levels

    def sessions(self, symbol: str, method: str | None) -> dict[str, Any]:
        """Return `symbol`'s sessions (ISO dates) and the snapshots of those with several.

        What the page's controls need before any figure: cheap (the snapshot keys, cached).
        """
        lake = self.lake_for(method)
        days = [d.isoformat() for d in lake.sessions(symbol)]
        keys = self.history.keys(validate_symbol(symbol), lake.method)
        return {"symbol": symbol, "sessions": days, "moments": session_moments(keys)}

    def series(self, symbol: str, method: str | None, overlay: str | None) -> bytes:
        """Return the JSON of `symbol`'s across-time views (`series_panels`), `overlay` over.

        With `moments`: the snapshots of each session holding more than one. Kept while the
        symbol's stored snapshots are the same and for at most WATCH_TTL s (new bars show).
        """
        lake = self.lake_for(method)
        other = self.lake_for(overlay) if overlay else None
        keys = self.history.keys(validate_symbol(symbol), lake.method)
        stamp = (keys.height, keys.get_column("as_of").max() if keys.height else None)
        name = (lake.method, symbol, other.method if other else "")
        with self._lock:
            kept = self._series.get(name)
        if kept and kept[0] == stamp and time.monotonic() - kept[1] <= WATCH_TTL:
            return kept[2]
        body = dumps({**series_panels(lake, symbol, other), "moments": session_moments(keys)})
        with self._lock:
            if len(self._series) >= DAY_CACHE:
                self._series.clear()
            self._series[name] = (stamp, time.monotonic(), body)
        return body

    def watchlist(self, method: str | None) -> Watchlist:
        """Return the watchlist tables of `method`'s Lake."""
        lake = self.lake_for(method)
        with self._lock:
            if lake.method not in self._watch:
                self._watch[lake.method] = Watchlist(lake, history=self.history)
            return self._watch[lake.method]

    def scanner(self, at: str | None, method: str | None) -> dict[str, Any]:
        """Return the watchlist (every stored symbol) at `at`: regime, flip, walls, alerts."""
        return {"at": at, "rows": self.watchlist(method).scanner(at)}

    def alerts(
        self, at: str | None, method: str | None, kinds: str | None = None
    ) -> dict[str, Any]:
        """Return the alerts known at `at` (None: now) of the last FEED_DAYS days, newest first.

        `kinds`: comma-separated kinds of `warehouse.schema.ALERT_KINDS` to keep (None: all); an
        unknown one is a ValueError naming it and the known ones.
        """
        chosen = alert_kinds([k.strip() for k in kinds.split(",") if k.strip()]) if kinds else None
        return {"kinds": chosen, "rows": self.watchlist(method).feed(at, chosen)}


def _handler(call: Callable[[Request], Any]) -> Callable[[Request], Response]:
    """Return a (threaded) endpoint answering `call(request)` as JSON, errors in the API's shape.

    LookupError (nothing stored there) is 404, ValueError (a bad parameter) 400.
    """

    def handle(request: Request) -> Response:
        try:
            value = call(request)
        except LookupError as exc:
            return _error(404, str(exc.args[0]) if isinstance(exc, KeyError) else str(exc))
        except ValueError as exc:
            return _error(400, str(exc))
        return _json(value if isinstance(value, bytes) else dumps(value))

    handle.__name__ = getattr(call, "__name__", "dashboard")
    return handle


def _report_file(reports: Path) -> Callable[[Request], Response]:
    """Return the endpoint serving one file of the reports folder (no sub-folders).

    A name that is a link leading out of the folder, or to anything but a regular file, is
    404 as if absent: whoever can write into reports/ must not publish /etc/passwd.
    """

    def report(request: Request) -> Response:
        name = request.path_params["name"]
        path = _inside(reports, name) if _REPORT.fullmatch(name) else None
        if path is None:
            return _error(404, f"no report {name!r} in {reports}")
        return FileResponse(path)

    return report


def _inside(folder: Path, name: str) -> Path | None:
    """Return the real path of `folder`/`name` when it is a regular file right in `folder`."""
    try:
        path = (folder / name).resolve(strict=True)
        home = folder.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a link loop
        return None
    return path if path.parent == home and path.is_file() else None


def _not_found(request: Request) -> Response:
    """Answer any other /dashboard or /reports path with the API's 404 shape."""
    return _error(404, f"no report or dashboard view at {request.url.path}")


def _file(path: Path, cache: str = "no-cache") -> Callable[[Request], Response]:
    """Return an endpoint serving one file."""

    def serve(request: Request) -> Response:
        return FileResponse(path, headers={"Cache-Control": cache})

    return serve


def _zoom_script(request: Request) -> Response:
    """Serve `charts.ZOOM_SCRIPT`, the reports' zoom behaviour (candles or line, y refit)."""
    return Response(
        charts.ZOOM_SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


def routes(lake: Lake, reports: Path) -> list[BaseRoute]:
    """Return the dashboard's routes, for `create_app(lake, extra_routes=routes(lake, reports))`.

    `reports`: the folder of stored backtest and study reports (`<home>/reports`).
    """
    from backtest.report import plotly_source

    board = Dashboard(lake, reports)

    def query(request: Request, name: str) -> str | None:
        return request.query_params.get(name) or None

    endpoints = {
        "/dashboard/meta": lambda r: board.meta(query(r, "method")),
        "/dashboard/sessions/{symbol}": lambda r: board.sessions(
            _symbol(r.path_params["symbol"]), query(r, "method")
        ),
        "/dashboard/series/{symbol}": lambda r: board.series(
            _symbol(r.path_params["symbol"]), query(r, "method"), query(r, "overlay")
        ),
        "/dashboard/day/{symbol}": lambda r: board.day(
            _symbol(r.path_params["symbol"]),
            query(r, "at"),
            query(r, "method"),
            query(r, "overlay"),
        ),
        "/dashboard/gex/{symbol}": lambda r: board.expiry_gex(
            _symbol(r.path_params["symbol"]),
            query(r, "at"),
            query(r, "method"),
            query(r, "expiration"),
        ),
        "/dashboard/greeks/{symbol}": lambda r: board.greeks(
            _symbol(r.path_params["symbol"]), query(r, "at"), query(r, "method")
        ),
        "/dashboard/scanner": lambda r: board.scanner(query(r, "at"), query(r, "method")),
        "/dashboard/alerts": lambda r: board.alerts(
            query(r, "at"), query(r, "method"), query(r, "kinds")
        ),
    }
    return [
        Route("/", _file(STATIC / "index.html"), methods=["GET"], name="dashboard"),
        Route("/assets/plotly.min.js", _file(plotly_source(), _ASSET_CACHE), methods=["GET"]),
        Route("/assets/zoom.js", _zoom_script, methods=["GET"]),
        Mount("/assets", StaticFiles(directory=STATIC), name="assets"),
        *(Route(path, _handler(call), methods=["GET"]) for path, call in endpoints.items()),
        Route("/reports/{name}", _report_file(reports), methods=["GET"], name="reports"),
        Route("/reports/{rest:path}", _not_found, methods=["GET"]),
        Route("/dashboard/{rest:path}", _not_found, methods=["GET"]),
    ]
