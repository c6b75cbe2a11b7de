"""The `snapshot` flow: every symbol of the watchlist at one moment, one task per symbol.

A symbol that fails (after its retries) never costs the others: the run's summary and its
`runs` row say which failed and why. Order per symbol: fetch, archive raw as received, check
(the firewall), price under the run's method, OI change and alerts against the previous stored
snapshot of the same source and method, write (snapshot row last), then re-derive a stored
snapshot that follows this one (a snapshot `--at` an earlier moment).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.alerts import deliver
from flows.capture import (
    Captured,
    Origin,
    Pricing,
    capture,
    previous_from_lake,
    write_captures,
)
from flows.rebuild import follower_keys, rederive
from flows.runs import RunSummary, SymbolOutcome
from flows.settings import Settings
from flows.sources import build_source
from pipeline.engine.presets import preset
from pipeline.errors import InputError
from pipeline.sources.base import FetchError, Source
from warehouse import catalog
from warehouse.errors import WarehouseInputError
from warehouse.schema import validate_symbol


def pricing_of(settings: Settings) -> Pricing:
    """Return how the run prices engine inputs: the settings' preset."""
    return Pricing(preset(settings.preset))


def secrets_of(settings: Settings, source: Source) -> list[str]:
    """Return the literal secrets to keep off the disk (the API key of vendor sources)."""
    if source.computes:
        return []
    key = settings.api_key()
    return [key] if key else []


@task(name="snapshot-symbol", cache_policy=NONE)
def snapshot_symbol(
    settings: Settings, source: Source, pricing: Pricing, symbol: str, at: datetime
) -> SymbolOutcome:
    """Capture and store one symbol; a refused or failed fetch is recorded, not raised."""
    method = pricing.method_for(source.computes)
    outcome = SymbolOutcome(symbol)
    try:
        captured = _capture(settings, source, pricing, symbol, at, outcome)
    except FetchError as exc:
        outcome.requests += exc.requests
        outcome.error = str(exc)
        return outcome
    except InputError as exc:  # a file or payload that cannot be read: no retry helps
        outcome.error = str(exc)
        return outcome
    if captured is None:
        return outcome
    outcome.add(write_captures(settings.home, [captured]))
    outcome.sessions = 1
    outcome.stored.append(captured.headline["as_of"])
    outcome.alerts = captured.alerts
    outcome.notes += [f"not received: {e}" for e in captured.errors if ": not requested, " not in e]
    rederive_followers(settings.home, source.name, symbol, method, outcome)
    return outcome


def _capture(
    settings: Settings,
    source: Source,
    pricing: Pricing,
    symbol: str,
    at: datetime,
    outcome: SymbolOutcome,
) -> Captured | None:
    """Fetch and capture one symbol; None when that snapshot is already stored."""
    method = pricing.method_for(source.computes)
    fetched = source.fetch(symbol, at)
    outcome.requests += fetched.requests
    home, as_of = settings.home, fetched.as_of
    previous = previous_from_lake(home, symbol, source.name, method, as_of, inclusive=True)
    if previous is not None and previous.snapshot["as_of"] == as_of:
        # A weekend or holiday answer repeats the last session: stored once, never anew.
        outcome.skipped = 1
        outcome.notes.append(f"already stored: the snapshot of {as_of.isoformat()}")
        return None
    return capture(
        settings.home,
        Origin(source.name, source.computes),
        fetched,
        previous,
        pricing,
        asked=at,
        wall_pct=settings.wall_alert_pct,
        secrets=secrets_of(settings, source),
    )


def rederive_followers(
    home: Path, source: str, symbol: str, method: str, outcome: SymbolOutcome
) -> None:
    """Re-derive stored snapshots that directly follow ones this run wrote (true previous)."""
    for as_of in follower_keys(home, source, symbol, method, set(outcome.stored)):
        try:
            rederive(home, source, symbol, method, as_of)
        except FetchError as exc:
            outcome.notes.append(f"could not re-derive the snapshot of {as_of}: {exc}")


def close_run(home: Path, summary: RunSummary, method: str) -> None:
    """Refresh the catalog's views, write the run's `runs` row, and note a deferred refresh.

    A client holding warehouse.duckdb read-write defers the refresh (the rows are stored all
    the same; the next run refreshes it); the run says so rather than failing.
    """
    build = catalog.ensure(home, method)
    if build is not None and build.deferred:
        summary.notes.append(build.summary())
    summary.finish(home)
    catalog.ensure(home, method)  # a first run adds the `runs` dataset itself


def split_valid(symbols: list[str]) -> tuple[list[str], list[SymbolOutcome]]:
    """Return the valid symbols, and a failed outcome for each invalid one."""
    valid, refused = [], []
    for symbol in symbols:
        try:
            valid.append(validate_symbol(symbol))
        except WarehouseInputError as exc:
            refused.append(SymbolOutcome(symbol, error=str(exc)))
    return valid, refused


def outcome_of(symbol: str, future: Any) -> SymbolOutcome:
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
    valid, refused = split_valid(symbols)
    source = build_source(settings, source_name, valid, at)
    pricing = pricing_of(settings)
    summary = RunSummary("snapshot", source_name, symbols, pricing.method_for(source.computes))
    retries = settings.task_retries if source.computes else 0  # the API client already retried
    task_fn = snapshot_symbol.with_options(retries=retries, retry_delay_seconds=1)
    futures = {s: task_fn.submit(settings, source, pricing, s, at) for s in valid}
    summary.outcomes = refused + [outcome_of(s, f) for s, f in futures.items()]
    close_run(settings.home, summary, pricing.method)
    deliver(summary.alerts, settings.apprise_url)
    return summary
