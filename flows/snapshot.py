"""The `snapshot` flow: every symbol of the watchlist at one moment, in batches of symbols.

A symbol that fails (after its retries) never costs the others: the run's summary and its
`runs` row say which failed and why. Order per symbol: fetch, archive raw as received, check
(the firewall), price under the run's method, OI change and alerts against the previous stored
snapshot of the same source and method, write (snapshot row last), then re-derive a stored
snapshot that follows this one (a snapshot `--at` an earlier moment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.alerts import DEFAULT_RULES, AlertRules, deliver
from flows.capture import (
    Captured,
    Origin,
    Previous,
    Pricing,
    capture,
    previous_many,
    write_captures,
)
from flows.fanout import Fanout, Progress, StopFlag, Threads
from flows.rebuild import follower_keys, followers_many, rederive
from flows.runs import RunSummary, SymbolOutcome, disk_full_line, is_disk_full, record_run
from flows.settings import Settings
from flows.sources import build_source
from pipeline.engine.method import config_of, resolve_method
from pipeline.errors import InputError
from pipeline.sources.base import Fetched, FetchError, Source, watch_stop
from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake
from warehouse.schema import validate_symbol


def pricing_of(settings: Settings) -> Pricing:
    """Return how the run prices engine inputs: the settings' preset, recipe or method."""
    return Pricing(config_of(resolve_method(settings.preset)), settings.home)


def secrets_of(settings: Settings, source: Source) -> list[str]:
    """Return the literal secrets to keep off the disk (the API key of vendor sources)."""
    if source.computes:
        return []
    key = settings.api_key()
    return [key] if key else []


@dataclass
class _Job:
    """One symbol of a batch: its outcome, and what was fetched and captured for it."""

    outcome: SymbolOutcome
    fetched: Fetched | None = None
    captured: Captured | None = None


@dataclass(frozen=True)
class Batch:
    """What every symbol of a batch shares: the run's settings, source, pricing and moment."""

    settings: Settings
    source: Source
    pricing: Pricing
    at: datetime
    retries: int

    @property
    def method(self) -> str:
        """Return the method of this source's rows."""
        return self.pricing.method_for(self.source.computes)


def snapshot_batch(batch: Batch, symbols: list[str], stop: StopFlag) -> list[SymbolOutcome]:
    """Capture and store `symbols`; a refused or failed symbol is recorded, never raised.

    One lake query finds every symbol's previous snapshot, one write stores them all and one
    query finds the stored snapshots that follow them: per-symbol costs stay per contract,
    not per connection. Symbols not started when `stop` is set are left (cancelled).
    """
    jobs = [_Job(SymbolOutcome(s)) for s in symbols]
    for job in jobs:
        if stop.is_set():
            job.outcome.cancelled = True
        else:
            job.fetched = _fetch(batch, job.outcome)
    asked = {j.outcome.symbol: j.fetched.as_of for j in jobs if j.fetched is not None}
    previous = previous_many(batch.settings.home, asked, batch.source.name, batch.method)
    for job in jobs:
        if job.fetched is not None:
            job.captured = _capture(batch, job, previous.get(job.outcome.symbol))
    _store(batch, [j for j in jobs if j.captured is not None])
    return [j.outcome for j in jobs]


def _fetch(batch: Batch, outcome: SymbolOutcome) -> Fetched | None:
    """Return the symbol's fetch, or None with the failure recorded (unexpected ones retried)."""
    for attempt in range(batch.retries + 1):
        try:
            fetched = batch.source.fetch(outcome.symbol, batch.at)
        except FetchError as exc:
            outcome.requests += exc.requests
            outcome.error = str(exc)
            return None
        except InputError as exc:  # a file or payload that cannot be read: no retry helps
            outcome.error = str(exc)
            return None
        except Exception as exc:  # a fault of ours or the machine's: retried like a task
            if attempt == batch.retries:
                outcome.error = f"{type(exc).__name__}: {exc}"
                return None
            continue
        outcome.requests += fetched.requests
        return fetched
    return None


def _capture(batch: Batch, job: _Job, previous: Previous | None) -> Captured | None:
    """Archive, check and derive one fetch; None when already stored or refused (recorded)."""
    fetched, outcome, settings = job.fetched, job.outcome, batch.settings
    assert fetched is not None
    if previous is not None and previous.snapshot["as_of"] == fetched.as_of:
        # A weekend or holiday answer repeats the last session: stored once, never anew.
        outcome.skipped = 1
        outcome.notes.append(f"already stored: the snapshot of {fetched.as_of.isoformat()}")
        return None
    try:
        return capture(
            settings.home,
            Origin(batch.source.name, batch.source.computes),
            fetched,
            previous,
            batch.pricing,
            asked=batch.at,
            rules=settings.alert_rules(),
            secrets=secrets_of(settings, batch.source),
        )
    except (FetchError, InputError) as exc:
        outcome.error = str(exc)
        return None


