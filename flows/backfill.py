"""The `backfill` flow: symbols over a range of NYSE sessions, resumable, one task per symbol.

Each session is taken at its close plus `snapshot_delay_minutes` (13:15 on half days, holidays
skipped). Sessions already stored for the source and method are skipped unless `force`; rows
are written a month at a time with the snapshot rows last, so a backfill killed at any point
and started again ends with the same tables as one that was never interrupted.

OI change and alerts are always taken against the true previous stored snapshot of the same
symbol, source and method, whatever the range: a session after a stored one reads it from the
lake, the first session of a chunk run in parallel is re-derived once the chunk before it is
written, and a stored snapshot right after a filled range is re-derived from raw.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import cast

from flows.capture import (
    Captured,
    Later,
    Origin,
    Previous,
    Pricing,
    capture,
    previous_from_lake,
    write_captures,
)
from flows.fanout import Fanout, Progress, StopFlag, Threads
from flows.rebuild import rederive
from flows.runs import RunSummary, SymbolOutcome
from flows.settings import Settings
from flows.snapshot import (
    close_run,
    outcome_of,
    pricing_of,
    rederive_followers,
    secrets_of,
    split_valid,
)
from flows.sources import build_source, computes
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.firewall import RejectedError
from pipeline.sessions import after_close, previous_session, sessions_between
from pipeline.sources.base import FetchError, MissingInputError, RunHaltedError, Source
from warehouse import catalog
from warehouse.lake import Lake


def stored_sessions(home: Path, symbol: str, source: str, method: str) -> set[date]:
    """Return the sessions already stored for (symbol, source, method)."""
    if "snapshots" not in Lake(home).datasets():
        return set()
    found = catalog.query(
        home,
        "SELECT DISTINCT trade_date FROM snapshots WHERE symbol = ? AND source = ? AND method = ?",
        [symbol, source, method],
    )
    return set(found.get_column("trade_date").to_list())


class _Writer:
    """Writes one symbol's month batches in a background thread, one at a time, in order.

    The next month is computed while the previous one is written: writing Parquet releases
    the GIL, and on chains of 20,000 contracts the write is a fifth of a session's time.
    """

    def __init__(self, home: Path, outcome: SymbolOutcome) -> None:
        """Write into `home`; count what was written in `outcome`."""
        self.home, self.outcome = home, outcome
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="lake-writer")
        self.pending: Future[dict[str, int]] | None = None
        self.files: list[Future[object]] = []

    def later(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        """Queue one raw file write; it lands before any batch queued after it."""
        self.files.append(self.pool.submit(fn, *args, **kwargs))

    def write(self, batch: list[Captured]) -> None:
        """Queue a batch (snapshots last) once the previous one is written."""
        if not batch:
            return
        self.wait()
        record(self.outcome, batch)
        self.pending = self.pool.submit(write_captures, self.home, batch)

    def wait(self) -> None:
        """Wait for the writes queued so far; raise the first error, if one failed."""
        files, self.files = self.files, []
        for future in files:
            future.result()
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.outcome.add(pending.result())

    def close(self) -> None:
        """Finish the last write and stop the thread."""
        try:
            self.wait()
        finally:
            self.pool.shutdown()


def record(outcome: SymbolOutcome, batch: list[Captured]) -> None:
    """Add a written batch's alerts, snapshots, sessions and notes to `outcome`."""
    outcome.alerts += [a for c in batch for a in c.alerts]
    outcome.stored += [c.headline["as_of"] for c in batch]
    outcome.sessions += len(batch)
    outcome.notes += [
        f"{c.headline['trade_date']}: not received: {e}" for c in batch for e in received(c)
    ]


def received(captured: Captured) -> list[str]:
    """Return what a capture asked for and did not get (not what the budget chose to skip)."""
    return [e for e in captured.errors if ": not requested, " not in e]


def _newest(a: Previous | None, b: Previous | None) -> Previous | None:
    """Return the later of two previous snapshots."""
    if a is None or b is None:
        return a or b
    return a if a.snapshot["as_of"] >= b.snapshot["as_of"] else b


