"""One backtest request end to end: panels, sweep, honest selection, and the figures of record.

`run_backtest` returns plain JSON-ready dicts (one per symbol) holding every number a report
draws: equity against buy-and-hold, drawdowns, monthly returns, trades, statistics, the sweep
table and heatmap, walk-forward splits, the multiple-testing figures, and the levels; and what
the figures rest on: the method of the snapshots, the sessions covered, whether any trade was
made, and how many fills and stop checks fell back to the close on bars without an open.

The reported equity and trades come from one simulated account (`backtest.ledger.replay`):
walked forward, each out-of-sample window trades under the configuration chosen for it and
positions cross window boundaries by `backtest.ledger.BOUNDARY_RULE`; the `ledger` figure
shows the trades compounding to the reported total return.

An option strategy (`backtest.option_strategies`) holds option legs instead: the same figures
come from `backtest.option_run`'s account (fills and marks at the stored quotes, settlement at
expiry), its legs are the trade ledger, and an `options` figure holds the fill setting and the
misses (fills that found no stored quote).
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

from backtest.fallback import close_fallback, missing_bars
from backtest.jsonable import floats, number, records
from backtest.ledger import BOUNDARY_RULE, Run, in_force, ledger, reconciliation, replay
from backtest.option_book import OptionCosts, load_quotes
from backtest.option_run import (
    OPTION_BOUNDARY_RULE,
    Context,
    OptionRun,
    leg_ledger,
    miss_counts,
    option_sweep,
    simulate,
)
from backtest.option_strategies import OptionStrategy
from backtest.panel import Panel, Timing, covered, load_panels
from backtest.plugins import resolve
from backtest.portfolio import Costs, buy_and_hold, holdings, returns
from backtest.risk import risk_figures, trade_figures
from backtest.stats import deflated_sharpe, drawdowns, reality_check, sharpe, summary
from backtest.strategies import Strategy
from backtest.sweep import Progress, Split, Sweep, check_value, parse_grid, run_sweep, walk_forward
from warehouse.errors import WarehouseInputError

#: The misses an option report lists one by one (all are counted).
MISSES_LISTED = 50
#: Walk-forward modes of a grid: expanding or rolling training windows, or none (in-sample).
WALK_FORWARD = ("expanding", "rolling", "none")


@dataclass(frozen=True)
class Request:
    """What to test: strategy, symbols, span, method, grid, walk-forward (sessions), frictions.

    `method` names the snapshots to trade on (`default@v1`, `vendor`, ...: already resolved,
    see `backtest.panel.load_panels`). `options`: how an option strategy's legs fill, their
    fee per contract and sizing (`backtest.option_book.OptionCosts`); others ignore it.
    """

    strategy: str
    symbols: list[str]
    start: date
    end: date
    method: str
    grid: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    walk_forward: str = "expanding"
    train: int = 252
    test: int = 63
    timing: Timing = field(default_factory=Timing)
    costs: Costs = field(default_factory=Costs)
    options: OptionCosts = field(default_factory=OptionCosts)

    def __post_init__(self) -> None:
        if self.walk_forward not in WALK_FORWARD:
            raise WarehouseInputError(
                f"--walk-forward {self.walk_forward!r} unknown (use {', '.join(WALK_FORWARD)})"
            )


@dataclass(frozen=True)
class Selection:
    """What a report shows: which sessions, the configuration in force on each, and why.

    `index`: the reported sessions (panel rows); `windows`: (start, stop, config), half-open
    session ranges and the configuration whose orders fill there; `splits`: the walk-forward
    splits (empty when not walked forward). `status`: `one configuration`, `walk-forward`,
    `off` (--walk-forward none: the grid's best, in-sample) or `too short` (the history
    cannot hold one train + test window).
    """

    index: np.ndarray
    windows: list[tuple[int, int, int]]
    splits: list[Split]
    status: str
    note: str


def run_backtest(home: Path, request: Request, progress: Progress | None = None) -> dict[str, Any]:
    """Return the backtest of every requested symbol as JSON-ready figures (see module doc).

    Returns are fractions per session, prices in the bars' currency, counts in sessions.
    `progress` hears of each symbol done ("symbols"), each one's grid ("<symbol> grid") and its
    walk-forward windows ("<symbol> walk-forward"), see `backtest.sweep.Progress`.
    """
    chosen = resolve(request.strategy)  # built in (options too), module:name or entry point
    fixed = {k: check_value(chosen, k, v) for k, v in request.params.items()}
    combos = [{**fixed, **c} for c in parse_grid(request.grid, chosen)]
    results = {}
    panels = load_panels(
        home,
        request.symbols,
        request.start,
        request.end,
        method=request.method,
        source=request.source,
        timing=request.timing,
    )
    for done, (symbol, panel) in enumerate(panels.items(), start=1):
        if isinstance(chosen, OptionStrategy):
            results[symbol] = _option_figures(home, panel, chosen, combos, request, progress)
        else:
            sweep = run_sweep(panel, chosen, combos, request.costs, progress)
            results[symbol] = _symbol_figures(sweep, chosen, request, progress)
            del sweep
        gc.collect()  # vectorbt objects hold cycles; free each symbol's before the next
        if progress is not None:
            progress("symbols", done, len(panels))
    return {
        "kind": "backtest",
        "strategy": chosen.name,
        "summary": chosen.summary,
        "method": request.method,
        "covered": covered(panels),
        "walk_forward_mode": walk_forward_text(request, len(combos)),
        "request": _request_record(request, len(combos), isinstance(chosen, OptionStrategy)),
        "symbols": results,
    }


def walk_forward_text(request: Request, configs: int) -> str:
    """Return how the reported configuration was chosen, as the report's subtitle says it."""
    if configs == 1:
        return "one configuration, no selection"
    if request.walk_forward == "none":
        return "walk-forward none: the grid's best over the whole span, in-sample"
    return (
        f"walk-forward {request.walk_forward}: train {request.train} / test {request.test} sessions"
    )


