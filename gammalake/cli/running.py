"""Running a flow from the command line: here or through Prefect, and stopping when asked.

A command runs the flow body directly, on threads here or on a Dask cluster, unless a Prefect
API is configured (`PREFECT_API_URL`, or Prefect's active profile) or `--prefect` asks for one;
then the run goes through Prefect and shows in its UI. Either way the `runs` table gets its row.

SIGINT and SIGTERM set the run's stop flag: every unit stops after the session in hand, what
was handed to the writer is written whole (temp file and rename; a backfill of an engine
source leaves its month in hand to the next run, which is quicker than writing it), the run
is recorded (its `runs` row, then one refresh of the views) as `cancelled` with what it
stored, one line is printed and the process exits as a shell reports that signal: 130 for
SIGINT (Ctrl-C), 143 for SIGTERM (128 + the signal number).
A second signal ends the process at once; what is on disk is still whole.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from types import FrameType

from flows.fanout import Dask, Fanout, Progress, Threads
from flows.runs import RunSummary
from flows.settings import Settings

#: Exit code of a run stopped by a signal (128 + SIGINT, as shells report Ctrl-C).
CANCELLED_EXIT = 130
#: Exit code of a run stopped by SIGTERM (128 + 15).
TERMINATED_EXIT = 143


def signal_exit(name: str | None) -> int:
    """Return the exit code of a run stopped by the signal called `name`: 128 + its number.

    SIGINT gives 130 and SIGTERM 143, what a shell reports for a process those signals ended;
    a stop asked for without a signal (None) gives CANCELLED_EXIT.
    """
    if name is None:
        return CANCELLED_EXIT
    return 128 + int(signal.Signals[name])


@dataclass(frozen=True)
class Where:
    """Where a run goes.

    `dask`: a scheduler address, or "local" for a local cluster (None: threads here);
    `prefect`: report to a Prefect API.
    """

    dask: str | None = None
    prefect: bool = False


def where_of(settings: Settings, dask: str | None, prefect: bool) -> Where:
    """Return where a run goes: command-line choices first, then the settings."""
    from flows.prefect_api import configured_api_url

    if dask is None and settings.task_runner == "dask":
        dask = settings.dask_address or "local"
    return Where(dask=dask, prefect=prefect or configured_api_url() is not None)


def fanout_of(settings: Settings, where: Where) -> Fanout:
    """Return the fanout of a run that does not go through Prefect."""
    if where.dask is None:
        return Threads(settings.max_workers)
    return Dask(None if where.dask == "local" else where.dask, settings.max_workers)


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[list[str]]:
    """Call `stop` on the first SIGINT or SIGTERM; yield the names of the signals received.

    A second signal exits at once with 128 + its number (the user insists; files on disk are
    whole, the `runs` row is what is lost).
    """
    received: list[str] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if received:
            os._exit(128 + signum)
        received.append(signal.Signals(signum).name)
        stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def cancelled_line(summary: RunSummary, signals: list[str]) -> str:
    """Return the one line printed for a stopped run: what stopped it and what it stored."""
    stored = [(o.symbol, sorted(o.stored)) for o in summary.outcomes if o.stored]
    parts = [
        f"{symbol} {days[0].date()}" + (f"..{days[-1].date()}" if len(days) > 1 else "")
        for symbol, days in stored
    ]
    what = f"stored {sum(len(d) for _, d in stored)} snapshot(s)" + (
        f" ({', '.join(parts[:4])}{', ...' if len(parts) > 4 else ''})" if parts else ""
    )
    why = signals[0] if signals else "a stop request"
    return f"cancelled by {why}: {what}; run {summary.run_id[:8]} recorded as cancelled"


def disk_full_line(summary: RunSummary) -> str:
    """Return the one line printed for a run a full disk stopped: which write, what is kept."""
    why = next(o.error for o in summary.outcomes if o.disk_full and o.error)
    stored = sum(len(o.stored) for o in summary.outcomes)
    row = (
        f"run {summary.run_id[:8]} recorded as {summary.status}"
        if summary.recorded
        else "no room left for its `runs` row"
    )
    return f"error: {why}; stored {stored} snapshot(s) before it (whole); {row}"


def exit_code(summary: RunSummary, signals: list[str] | None = None) -> int:
    """Return the process exit code of a run: 0, 1 when something failed, else the stop's.

    A stopped run exits with 128 + the number of the signal that stopped it (130 SIGINT,
    143 SIGTERM; 130 when `signals` names none).
    """
    if summary.cancelled:
        return signal_exit(signals[0] if signals else None)
    return 1 if summary.failures else 0


def say(line: str) -> None:
    """Print one line to stderr (not mixed into a table on stdout)."""
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Job:
    """A snapshot (`start` is its moment) or a backfill (sessions `start`..`end`) to run."""

    kind: str
    settings: Settings
    symbols: list[str]
    source: str
    start: datetime | date
    end: date | None = None
    force: bool = False
    strict: bool = False


def run_job(
    job: Job, dask: str | None = None, prefect: bool = False, bar: int = 0, alerts: int = 12
) -> int:
    """Run `job` where the settings and options say, show what it did; return the exit code.

    `bar`: sessions (or symbols) the progress bar counts (0: no bar); `alerts`: how many of
    the run's alerts the summary shows.
    """
    from gammalake.cli.summary import print_summary, run_progress

    where = where_of(job.settings, dask, prefect)
    if where.dask not in (None, "local"):
        from flows.fanout import probe_scheduler

        probe_scheduler(where.dask)  # one line before the progress bar shows, not after
    unit = "sessions" if job.kind == "backfill" else "symbols"
    context, advance, stored = run_progress(bar, job.kind, unit)
    with context:
        if where.prefect:
            summary, signals = _through_prefect(job, where, advance, stored)
        else:
            summary, signals = _here(job, where, advance, stored)
    if summary.disk_full:
        say(disk_full_line(summary))
        return 1
    if summary.cancelled:
        say(cancelled_line(summary, signals))
    else:
        print_summary(summary, alerts_shown=alerts)
    return exit_code(summary, signals)


def _here(
    job: Job, where: Where, advance: Progress, stored: Progress
) -> tuple[RunSummary, list[str]]:
    """Run the flow body in this process (threads) or on Dask; stop on SIGINT/SIGTERM."""
    fanout = fanout_of(job.settings, where)
    try:
        with stop_on_signals(fanout.stop.set) as signals:
            return _body(job, fanout, advance, stored), signals
    finally:
        fanout.close()


def _body(job: Job, fanout: Fanout | None, advance: Progress, stored: Progress) -> RunSummary:
    """Return the summary of running the job's flow body on `fanout`."""
    from flows.backfill import run_backfill
    from flows.snapshot import run_snapshot

    s = job.settings
    if job.kind == "snapshot":
        assert isinstance(job.start, datetime)
        return run_snapshot(s, job.symbols, job.source, job.start, fanout, advance)
    assert isinstance(job.start, date) and job.end is not None
    return run_backfill(
        s,
        job.symbols,
        job.source,
        job.start,
        job.end,
        job.force,
        advance,
        job.strict,
        fanout,
        stored,
    )


