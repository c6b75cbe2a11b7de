"""A backfill that fills the disk ends in one line and exit 1, with a `runs` row if it fits.

The disk is made full at the file-write layer: every file gammalake writes (lake partitions,
raw archives) is fsynced before it is moved into place, and here that fsync fails with ENOSPC
once January is stored, as a real full disk fails the write. With `runs_fit`, the run's small
`runs` partition still finds room (the last bytes of a nearly full disk).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import pytest

from gammalake.cli.app import main
from warehouse import catalog

ARGS = ["backfill", "--symbols", "SPY,QQQ", "--start", "2024-01-02", "--end", "2024-03-28"]


def fill_the_disk(monkeypatch, home: Path, runs_fit: bool) -> None:
    """Make file writes fail with ENOSPC once January is stored (`runs` rows too, unless fit)."""
    real = os.fsync

    def fsync(fd: int) -> None:
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        full = any((home / "lake" / "snapshots").glob("**/*.parquet"))
        if (
            full
            and stat.S_ISREG(os.fstat(fd).st_mode)
            and not (runs_fit and name.startswith("runs-"))
        ):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def run_cli(monkeypatch, capsys, home: Path) -> tuple[int, list[str]]:
    """Run the CLI in this process; return its exit code and its stderr lines."""
    monkeypatch.setenv("GAMMALAKE_SYNTHETIC_EXPIRIES", "4")
    monkeypatch.setenv("GAMMALAKE_SYNTHETIC_STRIKES", "21")
    monkeypatch.setattr(sys, "argv", ["gammalake", "--home", str(home), *ARGS])
    with pytest.raises(SystemExit) as ended:
        main()
    err = capsys.readouterr().err
    return int(ended.value.code or 0), [line for line in err.splitlines() if line.strip()]


def test_a_full_disk_is_one_line_and_exit_1_with_a_runs_row(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    fill_the_disk(monkeypatch, home, runs_fit=True)
    code, lines = run_cli(monkeypatch, capsys, home)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("error: disk full writing "), lines
    assert "No space left on device" in lines[0] and "recorded as partial" in lines[0]
    run = catalog.query(home, "SELECT status, failures FROM runs").row(0)
    assert run[0] == "partial" and all("disk full" in f for f in run[1])
    assert not list(home.glob("**/*.tmp"))  # nothing half-written left behind
    stored = catalog.query(home, "SELECT count(*) FROM snapshots").item()
    assert 0 < stored < 2 * 61


def test_a_disk_without_room_for_the_runs_row_still_ends_in_one_line(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    fill_the_disk(monkeypatch, home, runs_fit=False)
    code, lines = run_cli(monkeypatch, capsys, home)
    assert code == 1
    assert len(lines) == 1 and "no room left for its `runs` row" in lines[0], lines
    assert not list(home.glob("**/*.tmp"))
