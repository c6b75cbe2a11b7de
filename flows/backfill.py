"""The `backfill` flow: symbols over a range of NYSE sessions, resumable, one task per symbol.

Each session is taken at its close plus `snapshot_delay_minutes` (13:15 on half days, holidays
skipped). Sessions already stored for the source are skipped unless `force`; rows are written
a month at a time with the snapshot rows last, so a backfill killed at any point and started
again ends with the same tables as one that was never interrupted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from flows.capture import Captured, Previous, capture, merge_rows, previous_from_lake
from flows.runs import RunSummary, SymbolOutcome
from flows.settings import Settings
from flows.snapshot import _outcome, split_valid
from flows.sources import build_source
from pipeline.engine.timing import NEW_YORK
from pipeline.normalize import snapshot_rows
from pipeline.sessions import after_close, nyse, sessions_between
from pipeline.sources.base import Source
from warehouse import catalog
from warehouse.lake import Lake

Progress = Callable[[str, int], None]


def stored_sessions(home: Path, symbol: str, source: str) -> set[date]:
    """Return the sessions already stored for (symbol, source)."""
    if "snapshots" not in Lake(home).datasets():
        return set()
    found = catalog.query(
        home,
        "SELECT DISTINCT trade_date FROM snapshots WHERE symbol = ? AND source = ?",
        [symbol, source],
    )
    return set(found.get_column("trade_date").to_list())


def _write(home: Path, batch: list[Captured], outcome: SymbolOutcome) -> None:
    """Write a batch of captures (snapshots last) and add the counts to `outcome`."""
    if not batch:
        return
    for name, count in Lake(home).write_all(merge_rows(batch)).items():
        outcome.rows[name] = outcome.rows.get(name, 0) + count
    outcome.alerts += [a for c in batch for a in c.alerts]
    outcome.requests += sum(c.requests for c in batch)
    outcome.sessions += len(batch)


def peek_previous(settings: Settings, source: Source, symbol: str, day: date) -> Previous:
    """Return the snapshot of the session before `day`, computed (not stored) from the source.

    Only for sources that compute deterministically: it equals what a sequential run stored.
    """
    prior = nyse().previous_session(day).date()
    fetched = source.fetch(symbol, after_close(prior, settings.snapshot_delay_minutes))
    rows = snapshot_rows(fetched.payloads, source=source.name, as_of=fetched.as_of)
    return Previous(rows["snapshots"].row(0, named=True), rows.get("strikes", pl.DataFrame()))


@task(name="backfill-symbol", cache_policy=NONE)
def backfill_symbol(
    settings: Settings,
    source: Source,
    symbol: str,
    days: list[date],
    progress: Progress | None = None,
    peek: bool = False,
) -> SymbolOutcome:
    """Capture `days` of one symbol in order, writing a month at a time.

    `peek`: seed the previous snapshot by recomputing the session before `days[0]` (for a
    chunk of a range processed in parallel) instead of reading it from the lake.
    """
    outcome = SymbolOutcome(symbol)
    if not days:
        return outcome
    first = after_close(days[0], settings.snapshot_delay_minutes)
    previous: Previous | None
    if peek:
        previous = peek_previous(settings, source, symbol, days[0])
    else:
        previous = previous_from_lake(settings.home, symbol, source.name, first)
    batch: list[Captured] = []
    for day in days:
        if batch and (day.year, day.month) != (days_of(batch)[-1].year, days_of(batch)[-1].month):
            _write(settings.home, batch, outcome)
            batch = []
        fetched = source.fetch(symbol, after_close(day, settings.snapshot_delay_minutes))
        captured = capture(
            settings.home, source, fetched, previous, wall_pct=settings.wall_alert_pct
        )
        previous = captured.previous()
        batch.append(captured)
        if progress is not None:
            progress(symbol, 1)
    _write(settings.home, batch, outcome)
    return outcome


def split_months(days: list[date], pieces: int) -> list[list[date]]:
    """Return `days` cut into at most `pieces` contiguous runs, each of whole months."""
    months = sorted({(d.year, d.month) for d in days})
    if pieces <= 1 or len(months) < 2:
        return [days] if days else []
    size = -(-len(months) // pieces)
    groups = [set(months[i : i + size]) for i in range(0, len(months), size)]
    return [[d for d in days if (d.year, d.month) in group] for group in groups]


def combine(symbol: str, parts: list[SymbolOutcome]) -> SymbolOutcome:
    """Return the outcomes of a symbol's chunks added up (errors joined)."""
    total = SymbolOutcome(symbol)
    for part in parts:
        for name, count in part.rows.items():
            total.rows[name] = total.rows.get(name, 0) + count
        total.alerts += part.alerts
        total.requests += part.requests
        total.sessions += part.sessions
    errors = [p.error for p in parts if p.error]
    total.error = "; ".join(errors) if errors else None
    return total


def days_of(batch: list[Captured]) -> list[date]:
    """Return the sessions of a batch of captures."""
    return [c.headline["trade_date"] for c in batch]


@flow(name="gammalake-backfill", log_prints=True)
def backfill_flow(
    settings: Settings,
    symbols: list[str],
    source_name: str,
    start: date,
    end: date,
    force: bool = False,
    progress: Progress | None = None,
) -> RunSummary:
    """Backfill `symbols` over the NYSE sessions in [start, end]; return the run summary."""
    summary = RunSummary("backfill", source_name, symbols)
    symbols, refused = split_valid(symbols)
    now = datetime.now(NEW_YORK)  # no snapshot of a session that has not closed yet
    sessions = [
        d
        for d in sessions_between(start, end)
        if after_close(d, settings.snapshot_delay_minutes) <= now
    ]
    source = build_source(settings, source_name, symbols, after_close(end, 0))
    # Engine-computed sources are deterministic: a symbol's range can run in parallel chunks.
    pieces = max(1, settings.max_workers // max(1, len(symbols))) if source.computes else 1
    futures = {}
    for symbol in symbols:
        done = set() if force else stored_sessions(settings.home, symbol, source.name)
        todo = [d for d in sessions if d not in done]
        if progress is not None and len(todo) < len(sessions):
            progress(symbol, len(sessions) - len(todo))  # stored sessions count as done
        chunks = split_months(todo, pieces)
        futures[symbol] = (
            [
                backfill_symbol.submit(settings, source, symbol, chunk, progress, i > 0)
                for i, chunk in enumerate(chunks)
            ],
            len(sessions) - len(todo),
        )
    summary.outcomes = refused
    for symbol, (parts, skipped) in futures.items():
        outcome = combine(symbol, [_outcome(symbol, f) for f in parts])
        outcome.skipped = skipped
        summary.outcomes.append(outcome)
    summary.finish(settings.home)
    catalog.ensure(settings.home)
    return summary
