"""Runs through a real Prefect API: states that tell the truth, INFO logs, the artifact.

One temporary Prefect server serves the whole session (tests/flows/conftest.py), started
patiently: no test here depends on it starting in time.
"""

from __future__ import annotations

import os
import signal
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from flows import prefect_runs
from flows.prefect_runs import (
    BACKFILL_ARTIFACT,
    SNAPSHOT_ARTIFACT,
    STOPPING,
    RunFailed,
    backfill_flow,
    doctor_flow,
    request_stop,
    scheduled_snapshot,
    snapshot_flow,
    summary_of,
)
from flows.settings import Settings
from pipeline.engine.timing import NEW_YORK
from warehouse import catalog

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

AT = datetime(2024, 3, 15, 16, 15, tzinfo=NEW_YORK)
SMALL = {"synthetic_expiries": 4, "synthetic_strikes": 21}


def chains_with(folder: Path, symbols: list[str]) -> Path:
    """Write the synthetic chain of each symbol at AT as a chain file; return the folder."""
    from pipeline.sources.synthetic import SyntheticMarket

    folder.mkdir(parents=True, exist_ok=True)
    for symbol in symbols:
        chain = SyntheticMarket().chain(symbol, AT)
        chain.frame.with_columns(
            underlying_price=pl.lit(chain.spot), as_of=pl.lit(AT.isoformat())
        ).write_csv(folder / f"{symbol}_2024-03-15.csv")
    return folder


def logs_of(flow_run_id) -> list[tuple[int, str]]:
    """Return (level, message) of every log the API holds for a flow run."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # logs are sent in batches: wait until these have arrived
    with get_client(sync_client=True) as client:
        found = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200
        )
    return [(log.level, log.message) for log in found]


def task_states(flow_run_id) -> list[tuple[str, str]]:
    """Return (name, state name) of the flow run's task runs."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        found = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return [(t.name, t.state_name) for t in found]


