"""The `backfill` flow: symbols over a range of NYSE sessions, resumable, one task per symbol.

Each session is taken at its close plus `snapshot_delay_minutes` (13:15 on half days, holidays
skipped); what is stored is stamped at the moment the data describes (the close, for the
synthetic market and undated chain files), the fetch time kept in `fetched_at`. Sessions
already stored for the source and method are skipped unless `force`; rows are written a month
at a time with the snapshot rows last, so a backfill killed at any point and started again
ends with the same tables as one that was never interrupted.

OI change and alerts are always taken against the true previous stored snapshot of the same
symbol, source and method, whatever the range: a session after a stored one reads it from the
lake, the first session of a chunk run in parallel is re-derived once the chunk before it is
written, and a stored snapshot right after a filled range is re-derived from raw.

Two backfills of the same symbol, source and method in one home never work side by side: the
second waits for the first's lock (locks/backfill/), then skips what the first stored.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
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
from flows.runs import RunSummary, SymbolOutcome, disk_full_line, is_disk_full, record_run
from flows.settings import Settings
from flows.snapshot import (
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
from pipeline.sources.base import (
    FetchError,
    MissingInputError,
    RunHaltedError,
    Source,
    watch_stop,
)
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.locks import flocked


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
        self.batch: list[Captured] = []
        self.files: list[Future[object]] = []

    def later(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        """Queue one raw file write; it lands before any batch queued after it."""
        self.files.append(self.pool.submit(fn, *args, **kwargs))

    def write(self, batch: list[Captured]) -> None:
        """Queue a batch (snapshots last) once the previous one is written."""
        if not batch:
            return
        self.wait()
        self.batch = batch
        self.pending = self.pool.submit(write_captures, self.home, batch)

    def wait(self) -> None:
        """Wait for the writes queued so far; raise the first error, if one failed.

        A batch counts in the outcome once it is written: a failed write stores nothing.
        """
        files, self.files = self.files, []
        for future in files:
            future.result()
        if self.pending is not None:
            pending, self.pending = self.pending, None
            written = pending.result()
            record(self.outcome, self.batch)
            self.outcome.add(written)

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
            rules=self.settings.alert_rules(),
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
    lists the days it could not do. Once `stop` is set the rest are left (the outcome says
    cancelled): months already handed to the writer are written whole; the month in hand is
    written too when its sessions were fetched (requests spent), and left to the next run
    when the engine computed them (see _walk_days).
    """
    outcome = SymbolOutcome(symbol)
    writer = _Writer(settings.home, outcome)
    walk = _Walk(settings, source, pricing, symbol, writer.later)
    try:
        try:
            _walk_days(walk, writer, outcome, days, progress, strict, stop)
        finally:
            writer.close()
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        outcome.error, outcome.disk_full = disk_full_line(exc, settings.home), True
    return outcome


def _walk_days(
    walk: _Walk,
    writer: _Writer,
    outcome: SymbolOutcome,
    days: list[date],
    progress: Progress | None,
    strict: bool,
    stop: StopFlag | None,
) -> None:
    """Take `days` in order, handing each month's captures to `writer` (see backfill_symbol).

    A stop drops the unwritten month of an engine source: writing it would cost as much as
    computing it again, and a stop must end quickly on a loaded machine (a month's write
    took seconds at load 10; the next run takes those sessions again).
    """
    symbol, batch = walk.symbol, cast(list[Captured], [])
    for i, day in enumerate(days):
        if stop is not None and stop.is_set():
            outcome.cancelled = True
            if walk.source.computes:
                return
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
    total.disk_full = any(p.disk_full for p in parts)
    errors = [p.error for p in parts if p.error]
    total.error = "; ".join(errors) if errors else None
    return total


def mend_edges(
    settings: Settings,
    source: str,
    method: str,
    outcome: SymbolOutcome,
    parts: list[SymbolOutcome],
    before: set[date] | None = None,
) -> None:
    """Re-derive the first snapshot of each later chunk, then stored snapshots after new ones.

    A chunk run in parallel starts without its previous snapshot (the chunk before was being
    written); once every chunk is written, the lake has it. `before`: the sessions stored when
    the run began (None: unknown); the lake is searched for followers only when one of them
    comes after a session this run wrote (a first backfill has none, and skips the query).
    """
    for part in parts[1:]:
        if part.stored:
            try:
                rules = settings.alert_rules()
                rederive(settings.home, source, outcome.symbol, method, min(part.stored), rules)
            except RejectedError as exc:
                outcome.notes.append(f"could not re-derive {min(part.stored)}: {exc}")
    first = min(outcome.stored, default=None)
    day = first.astimezone(NEW_YORK).date() if first is not None else None
    if day is not None and (before is None or any(d >= day for d in before)):
        rederive_followers(
            settings.home, source, outcome.symbol, method, outcome, settings.alert_rules()
        )


