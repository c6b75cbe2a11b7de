"""How the stored histories of two or more methods disagree, and what each one's levels tell.

Sessions are paired by (symbol, trade_date), each method giving its daily row: the last
snapshot of the session (`warehouse.history.History.daily`). A session stored under one
method only is counted and listed, never silently dropped. For each pair of methods:

- regime agreement: the share of sessions, among those where both methods give a regime,
  where they give the same one. A method's regime is the study's (`study.forward`): spot
  against its gamma flip, or the sign of its net GEX when it stores no flip at all;
- flip distance: median and 90th percentile (linear interpolation) of |flip A - flip B| over
  the sessions where both store a flip, in price points and in % of spot;
- wall equality: the share of sessions where both walls are known and are the same strike;
- the Spearman rank correlation of the two methods' net GEX over the sessions both know.

For each method alone, the study's figures on its point-in-time panel (`panel.load_panels`):
the next-day realised-vol ratio, negative over positive gamma, and the partial rank
correlation of net GEX with the next day's absolute move once ATM IV is controlled for, each
with a 95% percentile-bootstrap CI (2000 resamples, fixed seed: `study.vol_ratio`, and
`partial_ci` on the draws of `study.bootstrap_ci`).
"""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots
from scipy.stats import rankdata

from backtest import charts
from backtest.jsonable import number
from backtest.panel import Panel, load_panels
from backtest.report import Column, Section, cell, write_report
from backtest.session_kinds import by_kind
from backtest.study import DRAWS, forward, gamma_sign, gex_beyond_iv, vol_ratio
from warehouse.errors import WarehouseInputError
from warehouse.history import History

if TYPE_CHECKING:
    from backtest.sweep import Progress

#: The daily columns a comparison reads (`spot` is the snapshot's underlying price).
LEVELS = ("trade_date", "spot", "gamma_flip", "call_wall", "put_wall", "net_gex")
#: Walls count as the same strike within this many price points (float noise, not a strike).
SAME_STRIKE = 1e-6
#: Sessions listed by date (per method and pair) when one method has a session the other lacks.
LISTED = 20


# -- what is stored ----------------------------------------------------------------------------


def check_stored(history: History, symbols: list[str], methods: list[str]) -> None:
    """Raise WarehouseInputError naming the first method with no stored snapshot of a symbol.

    The message lists the methods stored for that symbol, so the user can pick one.
    """
    for symbol in symbols:
        stored = history.methods(symbol)
        if not stored:
            raise WarehouseInputError(f"no snapshots of {symbol} in {history.home}")
        for method in methods:
            if method not in stored:
                raise WarehouseInputError(
                    f"method {method} has no stored snapshot of {symbol} (stored for {symbol}: "
                    f"{', '.join(stored)}); a preset's history is made from raw/ with "
                    "`gammalake rebuild --preset NAME`"
                )


def daily_levels(
    history: History, symbol: str, method: str, start: date, end: date
) -> tuple[pl.DataFrame, str]:
    """Return one method's daily levels of `symbol` and the basis of its regime.

    Columns: LEVELS (prices in the underlying's units, net GEX in $ per 1% move) and `gamma`
    (`positive`, `negative` or null), from spot against the flip, or from the net GEX sign
    when the method stores no flip over these sessions (as the study decides).
    """
    rows = history.daily(symbol, method, start, end).rename({"underlying_price": "spot"})
    frame = rows.select(LEVELS)
    has_flip = bool(frame.get_column("gamma_flip").is_not_null().any())
    level = pl.col("spot") - pl.col("gamma_flip") if has_flip else pl.col("net_gex")
    basis = "spot vs gamma flip" if has_flip else "net GEX sign (no flip stored)"
    return frame.with_columns(gamma_sign(level).alias("gamma")), basis


# -- one pair of methods -----------------------------------------------------------------------


