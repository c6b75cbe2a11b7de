"""Flow tests that need a Prefect API share one temporary server for the session.

No test depends on that server starting in time: the harness waits as long as it takes
(`server_startup_timeout=None` reads PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, set
high here before Prefect is imported), on a port Prefect picks, with no fixed sleep.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Patient, not fast: a loaded machine may take a minute to start the server; a test that
# waits for it is slow, one that gives up is wrong.
STARTUP_PATIENCE_SECONDS = 900
os.environ.setdefault(
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_PATIENCE_SECONDS)
)
# Run logs go to the API at INFO (what a served or worker run does), the console stays quiet.
os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "INFO")
os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "INFO")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def prefect_harness():
    """Point Prefect at a temporary server and database for the whole session."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as PATIENCE
    from prefect.settings import temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # Also when Prefect was imported before this file set the variable.
    with (
        temporary_settings({PATIENCE: STARTUP_PATIENCE_SECONDS}),
        prefect_test_harness(server_startup_timeout=None),
    ):
        yield


def import_dix_and_sp500(
    run: Callable[..., CompletedProcess[str]], home: Path, refdata: Path
) -> tuple[CompletedProcess[str], CompletedProcess[str]]:
    """Import refdata's DIX.csv and ^GSPC bars (as SPX, source yahoo) into `home` via the CLI."""
    dix = run(home, "import", "dix", str(refdata / "squeezemetrics-dix-caribbel/DIX.csv"))
    bars = run(
        home,
        "prices",
        "import",
        str(refdata / "fja05680-gspc-daily/^GSPC.csv"),
        "--symbol",
        "SPX",
        "--source",
        "yahoo",
    )
    return dix, bars
