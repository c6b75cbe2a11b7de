"""`gammalake reports ...`: the backtest and study reports under the home's reports/ folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

reports_app = typer.Typer(help="Backtest and study reports.", no_args_is_help=True)


@reports_app.command("prune")
def prune(
    ctx: typer.Context,
    keep: Annotated[int, typer.Option(help="Reports of each kind to keep, newest first (>= 1).")],
    folder: Annotated[
        Path | None, typer.Option(help="Reports folder. Default: reports/ in the home.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would go; remove nothing.")
    ] = False,
) -> None:
    """Keep the newest N reports (html + json) of each kind; remove the older ones."""
    from backtest.prune import prune as prune_folder
    from pipeline.errors import InputError

    where = folder or ctx.obj / "reports"
    if folder is not None and not folder.is_dir():
        raise InputError(f"--folder {folder}: no such folder")
    removed = prune_folder(where, keep, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for path in removed:
        print(f"{verb} {path}")
    print(f"{verb} {len(removed)} file(s) from {where}")