def artifact_of(flow_run_id, key: str) -> str:
    """Return the markdown of the run's artifact under `key`."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    assert len(found) == 1, found
    assert found[0].type == "markdown"
    return str(found[0].data)


def test_states_tell_the_truth_and_runs_log_and_publish(tmp_path):
    chains = chains_with(tmp_path / "chains", ["SPY"])
    settings = Settings(home=tmp_path / "home", chains_dir=chains, task_retries=0, **SMALL)

    # Some failed: Failed, naming them; the others' data is stored and `runs` says partial.
    state = snapshot_flow(settings, ["SPY", "QQQ"], "chains", AT, return_state=True)
    assert state.is_failed()
    assert state.message.startswith("1 of 2 symbol(s) failed: QQQ: ")
    summary = summary_of(state)
    assert summary.status == "partial" and list(summary.failures) == ["QQQ"]
    stored = catalog.query(settings.home, "SELECT symbol FROM snapshots")
    assert stored.get_column("symbol").to_list() == ["SPY"]
    assert catalog.query(settings.home, "SELECT status FROM runs").item() == "partial"

    # Logs at INFO reach the API: start, per symbol rows/alerts/requests, failures, end.
    flow_run_id = state.state_details.flow_run_id
    logs = logs_of(flow_run_id)
    info = [m for level, m in logs if level == 20]
    assert any(m.startswith("snapshot of 2 symbol(s) (SPY,QQQ) from chains") for m in info)
    assert any(m.startswith("SPY: ok, 1 snapshot(s) (") and "request(s)" in m for m in info)
    assert any(m.startswith("QQQ: failed, 0 snapshot(s)") for m in info)
    assert any(level == 40 and m.startswith("QQQ failed: ") for level, m in logs)
    assert any(m.startswith("snapshot partial in ") for m in info)

    # The unit holding the failed symbol is a failed task run (not green), the others completed.
    tasks = task_states(flow_run_id)
    assert tasks and all(
        state == ("Failed" if "QQQ" in name else "Completed") for name, state in tasks
    )

    # The artifact: the summary table and the alerts.
    markdown = artifact_of(flow_run_id, SNAPSHOT_ARTIFACT)
    assert "| symbol | status | snapshots | rows | alerts | requests | problems |" in markdown
    assert "| SPY | ok | 1 |" in markdown and "| QQQ | failed | 0 |" in markdown
    assert "## Alerts (" in markdown

    # All failed: Failed too; called plainly the flow raises RunFailed carrying the summary.
    with pytest.raises(RunFailed, match=r"every symbol failed \(2 of 2\): IWM: .*; DIA: ") as ex:
        snapshot_flow(settings, ["IWM", "DIA"], "chains", AT)
    assert ex.value.summary.status == "failed"

    # Success: Completed, the summary is the result.
    done = snapshot_flow(settings, ["SPY"], "synthetic", AT, return_state=True)
    assert done.is_completed() and done.message.startswith("1 symbol(s): 1 snapshot(s), ")
    assert done.result().status == "completed"


def test_a_stopped_run_ends_cancelled_and_a_backfill_reports_progress(tmp_path):
    settings = Settings(home=tmp_path, **SMALL)
    seen: list[tuple[str, int]] = []
    state = backfill_flow(
        settings,
        ["SPY"],
        "synthetic",
        date(2024, 3, 11),
        date(2024, 3, 15),
        progress=lambda symbol, n: seen.append((symbol, n)),
        return_state=True,
    )
    summary = summary_of(state)
    assert summary.status == "completed" and summary.rows["snapshots"] == 5
    assert sum(n for _, n in seen) == 5  # the hook is called from the task threads
    markdown = artifact_of(state.state_details.flow_run_id, BACKFILL_ARTIFACT)
    assert markdown.startswith("# gammalake backfill: completed") and "| SPY | ok | 5 |" in markdown

    # SIGTERM during a run (kill, systemd, a worker cancelling) is a stop request, not an abort.
    # It lands in February: January, handed to the writer, is kept whole; the computed
    # February sessions not written yet are left to the next run (a quick stop, see backfill).
    taken: list[int] = []

    def terminate_in_february(symbol: str, n: int) -> None:
        taken.append(n)
        if sum(taken) == 25 and not STOPPING.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    # One worker, one chunk: the months go in order.
    one_worker = Settings(home=tmp_path, max_workers=1, synthetic_expiries=4, synthetic_strikes=21)
    try:
        state = backfill_flow(
            one_worker,
            ["IWM"],
            "synthetic",
            date(2024, 1, 2),
            date(2024, 6, 28),
            progress=terminate_in_february,
            return_state=True,
        )
        assert STOPPING.is_set()
    finally:
        STOPPING.clear()
    assert state.is_cancelled() and state.message.startswith("cancelled: stopped after storing")
    stopped = summary_of(state)
    assert stopped.cancelled and len(stopped.outcomes[0].stored) == 21  # January's sessions
    days = catalog.query(tmp_path, "SELECT DISTINCT trade_date FROM snapshots WHERE symbol='IWM'")
    assert days.height == 21 and max(days.get_column("trade_date")) == date(2024, 1, 31)

    request_stop()  # what the CLI's signal handler calls
    try:
        state = snapshot_flow(settings, ["QQQ"], "synthetic", AT, return_state=True)
    finally:
        STOPPING.clear()
    assert state.is_cancelled() and summary_of(state).cancelled
    statuses = catalog.query(tmp_path, "SELECT status FROM runs ORDER BY as_of")
    assert statuses.get_column("status").to_list() == ["completed", "cancelled", "cancelled"]


def test_scheduled_snapshot_reads_config_and_skips_non_sessions(tmp_path, monkeypatch):
    config = tmp_path / "elsewhere.toml"
    config.write_text('watchlist = ["IWM"]\nsynthetic_expiries = 4\nsynthetic_strikes = 21\n')
    home = tmp_path / "home"
    monkeypatch.setattr(prefect_runs, "_now", lambda: AT)
    state = scheduled_snapshot(str(home), str(config), return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary.symbols == ["IWM"]  # the watchlist of the --config file, not the default
    assert catalog.query(home, "SELECT symbol FROM snapshots").item() == "IWM"

    saturday = datetime(2024, 3, 16, 16, 15, tzinfo=NEW_YORK)
    monkeypatch.setattr(prefect_runs, "_now", lambda: saturday)
    skipped = scheduled_snapshot(str(home), str(config), return_state=True)
    assert skipped.is_completed()
    assert skipped.message == "skipped: 2024-03-16 (Saturday) is not an NYSE session"
    evening = datetime(2024, 3, 15, 18, 0, tzinfo=NEW_YORK)
    monkeypatch.setattr(prefect_runs, "_now", lambda: evening)
    intraday = scheduled_snapshot(str(home), str(config), intraday=True, return_state=True)
    assert intraday.message == "skipped: 2024-03-15 18:00 EDT is outside an NYSE session"


def test_doctor_flow_fails_on_a_broken_lake(tmp_path):
    home = tmp_path / "home"
    assert doctor_flow(str(home), return_state=True).is_completed()  # nothing stored yet
    snapshot_flow(Settings(home=home, **SMALL), ["SPY"], "synthetic", AT)
    healthy = doctor_flow(str(home), return_state=True)
    assert healthy.is_completed(), healthy.message
    (broken,) = (home / "lake" / "snapshots").rglob("*.parquet")
    broken.write_bytes(b"not parquet")
    state = doctor_flow(str(home), return_state=True)
    assert state.is_failed()
    assert state.message.startswith(f"{home} is not healthy: error: ")
    assert broken.name in state.message
