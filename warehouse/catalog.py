"""The DuckDB catalog: views over the lake, in warehouse.duckdb and in every query connection.

warehouse.duckdb exists for SQL tools (the DuckDB CLI, DBeaver, ...): it holds only views, is
rebuilt in a moment from the lake, and is written in storage version v1.0.0 so DuckDB 1.4+
clients open it. A rebuild writes a new file beside it and moves it into place with
os.replace, so a client holding the old file open keeps its view of it and never blocks
gammalake; only a client holding it read-write (it could be writing its own tables into it)
defers the refresh: catalog.json is then marked stale, the holder recorded, and `ensure` tries
again on its next call. gammalake's own queries run on an in-memory connection that defines
the same views, so a writer never locks out a reader and a reader never locks out a writer.

catalog.json records the datasets covered and the default method of the derived views.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from warehouse.home import Layout
from warehouse.lake import Lake
from warehouse.locks import LockHolder, flocked, holders, reading
from warehouse.schema import validate_method

CATALOG_FILE = Layout(Path()).catalog.name
MANIFEST_FILE = Layout(Path()).manifest.name
#: The oldest storage format DuckDB still writes: DuckDB 1.0 and later (1.4, 1.5, 2.x) open it.
STORAGE_VERSION = "v1.0.0"
#: Temp files of a rebuild in home/tmp (doctor removes those whose process is gone).
CATALOG_TEMP = re.compile(r"^catalog-(\d+)-[0-9a-f]{8}\.(duckdb|json)\.tmp(\.wal)?$")
_BLOCK = re.compile(r"^-- view: (\w+) needs: ([\w, ]+)$", re.MULTILINE)
_VERSION = re.compile(r"@v\d+$")


@dataclass(frozen=True)
class ViewDef:
    """A view and the datasets (or views) it needs."""

    name: str
    needs: tuple[str, ...]
    sql: str


@dataclass(frozen=True)
class CatalogBuild:
    """What a rebuild did: datasets covered, default method, and who deferred the file.

    `held_by` lists processes holding warehouse.duckdb read-write: the file was then left as
    it was (catalog.json marked stale) and is refreshed on the next `ensure` or `rebuild`.
    """

    datasets: list[str]
    method: str | None
    held_by: tuple[LockHolder, ...] = field(default=())

    @property
    def deferred(self) -> bool:
        """Return True when warehouse.duckdb was not refreshed because another process held it."""
        return bool(self.held_by)

    def summary(self) -> str:
        """Return one line saying what the catalog covers, or who kept it from being refreshed."""
        if self.deferred:
            who = "; ".join(str(h) for h in self.held_by)
            return (
                f"{CATALOG_FILE} not refreshed: held by {who}; it is refreshed on the next "
                "write, or run `gammalake rebuild --catalog-only` once that process closes it"
            )
        covered = ", ".join(self.datasets) or "no datasets"
        return f"{covered} (default method: {self.method or 'none, every method shown'})"


def recipe(method: str) -> str:
    """Return a method without its engine version: `default@v2` -> `default`."""
    return _VERSION.sub("", method)


def derived_views() -> list[ViewDef]:
    """Return the derived views of views.sql, in file order (alternatives most specific first)."""
    text = resources.files("warehouse").joinpath("views.sql").read_text()
    marks = list(_BLOCK.finditer(text))
    views = []
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        body = text[mark.end() : following.start() if following else len(text)]
        needs = tuple(n.strip() for n in mark.group(2).split(","))
        views.append(ViewDef(mark.group(1), needs, body.strip()))
    return views


#: A row's recipe in SQL: its method without the engine version (`default@v2` -> `default`).
RECIPE_SQL = "regexp_replace(method, '@v[0-9]+$', '')"


def _with_method(sql: str, method: str | None) -> str:
    """Return a derived view's SQL with the method filter of `method` filled in."""
    sql = sql.replace("{recipe}", RECIPE_SQL)
    if method is None:
        return sql.replace("{keep}", "true").replace("{lineage}", ", method")
    wanted = recipe(method).replace("'", "''")
    keep = f"(method = 'vendor' OR {RECIPE_SQL} = '{wanted}')"
    return sql.replace("{keep}", keep).replace("{lineage}", "")


