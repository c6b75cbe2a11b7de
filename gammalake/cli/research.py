"""`gammalake backtest` and `gammalake study`: run, print the headline tables, write reports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from backtest.option_book import OptionCosts
from backtest.panel import Timing
from backtest.plugins import available, origin, resolve
from backtest.portfolio import Costs
from backtest.report import (
    backtest_sections,
    backtest_subtitle,
    study_sections,
    study_subtitle,
    write_report,
)
from backtest.run import Request, run_backtest
from backtest.study import run_study
from backtest.sweep import Progress as ProgressHook
from backtest.sweep import parse_grid, parse_params
from gammalake.cli.console import make_console
from pipeline.engine.method import resolve_method
from pipeline.errors import InputError


def file_part(name: str) -> str:
    """Return `name` made safe for a file name: `mod:momentum` -> `mod-momentum`.

    Anything but letters, digits, `_`, `.` and `-` becomes `-`; never empty, never hidden.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return safe or "strategy"


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


#: A friction of 100 % of the traded notional (or more) per fill is a typo, not a cost.
MAX_BPS = 10_000.0


def basis_points(value: float, option: str) -> float:
    """Return a per-fill friction in basis points; refuse a negative, NaN or >= 100 % one."""
    if not 0 <= value < MAX_BPS:  # NaN fails every comparison, so it is refused too
        raise InputError(f"{option} {value:g} must be from 0 to under {MAX_BPS:g} basis points")
    return value


def backtest_method(text: str | None, preset: str = "default") -> str:
    """Return the method `--method` names (a preset, a method string or `vendor`).

    Without the option, the method of the settings' `preset` under the running engine
    (e.g. `default@v1`).
    """
    return resolve_method(text or preset)


def make_request(
    name: str, symbols: list[str], span: tuple[date, date], options: dict[str, Any]
) -> Request:
    """Return the backtest request of the command's options (validated, grid included).

    `options["method"]`: the --method text (None: the method of `options["preset"]`, the
    settings' preset, itself `default` when absent).
    """
    chosen = resolve(name)
    timing = Timing(decision_time(options["decide"]), options["fill"])
    costs = Costs(
        fees=basis_points(options["fees"], "--fees-bps") / 1e4,
        slippage=basis_points(options["slippage"], "--slippage-bps") / 1e4,
    )
    for option, sessions in (("--train", options["train"]), ("--test", options["test"])):
        if sessions < 1:
            raise InputError(f"{option} {sessions} must be at least 1 session")
    parse_grid(options["grid"], chosen)  # a bad grid fails here, before any data is read
    return Request(
        name,  # as given: `module:name` or an entry point resolves again, a Strategy's name may not
        symbols,
        span[0],
        span[1],
        backtest_method(options.get("method"), options.get("preset", "default")),
        grid=options["grid"],
        params=parse_params(options["params"], chosen),
        source=options["source"],
        walk_forward=options["walk_forward"],
        train=options["train"],
        test=options["test"],
        timing=timing,
        costs=costs,
        options=OptionCosts(
            options.get("option_fill", "cross"),
            options.get("option_fee", 0.65),
            options.get("option_size", 1.0),
        ),
    )


@contextmanager
def progress_bar(
    title: str, symbols: int, console: Console | None = None
) -> Iterator[ProgressHook]:
    """Draw the progress of long research work on stderr; yield the hook the work calls.

    One bar per task the work reports (`backtest.sweep.Progress`): `symbols` (the overall bar,
    titled `title`, there from the start) and, while they run, each symbol's grid and
    walk-forward windows, removed when done. Off a terminal (a pipe, a file, CI) nothing is
    drawn, not even the final state, so stdout and stderr stay clean for whatever reads them.
    """
    console = console or Console(stderr=True)
    if not console.is_terminal:  # rich would still end a transient bar with a newline
        yield _quiet
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    tasks: dict[str, TaskID] = {"symbols": bars.add_task(title, total=symbols)}

    def hook(task: str, done: int, total: int) -> None:
        if task not in tasks:
            tasks[task] = bars.add_task(task, total=total)
        bars.update(tasks[task], completed=done, total=total)
        if done >= total and task != "symbols":  # a finished symbol's detail goes away
            bars.remove_task(tasks.pop(task))

    with bars:
        yield hook


def _quiet(task: str, done: int, total: int) -> None:
    """Hear of progress and draw nothing (output is not a terminal)."""


