"""Health checks of a gammalake home: what `gammalake doctor` reports (and the one thing it fixes).

Checks: temp files left by killed writers (removed when their writer process is gone), files
under lake/ that gammalake did not write, Parquet files that cannot be read, files of another
schema version or dataset, duplicate keys, rows filed under the wrong partition, snapshots
made by an older engine, and whether warehouse.duckdb holds the views a rebuild would make.
doctor only reads a home (apart from removing orphan temp files): it never creates folders.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from warehouse import catalog
from warehouse.home import Layout
from warehouse.lake import (
    META_DATASET,
    META_VERSION,
    SCHEMA_MARK,
    TEMP_SUFFIX,
    Lake,
    file_metadata,
)
from warehouse.locks import reading
from warehouse.schema import DATASETS, SCHEMA_VERSION, Dataset, Grain

Level = Literal["ok", "fixed", "warning", "error"]
_PID = re.compile(r"-(\d+)-[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + r"$")
_RAW_PID = re.compile(r"\.(\d+)\.[0-9a-f]{8}\.tmp$")
_SYM = r"(?P<s>[A-Z0-9^][A-Z0-9.^_-]{0,19})"
#: The relative path of a partition file under lake/<dataset>/, per grain (see Lake._merge).
_SRC = r"(?P<src>[a-z][a-z0-9_-]{0,39})"
_NAMES: dict[Grain, re.Pattern[str]] = {
    "source_day": re.compile(
        rf"source={_SRC}/day=(?P<d>\d{{4}}-\d\d-\d\d)/(?P=d)\.[0-9a-f]{{8}}\.parquet"
    ),
    "source_month": re.compile(
        rf"source={_SRC}/month=(?P<d>\d{{4}}-\d\d)/(?P=d)\.[0-9a-f]{{8}}\.parquet"
    ),
    "symbol_day": re.compile(rf"symbol={_SYM}/day=(?P<d>\d{{4}}-\d\d-\d\d)/(?P=s)_(?P=d)\.parquet"),
    "symbol_month": re.compile(rf"symbol={_SYM}/month=(?P<d>\d{{4}}-\d\d)/(?P=s)_(?P=d)\.parquet"),
    "symbol_year": re.compile(rf"symbol={_SYM}/year=(?P<d>\d{{4}})/(?P=s)_(?P=d)\.parquet"),
    "month": re.compile(r"month=(?P<d>\d{4}-\d\d)/(?P=d)\.parquet"),
}
REBUILD_CATALOG = "run `gammalake rebuild --catalog-only`"


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
    candidates += [(p, _RAW_PID) for p in Layout(home).raw.glob("**/.*.tmp")]
    candidates += [(p, catalog.CATALOG_TEMP) for p in (home / "tmp").glob("catalog-*")]
    for path, pattern in candidates:
        match = pattern.search(path.name)
        pid = int(match.group(1)) if match else None
        if pid is not None and _alive(pid):
            report.add("warning", f"{path}: being written by process {pid}; left alone")
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # a read-only home: say so, leave it
            report.add("warning", f"{path}: orphan temp file, cannot remove it ({exc.strerror})")
            continue
        report.add("fixed", f"removed orphan temp file {path} (writer {pid} is gone)")


def check_foreign_files(lake: Lake, report: Report) -> int:
    """Report files under lake/ that gammalake did not write; return how many files it holds."""
    total = 0
    for folder, _dirs, names in os.walk(lake.root):
        for name in names:
            total += 1
            path = Path(folder, name)
            problem = _foreign(path, path.relative_to(lake.root).parts)
            if problem:
                report.add("error", f"{path}: {problem}; gammalake did not write it, remove it")
    return total


def _foreign(path: Path, parts: tuple[str, ...]) -> str | None:
    """Return why a file under lake/ is not one gammalake wrote, or None if it may be."""
    if path.is_symlink():
        return "a symbolic link"
    if parts[0] not in DATASETS or len(parts) < 2:
        return f"not in a dataset's folder ({', '.join(DATASETS)})"
    if parts[1:] == (SCHEMA_MARK,):
        return None  # the dataset's schema mark (see warehouse.lake)
    if path.suffix != ".parquet":
        return "not a Parquet file"
    relative = "/".join(parts[1:])
    if not _NAMES[DATASETS[parts[0]].grain].fullmatch(relative):
        if any(pattern.fullmatch(relative) for pattern in _NAMES.values()):
            return None  # an older layout's file: check_layout reports it
        return f"its name does not follow {parts[0]}'s partition layout"
    return None


def check_layout(lake: Lake, report: Report) -> None:
    """Warn about files still in an older partition layout (one folder per symbol)."""
    old = sum(
        1
        for name, spec in DATASETS.items()
        for path in lake.files(name)
        if not _NAMES[spec.grain].fullmatch(path.relative_to(lake.root / name).as_posix())
        and any(p.fullmatch(path.relative_to(lake.root / name).as_posix()) for p in _NAMES.values())
    )
    if old:
        report.add(
            "warning",
            f"{old} lake file(s) in an older partition layout (a folder per symbol): "
            "run `gammalake rebuild` to move them into the layout by source and date",
        )


def check_marks(lake: Lake, report: Report) -> None:
    """Warn about datasets without the schema mark: read by column name, slower, until rebuilt."""
    unmarked = [name for name in lake.datasets() if not lake.marked(name)]
    if unmarked:
        report.add(
            "warning",
            f"{', '.join(unmarked)}: not marked as holding schema {SCHEMA_VERSION} files only "
            "(written before the mark, possibly mixed with older files), so read with columns "
            "matched by name, which opens every file: run `gammalake rebuild` to rewrite any "
            "older file and mark them",
        )


def check_files(lake: Lake, spec: Dataset, report: Report) -> list[Path]:
    """Check every file of a dataset can be read and carries this schema; return readable ones."""
    readable = []
    for path in lake.files(spec.name):
        try:
            meta = file_metadata(path)
        except Exception as exc:  # any failure to parse means an unreadable file
            report.add("error", f"{path}: unreadable Parquet ({type(exc).__name__}: {exc})")
            continue
        problem = _schema_problem(meta, spec)
        if problem:
            report.add("error", f"{path}: {problem}")
            continue
        readable.append(path)
    return readable


def _schema_problem(meta: dict[bytes, bytes], spec: Dataset) -> str | None:
    """Return what is wrong with a file's gammalake metadata, or None when it is this schema's."""
    version = meta.get(META_VERSION, b"").decode()
    tag = meta.get(META_DATASET, b"").decode()
    if not version:
        return "a Parquet file without gammalake's metadata: gammalake did not write it"
    if tag != spec.name:
        return f"a file of dataset {tag!r} in {spec.name!r}'s folder"
    if version.isdigit() and int(version) < SCHEMA_VERSION:
        return (
            f"written in schema version {version}, this gammalake reads version "
            f"{SCHEMA_VERSION}: run `gammalake rebuild` to re-make it from raw/"
        )
    if version != str(SCHEMA_VERSION):
        return f"schema version {version}, expected {SCHEMA_VERSION}: written by a newer gammalake"
    return None


def check_rows(home: Path, spec: Dataset, files: list[Path], report: Report) -> None:
    """Report duplicate keys and rows whose symbol differs from their partition folder."""
    if not files:
        return
    before = len(report.findings)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")  # dates of as_of as the lake places them
    with reading(home):
        _check_keys(con, spec, files, report)
    con.close()
    if len(report.findings) == before:
        report.add("ok", f"{spec.name}: {len(files)} file(s), keys unique")


def _rows(con: duckdb.DuckDBPyConnection, files: list[Path], sql: str) -> list[tuple]:
    """Return the rows `sql` gives over `files` (referenced as ROWS in the SQL)."""
    source = "read_parquet($files, hive_partitioning = false, filename = true)"
    result = con.execute(sql.replace("ROWS", source), {"files": [str(f) for f in files]})
    return result.fetchall()


def _count(con: duckdb.DuckDBPyConnection, files: list[Path], sql: str) -> int:
    """Return the count `sql` gives over `files` (referenced as ROWS in the SQL)."""
    return int(_rows(con, files, sql)[0][0])


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
    misfiled = _count(con, files, _MISFILED.replace("PLACED", spec.placed_by))
    if misfiled:
        report.add("error", f"{spec.name}: {misfiled} row(s) in another partition's folder")


#: Rows whose partition folders (symbol, or source and date) are not their own.
_MISFILED = """
SELECT count(*) FROM ROWS WHERE CASE
    WHEN filename LIKE '%/symbol=%' THEN filename NOT LIKE '%/symbol=' || symbol || '/%'
    WHEN filename LIKE '%/source=%' THEN filename NOT LIKE '%/source=' || source || '/%'
        OR (filename NOT LIKE '%/day=' || strftime(PLACED::DATE, '%Y-%m-%d') || '/%'
            AND filename NOT LIKE '%/month=' || strftime(PLACED::DATE, '%Y-%m') || '/%')
    ELSE false END
