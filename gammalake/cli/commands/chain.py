"""`gammalake chain`: the exposures of one chain file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from gammalake.cli.choices import FlipChoice, ZeroDteChoice
from gammalake.cli.options import AmSettlementOption, parse_time


def chain(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CBOE quotedata.csv, or a generic CSV/Parquet.")],
    preset: Annotated[
        str,
        typer.Option(
            help="Conventions: default, perfiliev, all_short, index_long_calls, open_close "
            "(optionally with overrides or a version: default+am_settlement=false, default@v1)."
        ),
    ] = "default",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every payload as one JSON object.")
    ] = False,
    year_basis: Annotated[
        float | None,
        typer.Option(help="Days per year: business days (perfiliev, 262) or calendar (365)."),
    ] = None,
    zero_dte: Annotated[
        ZeroDteChoice | None, typer.Option(help="Zero business days to expiry: one_day or drop.")
    ] = None,
    flip_method: Annotated[FlipChoice | None, typer.Option(help="Gamma flip method.")] = None,
    rate: Annotated[float | None, typer.Option(help="Risk-free rate, e.g. 0.04.")] = None,
    dividend_yield: Annotated[
        float | None, typer.Option("--yield", help="Dividend yield, e.g. 0.013.")
    ] = None,
    expiration: Annotated[
        str | None, typer.Option(help="Only this expiration (YYYY-MM-DD).")
    ] = None,
    min_oi: Annotated[int | None, typer.Option(help="Only contracts with this much OI.")] = None,
    am_settlement: AmSettlementOption = None,
    symbol: Annotated[str | None, typer.Option(help="Override the symbol.")] = None,
    spot: Annotated[float | None, typer.Option(help="Override / supply the spot.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Override / supply the time, ISO 8601 with offset.")
    ] = None,
    save: Annotated[
        bool, typer.Option(help="Also archive and store the snapshot in the lake.")
    ] = False,
) -> None:
    """Compute the exposures, flip and levels of one option chain file."""
    from gammalake.cli.chain import ChainOptions, chain_symbol, run_chain

    options = ChainOptions(
        preset=preset,
        year_basis=year_basis,
        zero_dte=zero_dte.value if zero_dte else None,
        flip_method=flip_method.value if flip_method else None,
        rate=rate,
        dividend_yield=dividend_yield,
        expiration=expiration,
        min_oi=min_oi,
        am_settlement=am_settlement,
        home=ctx.obj,
    )
    run_chain(
        file,
        options,
        as_json,
        save_to=ctx.obj if save else None,
        symbol=chain_symbol(symbol) if symbol is not None else None,
        spot=spot,
        as_of=parse_time(as_of),
    )
    _exit_now()


def _exit_now() -> None:
    """End the process after flushing output, skipping interpreter teardown.

    Freeing polars' and NumPy's state at exit takes 40-100 ms, a third of the `chain` budget;
    the command holds no files, locks or atexit work, so there is nothing to lose.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