def _request_record(request: Request, configs: int, options: bool = False) -> dict[str, Any]:
    """Return the request as plain values, with the number of configurations tried.

    The option settings are kept only for an option strategy (`options`).
    """
    record = asdict(request)
    if not options:
        record.pop("options")
    record["timing"] = {
        "decide": request.timing.decide.isoformat(timespec="minutes"),
        "fill": request.timing.fill,
        "max_age_days": request.timing.max_age_days,
    }
    record["start"], record["end"] = str(request.start), str(request.end)
    record["configurations"] = configs
    return record


def _selection(sweep: Sweep, request: Request, progress: Progress | None = None) -> Selection:
    """Return the reported returns: the one configuration, walk-forward windows, or the best.

    A grid reports out-of-sample windows only when walk-forward is on and the history is long
    enough; otherwise the best full-span configuration, labelled in-sample.
    """
    sessions = sweep.returns.shape[0]
    every = np.arange(sessions)
    if sweep.returns.shape[1] == 1:
        note = "one configuration over the whole span"
        return Selection(every, [(0, sessions, 0)], [], "one configuration", note)
    whole = [(0, sessions, _best(sweep))]
    if request.walk_forward == "none":
        note = "best of the grid over the whole span (in-sample: --walk-forward none)"
        return Selection(every, whole, [], "off", note)
    if sessions < request.train + request.test:
        note = (
            f"best of the grid over the whole span (in-sample: {sessions} sessions are too "
            f"short for walk-forward of train {request.train} + test {request.test})"
        )
        return Selection(every, whole, [], "too short", note)
    return _walked(sweep, request, progress)