def dataset_view(name: str, legacy: bool) -> str:
    """Return the CREATE VIEW statement of one dataset's files.

    Files in the layout by source and date all carry the current schema (doctor reports any
    other), so the view reads them without `union_by_name`, which opens every file's footer
    when the view is defined: 1.5 s for 2,500 files, ten years of a day-partitioned table.
    `legacy` (files of an older layout or schema may be present): match columns by name.
    """
    if legacy:
        source = f"'lake/{name}/**/*.parquet', hive_partitioning = false, union_by_name = true"
    else:
        source = f"'lake/{name}/source=*/*/*.parquet', hive_partitioning = false"
    return f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({source})"


def view_statements(
    present: list[str], method: str | None = None, legacy: Collection[str] | None = None
) -> list[str]:
    """Return CREATE VIEW statements for the datasets in `present` and what derives from them.

    Derived views keep `method`'s recipe (and vendor rows); None keeps every method.
    `legacy`: the datasets with files outside the current layout (`Lake.legacy_datasets`);
    None (not known) reads every dataset as if it had some.
    """
    statements = [dataset_view(n, legacy is None or n in legacy) for n in present]
    made: set[str] = set()
    for view in derived_views():
        if view.name not in made and set(view.needs) <= set(present) | made:
            statements.append(_with_method(view.sql, method))
            made.add(view.name)
    return statements


