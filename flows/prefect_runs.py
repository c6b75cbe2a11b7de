"""The Prefect side of a run: flows whose states tell the truth, with Prefect tasks as units.

`snapshot_flow` and `backfill_flow` run the same bodies as a direct run (`run_snapshot`,
`run_backfill`), handing each unit (a batch of symbols, or a run of one symbol's sessions) to
`PrefectTasks`, so each shows as a task run named after its symbols, on the flow's task runner
(`flows.runners.task_runner(settings)`, set with `.with_options`).

What a run ends as:

- every symbol stored: Completed, the result is the `RunSummary`;
- some or all symbols failed: Failed, the message names them (the others' data is kept and
  the `runs` row says `partial`); the state's data is a `RunFailed` carrying the summary;
- stopped (`request_stop()`, which the CLI's signal handler calls): Cancelled, the data is a
  `RunCancelled` carrying the summary of what was stored.

How a caller gets the summary back, whatever the state: `run_snapshot_flow(...)` and
`run_backfill_flow(...)` return it (they call the flow with `return_state=True` and read it
with `summary_of(state)`). Called plainly, a flow returns the summary when it completes and
raises `RunFailed` / `RunCancelled` otherwise; the exception's `.summary` is the summary. An
error before any symbol ran (an unknown source, a bad settings file) is raised as itself.

Each run logs at INFO through the run logger (a start line, per symbol its rows, alerts,
requests and failures, an end line) and publishes a markdown artifact (key
`gammalake-snapshot-summary` or `gammalake-backfill-summary`) with the summary table and the
alerts. `scheduled_snapshot` and `doctor_flow` are what the deployments run (flows.deploy).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import cache, wraps
from pathlib import Path
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext
from prefect.states import Cancelled, Completed, Failed, State
from prefect.utilities.annotations import quote

from flows.backfill import run_backfill
from flows.fanout import Progress, StopFlag
from flows.runners import task_runner
from flows.runs import RunSummary, SymbolOutcome
from flows.settings import Settings, load_settings
from flows.snapshot import run_snapshot
from pipeline.engine.timing import NEW_YORK

#: Set by `request_stop()` (the CLI's SIGINT/SIGTERM handler): units finish the session in
#: hand and return; the run ends Cancelled. One per process, never cleared by a run.
STOPPING = threading.Event()

#: A backfill can raise thousands of alerts: the logs and the artifact show the first ones.
LOGGED_ALERTS = 10
SHOWN_ALERTS = 200

SNAPSHOT_ARTIFACT = "gammalake-snapshot-summary"
BACKFILL_ARTIFACT = "gammalake-backfill-summary"


def request_stop() -> None:
    """Ask every Prefect-backed run in this process to stop (safe in a signal handler)."""
    STOPPING.set()


class RunNotCompleted(Exception):  # noqa: N818 (a state's payload, not only an error)
    """A run that did not complete; `summary` says what it did (stored data is kept)."""

    def __init__(self, message: str, summary: RunSummary | None = None) -> None:
        """Carry `message` (the state's message) and the run's summary."""
        super().__init__(message)
        self.summary = summary


class RunFailed(RunNotCompleted):
    """Some or all symbols failed (the others' data is stored)."""


class RunCancelled(RunNotCompleted):
    """The run was stopped before every symbol was done."""


class LakeUnhealthyError(RuntimeError):
    """`doctor_flow` found warnings or errors (the message lists them)."""


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Make SIGTERM a stop request while a flow body runs (main thread only).

    During a flow run Prefect turns SIGTERM into an abort (the run ends Crashed, the
    partition in hand is lost to the temp folder). Here the first SIGTERM sets STOPPING, so
    the run finishes what it holds and ends Cancelled, as it does on Ctrl-C; a second one is
    handled as before (Prefect's abort). This covers `kill` and systemd stopping a unit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: Any) -> None:
        if not STOPPING.is_set():
            request_stop()
            return
        signal.signal(signal.SIGTERM, previous)  # insisted: what would have happened
        if callable(previous):
            previous(signum, frame)
        else:
            os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)


# -- the fanout -------------------------------------------------------------------------------


def _is_thread_runner(runner: Any) -> bool:
    """Return True when the runner runs tasks in this process (threads)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    return isinstance(runner, ThreadPoolTaskRunner)


class _ClusterStop:
    """A stop flag units on a Dask cluster can read: STOPPING mirrored to a cluster Event."""

    def __init__(self, runner: Any) -> None:
        """Create the cluster-wide event on the runner's client; watch STOPPING."""
        import uuid

        from distributed import Event

        self.event = Event(f"gammalake-stop-{uuid.uuid4().hex}", client=runner.client)
        self._closed = threading.Event()
        self._watch = threading.Thread(target=self._mirror, daemon=True)
        self._watch.start()

    def _mirror(self) -> None:
        """Set the cluster event once STOPPING is set (until closed)."""
        while not self._closed.is_set():
            if STOPPING.wait(0.2):
                self.event.set()
                return

    def close(self) -> None:
        """Stop watching."""
        self._closed.set()
        self._watch.join(timeout=1)


def _symbols_text(symbols: list[str]) -> str:
    """Return a short list of symbols for a run name."""
    return ",".join(symbols[:4]) + (f",+{len(symbols) - 4}" if len(symbols) > 4 else "")


def _task_run_name(parameters: dict[str, Any]) -> str:
    """Return a unit's task run name: its symbol(s), and the sessions of a backfill chunk."""
    symbols = parameters.get("symbols")
    if isinstance(symbols, list) and symbols:
        name = _symbols_text([str(s) for s in symbols])
    else:
        name = str(parameters.get("symbol") or "unit")
    days = parameters.get("days")
    if isinstance(days, list) and days:
        name += f" {days[0]}..{days[-1]}" if len(days) > 1 else f" {days[0]}"
    return name


class UnitFailedError(Exception):
    """A unit that returned outcomes with failures: its task run ends Failed, `value` kept."""

    def __init__(self, message: str, value: Any = None) -> None:
        """Carry the state's message and what the unit returned."""
        super().__init__(message)
        self.value = value


def _problems(value: Any) -> list[str]:
    """Return the failures in what a unit returned (one outcome, or a list of them)."""
    items = value if isinstance(value, list) else [value]
    return [f"{o.symbol}: {p}" for o in items if isinstance(o, SymbolOutcome) for p in o.problems]


def _truthful(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Return `fn` made to end its task run Failed when a symbol in its outcomes failed.

    A unit records a failed symbol in its outcome rather than raising (the others go on);
    without this, Prefect would show the task green.
    """

    @wraps(fn)
    def unit(*args: Any, **kwargs: Any) -> Any:
        value = fn(*args, **kwargs)
        problems = _problems(value)
        if not problems:
            return value
        message = _short("; ".join(problems), 500)
        return Failed(message=message, data=UnitFailedError(message, value))

    return unit


class _UnitFuture:
    """A task's future whose `result()` is what the unit returned, failed symbols or not."""

    def __init__(self, future: Any) -> None:
        """Wrap a Prefect future."""
        self.future = future

    def result(self) -> Any:
        """Return the unit's value; raise the exception the unit raised."""
        value = self.future.result(raise_on_failure=False)
        if isinstance(value, UnitFailedError):
            return value.value
        if isinstance(value, BaseException):
            raise value
        return value


@cache
def _task_of(fn: Callable[..., Any]) -> Any:
    """Return the Prefect task that runs `fn` (one per function; nothing cached per call)."""
    module = fn.__module__.rsplit(".", 1)[-1]
    make = task(
        name=f"{module}.{fn.__name__}",
        # Prefect calls a `parameters` callback with the call's parameters; its Protocol also
        # asks for a classmethod no plain function has.
        task_run_name=cast(Any, _task_run_name),
        cache_policy=NONE,
        persist_result=False,
    )
    return make(_truthful(fn))


def _argument(value: Any, local: bool) -> Any:
    """Return `value` as a task parameter: on threads, objects quoted (Prefect does not walk them).

    On Dask they go as they are: they are pickled, and a quote does not survive the trip.
    """
    if not local or value is None or isinstance(value, (str, int, float, date)):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, date)) for v in value):
        return value  # symbol and session lists stay readable in the run's parameters
    return quote(value)


