"""Test helpers: homes whose rows carry several methods, and processes holding the catalog open."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from tests.conftest import REPO, session_close, synthetic_rows
from warehouse.lake import Lake

#: A client that opens a DuckDB file, says "open", and keeps it open until its stdin closes.
HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("open", flush=True)
sys.stdin.read()
"""


def rows_of(symbol: str, day: str, method: str, source: str = "synthetic") -> dict:
    """Return one synthetic snapshot's rows stamped with `method` and `source`."""
    stamp = {"method": pl.lit(method), "source": pl.lit(source)}
    return {
        name: frame.with_columns(**stamp)
        for name, frame in synthetic_rows(symbol, session_close(day)).items()
    }


def write_methods(home: Path, days: tuple[str, ...], methods: tuple[str, ...]) -> Lake:
    """Store SPY snapshots for every day under every method; return the lake."""
    lake = Lake(home)
    for day in days:
        for method in methods:
            lake.write_all(rows_of("SPY", day, method))
    return lake


@contextmanager
def holding(path: Path, mode: str, python: str = sys.executable) -> Iterator[subprocess.Popen]:
    """Yield a process holding the DuckDB file `path` open ("ro" or "rw") until the block ends."""
    proc = subprocess.Popen(
        [python, "-c", HOLDER, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line == "open", proc.stderr.read()
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=600)
