"""The daily schedule: NYSE sessions at close + 15 minutes, New York time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dateutil import tz

from flows.deploy import daily_schedule, deployments, intraday_schedule, session_run_times
from flows.settings import Settings

NY = tz.gettz("America/New_York")


def occurrences(schedule, start: datetime, end: datetime) -> list[datetime]:
    return list(schedule.to_rrule().between(start, end, inc=True))


def test_dst_change_holiday_and_half_day():
    schedule = daily_schedule(date(2026, 3, 2), 15)
    dst = occurrences(
        schedule, datetime(2026, 3, 5, tzinfo=NY), datetime(2026, 3, 10, 23, tzinfo=NY)
    )
    assert [(d.date().isoformat(), d.hour, d.minute) for d in dst] == [
        ("2026-03-05", 16, 15),
        ("2026-03-06", 16, 15),
        ("2026-03-09", 16, 15),
        ("2026-03-10", 16, 15),
    ]
    assert {d.utcoffset() for d in dst[:2]} == {timedelta(hours=-5)}  # EST before 2026-03-08
    assert {d.utcoffset() for d in dst[2:]} == {timedelta(hours=-4)}  # EDT after
    easter = occurrences(schedule, datetime(2026, 4, 1, tzinfo=NY), datetime(2026, 4, 7, tzinfo=NY))
    assert [d.date().isoformat() for d in easter] == ["2026-04-01", "2026-04-02", "2026-04-06"]
    thanksgiving = occurrences(
        daily_schedule(date(2026, 11, 20), 15),
        datetime(2026, 11, 25, tzinfo=NY),
        datetime(2026, 11, 28, tzinfo=NY),
    )
    assert [(d.date().isoformat(), d.hour, d.minute) for d in thanksgiving] == [
        ("2026-11-25", 16, 15),
        ("2026-11-27", 13, 15),
    ]  # holiday skipped, half day early


def test_run_times_helper_and_schedule_agree():
    times = session_run_times(date(2026, 3, 2), date(2026, 3, 31), 15)
    rule = occurrences(daily_schedule(date(2026, 3, 2), 15), times[0], times[-1])
    assert [t.astimezone(UTC) for t in times] == [r.astimezone(UTC) for r in rule]


def test_intraday_and_deployments():
    assert intraday_schedule(30).cron == "*/30 9-15 * * 1-5"
    names = [
        d.name
        for d in deployments(Settings(home=__import__("pathlib").Path("/tmp")), date(2026, 3, 2))
    ]
    assert names == ["daily-snapshot", "weekly-doctor"]
    with_intraday = deployments(
        Settings(home=__import__("pathlib").Path("/tmp"), intraday_minutes=15), date(2026, 3, 2)
    )
    assert [d.name for d in with_intraday][-1] == "intraday-snapshot"
