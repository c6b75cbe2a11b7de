"""The SQL sandbox: where SQL from people, agents and the API runs, kept in the lake by DuckDB.

Every query gets its own in-memory DuckDB database holding the catalog's views (the same SQL as
warehouse.duckdb, with the lake's absolute path), and that database is then locked:

- `enable_external_access=false` with `allowed_directories` = the home's lake folder and
  `allowed_paths` = the catalog file: DuckDB refuses any other file, a glob outside the lake,
  and every URL (http, https, s3, ...);
- `autoinstall_known_extensions=false`, `autoload_known_extensions=false`: nothing is
  downloaded or loaded (httpfs, ...);
- `temp_directory` inside the home (home/tmp/sql-<pid>-<id>, removed afterwards), with
  `max_temp_directory_size`, and `memory_limit` when the caller sets one;
- `lock_configuration=true` last, so no SET or RESET of the query can undo any of it.

DuckDB cannot open an in-memory database read-only, and inside the lake folder it would let
COPY, EXPORT and ATTACH write. So one check stays ours, on DuckDB's own parse of the text: one
statement per query, and only statements that read (SELECT and its forms, EXPLAIN of one,
descriptive PRAGMA, CALL of a table function, SET/RESET, which the lock then refuses). A time
limit, where asked, interrupts the query from a timer thread (`DuckDBPyConnection.interrupt`).
Results come back as polars frames; types polars cannot hold (INTERVAL, BLOB, BIT, TIMETZ,
UNION, UHUGEINT, BIGNUM) come back as DuckDB's text of them, infinite dates as `infinity`.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from warehouse.catalog import default_method, view_statements
from warehouse.errors import WarehouseInputError
from warehouse.home import Layout
from warehouse.lake import Lake
from warehouse.locks import reading

#: How every refusal of a statement begins.
REFUSED = "gammalake sql only reads"
#: Statement types that may run (DuckDB refuses the settings ones itself, once locked).
READ_TYPES = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "CALL", "SET"})
#: PRAGMAs that only describe: PRAGMA table_info('snapshots'), PRAGMA show_tables, ...
READ_PRAGMAS = frozenset(
    {"table_info", "show", "show_tables", "show_tables_expanded", "database_list"}
    | {"version", "platform", "collations", "functions", "database_size", "storage_info"}
)
#: The first keyword each statement type may have (SELECT and EXPLAIN: any of their forms).
_KEYWORDS = {"PRAGMA": ("PRAGMA",), "CALL": ("CALL",), "SET": ("SET", "RESET")}
#: Types polars cannot hold exactly (or at all), anywhere in a column's type: sent as text.
_AS_TEXT = re.compile(
    r"\b(INTERVAL|BLOB|BIT|BITSTRING|UNION|UHUGEINT|BIGNUM|VARINT|TIME WITH TIME ZONE)\b"
)
#: DuckDB's infinity in Arrow: a date's day count, a timestamp's tick count.
_INFINITE = {pl.Date: 2**31 - 1, pl.Datetime: 2**63 - 1}


class SandboxError(WarehouseInputError):
    """SQL refused (a write, a file outside the lake, a locked setting) or failed; one line.

    `hint` says what to do instead (empty when the message says it all).
    """

    def __init__(self, message: str, hint: str = "") -> None:
        """Keep the one-line message and its hint."""
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Limits:
    """What one query may use (None: no limit of ours).

    `seconds` of time; `memory` (DuckDB memory_limit, e.g. "1GB"); `temp`
    (max_temp_directory_size, spilled into the home's tmp folder).
    """

    seconds: float | None = None
    memory: str | None = None
    temp: str = "4GB"


#: gammalake sql and Lake.sql: the user's own machine and patience; spills stay in the home.
LOCAL = Limits()
#: SQL from MCP and the API (agents, other programs): bounded in time, memory and disk.
SHARED = Limits(seconds=60.0, memory="1GB", temp="2GB")


def _tokens(text: str) -> list[tuple[int, str]]:
    """Return (position, text) of each token of a statement but comments, by DuckDB's tokenizer."""
    tokens = duckdb.tokenize(text)
    ends = [p for p, _ in tokens[1:]] + [len(text)]
    return [
        (p, text[p:end].strip())
        for (p, kind), end in zip(tokens, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]


def _words(text: str) -> list[str]:
    """Return the first words of a statement, upper-cased, comments skipped ([] if none)."""
    return [word.upper() for _, word in _tokens(text)[:3]]


WRITE_HINT = "gammalake sql only reads; write a result with --output FILE outside the home folder"


def refusal(what: str) -> SandboxError:
    """Return the one-line error refusing `what` (e.g. "COPY statements are")."""
    return SandboxError(f"{REFUSED}: {what} refused", WRITE_HINT)


def _first_line(exc: BaseException) -> str:
    """Return the first line of an error's message."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _statements(sql: str) -> list[duckdb.Statement]:
    """Return the statements of `sql` as DuckDB parses them; a syntax error is one line."""
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SandboxError(f"SQL error: {_first_line(exc)}") from None


def _kind(statement: duckdb.Statement) -> str:
    """Return a statement's type name (INVALID for a type the Python API cannot name)."""
    try:
        return statement.type.name
    except ValueError:
        return "INVALID"


def _check(statement: duckdb.Statement) -> None:
    """Raise SandboxError unless the statement is one that reads (see the module)."""
    kind, text = _kind(statement), statement.query
    words = [*_words(text), "", ""]
    # DuckDB types IMPORT as PRAGMA, CHECKPOINT as CALL, USE as SET: the keyword must agree.
    if kind not in READ_TYPES or words[0] not in _KEYWORDS.get(kind, (words[0],)):
        raise refusal(f"{words[0] or '?'} statements are")
    if words[:2] == ["SET", "VARIABLE"]:
        raise refusal("SET VARIABLE is")
    if kind == "PRAGMA" and words[1].lower() not in READ_PRAGMAS:
        raise refusal(f"PRAGMA {words[1].lower()} is")
    if kind == "EXPLAIN":
        _check_explained(text)


def _check_explained(text: str) -> None:
    """Check the statement an EXPLAIN describes: EXPLAIN ANALYZE runs it."""
    tokens = _tokens(text)[1:]
    if tokens and tokens[0][1].upper() in ("ANALYZE", "ANALYSE"):
        tokens = tokens[1:]
    inner = _statements(text[tokens[0][0] :]) if tokens else []
    if len(inner) != 1:
        raise refusal("this EXPLAIN is")
    _check(inner[0])


def check(sql: str) -> str:
    """Return the one statement of `sql` if it only reads; else raise SandboxError naming it."""
    statements = _statements(sql)
    if not statements:
        raise SandboxError("no SQL statement given")
    if len(statements) > 1:
        raise SandboxError(
            f"{REFUSED} one statement at a time: {len(statements)} were sent",
            "send each statement on its own",
        )
    _check(statements[0])
    return statements[0].query


def _quoted(path: Path) -> str:
    """Return a path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def lake_views(home: Path, method: str | None = None) -> list[str]:
    """Return the catalog's CREATE VIEW statements reading the lake by its absolute path.

    The sandbox allows the lake's folder only; DuckDB checks a relative path as written (not
    resolved), so the views name the lake absolutely.
    """
    root = Layout(home.resolve()).lake
    relative, absolute = "read_parquet('lake/", "read_parquet(" + _quoted(root)[:-1] + "/"
    lake = Lake(home)
    # Naming the old-layout datasets lets the views skip union_by_name (a footer read per file).
    statements = view_statements(
        lake.datasets(), method or default_method(home), lake.legacy_datasets()
    )
    return [s.replace(relative, absolute) for s in statements]


def _lock(con: duckdb.DuckDBPyConnection, home: Path, limits: Limits, temp: Path) -> None:
    """Apply the sandbox's settings to `con` (see the module), the lock last."""
    layout = Layout(home.resolve())
    # temp_directory can no longer be changed once external access is off: set it first.
    con.execute("SET temp_directory = ?", [str(temp)])
    con.execute("SET max_temp_directory_size = ?", [limits.temp])
    if limits.memory is not None:
        con.execute("SET memory_limit = ?", [limits.memory])
    # Lake.sql in a terminal or notebook: no progress bar drawn over the caller's output.
    con.execute("SET enable_progress_bar = false")
    con.execute("SET allowed_directories = ?", [[f"{layout.lake}/"]])
    # DuckDB follows a symlink: a catalog linked elsewhere would open its target to reading.
    catalog = layout.catalog
    if catalog.is_file() and not catalog.is_symlink():
        con.execute("SET allowed_paths = ?", [[str(catalog)]])
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def open_sandbox(
    home: Path, method: str | None = None, limits: Limits = LOCAL
) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """Return a locked in-memory connection with the lake's views, and its temp folder.

    The caller closes the connection and removes the folder (`sandbox` does both).
    """
    _check_lake(home)
    temp = Layout(home.resolve()).tmp / f"sql-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    con = duckdb.connect(":memory:")
    try:
        for statement in lake_views(home, method):
            con.execute(statement)
        _lock(con, home, limits, temp)
    except duckdb.Error as exc:
        con.close()
        raise SandboxError(f"the SQL sandbox cannot open {home}: {_first_line(exc)}") from None
    except BaseException:
        con.close()
        raise
    return con, temp


def _check_lake(home: Path) -> None:
    """Refuse a lake folder that resolves outside the home (a symlink to / would allow all)."""
    root = home.resolve()
    lake = Layout(root).lake.resolve()
    if root not in lake.parents:
        raise SandboxError(
            f"{Layout(root).lake} leads outside the gammalake home ({lake}); "
            "the SQL sandbox allows only a lake folder inside it"
        )


@dataclass
class Sandbox:
    """A locked connection over the lake's views; `query` runs one checked statement."""

    con: duckdb.DuckDBPyConnection
    limits: Limits
    lake: Path

    def query(self, sql: str, limit: int | None = None) -> pl.DataFrame:
        """Return the result of one read-only statement (at most `limit` rows) as a frame.

        Raises SandboxError, one line, for a refused statement, an SQL error or a query
        past the time limit.
        """
        text = check(sql)
        timer = None
        if self.limits.seconds is not None:
            timer = threading.Timer(self.limits.seconds, self.con.interrupt)
            timer.daemon = True
            timer.start()
        try:
            return self._interruptible(text, limit)
        except duckdb.InterruptException:
            seconds = self.limits.seconds
            raise SandboxError(f"SQL stopped: it ran past the limit of {seconds:g} s") from None
        except duckdb.Error as exc:
            raise self._explained(exc) from None
        finally:
            if timer is not None:
                timer.cancel()

    def _interruptible(self, text: str, limit: int | None) -> pl.DataFrame:
        """Return the frame of `text`, run in a worker thread so Ctrl-C can stop DuckDB.

        DuckDB holds the calling thread until the query ends and Python only runs its signal
        handlers between bytecodes: waiting here instead lets KeyboardInterrupt (or what a
        SIGTERM handler raises) arrive, interrupt the query, and then propagate.
        """
        outcome: list[pl.DataFrame | BaseException] = []
        # An Event, not Thread.join: a join that KeyboardInterrupt breaks marks the thread
        # ended while it still runs (CPython 3.11), and closing the connection then fails.
        done = threading.Event()

        def work() -> None:
            try:
                outcome.append(frame_of(self.con.sql(text), limit))
            except BaseException as exc:  # handed to the waiting thread, raised there
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=work, name="gammalake-sql", daemon=True).start()
        try:
            while not done.wait(0.25):
                pass
        except BaseException:
            _stop(self.con, done)
            raise
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _explained(self, exc: duckdb.Error) -> SandboxError:
        """Return a DuckDB error as one line, saying when it is the sandbox that refused."""
        first = _first_line(exc)
        if isinstance(exc, duckdb.PermissionException):
            reason = first.removeprefix("Permission Error: ")
            return SandboxError(
                f"{REFUSED} the lake ({self.lake}): {reason}",
                f"query the views (snapshots, strikes, ...) or files under {self.lake}/",
            )
        if "configuration has been locked" in first or "disabled by configuration" in first:
            return SandboxError(
                f"{REFUSED}; its settings are locked: {first}",
                "the SQL sandbox fixes every setting (docs/sql-sandbox.md)",
            )
        return SandboxError(f"SQL error: {first}")