def _todo(stored: set[date], sessions: list[date], force: bool) -> list[date]:
    """Return the sessions not `stored` yet (all of them with `force`)."""
    return list(sessions) if force else [d for d in sessions if d not in stored]


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

    Another backfill of the same (source, method, symbol) in the same home is waited for
    (see hold_symbols): then the sessions it stored are skipped, so no row is computed or
    counted in `runs` twice.
    """
    valid, refused = split_valid(symbols)
    pricing = pricing_of(settings)
    method = pricing.method_for(computes(source_name))
    summary = RunSummary("backfill", source_name, symbols, method)
    own = fanout is None
    fanout = fanout or Threads(settings.max_workers)
    try:
        with ExitStack() as held:
            waited = hold_symbols(held, settings.home, source_name, method, valid, fanout.stop)
            summary.notes += waited
            if not fanout.stop.is_set():
                job = _Job(settings, source_name, start, end, force, strict, pricing)
                summary.outcomes = refused + _fill(job, valid, summary, fanout, progress, stored)
            summary.cancelled = fanout.stop.is_set() and not summary.disk_full
            if not (summary.disk_full or summary.cancelled):
                # Each symbol's months added a file to the shared partitions: merge them (a
                # stopped run leaves that to the next one, so that it stops at once).
                Lake(settings.home).compact()
            record_run(settings.home, summary, pricing.method)
    finally:
        if own:
            fanout.close()
    return summary


@dataclass(frozen=True)
class _Job:
    """What a backfill was asked for (the options of run_backfill)."""

    settings: Settings
    source: str
    start: date
    end: date
    force: bool
    strict: bool
    pricing: Pricing


def _fill(
    job: _Job,
    symbols: list[str],
    summary: RunSummary,
    fanout: Fanout,
    progress: Progress | None,
    stored: Progress | None,
) -> list[SymbolOutcome]:
    """Take every session of `symbols` not stored yet on `fanout`; return their outcomes."""
    settings, method = job.settings, summary.method or ""
    sessions = closed_sessions(settings, job.start, job.end)
    before = {s: stored_sessions(settings.home, s, job.source, method) for s in symbols}
    todo = {s: _todo(before[s], sessions, job.force) for s in symbols}
    counts = {s: len(t) for s, t in todo.items()}
    source = build_source(settings, job.source, symbols, after_close(job.end, 0), counts)
    watch_stop(source, fanout.stop)  # a fetch in flight ends when the run is stopped
    later = sessions_between(job.start, job.end)[len(sessions) :]
    if later:
        summary.notes.append(
            f"{len(later)} session(s) from {later[0]} not taken: their snapshot time (close + "
            f"{settings.snapshot_delay_minutes} min) has not come yet"
        )
    if stored is not None:
        for symbol, days in todo.items():
            stored(symbol, len(sessions) - len(days))
    futures = _submit(
        fanout, settings, source, job.pricing, todo, len(sessions), progress, job.strict
    )
    return _gather(settings, source.name, method, futures, before)


#: Seconds between two tries at a symbol lock another backfill holds (a stop is seen as fast).
LOCK_POLL_SECONDS = 0.2


def symbol_lock(home: Path, source: str, method: str, symbol: str) -> Path:
    """Return the lock file a backfill of (source, method, symbol) holds in `home`."""
    name = f"{source}_{method}_{symbol}".replace("/", "-")
    return home / "locks" / "backfill" / f"{name}.lock"


def hold_symbols(
    held: ExitStack, home: Path, source: str, method: str, symbols: list[str], stop: StopFlag
) -> list[str]:
    """Lock each symbol's (source, method) backfill in `held`; return notes on what was waited for.

    Locks are taken in sorted order, so two runs never wait on each other. A lock another
    process (or run) holds is waited for, tried again every LOCK_POLL_SECONDS so that a stop
    (SIGINT/SIGTERM) ends the wait at once; then the caller sees `stop` set and takes nothing.
    """
    notes = []
    for symbol in sorted(set(symbols)):
        path = symbol_lock(home, source, method, symbol)
        waited = False
        while not stop.is_set():
            try:
                held.enter_context(flocked(path, fcntl.LOCK_EX | fcntl.LOCK_NB))
                break
            except BlockingIOError:
                waited = True
                time.sleep(LOCK_POLL_SECONDS)  # why: flock has no timeout; a stop must end it
        if waited:
            notes.append(f"{symbol}: waited for another backfill of {source} ({method})")
    return notes


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
    before: dict[str, set[date]],
) -> list[SymbolOutcome]:
    """Return each symbol's outcome once its chunks are done, with the chunk edges mended.

    Edges are left as they are once a write found the disk full (the lake is whole; the
    outcome says why the symbol stopped).
    """
    outcomes = []
    for symbol, (submitted, skipped) in futures.items():
        parts = [outcome_of(symbol, f) for f in submitted]
        outcome = combine(symbol, parts)
        outcome.skipped = skipped
        if not outcome.disk_full:
            try:
                mend_edges(settings, source, method, outcome, parts, before.get(symbol))
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                outcome.error = disk_full_line(exc, settings.home)
                outcome.disk_full = True
        outcomes.append(outcome)
    return outcomes
