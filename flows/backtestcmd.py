"""`gammalake backtest` and `gammalake study`: run, print the headline tables, write reports."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from rich.table import Table

from backtest.panel import Timing
from backtest.portfolio import Costs
from backtest.report import backtest_sections, study_sections, write_report
from backtest.run import Request, run_backtest
from backtest.strategies import STRATEGIES, strategy
from backtest.study import run_study
from backtest.sweep import parse_params
from flows.console import make_console
from pipeline.errors import InputError


def report_path(home: Path, kind: str, out: Path | None) -> Path:
    """Return where a report goes: `out`, else reports/KIND-<UTC time> under the home."""
    if out is not None:
        return out
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return home / "reports" / f"{kind}-{stamp}"


def decision_time(text: str) -> time:
    """Return an HH:MM New York wall time, or raise naming the option."""
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise InputError(f"--decide {text!r} is not a time like 16:30") from None


def make_request(
    name: str, symbols: list[str], span: tuple[date, date], options: dict[str, Any]
) -> Request:
    """Return the backtest request of the command's options (validated)."""
    chosen = strategy(name)
    timing = Timing(decision_time(options["decide"]), options["fill"])
    costs = Costs(fees=options["fees"] / 1e4, slippage=options["slippage"] / 1e4)
    return Request(
        chosen.name,
        symbols,
        span[0],
        span[1],
        grid=options["grid"],
        params=parse_params(options["params"], chosen),
        source=options["source"],
        walk_forward=options["walk_forward"],
        train=options["train"],
        test=options["test"],
        timing=timing,
        costs=costs,
    )


def backtest_command(home: Path, request: Request, out: Path | None) -> tuple[Path, Path]:
    """Run the backtest, print each symbol's statistics, write the report; return its paths."""
    result = run_backtest(home, request)
    console = make_console()
    for symbol, figures in result["symbols"].items():
        console.print(_stats_table(symbol, result["strategy"], figures))
    sections, cautions = backtest_sections(result)
    for line in cautions:
        console.print(f"[yellow]{line}[/]")
    span = f"{request.start} .. {request.end}"
    title = f"gammalake backtest: {result['strategy']} on {', '.join(request.symbols)}"
    subtitle = (
        f"{result['summary']}. Sessions {span}; decide {request.timing.decide:%H:%M} New York, "
        f"fill {request.timing.fill}; fees {request.costs.fees:.2%}, slippage "
        f"{request.costs.slippage:.2%} per fill; Sharpe on 252 sessions."
    )
    path = report_path(home, f"backtest-{result['strategy']}", out)
    return write_report(path, title, subtitle, sections, result, cautions)


def _stats_table(symbol: str, name: str, figures: dict[str, Any]) -> Table:
    """Return the strategy-vs-buy-and-hold table of one symbol."""
    table = Table(title=f"{symbol} {name}: {figures['selection']}", title_justify="left")
    for column in ("", "total %", "CAGR %", "vol %", "Sharpe", "max DD %"):
        table.add_column(column, justify="right" if column else "left")
    for row in figures["stats"]:
        table.add_row(
            row["series"].replace("_", " "),
            *(_fmt(row[k], 100) for k in ("total_return", "cagr", "volatility")),
            _fmt(row["sharpe"], 1),
            _fmt(row["max_drawdown"], 100),
        )
    return table


def _fmt(value: float | None, scale: float) -> str:
    """Return a number scaled and to two decimals, a dash for none."""
    return "-" if value is None else f"{value * scale:.2f}"


def study_command(
    home: Path, symbols: list[str], span: tuple[date, date], source: str | None, out: Path | None
) -> tuple[Path, Path]:
    """Run the study, print the regime and wall tables, write the report; return its paths."""
    result = run_study(home, symbols, span[0], span[1], source)
    console = make_console()
    for symbol, figures in result["symbols"].items():
        console.print(_regime_table(symbol, figures))
    title = f"gammalake study: {', '.join(symbols)}"
    subtitle = f"Sessions {span[0]} .. {span[1]}; facts of the stored history, no trading."
    path = report_path(home, "study", out)
    return write_report(path, title, subtitle, study_sections(result), result)


def _regime_table(symbol: str, figures: dict[str, Any]) -> Table:
    """Return next-day realised vol by regime, the vol ratio and the wall hold rates."""
    ratio = figures["vol_ratio"]
    table = Table(
        title=f"{symbol}: next-day realised vol by regime ({figures['regime_basis']})",
        title_justify="left",
    )
    for column in ("group", "sessions", "vol % a year", "95% CI"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for row in figures["by_regime"]:
        table.add_row(
            f"{row['gamma']} gamma",
            str(row["sessions"]),
            _fmt(row["realised_vol_pct"], 1),
            f"{_fmt(row['vol_ci_low'], 1)} .. {_fmt(row['vol_ci_high'], 1)}",
        )
    if ratio["ratio"] is not None:
        table.add_row(
            "ratio neg/pos",
            "",
            f"{ratio['ratio']:.2f}",
            f"{ratio['ci_low']:.2f} .. {ratio['ci_high']:.2f}",
        )
    for row in figures["wall_holds"]:
        if row["rate"] is not None:
            table.add_row(
                f"{row['wall'].replace('_', ' ')} held {row['held']}",
                str(row["sessions"]),
                f"{_fmt(row['rate'], 100)}%",
                f"{_fmt(row['ci_low'], 100)} .. {_fmt(row['ci_high'], 100)}",
            )
    return table


def strategy_list() -> Table:
    """Return the registered strategies with their parameters and default grids."""
    table = Table(title="strategies", title_justify="left")
    for column in ("name", "what", "parameters (defaults)", "--grid default"):
        table.add_column(column)
    for item in STRATEGIES.values():
        table.add_row(
            item.name,
            item.summary,
            ", ".join(f"{k}={v}" for k, v in item.defaults.items()),
            "; ".join(f"{k}={','.join(str(x) for x in v)}" for k, v in item.grid.items()),
        )
    return table