class PrefectTasks:
    """Units run as Prefect tasks of the current flow run, on the flow's task runner.

    `stop` is STOPPING (threads) or a cluster-wide event that mirrors it (Dask). Progress is
    relayed only when the units run in this process.
    """

    def __init__(self) -> None:
        """Use the task runner of the flow run in progress."""
        context = FlowRunContext.get()
        if context is None or context.task_runner is None:
            raise RuntimeError("PrefectTasks works inside a flow run")
        self.runner = context.task_runner
        self.local = _is_thread_runner(self.runner)
        self._cluster = None if self.local else _ClusterStop(self.runner)
        self.stop: StopFlag = STOPPING if self._cluster is None else self._cluster.event

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Submit `fn(*args)` as a task run; return its future (`.result()`: fn's value)."""
        return _UnitFuture(_task_of(fn).submit(*[_argument(a, self.local) for a in args]))

    def relay(self, hook: Progress | None) -> Progress | None:
        """Return `hook` when units run in this process (threads), else None (no progress)."""
        return hook if self.local else None

    def close(self) -> None:
        """Stop mirroring the stop flag (the flow's task runner is Prefect's to shut down)."""
        if self._cluster is not None:
            self._cluster.close()


# -- what a run tells Prefect -----------------------------------------------------------------


def _rows(outcome: SymbolOutcome) -> str:
    """Return rows written per dataset, e.g. `snapshots 1, strikes 81`."""
    return ", ".join(f"{k} {v:,}" for k, v in sorted(outcome.rows.items())) or "no rows"


def _cell(text: object) -> str:
    """Return `text` fit for a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _short(text: str, limit: int = 160) -> str:
    """Return `text` cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def state_message(summary: RunSummary) -> str:
    """Return the one-line message of the run's final state."""
    n, failures = len(summary.outcomes), summary.failures
    rows = sum(summary.rows.values())
    stored = sum(len(o.stored) for o in summary.outcomes)
    if summary.cancelled:
        return f"cancelled: stopped after storing {stored} snapshot(s), {rows:,} rows (kept)"
    if not failures:
        return f"{n} symbol(s): {stored} snapshot(s), {rows:,} rows, {len(summary.alerts)} alert(s)"
    named = "; ".join(f"{s}: {_short(why, 120)}" for s, why in failures.items())
    if summary.status == "failed":
        return _short(f"every symbol failed ({len(failures)} of {n}): {named}", 1000)
    return _short(
        f"{len(failures)} of {n} symbol(s) failed: {named} "
        f"(the others' {stored} snapshot(s) are stored)",
        1000,
    )


def final_state(summary: RunSummary) -> State:
    """Return the state a snapshot or backfill run ends in (see the module docstring)."""
    message = state_message(summary)
    if summary.cancelled:
        return Cancelled(message=message, data=RunCancelled(message, summary))
    if summary.failures:
        return Failed(message=message, data=RunFailed(message, summary))
    return Completed(message=message, data=summary)


def summary_of(state: State) -> RunSummary:
    """Return the RunSummary a snapshot or backfill flow run's final state carries.

    Raises the run's own error when it ended before a summary existed (e.g. InputError for
    an unknown source).
    """
    value = state.result(raise_on_failure=False)
    if isinstance(value, RunSummary):
        return value
    summary = getattr(value, "summary", None)
    if isinstance(summary, RunSummary):
        return summary
    if isinstance(value, BaseException):
        raise value
    raise RuntimeError(f"flow run ended {state.type.value} without a summary: {state.message}")


def log_summary(summary: RunSummary, log: Any) -> None:
    """Log per symbol what it stored, its alerts, requests and failures; then an end line."""
    for outcome in summary.outcomes:
        log.info(
            "%s: %s, %d snapshot(s) (%s), %d alert(s), %d request(s)%s",
            outcome.symbol,
            outcome.status,
            len(outcome.stored),
            _rows(outcome),
            len(outcome.alerts),
            outcome.requests,
            f", {outcome.skipped} already stored" if outcome.skipped else "",
        )
        for alert in outcome.alerts[:LOGGED_ALERTS]:
            log.info("alert %s: %s", alert.get("kind"), alert.get("message"))
        if len(outcome.alerts) > LOGGED_ALERTS:
            more = len(outcome.alerts) - LOGGED_ALERTS
            log.info(
                "%s: %d more alert(s) in the artifact and the alerts table", outcome.symbol, more
            )
        for problem in outcome.problems:
            log.error("%s failed: %s", outcome.symbol, problem)
        for remark in outcome.remarks():
            log.info("%s: %s", outcome.symbol, remark)
    for note in summary.notes:
        log.warning("%s", note)
    seconds = (summary.finished - summary.started).total_seconds() if summary.finished else 0.0
    log.info(
        "%s %s in %.1f s: %s; %d request(s); runs row %s",
        summary.flow,
        summary.status,
        seconds,
        state_message(summary),
        sum(o.requests for o in summary.outcomes),
        summary.run_id[:8],
    )


def summary_markdown(summary: RunSummary) -> str:
    """Return the run's summary as markdown: a table per symbol, the alerts, the notes."""
    finished = summary.finished or summary.started
    lines = [
        f"# gammalake {summary.flow}: {summary.status}",
        "",
        f"{state_message(summary)}",
        "",
        f"Source `{summary.source}`, method `{summary.method}`; started "
        f"{summary.started.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S %Z}, took "
        f"{(finished - summary.started).total_seconds():.1f} s; run `{summary.run_id}` in "
        "the `runs` table.",
        "",
        "| symbol | status | snapshots | rows | alerts | requests | problems |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for o in summary.outcomes:
        problems = "; ".join(_short(p) for p in o.problems)
        lines.append(
            f"| {_cell(o.symbol)} | {o.status} | {len(o.stored)} | {sum(o.rows.values()):,} "
            f"| {len(o.alerts)} | {o.requests} | {_cell(problems)} |"
        )
    lines += ["", f"## Alerts ({len(summary.alerts)})", ""]
    if summary.alerts:
        lines += ["| symbol | session | kind | message |", "| --- | --- | --- | --- |"]
        for a in summary.alerts[:SHOWN_ALERTS]:
            lines.append(
                f"| {_cell(a.get('symbol'))} | {a.get('trade_date')} | {_cell(a.get('kind'))} "
                f"| {_cell(a.get('message'))} |"
            )
        if len(summary.alerts) > SHOWN_ALERTS:
            more = len(summary.alerts) - SHOWN_ALERTS
            lines += ["", f'... and {more} more: `gammalake sql "SELECT * FROM alerts"`.']
    else:
        lines.append("None.")
    remarks = [f"{o.symbol}: {r}" for o in summary.outcomes for r in o.remarks()]
    if summary.notes or remarks:
        lines += ["", "## Notes", ""] + [f"- {_cell(n)}" for n in [*summary.notes, *remarks]]
    return "\n".join(lines) + "\n"


def publish(summary: RunSummary, key: str) -> None:
    """Publish the run's summary as a markdown artifact under `key`."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        markdown=summary_markdown(summary),
        key=key,
        description=f"gammalake {summary.flow}: {state_message(summary)}"[:500],
    )


def _report(summary: RunSummary, key: str) -> State:
    """Log the summary, publish its artifact; return the run's final state."""
    log_summary(summary, get_run_logger())
    publish(summary, key)
    return final_state(summary)


# -- the flows --------------------------------------------------------------------------------


def _snapshot_run_name() -> str:
    """Return a snapshot flow run's name: source, symbols, moment."""
    from prefect.runtime import flow_run

    p = flow_run.parameters
    at = p.get("at")
    when = at.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M") if isinstance(at, datetime) else ""
    return f"snapshot {p.get('source_name')} {_symbols_text(list(p.get('symbols') or []))} {when}"


def _backfill_run_name() -> str:
    """Return a backfill flow run's name: source, symbols, sessions."""
    from prefect.runtime import flow_run

    p = flow_run.parameters
    symbols = _symbols_text(list(p.get("symbols") or []))
    return f"backfill {p.get('source_name')} {symbols} {p.get('start')}..{p.get('end')}"


def _task_runner_text() -> str:
    """Return the current flow run's task runner, for the start line."""
    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    return type(runner).__name__ if runner is not None else "?"


@flow(
    name="gammalake-snapshot",
    flow_run_name=_snapshot_run_name,
    validate_parameters=False,
    persist_result=False,
)
def snapshot_flow(
    settings: Settings,
    symbols: list[str],
    source_name: str,
    at: datetime,
    progress: Progress | None = None,
) -> RunSummary:
    """Snapshot `symbols` from `source_name` at `at`, batches of symbols as tasks (module doc).

    `progress` is called with each symbol done (threads only).
    """
    get_run_logger().info(
        "snapshot of %d symbol(s) (%s) from %s at %s into %s, on %s",
        len(symbols),
        _symbols_text(symbols),
        source_name,
        at.isoformat(),
        settings.home,
        _task_runner_text(),
    )
    fanout = PrefectTasks()
    try:
        with stop_on_sigterm():
            summary = run_snapshot(
                settings, symbols, source_name, at, fanout=fanout, progress=progress
            )
    finally:
        fanout.close()
    return _report(summary, SNAPSHOT_ARTIFACT)  # type: ignore[return-value]


@flow(
    name="gammalake-backfill",
    flow_run_name=_backfill_run_name,
    validate_parameters=False,
    persist_result=False,
)
def backfill_flow(
    settings: Settings,
    symbols: list[str],
    source_name: str,
    start: date,
    end: date,
    force: bool = False,
    progress: Progress | None = None,
    strict: bool = False,
    stored: Progress | None = None,
) -> RunSummary:
    """Backfill `symbols` over the sessions in [start, end], units as tasks (see module doc).

    `progress` is called per session done (threads only), `stored` once per symbol with the
    sessions already stored.
    """
    get_run_logger().info(
        "backfill of %d symbol(s) (%s) from %s over %s..%s into %s%s, on %s",
        len(symbols),
        _symbols_text(symbols),
        source_name,
        start,
        end,
        settings.home,
        " (force)" if force else "",
        _task_runner_text(),
    )
    fanout = PrefectTasks()
    try:
        with stop_on_sigterm():
            summary = run_backfill(
                settings,
                symbols,
                source_name,
                start,
                end,
                force=force,
                progress=progress,
                strict=strict,
                fanout=fanout,
                stored=stored,
            )
    finally:
        fanout.close()
    return _report(summary, BACKFILL_ARTIFACT)  # type: ignore[return-value]


def run_snapshot_flow(
    settings: Settings,
    symbols: list[str],
    source_name: str,
    at: datetime,
    progress: Progress | None = None,
) -> RunSummary:
    """Run `snapshot_flow` on the settings' task runner; return its summary, whatever the state."""
    runner = snapshot_flow.with_options(task_runner=task_runner(settings))
    state = runner(settings, symbols, source_name, at, progress=progress, return_state=True)
    return summary_of(state)


def run_backfill_flow(
    settings: Settings,
    symbols: list[str],
    source_name: str,
    start: date,
    end: date,
    force: bool = False,
    progress: Progress | None = None,
    strict: bool = False,
    stored: Progress | None = None,
) -> RunSummary:
    """Run `backfill_flow` on the settings' task runner; return its summary, whatever the state."""
    runner = backfill_flow.with_options(task_runner=task_runner(settings))
    state = runner(
        settings,
        symbols,
        source_name,
        start,
        end,
        force=force,
        progress=progress,
        strict=strict,
        stored=stored,
        return_state=True,
    )
    return summary_of(state)


# -- what the deployments run -----------------------------------------------------------------


def skip_reason(moment: datetime, intraday: bool) -> str | None:
    """Return why a scheduled snapshot at `moment` does not run, or None when it does.

    The daily run needs an NYSE session that day (the rolling schedule fires on every
    weekday beyond the calendar it was made with); an intraday run needs the market open.
    """
    import pandas as pd

    from pipeline.sessions import nyse

    local = moment.astimezone(NEW_YORK)
    calendar = nyse()
    day = pd.Timestamp(local.date())
    session = calendar.is_session(day)
    if not intraday:
        return None if session else f"{local:%Y-%m-%d} ({local:%A}) is not an NYSE session"
    stamp = pd.Timestamp(local)
    if session and calendar.session_open(day) <= stamp < calendar.session_close(day):
        return None
    return f"{local:%Y-%m-%d %H:%M %Z} is outside an NYSE session"


def _scheduled_run_name() -> str:
    """Return a scheduled run's name: daily/intraday and the time it was due, New York."""
    from prefect.runtime import flow_run

    due = flow_run.scheduled_start_time
    kind = "intraday" if flow_run.parameters.get("intraday") else "daily"
    when = due.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M") if due else ""
    return f"{kind} snapshot {when}"


def _now() -> datetime:
    """Return the moment a scheduled snapshot is taken: now, New York (tests move it)."""
    return datetime.now(NEW_YORK)


def _path(text: str | None) -> Path | None:
    """Return a path parameter, or None."""
    return Path(text) if text else None


@flow(name="gammalake-scheduled-snapshot", flow_run_name=_scheduled_run_name)
def scheduled_snapshot(
    home: str | None = None, config: str | None = None, intraday: bool = False
) -> RunSummary:
    """Snapshot the watchlist now with the settings of `home` and `config` (skips non-sessions).

    The snapshot itself is a `gammalake-snapshot` subflow run (its task runner comes from the
    settings); this run ends in the same state, with the same message.
    """
    log = get_run_logger()
    settings = load_settings(_path(home), _path(config))
    now = _now()
    why = skip_reason(now, intraday)
    if why is not None:
        log.info("skipped: %s", why)
        return Completed(message=f"skipped: {why}")  # type: ignore[return-value]
    log.info(
        "settings from %s%s: %s from %s",
        settings.home,
        f" and {config}" if config else "",
        ",".join(settings.watchlist),
        settings.source,
    )
    summary = run_snapshot_flow(settings, list(settings.watchlist), settings.source, now)
    return final_state(summary)  # type: ignore[return-value]


@flow(name="gammalake-doctor")
def doctor_flow(home: str | None = None, config: str | None = None) -> dict[str, object]:
    """Check the lake like `gammalake doctor`; fail with the problems when it is not healthy."""
    from flows.snapshot import pricing_of
    from pipeline.engine.method import ENGINE_VERSION
    from warehouse.doctor import diagnose

    log = get_run_logger()
    settings = load_settings(_path(home), _path(config))
    method = pricing_of(settings).method
    report = diagnose(settings.home, engine_version=ENGINE_VERSION, method=method)
    levels = {"ok": log.info, "fixed": log.info, "warning": log.warning, "error": log.error}
    for finding in report.findings:
        levels[finding.level]("%s: %s", finding.level, finding.message)
    findings = [f"{f.level}: {f.message}" for f in report.findings]
    if not report.healthy:
        problems = [f for f in report.findings if f.level == "error"]
        problems += [f for f in report.findings if f.level == "warning"]
        message = f"{settings.home} is not healthy: " + "; ".join(
            f"{f.level}: {f.message}" for f in problems
        )
        return Failed(message=_short(message, 1000), data=LakeUnhealthyError(message))  # type: ignore[return-value]
    return Completed(  # type: ignore[return-value]
        message=f"{settings.home} is healthy ({len(findings)} check(s))",
        data={"healthy": True, "findings": findings},
    )