class _Walk:
    """One symbol's walk through its sessions: the previous snapshot and the batch to write."""

    def __init__(
        self, settings: Settings, source: Source, pricing: Pricing, symbol: str, io: Later
    ) -> None:
        """Start before the first session (the previous snapshot comes from the lake).

        `io` runs raw file writes (the backfill's writer thread).
        """
        self.settings, self.source, self.pricing, self.symbol = settings, source, pricing, symbol
        self.origin = Origin(source.name, source.computes)
        self.method = pricing.method_for(source.computes)
        self.previous: Previous | None = None
        self.last: date | None = None
        self.secrets = secrets_of(settings, source)
        self.io = io

    def previous_for(self, day: date, at: datetime) -> Previous | None:
        """Return the true previous snapshot of `day`: in memory, or stored in between."""
        if self.last is not None and self.last == previous_session(day):
            return self.previous
        home, name = self.settings.home, self.source.name
        stored = previous_from_lake(home, self.symbol, name, self.method, at)
        return _newest(self.previous, stored)

    def take(self, day: date) -> Captured:
        """Fetch, archive, check and derive one session; raise FetchError when it fails."""
        at = after_close(day, self.settings.snapshot_delay_minutes)
        fetched = self.source.fetch(self.symbol, at)
        previous = self.previous_for(day, fetched.as_of)
        captured = capture(
            self.settings.home,
            self.origin,
            fetched,
            previous,
            self.pricing,
            asked=at,
            wall_pct=self.settings.wall_alert_pct,
            secrets=self.secrets,
            io=self.io,
            session=day,
        )
        self.previous, self.last = captured.previous(), day
        return captured


def backfill_symbol(
    settings: Settings,
    source: Source,
    pricing: Pricing,
    symbol: str,
    days: list[date],
    progress: Progress | None = None,
    strict: bool = False,
    stop: StopFlag | None = None,
) -> SymbolOutcome:
    """Capture `days` of one symbol in order, writing a month at a time.

    A missing input skips its day (listed; an error with `strict`); a refused snapshot is
    listed and the walk goes on; a halted run (wrong key, budget spent) stops the symbol and
    lists the days it could not do. Once `stop` is set, the sessions taken so far are written
    and the rest are left (the outcome says cancelled).
    """
    outcome, batch = SymbolOutcome(symbol), cast(list[Captured], [])
    writer = _Writer(settings.home, outcome)
    walk = _Walk(settings, source, pricing, symbol, writer.later)
    try:
        for i, day in enumerate(days):
            if stop is not None and stop.is_set():
                outcome.cancelled = True
                break
            if batch and _month(day) != _month(batch[-1].headline["trade_date"]):
                writer.write(batch)
                batch = []
            captured = _take(walk, day, outcome, strict)
            if progress is not None:
                progress(symbol, 1)
            if captured in (_HALT, _STOP):
                outcome.unaffordable = days[i:] if captured is _HALT else []
                if progress is not None:
                    progress(symbol, len(days) - i - 1)  # the bar still ends at its total
                break
            if isinstance(captured, Captured):
                batch.append(captured)
        writer.write(batch)
    finally:
        writer.close()
    return outcome


#: What _take returns when the symbol must stop: a halted run (wrong key, budget spent), whose
#: remaining days are listed for the next run, or a missing day under --strict.
_HALT, _STOP = object(), object()


def _take(walk: _Walk, day: date, outcome: SymbolOutcome, strict: bool) -> object:
    """Return the capture of one session, None when it is skipped, or _HALT to stop."""
    try:
        captured = walk.take(day)
    except MissingInputError as exc:
        outcome.requests += exc.requests
        if strict:
            outcome.error = f"{exc} (--strict)"
            return _STOP
        outcome.missing.append(day)
        return None
    except RunHaltedError as exc:
        outcome.requests += exc.requests
        outcome.error = str(exc)
        return _HALT
    except FetchError as exc:
        outcome.requests += exc.requests
        outcome.refused.append(f"{day}: {exc}")
        return None
    except InputError as exc:  # an input that cannot be read is refused like a bad one
        outcome.refused.append(f"{day}: {exc}")
        return None
    outcome.requests += captured.requests
    return captured


def _month(day: date) -> tuple[int, int]:
    """Return (year, month) of a day."""
    return day.year, day.month


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
        total.add(part.rows)
        total.alerts += part.alerts
        total.requests += part.requests
        total.sessions += part.sessions
        total.stored += part.stored
        total.missing += part.missing
        total.unaffordable += part.unaffordable
        total.refused += part.refused
        total.notes += part.notes
    total.cancelled = any(p.cancelled for p in parts)
    errors = [p.error for p in parts if p.error]
    total.error = "; ".join(errors) if errors else None
    return total