def _through_prefect(
    job: Job, where: Where, advance: Progress, stored: Progress
) -> tuple[RunSummary, list[str]]:
    """Run the job as a Prefect flow run (it shows in the UI); stop on SIGINT/SIGTERM.

    The flow's state tells the truth (Failed when a symbol failed, Cancelled when stopped);
    the summary comes back whatever the state, for the same table and exit code as a run here.
    """
    from dataclasses import replace

    from flows.deploy import wait_for_api
    from flows.prefect_api import configured_api_url
    from flows.prefect_runs import request_stop, run_backfill_flow, run_snapshot_flow

    url = configured_api_url()
    if url is not None:  # configured: it must answer (a temporary server is started otherwise)
        wait_for_api(url, 0)

    s = job.settings
    if where.dask is not None:
        address = None if where.dask == "local" else where.dask
        s = replace(s, task_runner="dask", dask_address=address)
    with stop_on_signals(request_stop) as signals:
        if job.kind == "snapshot":
            assert isinstance(job.start, datetime)
            summary = run_snapshot_flow(s, job.symbols, job.source, job.start, progress=advance)
            return summary, signals
        assert isinstance(job.start, date) and job.end is not None
        summary = run_backfill_flow(
            s,
            job.symbols,
            job.source,
            job.start,
            job.end,
            force=job.force,
            progress=advance,
            strict=job.strict,
            stored=stored,
        )
        return summary, signals
