"""`gammalake snapshot` and `gammalake backfill`: store history from a source."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from gammalake.cli.options import (
    PresetOption,
    check_synthetic_span,
    parse_time,
    session_span,
    sessions,
    source_name,
    symbol_list,
    writing,
)


def snapshot(
    ctx: typer.Context,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated; default watchlist.")] = None,
    source: Annotated[str | None, typer.Option(help="synthetic, chains, flashalpha.")] = None,
    at: Annotated[
        str | None, typer.Option(help="When (ISO 8601 with offset); default now.")
    ] = None,
    preset: PresetOption = None,
) -> None:
    """Snapshot every symbol of the watchlist now (or --at), store it and show the alerts."""
    from flows.runners import task_runner
    from flows.snapshot import snapshot_flow
    from gammalake.cli.summary import print_summary
    from pipeline.engine.timing import NEW_YORK

    settings = writing(ctx, preset)
    names = symbol_list(symbols) if symbols is not None else list(settings.watchlist)
    moment = parse_time(at, "--at", on_calendar=True) or datetime.now(NEW_YORK)
    run = snapshot_flow.with_options(task_runner=task_runner(settings))
    summary = run(settings, names, source_name(source or settings.source), moment)
    print_summary(summary)
    raise typer.Exit(1 if summary.failures else 0)


def backfill(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")],
    start: Annotated[str, typer.Option(help="First session, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last session, YYYY-MM-DD.")],
    source: Annotated[
        str | None, typer.Option(help="synthetic, chains, flashalpha-historical.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Recompute sessions already stored.")] = False,
    preset: PresetOption = None,
    strict: Annotated[
        bool, typer.Option(help="A session without input is an error, not a skipped day.")
    ] = False,
) -> None:
    """Fill the history over NYSE sessions; resumable (stored sessions are skipped)."""
    from flows.backfill import backfill_flow
    from flows.runners import task_runner
    from gammalake.cli.summary import backfill_progress, print_summary

    settings = writing(ctx, preset)
    names = symbol_list(symbols)
    first, last = session_span(start, end)
    bar, advance = backfill_progress(len(sessions(first, last)) * len(names))
    run = backfill_flow.with_options(task_runner=task_runner(settings))
    hook = advance if settings.task_runner == "threads" else None
    source = source_name(source or settings.source)
    check_synthetic_span(source, first)
    with bar:
        summary = run(settings, names, source, first, last, force, hook, strict)
    print_summary(summary)
    raise typer.Exit(1 if summary.failures else 0)
