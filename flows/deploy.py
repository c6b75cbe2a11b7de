"""Deployments and their schedules, served by `gammalake serve` (needs a Prefect server).

- daily snapshot: every NYSE session at its close plus `snapshot_delay_minutes`, New York time
  (16:15, or 13:15 on half days; holidays skipped). Cron cannot say that, so the schedule is
  the exact list of the coming year's run times (an RRULE of RDATEs, DST-correct);
  restart `gammalake serve` within a year to extend it.
- intraday snapshots (optional): every N minutes from 09:30 to 16:00 on weekdays; runs on a
  holiday or after a half day's close skip themselves.
- doctor: Saturdays at 07:00 New York.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from prefect import flow
from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule

from flows.settings import Settings, load_settings
from pipeline.engine.timing import NEW_YORK
from pipeline.sessions import after_close, nyse, sessions_between

TIMEZONE = "America/New_York"


def session_run_times(start: date, end: date, delay_minutes: int) -> list[datetime]:
    """Return each NYSE session's close plus `delay_minutes` in [start, end], New York time."""
    return [after_close(day, delay_minutes) for day in sessions_between(start, end)]


def daily_schedule(start: date, delay_minutes: int, days: int = 365) -> RRuleSchedule:
    """Return the schedule of the daily snapshot for the `days` from `start`."""
    last = min(start + timedelta(days=days), nyse().last_session.date())
    times = session_run_times(start, last, delay_minutes)
    stamps = ",".join(t.strftime("%Y%m%dT%H%M%S") for t in times)
    rule = f"DTSTART:{times[0].strftime('%Y%m%dT%H%M%S')}\nRDATE:{stamps}"
    return RRuleSchedule(rrule=rule, timezone=TIMEZONE)


def intraday_schedule(minutes: int) -> CronSchedule:
    """Return every `minutes` during regular hours on weekdays (the flow skips non-sessions)."""
    return CronSchedule(cron=f"*/{minutes} 9-15 * * 1-5", timezone=TIMEZONE)


def in_session(moment: datetime) -> bool:
    """Return True when `moment` falls inside an NYSE session (open to close)."""
    import pandas as pd

    return bool(nyse().is_open_on_minute(pd.Timestamp(moment).tz_convert("UTC")))


@flow(name="gammalake-scheduled-snapshot")
def scheduled_snapshot(
    home: str | None = None, config: str | None = None, intraday: bool = False
) -> dict[str, object]:
    """Run the snapshot flow for the watchlist now (intraday runs outside a session skip)."""
    from flows.snapshot import snapshot_flow

    settings = load_settings(Path(home) if home else None, Path(config) if config else None)
    now = datetime.now(NEW_YORK)
    if intraday and not in_session(now):
        return {"skipped": f"{now.isoformat()} is outside an NYSE session"}
    summary = snapshot_flow(settings, list(settings.watchlist), settings.source, now)
    return {"rows": summary.rows, "failures": summary.failures}


@flow(name="gammalake-doctor")
def doctor_flow(home: str | None = None) -> dict[str, object]:
    """Check the lake and return the findings."""
    from warehouse.doctor import diagnose
    from warehouse.home import resolve_home

    report = diagnose(resolve_home(Path(home) if home else None))
    return {
        "healthy": report.healthy,
        "findings": [f"{f.level}: {f.message}" for f in report.findings],
    }


def deployments(settings: Settings, today: date) -> list[object]:
    """Return the deployments `gammalake serve` registers."""
    home = str(settings.home)
    items = [
        scheduled_snapshot.to_deployment(
            name="daily-snapshot",
            parameters={"home": home},
            schedules=[daily_schedule(today, settings.snapshot_delay_minutes)],
        ),
        doctor_flow.to_deployment(
            name="weekly-doctor",
            parameters={"home": home},
            schedules=[CronSchedule(cron="0 7 * * 6", timezone=TIMEZONE)],
        ),
    ]
    if settings.intraday_minutes:
        items.append(
            scheduled_snapshot.to_deployment(
                name="intraday-snapshot",
                parameters={"home": home, "intraday": True},
                schedules=[intraday_schedule(settings.intraday_minutes)],
            )
        )
    return items


def serve_deployments(settings: Settings) -> None:
    """Register the deployments with the Prefect server and run them as scheduled."""
    from prefect import serve

    serve(*deployments(settings, datetime.now(NEW_YORK).date()))
