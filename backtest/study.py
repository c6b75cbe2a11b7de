"""Facts of the stored history, no trading: how returns behave by net GEX, by regime, at walls.

Every row is a session d with the levels known at its decision time (the panel); forward
returns run from d's close to the close 1 and 5 sessions later. Confidence intervals are
95% percentile bootstraps (fixed seed) or Wilson intervals for rates. Net-GEX quantile edges
come from the whole sample: a description of the history, not a tradable rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from scipy.stats import rankdata

from backtest.jsonable import records
from backtest.panel import Panel, covered, load_panels
from backtest.stats import YEAR
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.schema import ALERT_KINDS

if TYPE_CHECKING:
    from backtest.sweep import Progress

DRAWS = 2000
Z95 = 1.959963984540054


def forward(panel: Panel) -> pl.DataFrame:
    """Return the panel with next-day and next-5-day close-to-close returns (fractions).

    Adds `gamma` (`positive`, `negative`, or null) and `regime_basis`: spot against the flip,
    else the net GEX sign when no flip is stored (see `gamma_sign`).
    """
    frame = panel.frame
    has_flip = frame.get_column("gamma_flip").is_not_null().any()
    level = pl.col("spot") - pl.col("gamma_flip") if has_flip else pl.col("net_gex")
    return frame.with_columns(
        (pl.col("close").shift(-1) / pl.col("close") - 1).alias("r1"),
        (pl.col("close").shift(-5) / pl.col("close") - 1).alias("r5"),
        gamma_sign(level).alias("gamma"),
        pl.lit("spot vs gamma flip" if has_flip else "net GEX sign (no flip stored)").alias(
            "regime_basis"
        ),
    )


def gamma_sign(level: pl.Expr) -> pl.Expr:
    """Return `positive` where `level` > 0, `negative` where < 0, null at exactly 0 or unknown.

    `level`: net GEX ($) or spot minus the flip (price units). Exactly zero is neither regime:
    counting it as negative would put flat days in the volatile group.
    """
    return (
        pl.when(level > 0)
        .then(pl.lit("positive"))
        .when(level < 0)
        .then(pl.lit("negative"))
        .otherwise(pl.lit(None, pl.String))
    )


def bootstrap_ci(
    values: np.ndarray, stat: Callable[[np.ndarray], np.ndarray], seed: int = 0
) -> tuple[float, float]:
    """Return the 95% percentile-bootstrap interval of `stat` (vectorised over rows)."""
    if values.size < 5:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, values.size, (DRAWS, values.size))]
    low, high = np.percentile(stat(draws), [2.5, 97.5])
    return float(low), float(high)


def _sd(draws: np.ndarray) -> np.ndarray:
    """Return the sample SD of each row."""
    return np.atleast_2d(draws).std(axis=-1, ddof=1)


def bucket_table(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """Return per group of `by`: sessions, mean and SD of next-day and 5-day returns (%).

    Also annualised realised vol (%) with its bootstrap CI.
    """
    rows = []
    for (key,), group in frame.drop_nulls([by, "r1"]).group_by(by, maintain_order=True):
        r1 = group.get_column("r1").to_numpy()
        r5 = group.get_column("r5").drop_nulls().to_numpy()
        low, high = bootstrap_ci(r1, _sd)
        scale = 100 * math.sqrt(YEAR)
        rows.append(
            {
                by: key,
                "sessions": r1.size,
                "mean_1d_pct": 100 * r1.mean(),
                "sd_1d_pct": _scaled_sd(r1, 100),
                "sd_5d_pct": _scaled_sd(r5, 100),
                "realised_vol_pct": _scaled_sd(r1, scale),
                "vol_ci_low": scale * low,
                "vol_ci_high": scale * high,
            }
        )
    return pl.DataFrame(rows).sort(by) if rows else pl.DataFrame()


def _scaled_sd(values: np.ndarray, scale: float) -> float | None:
    """Return the sample SD times `scale`, None with fewer than two values."""
    return scale * float(values.std(ddof=1)) if values.size > 1 else None


def with_quantiles(frame: pl.DataFrame, buckets: int = 5) -> pl.DataFrame:
    """Return `frame` with `gex_bucket` Q1 (lowest net GEX) .. Qn over non-null rows."""
    gex = frame.get_column("net_gex")
    if gex.drop_nulls().n_unique() < buckets:
        return frame.with_columns(pl.lit(None, pl.String).alias("gex_bucket"))
    ranks = gex.rank("ordinal") - 1
    count = gex.drop_nulls().len()
    label = (ranks * buckets // count + 1).cast(pl.Int64)
    return frame.with_columns(
        pl.when(gex.is_null()).then(None).otherwise(pl.format("Q{}", label)).alias("gex_bucket")
    )


def vol_ratio(frame: pl.DataFrame) -> dict[str, Any]:
    """Return next-day return SD in negative gamma over SD in positive gamma, with its CI.

    The CI bootstraps both groups independently (fixed seed).
    """
    data = frame.drop_nulls(["gamma", "r1"])
    neg = data.filter(pl.col("gamma") == "negative").get_column("r1").to_numpy()
    pos = data.filter(pl.col("gamma") == "positive").get_column("r1").to_numpy()
    if neg.size < 5 or pos.size < 5:
        return {
            "ratio": None,
            "ci_low": None,
            "ci_high": None,
            "negative": neg.size,
            "positive": pos.size,
        }
    rng = np.random.default_rng(1)
    neg_sd = _sd(neg[rng.integers(0, neg.size, (DRAWS, neg.size))])
    pos_sd = _sd(pos[rng.integers(0, pos.size, (DRAWS, pos.size))])
    low, high = np.percentile(neg_sd / pos_sd, [2.5, 97.5])
    return {
        "ratio": float(neg.std(ddof=1) / pos.std(ddof=1)),
        "ci_low": float(low),
        "ci_high": float(high),
        "negative": int(neg.size),
        "positive": int(pos.size),
    }


def wilson(hits: int, total: int) -> tuple[float | None, float | None]:
    """Return the 95% Wilson interval of a rate (fractions), None when nothing was counted."""
    if total == 0:
        return (None, None)
    z, p = Z95, hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (centre - half, centre + half)


def wall_holds(frame: pl.DataFrame) -> pl.DataFrame:
    """Return how often the walls known after session d held through session d+1.

    Call wall (above spot): held intraday if d+1's high stayed below it, at the close if the
    close did. Put wall mirrored with the low. Rates are fractions with Wilson CIs.
    """
    nxt = frame.with_columns(
        pl.col("high").shift(-1).alias("next_high"),
        pl.col("low").shift(-1).alias("next_low"),
        pl.col("close").shift(-1).alias("next_close"),
    )
    tests = {
        "call_wall": (pl.col("call_wall") > pl.col("spot"), "next_high", "next_close", "<"),
        "put_wall": (pl.col("put_wall") < pl.col("spot"), "next_low", "next_close", ">"),
    }
    rows = []
    for wall, (valid, extreme, close, side) in tests.items():
        data = nxt.filter(valid).drop_nulls([wall, extreme, close])
        for when, column in (("intraday", extreme), ("close", close)):
            held = data.get_column(column) < data.get_column(wall)
            if side == ">":
                held = data.get_column(column) > data.get_column(wall)
            hits, total = int(held.sum()), data.height
            low, high = wilson(hits, total)
            rows.append(
                {
                    "wall": wall,
                    "held": when,
                    "sessions": total,
                    "rate": hits / total if total else None,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pl.DataFrame(rows)


def after_breach(frame: pl.DataFrame) -> pl.DataFrame:
    """Return forward returns (%) after a close through a known wall, beside all sessions.

    A breach on d: d's spot closed above the call wall (or below the put wall) known one
    decision earlier; the returns run from d's close 1 and 5 sessions on.
    """
    data = frame.with_columns(
        (pl.col("spot") > pl.col("call_wall").shift(1)).alias("call_wall"),
        (pl.col("spot") < pl.col("put_wall").shift(1)).alias("put_wall"),
        pl.lit(True).alias("all_sessions"),
    )
    rows = []
    for event in ("call_wall", "put_wall", "all_sessions"):
        picked = data.filter(pl.col(event).fill_null(False)).drop_nulls("r1")
        r1, r5 = picked.get_column("r1").to_numpy(), picked.get_column("r5").drop_nulls()
        low, high = bootstrap_ci(r1, lambda d: np.atleast_2d(d).mean(axis=-1))
        rows.append(
            {
                "event": event.replace("_", " ") + (" breach" if event != "all_sessions" else ""),
                "sessions": r1.size,
                "mean_1d_pct": 100 * r1.mean() if r1.size else None,
                "ci_low_pct": 100 * low if r1.size >= 5 else None,
                "ci_high_pct": 100 * high if r1.size >= 5 else None,
                "mean_5d_pct": 100 * _mean(r5) if r5.len() else None,
                "up_1d_rate": float((r1 > 0).mean()) if r1.size else None,
            }
        )
    return pl.DataFrame(rows)


_ALERTS_SQL = """
SELECT DISTINCT trade_date, as_of, kind FROM alerts
WHERE symbol = $symbol AND source = $source AND method = $method
"""


def stored_alerts(home: Path, panel: Panel) -> pl.DataFrame:
    """Return the alerts stored with the panel's snapshots: trade_date, as_of (UTC), kind."""
    empty = pl.DataFrame(
        schema={"trade_date": pl.Date, "as_of": pl.Datetime("us", "UTC"), "kind": pl.String}
    )
    if "alerts" not in Lake(home).datasets():
        return empty
    params = {"symbol": panel.symbol, "source": panel.source, "method": panel.method}
    with catalog.reader(home) as con:
        found = con.sql(_ALERTS_SQL, params=params).pl()
    return found.cast(dict(empty.schema)) if found.height else empty


