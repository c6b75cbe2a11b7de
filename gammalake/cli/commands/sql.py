"""`gammalake sql`: read-only queries over the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gammalake.cli.choices import OutputFormat


def sql(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="SQL; omit for a prompt.")] = None,
    fmt: Annotated[
        OutputFormat | None,
        typer.Option("--format", help="Output format (default: --output's suffix, else table)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="Write to this file (.csv, .json, .parquet choose the format)."),
    ] = None,
) -> None:
    """Query the lake's views (snapshots, strikes, regime_daily, gex_profile, ...); read only.

    One statement per call, in a sandbox DuckDB locks: only files under the home's lake/ can
    be read, nothing can be written, settings cannot be changed (docs/sql-sandbox.md).
    """
    from gammalake.cli.sql import sql_command

    sql_command(ctx.obj, query, fmt, output)
