"""File locks of a home folder, and who holds a file locked.

- partition locks: one writer per partition at a time (merge + replace);
- the swap lock: queries hold it shared while they run; a writer holds it exclusively only
  for the os.replace of a finished file. DuckDB reads a Parquet footer when it plans a query
  and re-opens the file by path to scan it, so a rename between the two would pair an old
  footer with new data; with the swap lock no rename happens while a query runs.

gammalake's locks are fcntl.flock locks (released by the kernel when a process dies). DuckDB
locks its database files with POSIX (fcntl F_SETLK) locks: `holders` reads them from
/proc/locks, so gammalake can say which process keeps warehouse.duckdb open.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

PROC_LOCKS = Path("/proc/locks")


@contextmanager
def flocked(path: Path, mode: int) -> Iterator[None]:
    """Hold `path` locked with fcntl.LOCK_SH or LOCK_EX for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def partition_lock(home: Path, dataset: str, folders: tuple[str, ...]) -> Path:
    """Return the lock file of one partition."""
    return home / "locks" / dataset / ("_".join(folders).replace("=", "-") + ".lock")


def swap_lock(home: Path) -> Path:
    """Return the lock file readers share and renames take exclusively."""
    return home / "locks" / "swap.lock"


def _open_for_reading(path: Path) -> IO[str] | None:
    """Return the swap lock opened for a shared lock, or None when it cannot exist here.

    A writer must create the lock before its first rename, so when this process can neither
    create the file nor find one to open (read-only or missing home, locks/ unwritable or not
    a folder), no writer can be swapping files here either and reading without it is safe.
    """
    try:
        path.parent.mkdir(exist_ok=True)  # never the home itself: a reader creates no home
        return path.open("a")
    except OSError:
        pass
    try:
        return path.open("r")  # flock works on a read-only descriptor too
    except OSError:
        return None


@contextmanager
def reading(home: Path) -> Iterator[None]:
    """Hold the swap lock shared: no partition file is replaced until the block ends.

    Works in a home this process cannot write (see `_open_for_reading`).
    """
    handle = _open_for_reading(swap_lock(home))
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def swapping(home: Path) -> Iterator[None]:
    """Hold the swap lock exclusively (for the rename of finished files only)."""
    with flocked(swap_lock(home), fcntl.LOCK_EX):
        yield


@dataclass(frozen=True)
class LockHolder:
    """A process holding a lock on a file: its id, the lock's mode and its command line."""

    pid: int
    mode: Literal["read", "write"]
    command: str

    def __str__(self) -> str:
        """Return e.g. `process 4242 (duckdb warehouse.duckdb), read-write`."""
        mode = "read-write" if self.mode == "write" else "read-only"
        return f"process {self.pid} ({self.command}), {mode}"


def holders(path: Path) -> list[LockHolder]:
    """Return the processes holding a lock on `path`; [] when none or /proc/locks is absent."""
    try:
        inode = path.stat().st_ino
        lines = PROC_LOCKS.read_text().splitlines()
    except OSError:
        return []
    found: dict[tuple[int, str], LockHolder] = {}
    for line in lines:
        fields = line.split()
        # "N: -> POSIX ..." lines are processes waiting for a lock, not holding one.
        if len(fields) < 6 or fields[1] == "->" or not fields[4].lstrip("-").isdigit():
            continue
        pid = int(fields[4])
        mode: Literal["read", "write"] = "write" if fields[3] == "WRITE" else "read"
        if fields[5].rsplit(":", 1)[-1] == str(inode) and _has_open(pid, path):
            found[(pid, mode)] = LockHolder(pid, mode, command_of(pid))
    return sorted(found.values(), key=lambda h: (h.mode != "write", h.pid))


def _has_open(pid: int, path: Path) -> bool:
    """Return False only when `pid`'s open files are readable and none is `path`.

    /proc/locks names a file by inode alone, which another file system may reuse.
    """
    target = str(path.resolve())
    try:
        links = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return True
    return target in links


def command_of(pid: int) -> str:
    """Return the command line of a process on one line, shortened ("?" once it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    text = " ".join(raw.replace(b"\0", b" ").decode(errors="replace").split())
    return (text[:117] + "...") if len(text) > 120 else (text or "?")
