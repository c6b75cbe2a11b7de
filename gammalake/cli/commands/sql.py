"""`gammalake sql`: read-only queries over the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gammalake.cli.choices import OutputFormat


def sql(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="SQL; omit for a prompt.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
    output: Annotated[Path | None, typer.Option(help="Write to this file.")] = None,
) -> None:
    """Query the lake's views (snapshots, strikes, regime_daily, gex_profile, ...); read only."""
    from gammalake.cli.sql import sql_command

    sql_command(ctx.obj, query, fmt, output)