"""


#: Per engine-made snapshot: its engine version, and whether the same (symbol, source, session,
#: recipe) also has a row of the running engine (its re-derivation; per session, not per as_of:
#: a v2 re-derivation of a v1 daily snapshot is stamped at the close, v1 at the fetch).
_VERSIONS_SQL = """
WITH made AS (
    SELECT symbol, source, trade_date, method,
           regexp_replace(method, '@v[0-9]+$', '') AS recipe,
           TRY_CAST(regexp_extract(method, '@v([0-9]+)$', 1) AS INTEGER) AS version
    FROM ROWS
), current AS (
    SELECT DISTINCT symbol, source, trade_date, recipe FROM made WHERE version = $engine
)
SELECT m.method, m.version, count(*) AS n, count(c.recipe) AS redone
FROM made AS m LEFT JOIN current AS c USING (symbol, source, trade_date, recipe)
WHERE m.version IS NOT NULL AND m.version <> $engine
GROUP BY ALL ORDER BY m.method
"""


def check_engine_versions(home: Path, files: list[Path], engine: int, report: Report) -> None:
    """Report snapshots made by another engine version than `engine`, and their re-derivation."""
    if not files:
        return
    con = duckdb.connect(":memory:")
    sql = _VERSIONS_SQL.replace("$engine", str(int(engine)))
    with reading(home):
        rows = _rows(con, files, sql)
    con.close()
    newer = [r for r in rows if r[1] > engine]
    older = [r for r in rows if r[1] < engine]
    if newer:
        methods = ", ".join(sorted({r[0] for r in newer}))
        report.add(
            "warning",
            f"snapshots: {sum(r[2] for r in newer)} made by a newer engine ({methods}) "
            f"than this one (v{engine}): upgrade gammalake",
        )
    _report_older(older, engine, report)


def _report_older(rows: list[tuple], engine: int, report: Report) -> None:
    """Report older-engine snapshots: those without a v`engine` row, or all re-derived."""
    if not rows:
        return
    missing = [r for r in rows if r[2] > r[3]]
    if not missing:
        total = sum(r[2] for r in rows)
        report.add(
            "ok",
            f"snapshots: all {total} made by an older engine also have their v{engine} "
            "re-derivation",
        )
        return
    methods = ", ".join(sorted({r[0] for r in missing}))
    report.add(
        "warning",
        f"snapshots: {sum(r[2] - r[3] for r in missing)} made by an older engine ({methods}) "
        f"have no v{engine} row: `gammalake rebuild` re-derives them beside the old ones",
    )


def check_catalog(home: Path, lake: Lake, method: str | None, report: Report) -> None:
    """Report whether warehouse.duckdb holds the views a rebuild would make, and opens in 1.x."""
    before = len(report.findings)
    built = catalog.read_manifest(home)
    present = lake.datasets()
    if built.get("datasets") != present:
        covered = ", ".join(built.get("datasets") or []) or "nothing"
        report.add(
            "warning",
            f"catalog covers {covered}, lake has {', '.join(present)}: {REBUILD_CATALOG}",
        )
    wanted = method or catalog.default_method(home)
    if method and method != catalog.default_method(home):
        shown = catalog.default_method(home) or "every method"
        report.add(
            "warning", f"catalog views show {shown}, settings say {method}: {REBUILD_CATALOG}"
        )
    _check_stale(home, built, report)
    # The file should hold what catalog.json records; a method change was reported above.
    statements = catalog.view_statements(
        present, catalog.default_method(home), lake.legacy_datasets()
    )
    _check_file(home, statements, report)
    if len(report.findings) == before:
        shown = wanted or "none, every method shown"
        report.add("ok", f"catalog covers {', '.join(present)} (default method: {shown})")


def _check_stale(home: Path, built: dict[str, object], report: Report) -> None:
    """Report a refresh of warehouse.duckdb that was deferred, and who held the file."""
    stale = built.get("stale")
    if not isinstance(stale, dict):
        return
    recorded = stale.get("holders", [])
    then = "; ".join(f"process {h.get('pid')} ({h.get('command')})" for h in recorded)
    now = catalog.catalog_holders(home)
    if {h.pid for h in now} == {h.get("pid") for h in recorded}:
        holding, when = "it still holds it", " once that process closes it"
    else:
        holding, when = f"now held by {'; '.join(str(h) for h in now) or 'nobody'}", ""
    report.add(
        "warning",
        f"{catalog.CATALOG_FILE} is stale since {stale.get('since')}: {then or 'a process'} "
        f"held it read-write, {holding}; it is refreshed on the next write, or "
        f"{REBUILD_CATALOG}{when}",
    )


def _check_file(home: Path, statements: list[str], report: Report) -> None:
    """Report a missing or unopenable catalog file, its storage version, and its views."""
    path = home / catalog.CATALOG_FILE
    if not path.exists():
        report.add("warning", f"{path} is missing: {REBUILD_CATALOG}")
        return
    con = duckdb.connect(":memory:")
    try:
        with tempfile.TemporaryDirectory(prefix="gammalake-doctor-") as scratch:
            # Views read back from a file render their SQL as stored, so compare like with like.
            catalog.write_views_file(Path(scratch, "expected.duckdb"), home, statements)
            _attach(con, Path(scratch, "expected.duckdb"), "expected")
            _attach(con, path, "stored")
            _compare_views(con, path, report)
    except duckdb.Error as exc:
        held = "; ".join(str(h) for h in catalog.catalog_holders(home))
        first = str(exc).strip().splitlines()[0]
        who = f"; held by {held}" if held else ""
        report.add("warning", f"{path}: cannot be checked ({first}){who}")
    finally:
        con.close()


def _attach(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    """Attach a DuckDB file read-only under `name`."""
    quoted = str(path).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS {name} (READ_ONLY)")


def _compare_views(con: duckdb.DuckDBPyConnection, path: Path, report: Report) -> None:
    """Report views of the attached catalog that are missing, differ or are not gammalake's."""
    rows = con.execute(
        "SELECT database_name, view_name, sql FROM duckdb_views() "
        "WHERE NOT internal AND database_name IN ('expected', 'stored')"
    ).fetchall()
    expected = {name: sql for db, name, sql in rows if db == "expected"}
    found = {name: sql for db, name, sql in rows if db == "stored"}
    problems = {
        "missing": sorted(set(expected) - set(found)),
        "differing from the definitions": sorted(
            n for n in set(expected) & set(found) if expected[n] != found[n]
        ),
        "not made by gammalake": sorted(set(found) - set(expected)),
    }
    for what, names in problems.items():
        if names:
            report.add("warning", f"{path}: view(s) {what}: {', '.join(names)}; {REBUILD_CATALOG}")
    row = con.execute(
        "SELECT tags FROM duckdb_databases() WHERE database_name = 'stored'"
    ).fetchone()
    tags = row[0] if row is not None else None  # 'stored' is attached, so a row is expected
    version = (tags or {}).get("storage_version", "")
    if version and not version.startswith(("v0.", "v1.")):
        report.add(
            "warning",
            f"{path}: storage version {version}, which DuckDB 1.x clients cannot open: "
            f"{REBUILD_CATALOG}",
        )


def diagnose(home: Path, engine_version: int | None = None, method: str | None = None) -> Report:
    """Return the report of every check on the home folder.

    `engine_version`: the running engine's, to report snapshots made by another one.
    `method`: the default method the catalog's views should keep (settings), if known.
    """
    report = Report()
    lake = Lake(home)
    check_temp_files(home, report)
    stored = check_foreign_files(lake, report)
    check_layout(lake, report)
    check_marks(lake, report)
    for spec in DATASETS.values():
        readable = check_files(lake, spec, report)
        check_rows(home, spec, readable, report)
        if spec.name == "snapshots" and engine_version is not None:
            check_engine_versions(home, readable, engine_version, report)
    if not stored and not (home / catalog.MANIFEST_FILE).exists():
        report.add("ok", f"nothing stored yet in {home}")
        return report
    check_catalog(home, lake, method, report)
    return report