def _stop(con: duckdb.DuckDBPyConnection, done: threading.Event) -> None:
    """Interrupt the query running on `con` and wait until its worker is `done`.

    An interrupt sent before DuckDB has started the query is lost, so it is sent again until
    the worker ends; a second Ctrl-C meanwhile does not leave the query running.
    """
    while not done.is_set():
        try:
            con.interrupt()
            done.wait(0.05)
        except KeyboardInterrupt:
            continue


@contextmanager
def sandbox(home: Path, method: str | None = None, limits: Limits = LOCAL) -> Iterator[Sandbox]:
    """Yield a Sandbox over the lake of `home`, under the shared swap lock; clean up after.

    `method`: the default method of the derived views (None: the catalog's).
    """
    with reading(home):
        con, temp = open_sandbox(home, method, limits)
        try:
            yield Sandbox(con, limits, Layout(home.resolve()).lake)
        finally:
            con.close()
            shutil.rmtree(temp, ignore_errors=True)


def query(
    home: Path,
    sql: str,
    method: str | None = None,
    limits: Limits = LOCAL,
    limit: int | None = None,
) -> pl.DataFrame:
    """Return the result of one read-only statement over the lake (see `Sandbox.query`)."""
    with sandbox(home, method, limits) as box:
        return box.query(sql, limit)