def _store(batch: Batch, jobs: list[_Job]) -> None:
    """Write the batch's captures in one go, then re-derive the snapshots that follow them."""
    captures = [j.captured for j in jobs if j.captured is not None]
    home = batch.settings.home
    write_captures(home, captures)
    for job in jobs:
        assert job.captured is not None
        job.outcome.add(rows_of(job.captured))
        job.outcome.sessions = 1
        job.outcome.stored.append(job.captured.headline["as_of"])
        job.outcome.alerts = job.captured.alerts
        job.outcome.notes += [
            f"not received: {e}" for e in job.captured.errors if ": not requested, " not in e
        ]
    written = {j.outcome.symbol: set(j.outcome.stored) for j in jobs}
    followers = followers_many(home, batch.source.name, batch.method, written)
    for job in jobs:
        for as_of in followers.get(job.outcome.symbol, []):
            _rederive(home, batch, job.outcome, as_of)


def _rederive(home: Path, batch: Batch, outcome: SymbolOutcome, as_of: datetime) -> None:
    """Re-derive one stored snapshot against its new previous; a failure is a note."""
    try:
        rules = batch.settings.alert_rules()
        rederive(home, batch.source.name, outcome.symbol, batch.method, as_of, rules)
    except FetchError as exc:
        outcome.notes.append(f"could not re-derive the snapshot of {as_of}: {exc}")


def rows_of(captured: Captured) -> dict[str, int]:
    """Return the rows a written capture put in each dataset."""
    counts = {name: frame.height for name, frame in captured.rows.items()}
    if captured.chain is not None:
        counts["chains"] = captured.chain[0].frame.height
    return counts


def rederive_followers(
    home: Path,
    source: str,
    symbol: str,
    method: str,
    outcome: SymbolOutcome,
    rules: AlertRules = DEFAULT_RULES,
) -> None:
    """Re-derive stored snapshots that directly follow ones this run wrote (true previous).

    `rules`: when their wall alerts fire (the settings' `alert_rules()`).
    """
    for as_of in follower_keys(home, source, symbol, method, set(outcome.stored)):
        try:
            rederive(home, source, symbol, method, as_of, rules)
        except FetchError as exc:
            outcome.notes.append(f"could not re-derive the snapshot of {as_of}: {exc}")


def close_run(home: Path, summary: RunSummary, method: str) -> None:
    """Merge the batches' files of each partition, write the `runs` row, refresh the views.

    A partition holds every symbol, so each batch added a file to it: they are merged into one
    first (skipped when the disk is full; the next run merges them). `record_run` writes the
    row, refreshes the views once and notes a refresh another process defers.
    """
    if not summary.disk_full:
        Lake(home).compact()
    record_run(home, summary, method)


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


def run_snapshot(
    settings: Settings,
    symbols: list[str],
    source_name: str,
    at: datetime,
    fanout: Fanout | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Snapshot `symbols` from `source_name` at `at`; return the run summary.

    Symbols run in batches on `fanout` (default: threads here); `progress` is called with
    each symbol done. Once the stop flag is set, symbols not yet started are left out and the
    run is recorded as cancelled with what it stored.
    """
    valid, refused = split_valid(symbols)
    source = build_source(settings, source_name, valid, at)
    pricing = pricing_of(settings)
    summary = RunSummary("snapshot", source_name, symbols, pricing.method_for(source.computes))
    retries = settings.task_retries if source.computes else 0  # the API client already retried
    batch = Batch(settings, source, pricing, at, retries)
    own = fanout is None
    fanout = fanout or Threads(settings.max_workers)
    watch_stop(source, fanout.stop)  # a fetch in flight ends when the run is stopped
    try:
        relay = fanout.relay(progress)
        groups = batches(valid, settings.max_workers)
        futures = [(g, fanout.submit(unit, batch, g, fanout.stop, relay)) for g in groups]
        summary.outcomes = refused + [o for g, f in futures for o in outcomes_of(g, f)]
    finally:
        if own:
            fanout.close()
    summary.cancelled = fanout.stop.is_set()
    close_run(settings.home, summary, pricing.method)
    deliver(summary.alerts, settings.apprise_url)
    return summary


#: Most symbols in one unit: enough to spread the per-unit costs, few enough that a stop
#: or a failure does not wait on many.
BATCH_MAX = 25


def batches(symbols: list[str], workers: int) -> list[list[str]]:
    """Return `symbols` cut into units: about four per worker, at most BATCH_MAX symbols each."""
    if not symbols:
        return []
    size = min(BATCH_MAX, max(1, -(-len(symbols) // (4 * max(1, workers)))))
    return [symbols[i : i + size] for i in range(0, len(symbols), size)]


def unit(
    batch: Batch, symbols: list[str], stop: StopFlag, progress: Progress | None
) -> list[SymbolOutcome]:
    """Snapshot a batch of symbols (see snapshot_batch); report each symbol to `progress`."""
    outcomes = snapshot_batch(batch, symbols, stop)
    if progress is not None:
        for outcome in outcomes:
            progress(outcome.symbol, 1)
    return outcomes


def outcomes_of(symbols: list[str], future: Any) -> list[SymbolOutcome]:
    """Return a unit's outcomes, or a failed outcome per symbol carrying its error."""
    try:
        return future.result()
    except OSError as exc:
        if not is_disk_full(exc):
            return [SymbolOutcome(s, error=f"{type(exc).__name__}: {exc}") for s in symbols]
        line = disk_full_line(exc, Path(exc.filename or "the home"))
        return [SymbolOutcome(s, error=line, disk_full=True) for s in symbols]
    except Exception as exc:  # a failed unit is reported, never allowed to stop the run
        return [SymbolOutcome(s, error=f"{type(exc).__name__}: {exc}") for s in symbols]