def backtest_command(
    home: Path, request: Request, out: Path | None, *, self_contained: bool = False
) -> tuple[Path, Path]:
    """Run the backtest, print each symbol's statistics, write the report; return its paths.

    A symbol whose reported returns made no trade gets one line instead of its table; close-only
    bars and the multiple-testing figures get a caution line each. A progress bar (stderr) shows
    the symbols, each one's grid and walk-forward windows while it runs.
    """
    with progress_bar(f"backtest {request.strategy}", len(request.symbols)) as progress:
        result = run_backtest(home, request, progress)
    console = make_console()
    for symbol, figures in result["symbols"].items():
        if not figures["no_trade"]:  # else its caution line says so, instead of a zero table
            console.print(_stats_table(symbol, result["strategy"], figures))
    sections, cautions = backtest_sections(result)
    for line in cautions:
        console.print(f"[yellow]{escape(line)}[/]", highlight=False, soft_wrap=True)
    title = f"gammalake backtest: {result['strategy']} on {', '.join(request.symbols)}"
    path = report_path(home, f"backtest-{file_part(request.strategy)}", out)
    subtitle = backtest_subtitle(result)
    return write_report(
        path, title, subtitle, sections, result, cautions, self_contained=self_contained
    )


def _stats_table(symbol: str, name: str, figures: dict[str, Any]) -> Table:
    """Return the strategy-vs-buy-and-hold table of one symbol."""
    table = Table(
        title=f"{symbol} {name} ({figures['method']}): {figures['selection']}",
        title_justify="left",
    )
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
    home: Path,
    symbols: list[str],
    span: tuple[date, date],
    source: str | None,
    out: Path | None,
    *,
    method: str | None = None,
    preset: str = "default",
    self_contained: bool = False,
) -> tuple[Path, Path]:
    """Run the study, print the regime and wall tables, write the report; return its paths.

    `method`: the --method text; None means the method of `preset` (the settings' preset);
    `self_contained`: embed plotly.js (one file to mail) instead of sharing the folder's copy.
    """
    chosen = backtest_method(method, preset)
    with progress_bar("study", len(symbols)) as progress:
        result = run_study(
            home, symbols, span[0], span[1], method=chosen, source=source, progress=progress
        )
    console = make_console()
    for symbol, figures in result["symbols"].items():
        console.print(_regime_table(symbol, figures))
    title = f"gammalake study: {', '.join(symbols)}"
    path = report_path(home, "study", out)
    return write_report(
        path,
        title,
        study_subtitle(result),
        study_sections(result),
        result,
        self_contained=self_contained,
    )


def _regime_table(symbol: str, figures: dict[str, Any]) -> Table:
    """Return next-day realised vol by regime, the vol ratio and the wall hold rates."""
    ratio = figures["vol_ratio"]
    table = Table(
        title=f"{symbol} ({figures['method']}): next-day realised vol by regime "
        f"({figures['regime_basis']})",
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
    if figures["neither_regime"]:  # exactly at the boundary: in neither group
        table.add_row("neither (exactly 0)", str(figures["neither_regime"]), "-", "-")
    if ratio["ratio"] is not None:
        table.add_row(
            "ratio neg/pos",
            "",
            f"{ratio['ratio']:.2f}",
            f"{ratio['ci_low']:.2f} .. {ratio['ci_high']:.2f}",
        )
    _add_wall_rows(table, figures["wall_holds"])
    return table


def _add_wall_rows(table: Table, rows: list[dict[str, Any]]) -> None:
    """Add each wall's hold rate (%) with its 95% Wilson interval to `table`."""
    for row in rows:
        if row["rate"] is not None:
            table.add_row(
                f"{row['wall'].replace('_', ' ')} held {row['held']}",
                str(row["sessions"]),
                f"{_fmt(row['rate'], 100)}%",
                f"{_fmt(row['ci_low'], 100)} .. {_fmt(row['ci_high'], 100)}",
            )


def strategy_list() -> Table:
    """Return every strategy `--strategy` takes by name: built in and from entry points.

    Each row says where it comes from (`built in`, or the entry point and its distribution),
    its parameters with their defaults, and its default grid.
    """
    table = Table(title="strategies", title_justify="left")
    for column in ("name", "what", "parameters (defaults)", "--grid default", "from"):
        table.add_column(column)
    for name, item in available().items():
        table.add_row(
            name,
            item.summary,
            ", ".join(f"{k}={v}" for k, v in item.defaults.items()),
            "; ".join(f"{k}={','.join(str(x) for x in v)}" for k, v in item.grid.items()),
            origin(name),
        )
    return table
