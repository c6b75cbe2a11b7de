"""`gammalake snapshot` and `gammalake backfill`: store history from a source."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer

from gammalake.cli.options import (
    AmSettlementOption,
    PresetOption,
    check_synthetic_span,
    parse_time,
    session_span,
    source_name,
    symbol_list,
    writing,
)

DaskOption = Annotated[
    str | None,
    typer.Option(
        help="Run on the Dask scheduler at this address (e.g. tcp://10.0.0.5:8786), or 'local' "
        "for a local cluster. Default: settings task_runner / dask_address."
    ),
]
PrefectOption = Annotated[
    bool,
    typer.Option(
        "--prefect",
        help="Report the run to Prefect even without PREFECT_API_URL (starts a temporary "
        "server: slower). With PREFECT_API_URL set, runs always report.",
    ),
]


def snapshot(
    ctx: typer.Context,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated; default watchlist.")] = None,
    source: Annotated[
        str | None, typer.Option(help="synthetic, chains, cboe, flashalpha, flashalpha-historical.")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="When (ISO 8601 with offset); default now.")
    ] = None,
    preset: PresetOption = None,
    am_settlement: AmSettlementOption = None,
    dask: DaskOption = None,
    prefect: PrefectOption = False,
) -> None:
    """Snapshot every symbol of the watchlist now (or --at), store it and show the alerts."""
    from gammalake.cli.running import Job, run_job
    from pipeline.engine.timing import NEW_YORK
    from pipeline.errors import InputError

    settings = writing(ctx, preset, am_settlement)
    names = symbol_list(symbols, chains=True) if symbols is not None else list(settings.watchlist)
    now = datetime.now(NEW_YORK)
    moment = parse_time(at, "--at", on_calendar=True) or now
    if moment > now + timedelta(minutes=5):  # the checks would refuse every reply anyway
        raise InputError(f"--at {at} is in the future (now {now.isoformat(timespec='minutes')})")
    job = Job("snapshot", settings, names, source_name(source or settings.source), moment)
    # A bar only where a run takes a while; a table alone says enough for a few symbols.
    raise typer.Exit(run_job(job, dask, prefect, bar=len(names) if len(names) > 10 else 0))


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
    am_settlement: AmSettlementOption = None,
    strict: Annotated[
        bool, typer.Option(help="A session without input is an error, not a skipped day.")
    ] = False,
    dask: DaskOption = None,
    prefect: PrefectOption = False,
) -> None:
    """Fill the history over NYSE sessions; resumable (stored sessions are skipped)."""
    from flows.backfill import closed_sessions
    from gammalake.cli.running import Job, run_job

    settings = writing(ctx, preset, am_settlement)
    names = symbol_list(symbols, chains=True)
    first, last = session_span(start, end)
    source = source_name(source or settings.source, history=True)
    check_synthetic_span(source, first)
    job = Job("backfill", settings, names, source, first, last, force=force, strict=strict)
    # Sessions whose snapshot time has not come are not taken (the run says so): not in the bar.
    due = len(closed_sessions(settings, first, last))
    raise typer.Exit(run_job(job, dask, prefect, bar=due * len(names)))
