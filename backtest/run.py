"""One backtest request end to end: panels, sweep, honest selection, and the figures of record.

`run_backtest` returns plain JSON-ready dicts (one per symbol) holding every number a report
draws: equity against buy-and-hold, drawdowns, monthly returns, trades, statistics, the sweep
table and heatmap, walk-forward splits, the multiple-testing figures, and the levels.
"""

from __future__ import annotations

import gc
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from backtest.jsonable import floats, number, records
from backtest.panel import Panel, Timing, load_panels
from backtest.portfolio import Costs, buy_and_hold, returns
from backtest.stats import deflated_sharpe, drawdowns, reality_check, summary
from backtest.strategies import strategy as lookup
from backtest.sweep import Sweep, parse_grid, run_sweep, walk_forward


@dataclass(frozen=True)
class Request:
    """What to test: strategy, symbols, span, grid, walk-forward windows (sessions), frictions."""

    strategy: str
    symbols: list[str]
    start: date
    end: date
    grid: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    walk_forward: str = "expanding"
    train: int = 252
    test: int = 63
    timing: Timing = field(default_factory=Timing)
    costs: Costs = field(default_factory=Costs)


def run_backtest(home: Path, request: Request) -> dict[str, Any]:
    """Return the backtest of every requested symbol as JSON-ready figures (see module doc)."""
    chosen = lookup(request.strategy)
    combos = [{**request.params, **c} for c in parse_grid(request.grid, chosen)]
    results = {}
    panels = load_panels(
        home,
        request.symbols,
        request.start,
        request.end,
        source=request.source,
        timing=request.timing,
    )
    for symbol, panel in panels.items():
        sweep = run_sweep(panel, chosen, combos, request.costs)
        results[symbol] = _symbol_figures(sweep, request)
        del sweep
        gc.collect()  # vectorbt objects hold cycles; free each symbol's before the next
    return {
        "kind": "backtest",
        "strategy": chosen.name,
        "summary": chosen.summary,
        "request": _request_record(request, len(combos)),
        "symbols": results,
    }


def _request_record(request: Request, configs: int) -> dict[str, Any]:
    """Return the request as plain values, with the number of configurations tried."""
    record = asdict(request)
    record["timing"] = {
        "decide": request.timing.decide.isoformat(timespec="minutes"),
        "fill": request.timing.fill,
        "max_age_days": request.timing.max_age_days,
    }
    record["start"], record["end"] = str(request.start), str(request.end)
    record["configurations"] = configs
    return record


