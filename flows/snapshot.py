"""The `snapshot` flow: every symbol of the watchlist at one moment, one task per symbol.

A symbol that fails (after its retries) never costs the others: the run's summary and its
`runs` row say which failed and why. Order per symbol: fetch, archive raw, normalise, OI change
against the previous stored snapshot, alerts, write (snapshot row last).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.alerts import deliver
from flows.capture import capture, previous_from_lake
from flows.runs import RunSummary, SymbolOutcome
from flows.settings import Settings
from flows.sources import build_source
from pipeline.sources.base import Source
from warehouse import catalog
from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake
from warehouse.schema import validate_symbol


@task(name="snapshot-symbol", cache_policy=NONE)
def snapshot_symbol(settings: Settings, source: Source, symbol: str, at: datetime) -> SymbolOutcome:
    """Capture and store one symbol; raise on failure (the flow records it)."""
    fetched = source.fetch(symbol, at)
    previous = previous_from_lake(settings.home, symbol, source.name, fetched.as_of)
    captured = capture(
        settings.home,
        source,
        fetched,
        previous,
        wall_pct=settings.wall_alert_pct,
        keep_chain=source.name == "chains",
        secrets=[k for k in [settings.api_key()] if k],
    )
    written = Lake(settings.home).write_all(captured.rows)
    missing = getattr(source, "errors", {}).get(symbol)
    return SymbolOutcome(
        symbol,
        written,
        captured.alerts,
        captured.requests,
        sessions=1,
        error="; ".join(missing) if missing else None,
    )


def split_valid(symbols: list[str]) -> tuple[list[str], list[SymbolOutcome]]:
    """Return the valid symbols, and a failed outcome for each invalid one."""
    valid, refused = [], []
    for symbol in symbols:
        try:
            valid.append(validate_symbol(symbol))
        except WarehouseInputError as exc:
            refused.append(SymbolOutcome(symbol, error=str(exc)))
    return valid, refused


def _outcome(symbol: str, future: Any) -> SymbolOutcome:
    """Return a task's outcome, or a failed outcome carrying its error."""
    try:
        return future.result()
    except Exception as exc:  # a failed symbol is reported, never allowed to stop the run
        return SymbolOutcome(symbol, error=f"{type(exc).__name__}: {exc}")


@flow(name="gammalake-snapshot", log_prints=True)
def snapshot_flow(
    settings: Settings, symbols: list[str], source_name: str, at: datetime
) -> RunSummary:
    """Snapshot `symbols` from `source_name` at `at`; return the run summary."""
    summary = RunSummary("snapshot", source_name, symbols)
    symbols, refused = split_valid(symbols)
    source = build_source(settings, source_name, symbols, at)
    retries = 0 if source.name.startswith("flashalpha") else settings.task_retries
    task_fn = snapshot_symbol.with_options(retries=retries, retry_delay_seconds=1)
    futures = {s: task_fn.submit(settings, source, s, at) for s in symbols}
    summary.outcomes = refused + [_outcome(s, f) for s, f in futures.items()]
    spent = getattr(source, "spent", {})
    for outcome in summary.outcomes:  # requests spent by a symbol count even if it failed
        outcome.requests = max(outcome.requests, spent.get(outcome.symbol, 0))
    summary.finish(settings.home)
    catalog.ensure(settings.home)
    deliver(summary.alerts, settings.apprise_url)
    return summary
