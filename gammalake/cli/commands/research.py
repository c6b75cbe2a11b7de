"""`gammalake backtest` and `gammalake study`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gammalake.cli.options import MethodOption, settings_of, span, symbol_list

SelfContainedOption = Annotated[
    bool,
    typer.Option(
        "--self-contained",
        help="Embed plotly.js: one file to mail (+4.8 MB). Default: share the reports "
        "folder's plotly.min.js.",
    ),
]


def backtest(
    ctx: typer.Context,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="A name from --list (built in or an installed entry point), or your own as "
            "package.module:name, imported from the current directory."
        ),
    ] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols.")] = None,
    start: Annotated[str | None, typer.Option(help="First session; default all.")] = None,
    end: Annotated[str | None, typer.Option(help="Last session; default all.")] = None,
    grid: Annotated[
        str | None,
        typer.Option(help="Sweep, e.g. 'band=0,0.5,1;short=0,1;sl=0,2' or 'default'."),
    ] = None,
    params: Annotated[
        str | None, typer.Option(help="Fixed parameters, e.g. 'band=0.5;short=1;tp=3'.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Snapshot source when several.")] = None,
    method: MethodOption = None,
    fill: Annotated[str, typer.Option(help="next_open, next_close or same_close.")] = "next_open",
    decide: Annotated[str, typer.Option(help="Decision time, New York.")] = "16:30",
    fees_bps: Annotated[float, typer.Option(help="Fees per fill, basis points.")] = 5.0,
    slippage_bps: Annotated[float, typer.Option(help="Slippage per fill, bps.")] = 5.0,
    walk_forward: Annotated[
        str, typer.Option(help="With --grid: expanding, rolling or none.")
    ] = "expanding",
    train: Annotated[int, typer.Option(help="Walk-forward training sessions.")] = 252,
    test: Annotated[int, typer.Option(help="Walk-forward test sessions.")] = 63,
    option_fill: Annotated[
        str, typer.Option(help="Option strategies: legs fill at the mid or cross the spread.")
    ] = "cross",
    option_fee: Annotated[
        float, typer.Option(help="Option strategies: $ per contract per fill.")
    ] = 0.65,
    option_size: Annotated[
        float, typer.Option(help="Option strategies: underlying per leg, x the account's value.")
    ] = 1.0,
    out: Annotated[Path | None, typer.Option(help="Report path without suffix.")] = None,
    list_strategies: Annotated[
        bool,
        typer.Option("--list", help="List the strategies (built in and entry points) and exit."),
    ] = False,
    self_contained: SelfContainedOption = False,
) -> None:
    """Backtest a strategy on the stored history; write an HTML report and its JSON."""
    from gammalake.cli.console import make_console
    from gammalake.cli.research import backtest_command, make_request, strategy_list
    from pipeline.errors import InputError

    if list_strategies or not strategy or not symbols:
        make_console().print(strategy_list())
        if not list_strategies:
            raise InputError("backtest needs --strategy and --symbols (strategies listed above)")
        return
    options = {
        "grid": grid,
        "params": params,
        "source": source,
        "method": method,
        "preset": settings_of(ctx).preset,
        "fill": fill,
        "decide": decide,
        "fees": fees_bps,
        "slippage": slippage_bps,
        "walk_forward": walk_forward,
        "train": train,
        "test": test,
        "option_fill": option_fill,
        "option_fee": option_fee,
        "option_size": option_size,
    }
    request = make_request(strategy, symbol_list(symbols), span(start, end), options)
    page, numbers = backtest_command(ctx.obj, request, out, self_contained=self_contained)
    make_console().print(f"report: {page}\nfigures: {numbers}")


def study(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")],
    start: Annotated[str | None, typer.Option(help="First session; default all.")] = None,
    end: Annotated[str | None, typer.Option(help="Last session; default all.")] = None,
    source: Annotated[str | None, typer.Option(help="Snapshot source when several.")] = None,
    method: MethodOption = None,
    out: Annotated[Path | None, typer.Option(help="Report path without suffix.")] = None,
    self_contained: SelfContainedOption = False,
) -> None:
    """Facts of the history: vol by regime and net-GEX quantile, wall holds, breaches."""
    from gammalake.cli.console import make_console
    from gammalake.cli.research import study_command

    page, numbers = study_command(
        ctx.obj,
        symbol_list(symbols),
        span(start, end),
        source,
        out,
        method=method,
        preset=settings_of(ctx).preset,
        self_contained=self_contained,
    )
    make_console().print(f"report: {page}\nfigures: {numbers}")