def _selection(sweep: Sweep, request: Request) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Return (session indices reported, their returns, walk-forward splits).

    One configuration: the whole span. A grid: out-of-sample windows only, when the history
    is long enough; otherwise the best full-span configuration (flagged by the caller).
    """
    daily, sessions = sweep.returns, sweep.returns.shape[0]
    if daily.shape[1] == 1:
        return np.arange(sessions), daily[:, 0], []
    if request.walk_forward != "none" and sessions >= request.train + request.test:
        picked, oos = walk_forward(daily, request.train, request.test, request.walk_forward)
        index = np.concatenate([np.arange(*s.test) for s in picked])
        return index, oos, [_split_record(sweep, s) for s in picked]
    return np.arange(sessions), daily[:, _best(sweep)], []


def _split_record(sweep: Sweep, split: Any) -> dict[str, Any]:
    """Return one walk-forward split as dates, chosen parameters and Sharpes."""
    dates = sweep.panel.column("trade_date")
    return {
        "train_start": str(dates[split.train[0]]),
        "train_end": str(dates[split.train[1] - 1]),
        "test_start": str(dates[split.test[0]]),
        "test_end": str(dates[split.test[1] - 1]),
        "config": split.chosen,
        "params": sweep.combos[split.chosen],
        "train_sharpe": number(split.train_sharpe),
        "test_sharpe": number(split.test_sharpe),
    }


def _symbol_figures(sweep: Sweep, request: Request) -> dict[str, Any]:
    """Return every figure of one symbol (see module doc)."""
    panel = sweep.panel
    index, strat, splits = _selection(sweep, request)
    full_bench = returns(buy_and_hold(panel, request.costs))[:, 0]
    bench = full_bench[index]
    dates = [str(d) for d in panel.column("trade_date").to_numpy()[index].astype("datetime64[D]")]
    paired = np.column_stack([strat, bench])
    stats = summary(paired).with_columns(pl.Series("series", ["strategy", "buy_and_hold"]))
    sharpes = sweep.table.get_column("sharpe").to_numpy()
    best = _best(sweep)
    return {
        "source": panel.source,
        "sessions": len(index),
        "span": [dates[0], dates[-1]] if dates else [],
        "selection": _selection_note(sweep, splits),
        "stats": records(stats),
        "equity": {
            "dates": dates,
            "strategy": floats(np.cumprod(1 + strat)),
            "buy_and_hold": floats(np.cumprod(1 + bench)),
        },
        "drawdown": {"dates": dates, "strategy": floats(drawdowns(strat[:, None])[:, 0])},
        "monthly_returns": _monthly(dates, strat),
        "trades": _trades(sweep, splits),
        "sweep": {"table": records(sweep.table), "heatmap": _heatmap(sweep)},
        "walk_forward": splits,
        "multiple_testing": {
            "configurations": len(sweep.combos),
            "best_config": best,
            "best_sharpe": number(sharpes[best]),
            "deflated_sharpe": number(deflated_sharpe(sweep.returns[:, best], sharpes)),
            "reality_check_p": number(reality_check(sweep.returns, full_bench)),
        },
        "levels": _levels(panel),
    }


def _selection_note(sweep: Sweep, splits: list[dict]) -> str:
    """Return one sentence saying which returns the report shows."""
    if len(sweep.combos) == 1:
        return "one configuration over the whole span"
    if splits:
        return f"walk-forward: {len(splits)} out-of-sample windows, chosen in-sample by Sharpe"
    return "best of the grid over the whole span (in-sample; too short for walk-forward)"


def _trades(sweep: Sweep, splits: list[dict]) -> list[dict[str, Any]]:
    """Return the trades the reported returns came from (per window when walked forward)."""
    frame = pl.from_pandas(sweep.portfolio.trades.records_readable)
    frame = frame.rename({c: c.lower().replace(" ", "_") for c in frame.columns})
    if "column" not in frame.columns:
        return []
    frame = frame.with_columns(pl.col("column").cast(pl.Int64))
    if not splits:
        column = 0 if len(sweep.combos) == 1 else _best(sweep)
        kept = frame.filter(pl.col("column") == column)
    else:
        kept = pl.concat(
            [
                frame.filter(
                    (pl.col("column") == s["config"])
                    & (pl.col("entry_timestamp").dt.date() >= date.fromisoformat(s["test_start"]))
                    & (pl.col("entry_timestamp").dt.date() <= date.fromisoformat(s["test_end"]))
                )
                for s in splits
            ]
        )
    return records(_trade_columns(kept))


def _best(sweep: Sweep) -> int:
    """Return the full-span best configuration by Sharpe."""
    return int(np.argmax(sweep.table.get_column("sharpe").to_numpy()))


def _trade_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the trade list in report columns: dates, side, prices, P&L ($) and return (%)."""
    return frame.select(
        pl.col("column").alias("config"),
        pl.col("entry_timestamp").dt.date().cast(pl.String).alias("entry"),
        pl.col("exit_timestamp").dt.date().cast(pl.String).alias("exit"),
        pl.col("direction").cast(pl.String).alias("side"),
        pl.col("avg_entry_price").round(4).alias("entry_price"),
        pl.col("avg_exit_price").round(4).alias("exit_price"),
        pl.col("pnl").round(2),
        (100 * pl.col("return")).round(3).alias("return_pct"),
        pl.col("status").cast(pl.String),
    )


def _monthly(dates: list[str], daily: np.ndarray) -> list[dict[str, Any]]:
    """Return compounded returns per calendar month (fractions)."""
    if not dates:
        return []
    frame = pl.DataFrame({"day": dates, "r": daily}).with_columns(
        pl.col("day").str.to_date().dt.strftime("%Y-%m").alias("month")
    )
    grouped = frame.group_by("month", maintain_order=True).agg(
        ((pl.col("r") + 1).product() - 1).alias("return")
    )
    return records(grouped)


def _heatmap(sweep: Sweep) -> dict[str, Any] | None:
    """Return Sharpe over the two parameters with the most values (best over the rest)."""
    table = sweep.table
    varied = [c for c in table.columns[1 : table.columns.index("total_return")]]
    varied = sorted(varied, key=lambda c: -table.get_column(c).n_unique())
    if len(varied) < 2 or table.get_column(varied[1]).n_unique() < 2:
        return None
    x, y = varied[0], varied[1]
    grid = table.group_by(x, y).agg(pl.col("sharpe").max())
    xs = sorted(grid.get_column(x).unique().to_list(), key=_sort_key)
    ys = sorted(grid.get_column(y).unique().to_list(), key=_sort_key)
    lookup = {(a, b): s for a, b, s in grid.iter_rows()}
    z = [[number(lookup.get((a, b), math.nan)) for a in xs] for b in ys]
    return {"x": x, "y": y, "x_values": xs, "y_values": ys, "sharpe": z}


def _sort_key(text: str) -> tuple[int, float | str]:
    """Return a key that sorts numeric strings by value and words after them."""
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def _levels(panel: Panel) -> dict[str, Any]:
    """Return the price with the known gamma flip and walls, per session."""
    frame = panel.frame
    return {
        "dates": frame.get_column("trade_date").cast(pl.String).to_list(),
        **{
            name: floats(frame.get_column(name).cast(float).to_numpy())
            for name in ("open", "high", "low", "close", "gamma_flip", "call_wall", "put_wall")
        },
    }
