"""Deployments and their schedules: served by `gammalake serve`, or run by a process worker.

Two ways to run them, both against a Prefect server (`PREFECT_API_URL`; never a temporary one):

- `serve_deployments`: this process registers the deployments and runs them as they fall due
  (`gammalake serve`); stopping it leaves the schedules active, and runs that fell due while
  it was down wait as Late until it is back.
- `deploy_to_pool`: registers them against a process work pool (created when missing) and
  returns; `prefect worker start --pool NAME` runs them (`gammalake deploy --pool NAME`).
  The worker imports the flows from the installed package (entrypoints are module paths such
  as `flows.prefect_runs.scheduled_snapshot`), so no code is uploaded and no image is built.

Parameters carry the absolute home and settings file, so a worker started elsewhere reads the
same settings as the command that deployed.

Schedules (New York time):
- daily snapshot: every NYSE session at its close plus `snapshot_delay_minutes` (16:15, or
  13:15 on half days). A rolling rule that never expires: weekdays at 16:00 plus the delay,
  with the holidays the NYSE calendar knows excluded (EXDATE) and its half days moved to their
  early close (EXDATE + RDATE). Beyond the calendar's span (about a year ahead) the rule fires
  on every weekday and the flow skips days that are not sessions; deploying again refreshes
  the known holidays.
- intraday snapshots (optional): every N minutes from 09:30 to 16:00 on weekdays; runs outside
  a session (a holiday, after a half day's close) skip themselves.
- doctor: Saturdays at 07:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.settings import Settings
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sessions import after_close, calendar_span, close_times, sessions_between

if TYPE_CHECKING:  # Prefect is imported where it is used: `require_api` answers at once
    from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule

TIMEZONE = "America/New_York"
#: The close the rolling rule assumes; the calendar's half days are moved from it.
REGULAR_CLOSE = time(16, 0)
_STAMP = "%Y%m%dT%H%M%S"  # floating local time: Prefect reads it in the schedule's timezone


def session_run_times(start: date, end: date, delay_minutes: int) -> list[datetime]:
    """Return each NYSE session's close plus `delay_minutes` in [start, end], New York time."""
    return [after_close(day, delay_minutes) for day in sessions_between(start, end)]


def _weekdays(start: date, end: date) -> list[date]:
    """Return Monday to Friday from `start` to `end`, both included."""
    days = (start + timedelta(n) for n in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5]


def daily_schedule(start: date, delay_minutes: int) -> RRuleSchedule:
    """Return the rolling schedule of the daily snapshot from `start` on (see module doc)."""
    from prefect.client.schemas.schedules import RRuleSchedule

    delay = timedelta(minutes=delay_minutes)
    regular = (datetime.combine(date.min, REGULAR_CLOSE) + delay).time()
    weekdays = _weekdays(start, max(start, calendar_span()[1]))
    sessions = sessions_between(start, weekdays[-1]) if weekdays else []
    known = set(sessions)
    excluded = [d for d in weekdays if d not in known]  # holidays
    early = [
        (d, close + delay)
        for d, close in zip(sessions, close_times(sessions), strict=True)
        if close.time() != REGULAR_CLOSE
    ]
    excluded += [d for d, _ in early]  # half days: not at the regular time ...
    first = next((d for d in _weekdays(start, start + timedelta(6))), start)
    lines = [
        f"DTSTART:{datetime.combine(first, regular):{_STAMP}}",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    ]
    if excluded:
        stamps = ",".join(f"{datetime.combine(d, regular):{_STAMP}}" for d in sorted(excluded))
        lines.append(f"EXDATE:{stamps}")
    if early:  # ... but at their early close
        lines.append(
            "RDATE:" + ",".join(f"{when.replace(tzinfo=None):{_STAMP}}" for _, when in early)
        )
    return RRuleSchedule(rrule="\n".join(lines), timezone=TIMEZONE)


def intraday_schedule(minutes: int) -> CronSchedule:
    """Return every `minutes` during regular hours on weekdays (the flow skips non-sessions)."""
    from prefect.client.schemas.schedules import CronSchedule

    return CronSchedule(cron=f"*/{minutes} 9-15 * * 1-5", timezone=TIMEZONE)


def doctor_schedule() -> CronSchedule:
    """Return Saturdays at 07:00 New York."""
    from prefect.client.schemas.schedules import CronSchedule

    return CronSchedule(cron="0 7 * * 6", timezone=TIMEZONE)


