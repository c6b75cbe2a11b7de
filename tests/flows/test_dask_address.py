"""A Dask scheduler address where nothing answers is one line and exit 2, not tracebacks."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from flows.fanout import probe_scheduler
from flows.runners import task_runner
from flows.settings import Settings
from pipeline.errors import InputError
from tests.gammalake.test_cli import BIN


@pytest.fixture
def dead_address():
    """Yield a tcp:// address on 127.0.0.1 whose port is bound but never listens (refused)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"tcp://127.0.0.1:{held.getsockname()[1]}"


def test_a_dead_address_is_refused_naming_it(dead_address):
    with pytest.raises(InputError, match=f"no Dask scheduler answers at {dead_address}"):
        probe_scheduler(dead_address)
    settings = Settings(home=Path.cwd(), task_runner="dask", dask_address=dead_address)
    with pytest.raises(InputError, match="no Dask scheduler answers"):
        task_runner(settings)


def test_a_backfill_on_a_dead_address_says_so_in_one_line(tmp_path, dead_address):
    args = ["backfill", "--symbols", "SPY", "--start", "2024-01-02", "--end", "2024-01-31"]
    done = subprocess.run(
        [str(BIN), "--home", str(tmp_path), *args, "--dask", dead_address],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and dead_address in lines[0], done.stderr
    assert "Traceback" not in done.stderr and not done.stdout.strip()  # no bar either