def frame_of(relation: duckdb.DuckDBPyRelation | None, limit: int | None = None) -> pl.DataFrame:
    """Return a result as a polars frame; types polars cannot hold become DuckDB's text."""
    if relation is None:
        return pl.DataFrame()
    if limit is not None:
        relation = relation.limit(limit)
    kinds = [str(kind) for kind in relation.types]
    columns = list(zip(relation.columns, kinds, strict=True))
    if any(_AS_TEXT.search(kind) for _, kind in columns):
        relation = relation.project(", ".join(_column(name, kind) for name, kind in columns))
    frame = relation.pl()
    return frame.with_columns(_infinite_as_text(frame[name]) for name in _infinite(frame))


def _column(name: str, kind: str) -> str:
    """Return the projection of one result column: as is, or cast to text (see _AS_TEXT)."""
    quoted = '"' + name.replace('"', '""') + '"'
    return f"CAST({quoted} AS VARCHAR) AS {quoted}" if _AS_TEXT.search(kind) else quoted


def _infinite(frame: pl.DataFrame) -> list[str]:
    """Return the date and timestamp columns holding DuckDB's infinity (polars cannot show it)."""
    found = []
    for name, dtype in frame.schema.items():
        top = _INFINITE.get(dtype.base_type())
        if top is not None and frame[name].to_physical().abs().max() == top:
            found.append(name)
    return found


def _infinite_as_text(column: pl.Series) -> pl.Series:
    """Return a date or timestamp column as ISO text, infinities as 'infinity'/'-infinity'."""
    ticks = column.to_physical()
    top = _INFINITE[column.dtype.base_type()]
    finite = column.to_frame().select(
        pl.when(ticks.abs() < top).then(pl.col(column.name)).cast(pl.String)
    )
    text = finite.to_series()
    out = pl.select(
        pl.when(ticks >= top)
        .then(pl.lit("infinity"))
        .when(ticks <= -top)
        .then(pl.lit("-infinity"))
        .otherwise(text)
    ).to_series()
    return out.alias(column.name)