def deployments(settings: Settings, today: date, config: Path | None = None) -> list[Any]:
    """Return the deployments to register: daily snapshot, weekly doctor, optional intraday.

    Entrypoints are module paths (the installed package), parameters the absolute home and
    settings file.
    """
    from prefect.deployments.runner import EntrypointType

    from flows.prefect_runs import doctor_flow, scheduled_snapshot

    where: dict[str, Any] = {"home": str(settings.home.absolute())}
    if config is not None:
        where["config"] = str(config.expanduser().absolute())
    common: dict[str, Any] = {
        "entrypoint_type": EntrypointType.MODULE_PATH,
        "tags": ["gammalake"],
    }
    items = [
        scheduled_snapshot.to_deployment(
            name="daily-snapshot",
            parameters=dict(where),
            schedules=[daily_schedule(today, settings.snapshot_delay_minutes)],
            description="The watchlist at each NYSE session's close plus the delay.",
            **common,
        ),
        doctor_flow.to_deployment(
            name="weekly-doctor",
            parameters=dict(where),
            schedules=[doctor_schedule()],
            description="gammalake doctor on the home; fails when the lake is not healthy.",
            **common,
        ),
    ]
    if settings.intraday_minutes:
        items.append(
            scheduled_snapshot.to_deployment(
                name="intraday-snapshot",
                parameters={**where, "intraday": True},
                schedules=[intraday_schedule(settings.intraday_minutes)],
                description=f"The watchlist every {settings.intraday_minutes} minutes in session.",
                **common,
            )
        )
    return items


def require_api() -> str:
    """Return the configured Prefect API URL; raise InputError when there is none.

    Deployments live on a server that outlasts this process: a temporary one would vanish
    with it, silently.
    """
    from flows.prefect_api import configured_api_url

    url = configured_api_url()
    if url is None:
        error = InputError("no Prefect server configured: deployments need one (PREFECT_API_URL)")
        error.hint = (
            "start one with `prefect server start`, then "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api` "
            "(or `prefect config set PREFECT_API_URL=...`)"
        )
        raise error
    return url


def wait_for_api(url: str, seconds: float) -> None:
    """Wait until the Prefect API at `url` answers its health check, at most `seconds`.

    For a deploy step started with the server (systemd, compose): raise InputError if the
    server has not answered in time.
    """
    import time as clock

    import httpx

    deadline = clock.monotonic() + max(0.0, seconds)
    while True:
        try:
            if httpx.get(f"{url.rstrip('/')}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if clock.monotonic() >= deadline:
            within = f" within {seconds:g} s" if seconds > 0 else ""
            error = InputError(f"the Prefect server at {url} does not answer{within}")
            error.hint = "is `prefect server start` running, and PREFECT_API_URL right?"
            raise error
        clock.sleep(1.0)


def serve_deployments(settings: Settings, config: Path | None = None) -> None:
    """Register the deployments with the Prefect server and run them as they fall due."""
    wait_for_api(require_api(), 0)
    from prefect import serve

    items = deployments(settings, datetime.now(NEW_YORK).date(), config)
    refuse_pool_deployments(items)
    # pause_on_shutdown=False: a restart (systemd, a reboot) must not leave the schedules off.
    serve(*items, pause_on_shutdown=False)


def refuse_pool_deployments(items: list[Any]) -> None:
    """Raise InputError when one of `items` is already deployed to a work pool.

    Serving it too would run it twice (the worker polls the pool, `serve` its deployments).
    """
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for item in items:
            name = f"{item.flow_name}/{item.name}"
            try:
                found = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if found.work_pool_name:
                error = InputError(
                    f"deployment {name} runs on work pool {found.work_pool_name!r} "
                    "(gammalake deploy): serving it too would run it twice"
                )
                error.hint = (
                    f"start `prefect worker start --pool {found.work_pool_name}` instead, or "
                    f"delete it first: prefect deployment delete {name}"
                )
                raise error


@dataclass(frozen=True)
class Deployed:
    """What `deploy_to_pool` registered."""

    pool: str
    created_pool: bool
    names: list[str]
    api_url: str


def ensure_process_pool(client: Any, name: str) -> bool:
    """Create the process work pool `name` if missing; return True when it was created.

    Raises InputError when a pool of that name exists with another type.
    """
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type=ProcessWorker.type,
                base_job_template=ProcessWorker.get_default_base_job_template(),
                description="gammalake: snapshots and doctor (prefect worker start --pool).",
            )
        )
        return True
    if pool.type != ProcessWorker.type:
        raise InputError(
            f"work pool {name!r} is of type {pool.type!r}; gammalake deploys to a "
            f"{ProcessWorker.type!r} pool: name another with --pool"
        )
    return False


def deploy_to_pool(
    settings: Settings, pool: str, config: Path | None = None, wait_seconds: float = 0
) -> Deployed:
    """Register the deployments against the process work pool `pool` (created when missing).

    `prefect worker start --pool POOL` then runs them. Deploying again updates them in
    place (schedules, parameters) and refreshes the holidays the daily schedule knows.
    `wait_seconds`: how long to wait for the server to answer first (0: not at all).
    """
    url = require_api()
    if not pool.strip():
        raise InputError("--pool '' names no work pool")
    wait_for_api(url, wait_seconds)  # 0: one health check, so a dead server is one line
    from prefect import get_client

    with get_client(sync_client=True) as client:
        created = ensure_process_pool(client, pool)
    items = deployments(settings, datetime.now(NEW_YORK).date(), config)
    for item in items:
        item.apply(work_pool_name=pool)
    return Deployed(pool, created, [f"{item.flow_name}/{item.name}" for item in items], url)