def _walked(sweep: Sweep, request: Request, progress: Progress | None = None) -> Selection:
    """Return the out-of-sample windows of a walk-forward over the sweep, one after the other."""
    hook = _relabelled(progress, f"{sweep.panel.symbol} walk-forward")
    picked, _ = walk_forward(sweep.returns, request.train, request.test, request.walk_forward, hook)
    index = np.arange(picked[0].test[0], sweep.returns.shape[0])
    note = (
        f"walk-forward: {len(picked)} out-of-sample windows ({request.walk_forward}, train "
        f"{request.train} / test {request.test} sessions), chosen in-sample by Sharpe, "
        "traded as one account"
    )
    windows = [(*s.test, s.chosen) for s in picked]
    return Selection(index, windows, picked, "walk-forward", note)


def _relabelled(progress: Progress | None, label: str) -> Progress | None:
    """Return `progress` reporting under `label` (e.g. the symbol's name added), or None."""
    if progress is None:
        return None
    return lambda _task, done, total: progress(label, done, total)


def _split_record(sweep: Sweep, split: Split, run: Run) -> dict[str, Any]:
    """Return one walk-forward split: dates, chosen parameters, Sharpes, out-of-sample return.

    The test Sharpe and return (fraction) are the reported account's over the window, with
    the positions it carried in and out (see `backtest.ledger.BOUNDARY_RULE`).
    """
    dates = sweep.panel.column("trade_date")
    window = run.returns[split.test[0] : split.test[1]]
    return {
        "train_start": str(dates[split.train[0]]),
        "train_end": str(dates[split.train[1] - 1]),
        "test_start": str(dates[split.test[0]]),
        "test_end": str(dates[split.test[1] - 1]),
        "config": split.chosen,
        "params": sweep.combos[split.chosen],
        "train_sharpe": number(split.train_sharpe),
        "test_sharpe": number(sharpe(window[:, None])[0]) if window.size > 1 else None,
        "test_return": number(float(np.prod(1.0 + window)) - 1.0),
    }


def _symbol_figures(
    sweep: Sweep, chosen: Strategy, request: Request, progress: Progress | None = None
) -> dict[str, Any]:
    """Return every figure of one symbol (see module doc)."""
    panel = sweep.panel
    picked = _selection(sweep, request, progress)
    configs = in_force(panel.frame.height, picked.windows)
    run = replay(panel, chosen, sweep.combos, configs, request.costs)
    strat = run.returns[picked.index]
    full_bench = returns(buy_and_hold(panel, request.costs))[:, 0]
    dates = panel.column("trade_date").cast(pl.String).to_numpy()[picked.index].tolist()
    trades = ledger(run, panel, request.costs.init_cash)
    return {
        **_reported(panel, picked, dates),
        "boundary_rule": BOUNDARY_RULE if picked.splits else None,
        "no_trade": _no_trade(sweep, run, picked, request.strategy, dates),
        "close_fallback": close_fallback(panel, run, sweep.combos, picked.index),
        **_performance(strat, full_bench[picked.index], dates),
        "trades": records(trades),
        "ledger": reconciliation(trades, float(np.prod(1.0 + strat) - 1.0)),
        "risk": _risk_rows(sweep, picked, strat, full_bench),
        "trade_stats": _trade_stats(run, trades, picked.index),
        **_selection_figures(sweep, picked, run, full_bench),
    }


def _reported(panel: Panel, picked: Selection, dates: list[str]) -> dict[str, Any]:
    """Return where the reported figures come from: source, method, sessions and selection."""
    return {
        "source": panel.source,
        "method": panel.method,
        "sessions": len(picked.index),
        "span": [dates[0], dates[-1]] if dates else [],
        "covered": [str(d) for d in panel.span],
        "selection": picked.note,
        "walk_forward_status": picked.status,
    }


