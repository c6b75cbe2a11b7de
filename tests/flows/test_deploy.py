"""The daily schedule (NYSE sessions at close + 15 minutes, New York), and deploying it."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from dateutil import tz

from flows.deploy import (
    daily_schedule,
    deploy_to_pool,
    deployments,
    intraday_schedule,
    require_api,
    serve_deployments,
    session_run_times,
)
from flows.settings import Settings
from pipeline.errors import InputError
from pipeline.sessions import calendar_span

NY = tz.gettz("America/New_York")


def occurrences(schedule, start: datetime, end: datetime) -> list[datetime]:
    return list(schedule.to_rrule().between(start, end, inc=True))


def server_dates(schedule, start: datetime, n: int) -> list[datetime]:
    """Return the next `n` run times as Prefect's server computes them (its own schema)."""
    from prefect.server.schemas.schedules import RRuleSchedule

    server = RRuleSchedule(rrule=schedule.rrule, timezone=schedule.timezone)
    return list(asyncio.run(server.get_dates(n=n, start=start)))


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
    # Prefect's server reads the rule the same way (its scheduler makes the runs from it).
    served = server_dates(schedule, datetime(2026, 11, 25, tzinfo=NY), 3)
    assert [(d.date().isoformat(), d.hour, d.minute) for d in served] == [
        ("2026-11-25", 16, 15),
        ("2026-11-27", 13, 15),
        ("2026-11-30", 16, 15),
    ]


def test_run_times_helper_and_schedule_agree_over_the_known_calendar():
    start = date(2026, 3, 2)
    times = session_run_times(start, calendar_span()[1], 15)
    rule = occurrences(daily_schedule(start, 15), times[0], times[-1])
    assert [t.astimezone(UTC) for t in times] == [r.astimezone(UTC) for r in rule]


def test_schedule_rolls_on_beyond_two_years_and_stays_short():
    today = datetime.now(NY).date()
    schedule = daily_schedule(today, 15)
    from prefect.client.schemas.schedules import MAX_RRULE_LENGTH

    assert len(schedule.rrule) < MAX_RRULE_LENGTH / 4  # a year of holidays, not of dates
    later = datetime.combine(today + timedelta(days=2 * 366 + 30), datetime.min.time(), NY)
    runs = occurrences(schedule, later, later + timedelta(days=14))
    assert len(runs) == 10  # two weeks of weekdays: beyond the calendar the flow skips holidays
    assert {(r.weekday() < 5, r.hour, r.minute) for r in runs} == {(True, 16, 15)}
    assert [(d.hour, d.minute) for d in server_dates(schedule, later, 5)] == [(16, 15)] * 5


def test_intraday_and_deployments_carry_absolute_home_and_config(tmp_path, monkeypatch):
    assert intraday_schedule(30).cron == "*/30 9-15 * * 1-5"
    monkeypatch.chdir(tmp_path)
    names = [d.name for d in deployments(Settings(home=Path("/tmp")), date(2026, 3, 2))]
    assert names == ["daily-snapshot", "weekly-doctor"]
    settings = Settings(home=Path("/tmp"), intraday_minutes=15)
    items = deployments(settings, date(2026, 3, 2), Path("my.toml"))
    assert [d.name for d in items][-1] == "intraday-snapshot"
    for item in items:
        assert item.parameters["home"] == "/tmp"
        assert item.parameters["config"] == str(tmp_path / "my.toml")
        assert item.entrypoint in (
            "flows.prefect_runs.scheduled_snapshot",
            "flows.prefect_runs.doctor_flow",
        )
    assert items[-1].parameters["intraday"] is True


def test_serve_and_deploy_refuse_without_a_prefect_server(monkeypatch, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))  # no profile naming a server either
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    with pytest.raises(InputError, match="no Prefect server") as refused:
        require_api()
    assert "prefect server start" in refused.value.hint
    with pytest.raises(InputError, match="no Prefect server"):
        deploy_to_pool(Settings(home=tmp_path), "gammalake")


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_deploy_to_a_process_pool_and_the_server_schedules_sessions(tmp_path, monkeypatch):
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    settings = Settings(home=tmp_path / "home")
    done = deploy_to_pool(settings, "gammalake-test", tmp_path / "gammalake.toml")
    again = deploy_to_pool(settings, "gammalake-test")  # updates in place
    assert done.created_pool and not again.created_pool
    assert done.names == [
        "gammalake-scheduled-snapshot/daily-snapshot",
        "gammalake-doctor/weekly-doctor",
    ]
    with get_client(sync_client=True) as client:
        assert client.read_work_pool("gammalake-test").type == "process"
        daily = client.read_deployment_by_name("gammalake-scheduled-snapshot/daily-snapshot")
        assert daily.work_pool_name == "gammalake-test"
        assert daily.entrypoint == "flows.prefect_runs.scheduled_snapshot"
        assert daily.parameters == {"home": str(tmp_path / "home")}  # the second deploy's
        # The server makes the runs (its scheduling code, on this SQLAlchemy): the next four
        # months (holidays and half days as the calendar knows them), then a week more than
        # two years ahead, where every weekday runs at 16:15 and the flow skips non-sessions.
        today = datetime.now(NY).date()
        soon = (today + timedelta(days=1), today + timedelta(days=120))
        far = today + timedelta(days=2 * 366 + 30)
        far = far + timedelta(days=7 - far.weekday())  # a Monday
        for first, last in [soon, (far, far + timedelta(days=4))]:
            start = datetime.combine(first, datetime.min.time(), NY)
            end = datetime.combine(last, datetime.max.time(), NY)
            response = client.request(
                "POST",
                "/deployments/{id}/schedule",
                path_params={"id": daily.id},
                json={
                    "start_time": start.isoformat(),
                    "end_time": end.isoformat(),
                    "min_time": (end - start).total_seconds(),
                    "max_runs": 500,
                },
            )
            response.raise_for_status()
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[daily.id])),
            limit=200,
        )
    made = sorted(r.expected_start_time.astimezone(UTC) for r in runs)
    expected = session_run_times(soon[0], soon[1], 15)
    assert len(expected) < 84  # four months hold at least one holiday the calendar knows
    assert made[: len(expected)] == [t.astimezone(UTC) for t in expected]
    assert [(t.astimezone(NY).date(), t.astimezone(NY).hour) for t in made[len(expected) :]] == [
        (far + timedelta(days=n), 16) for n in range(5)
    ]
    # `serve` would run the same deployments a second time: it refuses, naming the pool.
    with pytest.raises(InputError, match="runs on work pool 'gammalake-test'"):
        serve_deployments(settings)