def alert_sessions(frame: pl.DataFrame, alerts: pl.DataFrame) -> pl.DataFrame:
    """Return (trade_date, kind) of each session with an alert known at its decision time.

    An alert counts for session d when it is of d and stamped at or before d's decision time
    (`decided_at`), so its forward returns start after it was known.
    """
    known = alerts.join(frame.select("trade_date", "decided_at"), on="trade_date")
    utc = [pl.col(c).dt.convert_time_zone("UTC") for c in ("as_of", "decided_at")]
    return known.filter(utc[0] <= utc[1]).select("trade_date", "kind").unique()


def by_alert_kind(frame: pl.DataFrame, alerts: pl.DataFrame) -> pl.DataFrame:
    """Return per alert kind, and for all sessions: how often it fired and what followed.

    `sessions`: sessions with at least one alert of the kind; `rate` that over the panel's
    sessions (a fraction, 95% Wilson CI); then over those sessions' next-day returns: mean
    (%), mean absolute (%), realised vol (annualised SD, %, with its 95% bootstrap CI from
    5 returns on) and its ratio to all sessions' vol, and the mean 5-day return (%). Every
    kind is listed, with 0 sessions when it never fired. Returns run from the alert
    session's close (see `forward`).
    """
    hits = alert_sessions(frame, alerts)
    rows = [_after(frame, "all sessions", frame.height, None)]
    for kind in ALERT_KINDS:
        days = hits.filter(pl.col("kind") == kind).get_column("trade_date")
        picked = frame.filter(pl.col("trade_date").is_in(days.implode()))
        rows.append(_after(picked, kind, frame.height, rows[0]["realised_vol_pct"]))
    return pl.DataFrame(rows)


