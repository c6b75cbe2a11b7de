"""The `gammalake` command line: the app, its global options, and the one way errors end.

Heavy modules (polars, numpy, rich, Prefect) are imported inside the commands: `gammalake chain
--json` is meant to be usable in shell loops, and its start-up time is a benchmark target.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from gammalake.cli.commands import chain, collect, data, demo, maintain, research, schedule, sql

app = typer.Typer(
    name="gammalake",
    help="Dealer-exposure history: GEX/DEX/VEX/CHEX, gamma flip and walls from option chains.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option(
            help="Data folder (lake/, raw/, warehouse.duckdb). Default: $GAMMALAKE_HOME, "
            "else ~/.local/share/gammalake."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Settings file. Default: gammalake.toml in the data folder."),
    ] = None,
) -> None:
    """Dealer-exposure history: GEX/DEX/VEX/CHEX, gamma flip and walls from option chains."""
    from warehouse.home import resolve_home

    # Before any command imports Prefect: its log level and telemetry are read at import.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if home is not None and not home.strip():
        from pipeline.errors import InputError

        raise InputError("--home '' names no folder; give a path, e.g. --home ~/gammalake")
    ctx.obj = resolve_home(Path(home) if home is not None else None)
    ctx.meta["config"] = config


for command in (
    collect.snapshot,
    collect.backfill,
    schedule.serve,
    chain.chain,
    demo.demo,
    research.backtest,
    research.study,
    sql.sql,
    maintain.doctor,
    maintain.quota,
    maintain.rebuild,
):
    app.command()(command)
app.add_typer(data.prices_app, name="prices")
app.add_typer(data.import_app, name="import")


def main() -> None:
    """Run the CLI; bad input prints one line (and a hint) to stderr and exits with 2."""
    import click

    from pipeline.errors import InputError
    from warehouse.errors import WarehouseInputError

    try:
        code = app(standalone_mode=False)
    except (InputError, WarehouseInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        hint = getattr(exc, "hint", "")
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.exceptions.UsageError) else exc.exit_code)
    # Without standalone mode click returns the code of typer.Exit instead of exiting with it.
    if isinstance(code, int) and code:
        sys.exit(code)
