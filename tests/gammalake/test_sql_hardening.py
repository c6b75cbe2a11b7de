"""`gammalake sql` under attack: signals stop DuckDB, rich markup stays text, --output is a file."""

from __future__ import annotations

import _thread
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gammalake.lake import Lake
from tests.conftest import REPO, one_session_home

#: A query that runs for hours: only an interrupt ends it.
ENDLESS = "SELECT count(*) FROM range(100000000) a, range(100000000) b"
#: CPU ticks the query's threads must have used before the test interrupts it.
BUSY_TICKS = 50


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_session_home(tmp_path_factory.mktemp("hardening") / "home")


@pytest.fixture
def home(stored: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(stored, tmp_path / "home"))


def gammalake(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process; return what it printed and its exit code."""
    command = [sys.executable, "-c", "from gammalake.cli import main; main()"]
    return subprocess.run(
        [*command, "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


def worker_ticks(pid: int) -> int:
    """Return the CPU ticks used by the threads of `pid` other than its main thread."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        if task.name == str(pid):
            continue
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def wait_until_busy(pid: int, before: int = 0) -> None:
    """Poll until DuckDB's threads in `pid` have clearly started the query (600 s ceiling)."""
    deadline = time.monotonic() + 600
    while worker_ticks(pid) - before < BUSY_TICKS:
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.1)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_running_query(home: Path, signum: int, code: int) -> None:
    command = [sys.executable, "-c", "from gammalake.cli import main; main()"]
    child = subprocess.Popen(
        [*command, "--home", str(home), "sql", ENDLESS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        # a shell's background job ignores SIGINT; this child must see it as Ctrl-C would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_until_busy(child.pid)
        child.send_signal(signum)
        out, err = child.communicate(timeout=600)
    finally:
        child.kill()
    assert child.returncode == code
    assert err.strip() == "stopped" and out == ""


def test_ctrl_c_interrupts_lake_sql(home: Path) -> None:
    lake = Lake(home)
    before = worker_ticks(os.getpid())

    def press_ctrl_c() -> None:
        wait_until_busy(os.getpid(), before)
        _thread.interrupt_main()

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        lake.sql(ENDLESS)
    assert lake.sql("SELECT 42 AS answer").item() == 42


@pytest.mark.parametrize(
    ("sql", "shown"),
    [
        ("SELECT '[/x]' AS a", "[/x]"),
        ('SELECT 1 AS "[/x]"', "[/x]"),
        ("SELECT '[bold]b[/bold]' AS a", "[bold]b[/bold]"),
        ("CALL duckdb_settings()", "description"),
    ],
)
def test_results_are_printed_as_text_not_markup(home: Path, sql: str, shown: str) -> None:
    result = gammalake(home, "sql", sql)
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout


def test_the_prompt_prints_errors_as_text(home: Path) -> None:
    result = gammalake(home, "sql", stdin='SELECT "[/x]";\nSELECT 7 AS "[b]";\n')
    assert result.returncode == 0, result.stderr
    assert 'Referenced column "[/x]" was not found' in result.stdout
    assert "[b]" in result.stdout


def test_output_onto_a_fifo_is_refused(home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = gammalake(home, "sql", "SELECT 1 AS a", "--output", str(fifo))
    assert result.returncode == 2
    assert (
        result.stderr.splitlines()[0] == f"error: --output {fifo} exists and is not a regular file"
    )
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_output_into_a_missing_folder_names_the_users_path(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "nope" / "o.csv"
    result = gammalake(home, "sql", "SELECT 1 AS a", "--output", str(target))
    assert result.returncode == 2
    assert str(target) in result.stderr and ".tmp" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ctrl_c_at_the_prompt_stops_the_statement_only(home: Path) -> None:
    command = [sys.executable, "-c", "from gammalake.cli import main; main()"]
    child = subprocess.Popen(
        [*command, "--home", str(home), "sql"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert child.stdin is not None
        child.stdin.write(ENDLESS + ";\n")
        child.stdin.flush()
        wait_until_busy(child.pid)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate("SELECT 5 AS five;\n", timeout=600)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert "stopped" in out and "five" in out