def _after(picked: pl.DataFrame, kind: str, total: int, base_vol: float | None) -> dict[str, Any]:
    """Return one row of `by_alert_kind`: the sessions `picked` and their forward returns."""
    r1 = picked.get_column("r1").drop_nulls().to_numpy()
    r5 = picked.get_column("r5").drop_nulls().to_numpy()
    low, high = wilson(picked.height, total)
    scale = 100 * math.sqrt(YEAR)
    vol = _scaled_sd(r1, scale)
    vol_low, vol_high = (None if math.isnan(v) else scale * v for v in bootstrap_ci(r1, _sd))
    return {
        "kind": kind,
        "sessions": picked.height,
        "rate": picked.height / total if total else None,
        "rate_ci_low": low,
        "rate_ci_high": high,
        "with_return": int(r1.size),
        "mean_1d_pct": 100 * float(r1.mean()) if r1.size else None,
        "mean_abs_1d_pct": 100 * float(np.abs(r1).mean()) if r1.size else None,
        "realised_vol_pct": vol,
        "vol_ci_low": vol_low,
        "vol_ci_high": vol_high,
        "vol_vs_all": vol / base_vol if vol is not None and base_vol else None,
        "mean_5d_pct": 100 * float(r5.mean()) if r5.size else None,
    }