def read_manifest(home: Path) -> dict[str, Any]:
    """Return catalog.json ({} when there is none or it cannot be read)."""
    try:
        data = json.loads((home / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def default_method(home: Path) -> str | None:
    """Return the default method the catalog's derived views keep (None: every method)."""
    method = read_manifest(home).get("method")
    return method if isinstance(method, str) else None


def connect(home: Path, method: str | None = None) -> duckdb.DuckDBPyConnection:
    """Return an in-memory connection with every view of the lake under `home` defined.

    Derived views keep `method`, by default the catalog's (catalog.json). Reading through it
    while a writer runs needs `warehouse.locks.reading(home)` held; `query` does that.
    """
    con = duckdb.connect(":memory:")
    con.execute("SET file_search_path = ?", [str(home.resolve())])
    lake = Lake(home)
    chosen = method or default_method(home)
    for statement in view_statements(lake.datasets(), chosen, lake.legacy_datasets()):
        con.execute(statement)
    return con


@contextmanager
def reader(home: Path, method: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection over the lake for several queries, under the shared swap lock."""
    with reading(home):
        con = connect(home, method)
        try:
            yield con
        finally:
            con.close()


def query(
    home: Path,
    sql: str,
    params: list[Any] | dict[str, Any] | None = None,
    method: str | None = None,
) -> pl.DataFrame:
    """Return the result of one SQL statement over the lake as a polars frame.

    Runs under the shared swap lock, so no partition file is replaced while it reads.
    """
    with reader(home, method) as con:
        return con.sql(sql, params=params or None).pl()


def catalog_holders(home: Path) -> list[LockHolder]:
    """Return the processes holding warehouse.duckdb open (writers first), for messages."""
    return holders(home / CATALOG_FILE)


def _writers(home: Path) -> list[LockHolder]:
    """Return other processes holding warehouse.duckdb read-write (they defer a refresh)."""
    return [h for h in catalog_holders(home) if h.mode == "write" and h.pid != os.getpid()]


def rebuild(home: Path, method: str | None = None) -> CatalogBuild:
    """Recreate warehouse.duckdb's views from the lake; return what it covers.

    `method` becomes the derived views' default (None keeps catalog.json's). The file is
    left alone, and catalog.json marked stale, while another process holds it read-write.
    """
    chosen = validate_method(method) if method else default_method(home)
    home.mkdir(parents=True, exist_ok=True)
    lake = Lake(home)
    present = lake.datasets()
    statements = view_statements(present, chosen, lake.legacy_datasets())
    with flocked(home / "locks" / "catalog.lock", fcntl.LOCK_EX):
        held = _writers(home)
        if not held:
            held = _install(home, _build_file(home, statements))
        _write_manifest(home, CatalogBuild(present, chosen, tuple(held)), statements)
    return CatalogBuild(present, chosen, tuple(held))


def fingerprint(statements: list[str]) -> str:
    """Return a digest of a catalog's view statements and storage version (in catalog.json)."""
    text = "\n".join([STORAGE_VERSION, *statements])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _temp_name(home: Path, kind: str) -> Path:
    """Return a fresh temp file path in home/tmp for a catalog file of `kind` (duckdb, json)."""
    folder = home / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"catalog-{os.getpid()}-{uuid.uuid4().hex[:8]}.{kind}.tmp"


def _build_file(home: Path, statements: list[str]) -> Path:
    """Write a new catalog file holding `statements`' views in home/tmp; return its path."""
    temp = _temp_name(home, "duckdb")
    try:
        write_views_file(temp, home, statements)
    except BaseException:
        _remove(temp)
        raise
    return temp


def write_views_file(path: Path, home: Path, statements: list[str]) -> None:
    """Create the DuckDB file `path` (storage v1.0.0) holding the views of `statements`.

    Relative paths in the views resolve against `home` while they are created.
    """
    quoted = str(path).replace("'", "''")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{quoted}' AS fresh (STORAGE_VERSION '{STORAGE_VERSION}')")
        # Views are bound where they are created: inside the new file, as a client opens it.
        con.execute("USE fresh")
        con.execute("SET file_search_path = ?", [str(home.resolve())])
        for statement in statements:
            con.execute(statement)
        con.execute("USE memory")
        con.execute("DETACH fresh")
    finally:
        con.close()


def _install(home: Path, temp: Path) -> list[LockHolder]:
    """Move a built catalog onto warehouse.duckdb unless a writer holds it; return writers."""
    held = _writers(home)
    if held:
        _remove(temp)
        return held
    target = home / CATALOG_FILE
    # A write-ahead log left by a client that died belongs to the old file, not the new one.
    Path(f"{target}.wal").unlink(missing_ok=True)
    os.replace(temp, target)
    return []


def _remove(temp: Path) -> None:
    """Remove a temp catalog and its write-ahead log."""
    temp.unlink(missing_ok=True)
    Path(f"{temp}.wal").unlink(missing_ok=True)


def _write_manifest(home: Path, build: CatalogBuild, statements: list[str]) -> None:
    """Record what the catalog should cover; `stale` names who kept the file from it."""
    data: dict[str, Any] = {
        "datasets": build.datasets,
        "method": build.method,
        "views": fingerprint(statements),
    }
    if build.deferred:
        earlier = read_manifest(home).get("stale")
        since = earlier.get("since") if isinstance(earlier, dict) else None
        data["stale"] = {
            "since": since or datetime.now(UTC).isoformat(timespec="seconds"),
            "holders": [asdict(h) for h in build.held_by],
        }
    temp = _temp_name(home, "json")
    temp.write_text(json.dumps(data) + "\n")
    os.replace(temp, home / MANIFEST_FILE)


def ensure(home: Path, method: str | None = None) -> CatalogBuild | None:
    """Return the rebuild done (see `.deferred`), or None when the catalog was already current.

    Rebuilds when the datasets, the method or the view definitions changed, or a refresh was
    deferred. `method` None keeps catalog.json's default method.
    """
    built = read_manifest(home)
    wanted = method or default_method(home)
    lake = Lake(home)
    statements = view_statements(lake.datasets(), wanted, lake.legacy_datasets())
    current = (
        built.get("views") == fingerprint(statements)
        and built.get("method") == wanted
        and not built.get("stale")
        and (home / CATALOG_FILE).exists()
    )
    return None if current else rebuild(home, wanted)
