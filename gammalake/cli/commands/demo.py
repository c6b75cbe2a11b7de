"""`gammalake demo`: the whole product on the synthetic market."""

from __future__ import annotations

from typing import Annotated

import typer

from gammalake.cli.options import settings_of, symbol_list


def demo(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")] = "SPY,QQQ,IWM",
    years: Annotated[float, typer.Option(help="Years of history to backfill.")] = 2.0,
) -> None:
    """Run the whole product on the synthetic market: backfill, snapshot, alerts, queries."""
    from gammalake.cli.demo import run_demo

    run_demo(settings_of(ctx), symbol_list(symbols, chains=True), years=years)
