"""The `gammalake` command line.

Heavy modules (polars, numpy, rich) are imported inside the commands: `gammalake chain --json`
is meant to be usable in shell loops, and its start-up time is a benchmark target.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="gammalake",
    help="Dealer-exposure history: GEX/DEX/VEX/CHEX, gamma flip and walls from option chains.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ZeroDteChoice(StrEnum):
    """What a zero business-day count becomes (business-day year basis only)."""

    one_day = "one_day"
    drop = "drop"


class FlipChoice(StrEnum):
    """Gamma flip method."""

    profile = "profile"
    cumulative = "cumulative"
    adjacent = "adjacent"


def _as_of(text: str | None) -> datetime | None:
    """Return an ISO 8601 time with offset, or raise a clear error."""
    from pipeline.errors import InputError

    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--as-of {text!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise InputError(f"--as-of {text!r} needs a UTC offset, e.g. 2024-01-05T16:15-05:00")
    return when


@app.command()
def chain(
    file: Annotated[Path, typer.Argument(help="CBOE quotedata.csv, or a generic CSV/Parquet.")],
    preset: Annotated[str, typer.Option(help="Conventions: default, perfiliev, all_short.")] = (
        "default"
    ),
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
    symbol: Annotated[str | None, typer.Option(help="Override the symbol.")] = None,
    spot: Annotated[float | None, typer.Option(help="Override / supply the spot.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Override / supply the time, ISO 8601 with offset.")
    ] = None,
) -> None:
    """Compute the exposures, flip and levels of one option chain file."""
    from flows.chaincmd import ChainOptions, run_chain

    options = ChainOptions(
        preset=preset,
        year_basis=year_basis,
        zero_dte=zero_dte.value if zero_dte else None,
        flip_method=flip_method.value if flip_method else None,
        rate=rate,
        dividend_yield=dividend_yield,
        expiration=expiration,
        min_oi=min_oi,
    )
    run_chain(file, options, as_json, symbol=symbol, spot=spot, as_of=_as_of(as_of))
    _exit_now()


def _exit_now() -> None:
    """End the process after flushing output, skipping interpreter teardown.

    Freeing polars' and NumPy's state at exit takes 40-100 ms, a third of the `chain` budget;
    the command holds no files, locks or atexit work, so there is nothing to lose.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def demo(
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")] = "SPY,QQQ,IWM",
) -> None:
    """Run the engine end to end on the built-in synthetic market (no key, no network)."""
    from flows.demo import run_demo

    run_demo([s.strip().upper() for s in symbols.split(",") if s.strip()])


def main() -> None:
    """Run the CLI; bad input prints one line (and a hint) to stderr and exits with 2."""
    import click

    from pipeline.errors import InputError

    try:
        app(standalone_mode=False)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.exceptions.UsageError) else exc.exit_code)