def _selection_figures(
    sweep: Sweep, picked: Selection, run: Run, full_bench: np.ndarray
) -> dict[str, Any]:
    """Return the sweep table, the walk-forward windows, the multiple-testing figures, levels."""
    return {
        "sweep": {"table": records(sweep.table), "heatmap": _heatmap(sweep)},
        "walk_forward": [_split_record(sweep, s, run) for s in picked.splits],
        "multiple_testing": _multiple_testing(sweep, full_bench),
        "levels": _levels(sweep.panel),
    }


def _option_figures(
    home: Path,
    panel: Panel,
    chosen: OptionStrategy,
    combos: list[dict[str, Any]],
    request: Request,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Return every figure of one symbol traded with option legs (see `backtest.option_run`).

    The same figures as a plain strategy's, with the legs as the trade ledger and an
    `options` record: the fill setting, fee, sizing, and the misses over the reported sessions.
    """
    ctx = Context(panel, load_quotes(home, panel), request.options, request.costs.init_cash)
    sweep = option_sweep(ctx, chosen, combos, progress)
    picked = _selection(sweep, request, progress)
    configs = in_force(panel.frame.height, picked.windows)
    account = simulate(ctx, chosen, sweep.combos, configs)
    run = Run(account, account.returns, configs)
    strat = run.returns[picked.index]
    full_bench = returns(buy_and_hold(panel, request.costs))[:, 0]
    days = panel.column("trade_date").to_list()
    dates = [str(days[i]) for i in picked.index]
    trades = leg_ledger(account, ctx, days[-1])
    held = account.held[picked.index]
    pnl, gains = trades.get_column("pnl").to_numpy(), trades.get_column("return").to_numpy()
    return {
        **_reported(panel, picked, dates),
        "boundary_rule": OPTION_BOUNDARY_RULE if picked.splits else None,
        "no_trade": _option_no_trade(account, picked, chosen.name, panel.symbol, dates),
        "close_fallback": _bars_only_fallback(panel, picked.index),
        **_performance(strat, full_bench[picked.index], dates),
        "trades": records(trades),
        "ledger": reconciliation(trades, float(np.prod(1.0 + strat) - 1.0)),
        "risk": _risk_rows(sweep, picked, strat, full_bench),
        "trade_stats": trade_figures(pnl, gains, held),
        **_selection_figures(sweep, picked, run, full_bench),
        "options": _option_record(request.options, account, picked.index, days),
    }


def _option_record(
    costs: OptionCosts, account: OptionRun, index: np.ndarray, days: list[date]
) -> dict[str, Any]:
    """Return the option settings and the misses of the reported account (counts)."""
    misses = [m for m in account.misses if m.session in {days[i] for i in index}]
    return {
        "fill": costs.fill,
        "fee_per_contract": costs.fee,
        "size": costs.size,
        "multiplier": costs.multiplier,
        **miss_counts(account, index, days),
        "stale_marks": account.stale_marks,
        "miss_list": [
            {
                "session": str(m.session),
                "moment": m.moment,
                "kind": m.kind,
                "contract": m.contract,
                "reason": m.reason,
            }
            for m in misses[:MISSES_LISTED]
        ],
    }


def _option_no_trade(
    account: OptionRun, picked: Selection, strategy: str, symbol: str, dates: list[str]
) -> str | None:
    """Return one line saying the reported account opened no leg, None when it did."""
    if account.legs or np.any(account.returns[picked.index] != 0):
        return None
    over = f"{dates[0]} .. {dates[-1]}" if dates else "the span"
    return f"{strategy} opened no option leg on {symbol} over {over}"


def _bars_only_fallback(panel: Panel, index: np.ndarray) -> dict[str, int]:
    """Return the close-only bar counts of the reported sessions (option fills use quotes)."""
    no_open, no_range = missing_bars(panel)
    return {
        "sessions_without_open": int(no_open[index].sum()),
        "sessions_without_range": int(no_range[index].sum()),
        "fills_at_close": 0,
        "stop_checks_at_close": 0,
    }


def _trade_stats(run: Run, trades: pl.DataFrame, index: np.ndarray) -> dict[str, Any]:
    """Return the statistics of the ledger's trades over the reported sessions `index`."""
    held = holdings(run.portfolio)[:, 0] != 0
    pnl, gains = trades.get_column("pnl").to_numpy(), trades.get_column("return").to_numpy()
    return trade_figures(pnl, gains, held[index])


def _risk_rows(
    sweep: Sweep, picked: Selection, strat: np.ndarray, bench: np.ndarray
) -> list[dict[str, Any]]:
    """Return risk figures side by side, one labelled row per series (see `risk_figures`).

    The reported returns and buy and hold over the same sessions; walked forward, also the
    grid's best configuration and buy and hold over the full span (in-sample).
    """
    dates = sweep.panel.column("trade_date").cast(pl.String).to_list()
    shown = [dates[i] for i in picked.index]
    span = "out-of-sample" if picked.splits else "full span"
    market = bench[picked.index]
    rows = [
        {"series": f"strategy, {span}", **risk_figures(strat, market, shown)},
        {"series": f"buy and hold, {span}", **risk_figures(market, market, shown)},
    ]
    if picked.splits:
        best = sweep.returns[:, _best(sweep)]
        rows.append({"series": "strategy, full span (grid's best, in-sample)"})
        rows[-1].update(risk_figures(best, bench, dates))
        rows.append({"series": "buy and hold, full span", **risk_figures(bench, bench, dates)})
    return rows


def _performance(strat: np.ndarray, bench: np.ndarray, dates: list[str]) -> dict[str, Any]:
    """Return statistics, equity (growth of 1), drawdown and monthly returns (fractions)."""
    stats = summary(np.column_stack([strat, bench]))
    stats = stats.with_columns(pl.Series("series", ["strategy", "buy_and_hold"]))
    return {
        "stats": records(stats),
        "equity": {
            "dates": dates,
            "strategy": floats(np.cumprod(1 + strat)),
            "buy_and_hold": floats(np.cumprod(1 + bench)),
        },
        "drawdown": {"dates": dates, "strategy": floats(drawdowns(strat[:, None])[:, 0])},
        "monthly_returns": _monthly(dates, strat),
    }


def _multiple_testing(sweep: Sweep, bench: np.ndarray) -> dict[str, Any]:
    """Return the configurations tried, the best Sharpe, its deflated Sharpe and reality check."""
    sharpes = sweep.table.get_column("sharpe").to_numpy()
    best = _best(sweep)
    return {
        "configurations": len(sweep.combos),
        "best_config": best,
        "best_sharpe": number(sharpes[best]),
        "deflated_sharpe": number(deflated_sharpe(sweep.returns[:, best], sharpes)),
        "reality_check_p": number(reality_check(sweep.returns, bench)),
    }


def _no_trade(
    sweep: Sweep, run: Run, picked: Selection, strategy: str, dates: list[str]
) -> str | None:
    """Return one line saying the reported returns hold no trade, None when they do.

    No trade: the reported account (flat before its first session) placed no order and its
    returns over the reported sessions are all 0.
    """
    if len(run.portfolio.orders.values) or np.any(run.returns[picked.index] != 0):
        return None
    symbol = sweep.panel.symbol
    over = f"{dates[0]} .. {dates[-1]}" if dates else "the span"
    line = f"{strategy} made no trade on {symbol} over {over}"
    configs = len(sweep.combos)
    if configs > 1:
        traded = int((sweep.table.get_column("trades") > 0).sum())
        line += (
            f" ({traded} of {configs} configurations traded in the full span)"
            if traded
            else f" in any of {configs} configurations"
        )
    return line


def _best(sweep: Sweep) -> int:
    """Return the full-span best configuration by Sharpe."""
    return int(np.argmax(sweep.table.get_column("sharpe").to_numpy()))


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
            for name in (
                *("open", "high", "low", "close"),
                *("gamma_flip", "call_wall", "put_wall", "net_gex"),
            )
        },
    }
