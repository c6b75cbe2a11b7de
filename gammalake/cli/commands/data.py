"""`gammalake prices ...` and `gammalake import ...`: bars and history from elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gammalake.cli.commands.vendor import register as register_vendor_formats
from gammalake.cli.options import date_of, one_symbol, settings_of, symbol_list, writing

if TYPE_CHECKING:
    from flows.imports import Imported

prices_app = typer.Typer(help="Daily price bars.", no_args_is_help=True)


import_app = typer.Typer(help="History from other publishers.", no_args_is_help=True)
register_vendor_formats(import_app)


def _print_import(what: str, result: Imported) -> None:
    """Print what an import stored."""
    print(f"imported {what}: {result.rows} covering {result.first} .. {result.last}")
    for note in result.notes:
        print(f"note: {note}")


@prices_app.command("import")
def prices_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Yahoo-style or generic OHLCV CSV/Parquet.")],
    symbol: Annotated[str, typer.Option(help="Symbol the bars belong to.")],
    source: Annotated[str, typer.Option(help="Source name to store them under.")] = "import",
) -> None:
    """Import daily bars; every bad row is reported and nothing is written unless all are good."""
    from flows.imports import import_prices

    name = one_symbol(symbol)
    _print_import(f"{name} bars", import_prices(ctx.obj, file, name, source))


@prices_app.command("update")
def prices_update(
    ctx: typer.Context,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated; default watchlist.")] = None,
    start: Annotated[str, typer.Option(help="From this session when none is stored.")] = (
        "2018-01-02"
    ),
) -> None:
    """Bring the watchlist's bars up to the last closed session (synthetic source).

    Runs here, without Prefect, unless a Prefect API is configured (like snapshot/backfill).
    """
    from flows.imports import check_update, update_prices
    from flows.prefect_api import configured_api_url

    settings = writing(ctx)
    names = symbol_list(symbols) if symbols is not None else list(settings.watchlist)
    first = date_of(start, "--start")
    check_update(settings, names, first)  # one line before Prefect starts, not a failed run
    if configured_api_url() is None:
        _print_import("bars", update_prices(settings, names, first))
        return
    from flows.prices import prices_flow

    _print_import("bars", prices_flow(settings, names, first))


@prices_app.command("synthetic")
def prices_synthetic(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")],
    start: Annotated[str, typer.Option(help="First session, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last session, YYYY-MM-DD.")],
) -> None:
    """Store the synthetic market's daily bars."""
    from flows.imports import import_synthetic_prices

    first, last = date_of(start, "--start"), date_of(end, "--end")
    _print_import(
        "synthetic bars",
        import_synthetic_prices(
            ctx.obj, symbol_list(symbols), first, last, settings_of(ctx).market()
        ),
    )


@import_app.command("dix")
def import_dix_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="SqueezeMetrics DIX.csv (date,price,dix,gex).")],
) -> None:
    """Import DIX.csv: one SPX snapshot per day (source squeezemetrics) and SPX closes."""
    from flows.imports import import_dix

    _print_import("DIX.csv", import_dix(ctx.obj, file))
