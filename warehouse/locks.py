"""File locks of a home folder (fcntl.flock: released by the kernel when a process dies).

- partition locks: one writer per partition at a time (merge + replace);
- the swap lock: queries hold it shared while they run; a writer holds it exclusively only
  for the os.replace of a finished file. DuckDB reads a Parquet footer when it plans a query
  and re-opens the file by path to scan it, so a rename between the two would pair an old
  footer with new data; with the swap lock no rename happens while a query runs.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


@contextmanager
def reading(home: Path) -> Iterator[None]:
    """Hold the swap lock shared: no partition file is replaced until the block ends."""
    with flocked(swap_lock(home), fcntl.LOCK_SH):
        yield


@contextmanager
def swapping(home: Path) -> Iterator[None]:
    """Hold the swap lock exclusively (for the rename of finished files only)."""
    with flocked(swap_lock(home), fcntl.LOCK_EX):
        yield
