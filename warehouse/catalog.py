"""The DuckDB catalog: views over the lake, in warehouse.duckdb and in every query connection.

warehouse.duckdb exists for SQL tools (the DuckDB CLI, DBeaver, ...): it holds only views, is
rebuilt in a moment from the lake, and is opened read-write only while being rebuilt. gammalake's
own queries run on an in-memory connection that defines the same views, so a writer never locks
out a reader and a reader never locks out a writer.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from warehouse.lake import Lake
from warehouse.locks import flocked, reading

CATALOG_FILE = "warehouse.duckdb"
MANIFEST_FILE = "catalog.json"
_BLOCK = re.compile(r"^-- view: (\w+) needs: ([\w, ]+)$", re.MULTILINE)


@dataclass(frozen=True)
class ViewDef:
    """A view and the datasets it needs."""

    name: str
    needs: tuple[str, ...]
    sql: str


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


def view_statements(present: list[str]) -> list[str]:
    """Return CREATE VIEW statements for the datasets in `present` and what derives from them."""
    statements = [
        f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet("
        f"'lake/{name}/**/*.parquet', hive_partitioning = false, union_by_name = true)"
        for name in present
    ]
    made: set[str] = set()
    for view in derived_views():
        if view.name not in made and set(view.needs) <= set(present) | made:
            statements.append(view.sql)
            made.add(view.name)
    return statements


def connect(home: Path) -> duckdb.DuckDBPyConnection:
    """Return an in-memory connection with every view of the lake under `home` defined.

    Reading through it while a writer runs needs `warehouse.locks.reading(home)` held;
    `query` does that.
    """
    con = duckdb.connect(":memory:")
    con.execute("SET file_search_path = ?", [str(home.resolve())])
    for statement in view_statements(Lake(home).datasets()):
        con.execute(statement)
    return con


@contextmanager
def reader(home: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection over the lake for several queries, under the shared swap lock."""
    with reading(home):
        con = connect(home)
        try:
            yield con
        finally:
            con.close()


def query(home: Path, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
    """Return the result of one SQL statement over the lake as a polars frame.

    Runs under the shared swap lock, so no partition file is replaced while it reads.
    """
    with reader(home) as con:
        return con.sql(sql, params=params or None).pl()


def rebuild(home: Path) -> list[str]:
    """Recreate warehouse.duckdb's views from the lake; return the datasets it covers.

    Holds the file read-write only for the few statements this takes, under a lock so two
    rebuilds never race.
    """
    home.mkdir(parents=True, exist_ok=True)
    present = Lake(home).datasets()
    with flocked(home / "locks" / "catalog.lock", fcntl.LOCK_EX):
        con = duckdb.connect(str(home / CATALOG_FILE))
        try:
            con.execute("SET file_search_path = ?", [str(home.resolve())])
            stale = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal")
            for (name,) in stale.fetchall():
                con.execute(f'DROP VIEW IF EXISTS "{name}"')
            for statement in view_statements(present):
                con.execute(statement)
        finally:
            con.close()
        (home / MANIFEST_FILE).write_text(json.dumps({"datasets": present}) + "\n")
    return present


def ensure(home: Path) -> bool:
    """Rebuild the catalog if the set of datasets changed since the last build; say if it did."""
    manifest = home / MANIFEST_FILE
    built = json.loads(manifest.read_text())["datasets"] if manifest.exists() else None
    if built == Lake(home).datasets() and (home / CATALOG_FILE).exists():
        return False
    rebuild(home)
    return True
