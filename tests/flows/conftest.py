"""Flow tests run Prefect against a temporary database (no server, no network)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
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