def mend_edges(
    settings: Settings,
    source: str,
    method: str,
    outcome: SymbolOutcome,
    parts: list[SymbolOutcome],
) -> None:
    """Re-derive the first snapshot of each later chunk, then stored snapshots after new ones.

    A chunk run in parallel starts without its previous snapshot (the chunk before was being
    written); once every chunk is written, the lake has it.
    """
    for part in parts[1:]:
        if part.stored:
            try:
                rederive(settings.home, source, outcome.symbol, method, min(part.stored))
            except RejectedError as exc:
                outcome.notes.append(f"could not re-derive {min(part.stored)}: {exc}")
    rederive_followers(settings.home, source, outcome.symbol, method, outcome)


def _todo(
    settings: Settings, symbol: str, source: str, method: str, sessions: list[date], force: bool
) -> list[date]:
    """Return the sessions still to do for a symbol (all of them with `force`)."""
    done = set() if force else stored_sessions(settings.home, symbol, source, method)
    return [d for d in sessions if d not in done]


def run_backfill(
    settings: Settings,
    symbols: list[str],
    source_name: str,
    start: date,
    end: date,
    force: bool = False,
    progress: Progress | None = None,
    strict: bool = False,
    fanout: Fanout | None = None,
    stored: Progress | None = None,
) -> RunSummary:
    """Backfill `symbols` over the NYSE sessions in [start, end]; return the run summary.

    Units run on `fanout` (default: threads here). Once its stop flag is set, each unit
    writes what it has taken and returns; the run is recorded as cancelled. `progress` is
    called with each session done; `stored` once per symbol with the sessions already stored
    (skipped: not work done, so a rate shown from `progress` stays true).
    """
    valid, refused = split_valid(symbols)
    sessions = closed_sessions(settings, start, end)
    pricing = pricing_of(settings)
    method = pricing.method_for(computes(source_name))
    todo = {s: _todo(settings, s, source_name, method, sessions, force) for s in valid}
    source = build_source(
        settings, source_name, valid, after_close(end, 0), {s: len(t) for s, t in todo.items()}
    )
    summary = RunSummary("backfill", source_name, symbols, method)
    later = sessions_between(start, end)[len(sessions) :]
    if later:
        summary.notes.append(
            f"{len(later)} session(s) from {later[0]} not taken: their snapshot time (close + "
            f"{settings.snapshot_delay_minutes} min) has not come yet"
        )
    own = fanout is None
    fanout = fanout or Threads(settings.max_workers)
    try:
        if stored is not None:
            for symbol, days in todo.items():
                stored(symbol, len(sessions) - len(days))
        futures = _submit(fanout, settings, source, pricing, todo, len(sessions), progress, strict)
        summary.outcomes = refused + _gather(settings, source.name, method, futures)
    finally:
        if own:
            fanout.close()
    summary.cancelled = fanout.stop.is_set()
    close_run(settings.home, summary, pricing.method)
    return summary


def closed_sessions(settings: Settings, start: date, end: date) -> list[date]:
    """Return the sessions in [start, end] whose snapshot time has passed (New York now)."""
    now = datetime.now(NEW_YORK)
    delay = settings.snapshot_delay_minutes
    return [d for d in sessions_between(start, end) if after_close(d, delay) <= now]


def _submit(
    fanout: Fanout,
    settings: Settings,
    source: Source,
    pricing: Pricing,
    todo: dict[str, list[date]],
    sessions: int,
    progress: Progress | None,
    strict: bool,
) -> dict[str, tuple[list[object], int]]:
    """Start every symbol's chunks; return symbol -> (futures, sessions already stored)."""
    # Engine inputs are deterministic: a symbol's range can run in parallel chunks.
    workers = settings.max_workers
    pieces = max(1, workers // max(1, len(todo))) if source.computes else 1
    relay = fanout.relay(progress)
    futures = {}
    for symbol, days in todo.items():
        submitted = [
            fanout.submit(
                backfill_symbol, settings, source, pricing, symbol, c, relay, strict, fanout.stop
            )
            for c in split_months(days, pieces)
        ]
        futures[symbol] = (submitted, sessions - len(days))
    return futures


def _gather(
    settings: Settings,
    source: str,
    method: str,
    futures: dict[str, tuple[list[object], int]],
) -> list[SymbolOutcome]:
    """Return each symbol's outcome once its chunks are done, with the chunk edges mended."""
    outcomes = []
    for symbol, (submitted, skipped) in futures.items():
        parts = [outcome_of(symbol, f) for f in submitted]
        outcome = combine(symbol, parts)
        outcome.skipped = skipped
        mend_edges(settings, source, method, outcome, parts)
        outcomes.append(outcome)
    return outcomes