def partial_rank_correlation(x: np.ndarray, y: np.ndarray, control: np.ndarray) -> float:
    """Return the Spearman correlation of x and y with `control` partialled out (-1..1)."""
    if np.ptp(control) == 0:  # a constant control explains nothing
        return _spearman(x, y)
    rx, ry, rc = (rankdata(v) for v in (x, y, control))
    r_xy, r_xc, r_yc = (np.corrcoef(a, b)[0, 1] for a, b in ((rx, ry), (rx, rc), (ry, rc)))
    denominator = math.sqrt(max((1 - r_xc**2) * (1 - r_yc**2), 0.0))
    return (r_xy - r_xc * r_yc) / denominator if denominator > 0 else math.nan


def gex_beyond_iv(frame: pl.DataFrame) -> dict[str, Any]:
    """Return rank correlations of net GEX with the next day's |return|, raw and IV-controlled.

    With a Fisher-z 95% CI for the partial one; `None` figures when no ATM IV is stored.
    """
    if "atm_iv" not in frame.columns:
        return {"available": False, "why": "no implied volatility stored (chains dataset)"}
    data = frame.drop_nulls(["net_gex", "r1", "atm_iv"])
    if data.height < 20:
        return {"available": False, "why": f"only {data.height} sessions with GEX, IV and return"}
    gex, iv = data.get_column("net_gex").to_numpy(), data.get_column("atm_iv").to_numpy()
    move = np.abs(data.get_column("r1").to_numpy())
    partial = partial_rank_correlation(gex, move, iv)
    half = Z95 / math.sqrt(max(data.height - 4, 1))
    z = math.atanh(max(min(partial, 0.999999), -0.999999)) if math.isfinite(partial) else math.nan
    return {
        "available": True,
        "sessions": data.height,
        "spearman_gex_move": float(_spearman(gex, move)),
        "spearman_iv_move": float(_spearman(iv, move)),
        "partial_gex_move_given_iv": partial,
        "ci_low": math.tanh(z - half),
        "ci_high": math.tanh(z + half),
    }


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Return the Spearman rank correlation of two arrays."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def run_study(
    home: Path,
    symbols: list[str],
    start: date,
    end: date,
    *,
    method: str,
    source: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Return every study table of every symbol as JSON-ready figures.

    `method` names the snapshots studied (see `backtest.panel.load_panels`). Returns are in %
    or fractions as each table says, counts in sessions; `covered` is the first and last
    session any symbol's panel holds. `progress` hears of each symbol studied ("symbols").
    """
    panels = load_panels(home, symbols, start, end, method=method, source=source, implied_vol=True)
    request = {"symbols": symbols, "start": str(start), "end": str(end), "source": source}
    studied = {}
    for done, (symbol, panel) in enumerate(panels.items(), start=1):
        studied[symbol] = _symbol_study(panel, stored_alerts(home, panel))
        if progress is not None:
            progress("symbols", done, len(panels))
    return {
        "kind": "study",
        "method": method,
        "covered": covered(panels),
        "request": {**request, "method": method},
        "symbols": studied,
    }


def _symbol_study(panel: Panel, alerts: pl.DataFrame) -> dict[str, Any]:
    """Return every study table of one symbol's panel (`alerts`: see `stored_alerts`)."""
    frame = with_quantiles(forward(panel))
    first, last = panel.span
    return {
        "source": panel.source,
        "method": panel.method,
        "sessions": frame.height,
        "span": [str(first), str(last)],
        "regime_basis": frame.get_column("regime_basis")[0],
        "neither_regime": _neither(frame),
        "by_regime": records(bucket_table(frame, "gamma")),
        "by_gex_quantile": records(bucket_table(frame, "gex_bucket")),
        "vol_ratio": vol_ratio(frame),
        "wall_holds": records(wall_holds(frame)),
        "after_breach": records(after_breach(frame)),
        "gex_beyond_iv": gex_beyond_iv(frame),
        "by_alert_kind": records(by_alert_kind(frame, alerts)),
    }


def _neither(frame: pl.DataFrame) -> int:
    """Return the sessions whose level was known but exactly 0 (in neither regime)."""
    has_flip = frame.get_column("gamma_flip").is_not_null().any()
    known = ["spot", "gamma_flip"] if has_flip else ["net_gex"]
    return frame.drop_nulls(known).filter(pl.col("gamma").is_null()).height


def _mean(values: pl.Series) -> float:
    """Return the mean of a non-empty numeric column as a float."""
    mean = values.mean()
    assert isinstance(mean, int | float)
    return float(mean)
