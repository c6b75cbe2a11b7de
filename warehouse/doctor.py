"""Health checks of a gammalake home: what `gammalake doctor` reports (and the one thing it fixes).

Checks: temp files left by killed writers (removed when their writer process is gone), Parquet
files that cannot be read, files of another schema version or dataset, duplicate keys, rows
filed under the wrong partition, and whether the catalog covers every dataset.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from warehouse.catalog import MANIFEST_FILE
from warehouse.lake import META_DATASET, META_VERSION, TEMP_SUFFIX, Lake
from warehouse.locks import reading
from warehouse.schema import DATASETS, SCHEMA_VERSION, Dataset

Level = Literal["ok", "fixed", "warning", "error"]
_PID = re.compile(r"-(\d+)-[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + r"$")
_RAW_PID = re.compile(r"\.(\d+)\.[0-9a-f]{8}\.tmp$")


@dataclass(frozen=True)
class Finding:
    """One line of the report."""

    level: Level
    message: str


@dataclass
class Report:
    """Everything doctor found; `healthy` when nothing is left at warning or error."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, level: Level, message: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(level, message))

    @property
    def healthy(self) -> bool:
        """Return True when no warning or error remains."""
        return all(f.level in ("ok", "fixed") for f in self.findings)


def _alive(pid: int) -> bool:
    """Return True if a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_temp_files(home: Path, report: Report) -> None:
    """Remove temp files whose writer is gone; report the ones still being written."""
    candidates = [(p, _PID) for p in (home / "tmp").glob(f"*{TEMP_SUFFIX}")]
    candidates += [(p, _RAW_PID) for p in (home / "raw").glob("**/.*.tmp")]
    for path, pattern in candidates:
        match = pattern.search(path.name)
        pid = int(match.group(1)) if match else None
        if pid is not None and _alive(pid):
            report.add("warning", f"{path}: being written by process {pid}; left alone")
            continue
        path.unlink(missing_ok=True)
        report.add("fixed", f"removed orphan temp file {path} (writer {pid} is gone)")


def check_files(lake: Lake, spec: Dataset, report: Report) -> list[Path]:
    """Check every file of a dataset can be read and carries this schema; return readable ones."""
    import pyarrow.parquet as pq

    readable = []
    for path in lake.files(spec.name):
        try:
            meta = pq.read_schema(path).metadata or {}
        except Exception as exc:  # any failure to parse means an unreadable file
            report.add("error", f"{path}: unreadable Parquet ({type(exc).__name__}: {exc})")
            continue
        version = meta.get(META_VERSION, b"?").decode()
        tag = meta.get(META_DATASET, b"?").decode()
        if version != str(SCHEMA_VERSION) or tag != spec.name:
            report.add(
                "error",
                f"{path}: schema version {version} of dataset {tag!r}, "
                f"expected version {SCHEMA_VERSION} of {spec.name!r}",
            )
            continue
        readable.append(path)
    return readable


def check_rows(home: Path, spec: Dataset, files: list[Path], report: Report) -> None:
    """Report duplicate keys and rows whose symbol differs from their partition folder."""
    if not files:
        return
    before = len(report.findings)
    con = duckdb.connect(":memory:")
    with reading(home):
        _check_keys(con, spec, files, report)
    con.close()
    if len(report.findings) == before:
        report.add("ok", f"{spec.name}: {len(files)} file(s), keys unique")


def _count(con: duckdb.DuckDBPyConnection, files: list[Path], sql: str) -> int:
    """Return the count `sql` gives over `files` (referenced as ROWS in the SQL)."""
    source = "read_parquet($files, hive_partitioning = false, filename = true)"
    result = con.execute(sql.replace("ROWS", source), {"files": [str(f) for f in files]})
    return int(result.fetchall()[0][0])


def _check_keys(
    con: duckdb.DuckDBPyConnection, spec: Dataset, files: list[Path], report: Report
) -> None:
    """Report duplicate keys and misfiled rows of one dataset's files."""
    keys = ", ".join(spec.unique_key)
    dupes = _count(
        con,
        files,
        f"SELECT count(*) FROM (SELECT {keys} FROM ROWS GROUP BY {keys} HAVING count(*) > 1)",
    )
    if dupes:
        report.add("error", f"{spec.name}: {dupes} key(s) stored more than once ({keys})")
    if spec.grain != "month":
        misfiled = _count(
            con,
            files,
            "SELECT count(*) FROM ROWS WHERE filename NOT LIKE '%/symbol=' || symbol || '/%'",
        )
        if misfiled:
            report.add("error", f"{spec.name}: {misfiled} row(s) in another symbol's folder")


def check_catalog(home: Path, lake: Lake, report: Report) -> None:
    """Report whether warehouse.duckdb covers every dataset in the lake."""
    manifest = home / MANIFEST_FILE
    built = json.loads(manifest.read_text())["datasets"] if manifest.exists() else None
    present = lake.datasets()
    if built != present:
        report.add(
            "warning",
            f"catalog covers {built or 'nothing'}, lake has {present}: "
            "run `gammalake rebuild --catalog-only`",
        )
    else:
        report.add("ok", f"catalog covers {', '.join(present) or 'no datasets yet'}")


def diagnose(home: Path) -> Report:
    """Run every check on the home folder and return the report."""
    report = Report()
    lake = Lake(home)
    check_temp_files(home, report)
    for spec in DATASETS.values():
        check_rows(home, spec, check_files(lake, spec, report), report)
    check_catalog(home, lake, report)
    return report