def pair_sessions(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """Return the sessions of two methods side by side, by trade_date (every session of either).

    Columns of `a` end in `_a`, of `b` in `_b`; `in_a`/`in_b` say which method has the session.
    """
    sides = []
    for frame, tag in ((a, "a"), (b, "b")):
        named = {c: f"{c}_{tag}" for c in frame.columns if c != "trade_date"}
        sides.append(frame.rename(named).with_columns(pl.lit(True).alias(f"in_{tag}")))
    joined = sides[0].join(sides[1], on="trade_date", how="full", coalesce=True)
    flags = [pl.col(f"in_{t}").fill_null(False) for t in ("a", "b")]
    return joined.with_columns(flags).sort("trade_date")


def coverage(pairs: pl.DataFrame) -> dict[str, Any]:
    """Return the sessions both methods have, and those one has alone (counts, first dates)."""
    only_a = pairs.filter(pl.col("in_a") & ~pl.col("in_b")).get_column("trade_date")
    only_b = pairs.filter(pl.col("in_b") & ~pl.col("in_a")).get_column("trade_date")
    return {
        "both": pairs.filter(pl.col("in_a") & pl.col("in_b")).height,
        "only_a": only_a.len(),
        "only_b": only_b.len(),
        "only_a_dates": [str(d) for d in only_a.head(LISTED)],
        "only_b_dates": [str(d) for d in only_b.head(LISTED)],
    }


def regime_agreement(pairs: pl.DataFrame) -> dict[str, Any]:
    """Return the sessions where both give a regime, how many agree, and the share (%)."""
    both = pairs.drop_nulls(["gamma_a", "gamma_b"])
    agree = both.filter(pl.col("gamma_a") == pl.col("gamma_b")).height
    return {
        "sessions": both.height,
        "agree": agree,
        "agreement_pct": 100 * agree / both.height if both.height else None,
    }


def flip_distance(pairs: pl.DataFrame) -> dict[str, Any]:
    """Return median and p90 of |flip A - flip B| in points and in % of spot.

    Over sessions where both store a flip; spot is the mean of the two methods' spots (equal
    when both priced the same chain). `one_flip_only`: sessions of both where one has no flip.
    """
    both = pairs.filter(pl.col("in_a") & pl.col("in_b"))
    one = both.filter(pl.col("gamma_flip_a").is_null() != pl.col("gamma_flip_b").is_null())
    flips = both.drop_nulls(["gamma_flip_a", "gamma_flip_b", "spot_a", "spot_b"])
    points = (flips.get_column("gamma_flip_a") - flips.get_column("gamma_flip_b")).abs()
    spot = (flips.get_column("spot_a") + flips.get_column("spot_b")) / 2
    pct = (100 * points / spot).to_numpy()
    return {
        "sessions": flips.height,
        "one_flip_only": one.height,
        "median_points": _percentile(points.to_numpy(), 50),
        "p90_points": _percentile(points.to_numpy(), 90),
        "median_spot_pct": _percentile(pct, 50),
        "p90_spot_pct": _percentile(pct, 90),
    }


def _percentile(values: np.ndarray, q: float) -> float | None:
    """Return the q-th percentile (linear interpolation), None of no values."""
    return float(np.percentile(values, q)) if values.size else None


def wall_equality(pairs: pl.DataFrame) -> dict[str, Any]:
    """Return per wall the sessions where both know it, how many agree, and the share (%)."""
    out: dict[str, Any] = {}
    for wall in ("call_wall", "put_wall"):
        both = pairs.drop_nulls([f"{wall}_a", f"{wall}_b"])
        gap = (both.get_column(f"{wall}_a") - both.get_column(f"{wall}_b")).abs()
        equal = int((gap <= SAME_STRIKE).sum())
        out[wall] = {
            "sessions": both.height,
            "equal": equal,
            "equal_pct": 100 * equal / both.height if both.height else None,
        }
    return out


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Return the Spearman rank correlation (-1..1); None under 3 values or if one is constant."""
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def gex_correlation(pairs: pl.DataFrame) -> dict[str, Any]:
    """Return the Spearman correlation of the two methods' net GEX over sessions both know."""
    both = pairs.drop_nulls(["net_gex_a", "net_gex_b"])
    a, b = (both.get_column(c).to_numpy() for c in ("net_gex_a", "net_gex_b"))
    return {"sessions": both.height, "spearman": rank_correlation(a, b)}


def compare_pair(a: pl.DataFrame, b: pl.DataFrame) -> dict[str, Any]:
    """Return every disagreement figure of two methods' daily levels (see the module)."""
    pairs = pair_sessions(a, b)
    return {
        "coverage": coverage(pairs),
        "regime": regime_agreement(pairs),
        "flip": flip_distance(pairs),
        "walls": wall_equality(pairs),
        "net_gex": gex_correlation(pairs),
        "by_kind": by_kind(pairs),
    }


# -- what each method's levels tell ------------------------------------------------------------


def draw_counts(drawn: np.ndarray, sessions: int) -> np.ndarray:
    """Return how many copies of each session every draw holds: (draws, sessions) integers.

    `drawn`: session numbers, one row per bootstrap draw (a 1-D array is one draw).
    """
    drawn = np.atleast_2d(drawn)
    offsets = np.arange(drawn.shape[0])[:, None] * sessions
    flat = np.bincount((drawn + offsets).ravel(), minlength=drawn.shape[0] * sessions)
    return flat.reshape(drawn.shape[0], sessions)


def draw_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return each session's average rank among the copies each draw holds (draws, sessions).

    Ties (equal values, or copies of one session) share the mean of their ranks, as
    `scipy.stats.rankdata` gives on the drawn sample itself; a session not drawn gets the rank
    it would have had, which its zero weight then ignores.
    """
    order = np.argsort(values, kind="stable")
    _, first, group_of = np.unique(values[order], return_index=True, return_inverse=True)
    copies = np.add.reduceat(counts[:, order], first, axis=1)  # per distinct value
    mean_rank = np.cumsum(copies, axis=1) - (copies - 1) / 2
    ranks = np.empty(counts.shape)
    ranks[:, order] = mean_rank[:, group_of]
    return ranks


def _weighted_corr(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Return the Pearson correlation of x and y per row, each column counted `weight` times."""
    total = weight.sum(axis=1, keepdims=True)
    dx = x - (weight * x).sum(axis=1, keepdims=True) / total
    dy = y - (weight * y).sum(axis=1, keepdims=True) / total
    spread = (weight * dx * dx).sum(axis=1) * (weight * dy * dy).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((weight * dx * dy).sum(axis=1) / np.sqrt(spread))


def partial_rank_draws(table: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """Return the partial Spearman correlation of columns 0 and 1 given column 2, per draw.

    `table`: (sessions, 3); `drawn`: session numbers per draw (see `draw_counts`). The same
    figure as `study.partial_rank_correlation` on each drawn sample, computed from copy
    counts instead of sorting every draw (2000 draws of 500 sessions: 0.1 s, not 1 s). A
    constant control explains nothing (as in the study); a constant x or y gives NaN.
    """
    counts = draw_counts(drawn, table.shape[0])
    x, y, c = (draw_ranks(table[:, i], counts) for i in range(3))
    r_xy = _weighted_corr(x, y, counts)
    r_xc, r_yc = (np.nan_to_num(_weighted_corr(v, c, counts)) for v in (x, y))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((r_xy - r_xc * r_yc) / np.sqrt((1 - r_xc**2) * (1 - r_yc**2)))


def beyond_iv(frame: pl.DataFrame) -> dict[str, Any]:
    """Return `study.gex_beyond_iv` with a bootstrap 95% CI of the partial correlation.

    `boot_ci_low`/`boot_ci_high` resample sessions (see `partial_ci`; `boot_undefined` draws
    left out); `ci_low`/`ci_high` stay the study's Fisher-z interval.
    """
    found = gex_beyond_iv(frame)
    if not found["available"]:
        return found
    data = frame.drop_nulls(["net_gex", "r1", "atm_iv"])
    gex, iv = data.get_column("net_gex").to_numpy(), data.get_column("atm_iv").to_numpy()
    table = np.column_stack([gex, np.abs(data.get_column("r1").to_numpy()), iv])
    low, high, undefined = partial_ci(table)
    return {**found, "boot_ci_low": low, "boot_ci_high": high, "boot_undefined": undefined}


def partial_ci(table: np.ndarray, seed: int = 0) -> tuple[float | None, float | None, int]:
    """Return the 95% percentile-bootstrap CI of the partial correlation, and the draws left out.

    The draws of `study.bootstrap_ci` (DRAWS resamples of the sessions, the same seed), but a
    draw where net GEX or the move ranks exactly as IV does leaves the partial correlation
    undefined (0/0): it is left out and counted, where `bootstrap_ci`'s percentile would turn
    the whole interval into NaN. None when nothing is left (or under 5 sessions).
    """
    sessions = table.shape[0]
    if sessions < 5:
        return None, None, 0
    drawn = np.random.default_rng(seed).integers(0, sessions, (DRAWS, sessions))
    values = partial_rank_draws(table, drawn)
    kept = values[np.isfinite(values)]
    if kept.size == 0:
        return None, None, int(values.size)
    low, high = np.percentile(kept, [2.5, 97.5])
    return float(low), float(high), int(values.size - kept.size)


def information(
    home: Path, symbols: list[str], method: str, start: date, end: date
) -> dict[str, dict[str, Any]]:
    """Return per symbol one method's vol ratio by regime and GEX-beyond-IV figures.

    One panel load serves every symbol (the ATM IV scan of chains is most of the time). A
    symbol whose panel cannot be made (no price bars, say) gets `available` False and `why`:
    the disagreement figures need no bars, so that is reported, not fatal.
    """
    try:
        panels = load_panels(home, symbols, start, end, method=method, implied_vol=True)
    except WarehouseInputError as exc:
        if len(symbols) == 1:
            return {symbols[0]: {"available": False, "why": str(exc)}}
        return {s: information(home, [s], method, start, end)[s] for s in symbols}
    return {symbol: _told(panel) for symbol, panel in panels.items()}


def _told(panel: Panel) -> dict[str, Any]:
    """Return the study's vol ratio and GEX-beyond-IV figures of one panel."""
    frame = forward(panel)
    return {
        "available": True,
        "sessions": frame.height,
        "regime_basis": frame.get_column("regime_basis")[0],
        "vol_ratio": vol_ratio(frame),
        "gex_beyond_iv": beyond_iv(frame),
    }


# -- the whole comparison ----------------------------------------------------------------------


def symbol_levels(
    history: History, symbol: str, methods: list[str], start: date, end: date
) -> dict[str, tuple[pl.DataFrame, str]]:
    """Return each method's daily levels of `symbol` and regime basis (see `daily_levels`).

    Raises WarehouseInputError when a method has no session of `symbol` in [start, end].
    """
    levels = {m: daily_levels(history, symbol, m, start, end) for m in methods}
    for method, (frame, _) in levels.items():
        if frame.is_empty():
            raise WarehouseInputError(_nothing_between(history, symbol, method, start, end))
    return levels


def compare_symbol(
    levels: dict[str, tuple[pl.DataFrame, str]], told: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Return one symbol's comparison: per-method sessions, every pair, each method's study.

    `levels` and `told`: per method, from `symbol_levels` and `information`. `series` holds
    the daily levels drawn in the report (ISO dates, None where missing).
    """
    pairs = [
        {"a": a, "b": b, **compare_pair(levels[a][0], levels[b][0])}
        for a, b in itertools.combinations(levels, 2)
    ]
    return {
        "sessions": {m: frame.height for m, (frame, _) in levels.items()},
        "regime_basis": {m: basis for m, (_, basis) in levels.items()},
        "pairs": pairs,
        "information": told,
        "series": series({m: frame for m, (frame, _) in levels.items()}),
    }


def _nothing_between(history: History, symbol: str, method: str, start: date, end: date) -> str:
    """Return the message of a method with no session of `symbol` in [start, end]."""
    stored = history.sessions(symbol, method)
    held = f"{stored[0]} .. {stored[-1]}" if stored else "none"
    return (
        f"method {method} has no snapshot of {symbol} from {start} to {end} "
        f"(its stored sessions: {held})"
    )


def series(levels: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """Return the methods' spot, gamma flip and net GEX on one date axis (every session of any).

    Spot is the first method's where it has the session, else the next method's.
    """
    dates = pl.concat([f.select("trade_date") for f in levels.values()]).unique().sort("trade_date")
    out: dict[str, Any] = {"dates": [str(d) for d in dates.get_column("trade_date")], "spot": None}
    spot = pl.Series("spot", [None] * dates.height, pl.Float64)
    for method, frame in levels.items():
        aligned = dates.join(frame, on="trade_date", how="left")
        spot = spot.fill_null(aligned.get_column("spot"))
        out[method] = {c: aligned.get_column(c).to_list() for c in ("gamma_flip", "net_gex")}
    out["spot"] = spot.to_list()
    return out


def compare_methods(
    home: Path,
    symbols: list[str],
    methods: list[str],
    start: date,
    end: date,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Return the comparison of `methods` over `symbols` as JSON-ready figures.

    Raises WarehouseInputError (before any figure is computed) when fewer than two distinct
    methods are given or a method has no stored snapshot of a symbol. Percentages are in %,
    distances in price points, correlations in -1..1. `progress` hears of each method whose
    study figures are done (the overall `symbols` task of `backtest.sweep.Progress`).
    """
    if len(set(methods)) != len(methods) or len(methods) < 2:
        raise WarehouseInputError(f"compare needs two or more different methods, got {methods}")
    history = History(home)
    try:
        check_stored(history, symbols, methods)
        levels = {s: symbol_levels(history, s, methods, start, end) for s in symbols}
    finally:
        history.close()
    told: dict[str, dict[str, Any]] = {}
    for done, method in enumerate(methods, start=1):
        told[method] = information(home, symbols, method, start, end)
        if progress is not None:
            progress("symbols", done, len(methods))
    compared = {s: compare_symbol(levels[s], {m: told[m][s] for m in methods}) for s in symbols}
    return plain(
        {
            "kind": "compare",
            "methods": methods,
            "request": {"symbols": symbols, "start": str(start), "end": str(end)},
            "covered": _covered(compared),
            "symbols": compared,
        }
    )


def plain(value: Any) -> Any:
    """Return `value` with every float a plain finite float or None (NaN, inf), recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float | np.floating):
        return number(float(value))
    return value


def _covered(compared: dict[str, Any]) -> list[str | None]:
    """Return the first and last session any method has of any symbol (ISO dates)."""
    dates = [d for figures in compared.values() for d in figures["series"]["dates"]]
    return [min(dates), max(dates)] if dates else [None, None]


# -- rows of the tables (terminal and report) --------------------------------------------------


def pair_row(pair: dict[str, Any]) -> dict[str, Any]:
    """Return one pair's figures as a flat row: counts, % shares, points, correlation."""
    cover, flip, walls = pair["coverage"], pair["flip"], pair["walls"]
    return {
        "pair": f"{pair['a']} vs {pair['b']}",
        "both": cover["both"],
        "only_a": cover["only_a"],
        "only_b": cover["only_b"],
        "regime_sessions": pair["regime"]["sessions"],
        "regime_agreement_pct": pair["regime"]["agreement_pct"],
        "flip_sessions": flip["sessions"],
        "one_flip_only": flip["one_flip_only"],
        "flip_median_points": flip["median_points"],
        "flip_p90_points": flip["p90_points"],
        "flip_median_spot_pct": flip["median_spot_pct"],
        "flip_p90_spot_pct": flip["p90_spot_pct"],
        "call_wall_equal_pct": walls["call_wall"]["equal_pct"],
        "put_wall_equal_pct": walls["put_wall"]["equal_pct"],
        "net_gex_sessions": pair["net_gex"]["sessions"],
        "net_gex_spearman": pair["net_gex"]["spearman"],
    }


def information_row(method: str, info: dict[str, Any]) -> dict[str, Any]:
    """Return one method's study figures as a flat row (ratio and correlations, CIs, counts)."""
    if not info["available"]:
        return {"method": method, "note": info["why"]}
    ratio, iv = info["vol_ratio"], info["gex_beyond_iv"]
    return {
        "method": method,
        "regime_basis": info["regime_basis"],
        "negative": ratio["negative"],
        "positive": ratio["positive"],
        "vol_ratio": ratio["ratio"],
        "vol_ratio_ci_low": ratio["ci_low"],
        "vol_ratio_ci_high": ratio["ci_high"],
        "iv_sessions": iv.get("sessions"),
        "partial_gex_move_given_iv": iv.get("partial_gex_move_given_iv"),
        "partial_ci_low": iv.get("boot_ci_low"),
        "partial_ci_high": iv.get("boot_ci_high"),
        "note": "; ".join(_caveats(ratio, iv)) or None,
    }


def _caveats(ratio: dict[str, Any], iv: dict[str, Any]) -> list[str]:
    """Return why a method's vol ratio or partial correlation is missing (nothing if neither)."""
    out = []
    if ratio["ratio"] is None:
        out.append(
            f"no vol ratio: it needs 5 sessions in each regime ({ratio['negative']} negative, "
            f"{ratio['positive']} positive)"
        )
    if not iv["available"]:
        out.append(f"no partial correlation: {iv['why']}")
    elif iv["boot_undefined"]:
        out.append(
            f"{iv['boot_undefined']} of {DRAWS} bootstrap draws left out of the partial "
            "correlation's CI: in them net GEX or the move ranked exactly as IV"
        )
    return out


# -- the report --------------------------------------------------------------------------------

#: A colour per method, in the order given on the command line.
METHOD_COLOURS = ("#2f6fde", "#e3a008", "#6e40c9", "#1a7f37", "#cf222e")
#: The pairwise figures, one line each in the terminal and the report: key, label, format.
#: (The sessions where both know a regime or a net GEX are in the JSON, not on a line: 13 lines
#: keep the report's table within its scroll box.)
PAIR_FIGURES = [
    Column("both", "Sessions in both", "int"),
    Column("only_a", "Sessions only in the first", "int"),
    Column("only_b", "Sessions only in the second", "int"),
    Column("regime_agreement_pct", "Regime agreement", "pp"),
    Column("flip_sessions", "Sessions with both flips", "int"),
    Column("one_flip_only", "Sessions with one flip only", "int"),
    Column("flip_median_points", "Flip distance, median (points)", "num"),
    Column("flip_p90_points", "Flip distance, p90 (points)", "num"),
    Column("flip_median_spot_pct", "Flip distance, median (% of spot)", "pp"),
    Column("flip_p90_spot_pct", "Flip distance, p90 (% of spot)", "pp"),
    Column("call_wall_equal_pct", "Call wall equal", "pp"),
    Column("put_wall_equal_pct", "Put wall equal", "pp"),
    Column("net_gex_spearman", "Net GEX rank correlation", "num3"),
]
INFORMATION_COLUMNS = [
    Column("method", "Method"),
    Column("regime_basis", "Regime by"),
    Column("negative", "Negative-gamma sessions", "int"),
    Column("positive", "Positive-gamma sessions", "int"),
    Column("vol_ratio", "Vol ratio, negative / positive gamma", "num"),
    Column("vol_ratio_ci_low", "95% CI low", "num"),
    Column("vol_ratio_ci_high", "95% CI high", "num"),
    Column("iv_sessions", "Sessions with GEX, IV and return", "int"),
    Column("partial_gex_move_given_iv", "Partial rank corr., net GEX vs |move| given IV", "num3"),
    Column("partial_ci_low", "95% CI low", "num3"),
    Column("partial_ci_high", "95% CI high", "num3"),
    Column("note", "Note"),
]


def pair_lines(pairs: list[dict[str, Any]]) -> tuple[list[dict[str, str]], list[Column]]:
    """Return the pairwise figures as text lines: a line per figure, a column per pair.

    Shares read as % (2 decimals), distances in points or % of spot, a dash where unknown.
    """
    rows = {f"{p['a']} vs {p['b']}": pair_row(p) for p in pairs}
    lines = [
        {
            "figure": figure.header,
            **{name: cell(row[figure.key], figure.kind) for name, row in rows.items()},
        }
        for figure in PAIR_FIGURES
    ]
    return lines, [Column("figure", "Figure"), *(Column(name, name) for name in rows)]


def _colour(index: int) -> str:
    """Return the colour of the method at `index` (the palette repeats past its end)."""
    return METHOD_COLOURS[index % len(METHOD_COLOURS)]


def _lines(dates: list[str], link: str, zero: bool) -> go.Figure:
    """Return an empty time-series figure zooming with the other charts of `link`."""
    fig = go.Figure()
    fig.update_xaxes(type="date", rangeslider={"visible": True, "thickness": 0.07})
    meta = {"gammalake": {"candle_days": 0, "zero": zero, "link": link}}
    fig.update_layout(template=charts.TEMPLATE, height=380, meta=meta)
    return fig


def flip_chart(series: dict[str, Any], methods: list[str], link: str) -> go.Figure:
    """Return spot and each method's gamma flip per session (price units; gaps: no flip)."""
    dates = series["dates"]
    fig = _lines(dates, link, zero=False)
    spot_line = {"color": charts.COLOURS["close"], "width": 1.2}
    fig.add_trace(go.Scatter(x=dates, y=series["spot"], name="spot", line=spot_line))
    for index, method in enumerate(methods):
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=series[method]["gamma_flip"],
                name=f"flip {method}",
                mode="lines+markers",
                marker={"size": 3},
                line={"color": _colour(index), "width": 1.6},
            )
        )
    fig.update_yaxes(title="price")
    return fig


def net_gex_chart(series: dict[str, Any], methods: list[str], link: str) -> go.Figure:
    """Return each method's net GEX per session ($ per 1% move, drawn in $ bn)."""
    dates = series["dates"]
    fig = _lines(dates, link, zero=True)
    for index, method in enumerate(methods):
        values = [None if v is None else v / 1e9 for v in series[method]["net_gex"]]
        line = {"color": _colour(index), "width": 1.6}
        fig.add_trace(go.Scatter(x=dates, y=values, name=f"net GEX {method}", line=line))
    fig.add_hline(y=0, line={"color": "#afb8c1", "width": 1})
    fig.update_yaxes(title="net GEX, $ bn per 1% move")
    return fig


def information_chart(rows: list[dict[str, Any]]) -> go.Figure:
    """Return each method's vol ratio and partial rank correlation with their 95% CIs."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("vol ratio, negative / positive gamma", "partial rank corr. given IV"),
    )
    for col, (key, low, high) in enumerate(
        (
            ("vol_ratio", "vol_ratio_ci_low", "vol_ratio_ci_high"),
            ("partial_gex_move_given_iv", "partial_ci_low", "partial_ci_high"),
        ),
        start=1,
    ):
        shown = [r for r in rows if None not in (r.get(key), r.get(low), r.get(high))]
        values = [r[key] for r in shown]
        error = {
            "type": "data",
            "symmetric": False,
            "array": [r[high] - r[key] for r in shown],
            "arrayminus": [r[key] - r[low] for r in shown],
        }
        colours = [_colour(i) for i, r in enumerate(rows) if r in shown]
        bars = go.Bar(x=[r["method"] for r in shown], y=values, error_y=error, marker_color=colours)
        fig.add_trace(bars, row=1, col=col)
    fig.add_hline(y=1, line={"color": "#afb8c1", "width": 1}, row=1, col=1)
    fig.update_layout(template=charts.TEMPLATE, height=360, showlegend=False, hovermode="closest")
    return fig


def _notes(symbol: str, figures: dict[str, Any]) -> list[str]:
    """Return a symbol section's notes: sessions per method, regime basis, one-sided sessions."""
    stored = ", ".join(f"{m} {n}" for m, n in figures["sessions"].items())
    basis = "; ".join(f"{m} by {b}" for m, b in figures["regime_basis"].items())
    notes = [f"Sessions stored: {stored}.", f"Regime: {basis}."]
    for pair in figures["pairs"]:
        cover = pair["coverage"]
        for side, other, tag in ((pair["a"], pair["b"], "a"), (pair["b"], pair["a"], "b")):
            count = cover[f"only_{tag}"]
            if count:
                listed = ", ".join(cover[f"only_{tag}_dates"])
                more = " ..." if count > len(cover[f"only_{tag}_dates"]) else ""
                notes.append(
                    f"{count} session(s) of {symbol} under {side} have no {other} row, so they "
                    f"are left out of this pair's figures: {listed}{more}."
                )
    return notes


def compare_sections(result: dict[str, Any]) -> list[Section]:
    """Return the sections of a compare report: per symbol, tables and charts."""
    methods, sections = result["methods"], []
    for symbol, figures in result["symbols"].items():
        section = Section(f"{symbol} - compare", _notes(symbol, figures))
        section.table(
            "How the methods disagree",
            *pair_lines(figures["pairs"]),
            note="Sessions paired by trade date, each method's last snapshot of the session. "
            "Shares in % of the sessions where both methods know the figure.",
        )
        link = section.anchor
        section.chart(
            "Gamma flip of each method, with spot", flip_chart(figures["series"], methods, link)
        )
        section.chart("Net GEX of each method", net_gex_chart(figures["series"], methods, link))
        rows = [information_row(m, i) for m, i in figures["information"].items()]
        section.table(
            "What each method's levels tell about the next session",
            rows,
            INFORMATION_COLUMNS,
            note="Next-day close-to-close returns on each method's point-in-time panel. A vol "
            "ratio above 1: negative-gamma sessions moved more. A partial correlation below 0: "
            "higher net GEX came before smaller moves, beyond what ATM IV foretold. 95% CIs "
            "are percentile bootstraps of the sessions (2000 draws, fixed seed).",
        )
        if any(r.get("vol_ratio") is not None for r in rows):
            section.chart(
                "Vol ratio and partial correlation by method (95% CI)", information_chart(rows)
            )
        sections.append(section)
    return sections


def compare_subtitle(result: dict[str, Any]) -> str:
    """Return a compare report's subtitle: the methods and the sessions covered."""
    first, last = result["covered"]
    return (
        f"Methods {', '.join(result['methods'])}; sessions {first} .. {last}; each method's "
        "last snapshot of a session, paired by trade date."
    )


def write_compare_report(
    path: Path, result: dict[str, Any], *, self_contained: bool = False
) -> tuple[Path, Path]:
    """Write `path`.html and `path`.json of a comparison (see `report.write_report`)."""
    title = f"gammalake compare: {' vs '.join(result['methods'])} on {', '.join(result['symbols'])}"
    sections = compare_sections(result)
    return write_report(
        path, title, compare_subtitle(result), sections, result, self_contained=self_contained
    )
