"""`gammalake sql`: read-only queries over the catalog's views, printed or written, or a prompt.

`gammalake sql` only reads. Every statement is parsed by DuckDB's own parser before anything
runs, and only reads pass: SELECT (and its forms: FROM, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE)
whose table functions all only read, EXPLAIN of such a statement, introspection PRAGMA and
CALL, and SET of a few display options. COPY, EXPORT, ATTACH, DDL, INSTALL and the rest are
refused with one line naming the statement, before any of the SQL runs, and no result is ever
written inside the home folder.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from gammalake.cli.choices import OutputFormat
from pipeline.errors import InputError

#: Table functions that only read (files, the catalog's own metadata, generated rows).
READ_FUNCTIONS = frozenset(
    {
        *("read_parquet", "parquet_scan", "read_csv", "read_csv_auto", "read_json"),
        *("read_json_auto", "read_ndjson", "read_ndjson_auto", "read_json_objects"),
        *("read_ndjson_objects", "read_text", "read_blob", "glob", "sniff_csv"),
        *("parquet_metadata", "parquet_schema", "parquet_kv_metadata", "parquet_file_metadata"),
        *("range", "generate_series", "unnest", "repeat", "repeat_row", "summary"),
        *("json_each", "json_tree", "pg_timezone_names", "icu_calendar_names"),
        *("pragma_table_info", "pragma_show", "pragma_version", "pragma_platform"),
        *("pragma_collations", "pragma_database_size", "pragma_database_list"),
        *("duckdb_columns", "duckdb_constraints", "duckdb_databases", "duckdb_dependencies"),
        *("duckdb_functions", "duckdb_indexes", "duckdb_keywords", "duckdb_schemas"),
        *("duckdb_settings", "duckdb_tables", "duckdb_types", "duckdb_views"),
        *("duckdb_extensions", "duckdb_sequences", "duckdb_variables", "duckdb_memory"),
    }
)
#: PRAGMAs that only describe: PRAGMA table_info('snapshots'), PRAGMA show_tables, ...
READ_PRAGMAS = frozenset(
    {"table_info", "show", "show_tables", "show_tables_expanded", "database_list"}
    | {"version", "platform", "collations", "functions", "database_size"}
)
#: Options a query may set for its own session (display and resources, no file paths).
SAFE_OPTIONS = frozenset(
    {"timezone", "calendar", "threads", "memory_limit", "default_order", "default_null_order"}
)
_LEAD = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"  # whitespace and comments before a keyword
_WORD = re.compile(_LEAD + r"(\w+)", re.DOTALL)
_WORDS = re.compile(_LEAD + r"(\w+)(?:\s+(\w+))?", re.DOTALL)
_PRAGMA = re.compile(_LEAD + r"PRAGMA\s+(\w+)", re.DOTALL | re.IGNORECASE)
_CALL = re.compile(_LEAD + r"CALL\s+(\w+)\s*\(", re.DOTALL | re.IGNORECASE)
_EXPLAIN = re.compile(_LEAD + r"EXPLAIN\s+(?:ANALY[SZ]E\s+)?(.*)$", re.DOTALL | re.IGNORECASE)
_SET = re.compile(
    _LEAD + r"SET\s+(?:SESSION\s+|LOCAL\s+)?(\w+)\s*(?:=|\s+TO\s+)\s*('[^']*'|[\w.+-]+)\s*;?\s*$",
    re.DOTALL | re.IGNORECASE,
)
HINT = "gammalake sql only reads; write a result with --output FILE outside the home folder"


def _keyword(text: str) -> str:
    """Return the first keyword of a statement, upper-cased (COPY, ATTACH, INSTALL, ...)."""
    match = _WORD.match(text)
    return match.group(1).upper() if match else "?"


def _refuse(text: str, what: str | None = None) -> InputError:
    """Return the one-line error refusing a statement: `what`, or its first keyword."""
    kind = what or f"{_keyword(text)} statements are"
    error = InputError(f"gammalake sql only reads: {kind} refused")
    error.hint = HINT
    return error


def _table_functions(node: Any) -> Iterator[str]:
    """Yield the name of every table function in a serialized SELECT's parse tree."""
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION":
            yield str(node.get("function", {}).get("function_name", "")).lower()
        for value in node.values():
            yield from _table_functions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _table_functions(value)


def _check_select(text: str) -> None:
    """Refuse a SELECT that calls a table function with side effects (enable_logging, ...)."""
    con = duckdb.connect(":memory:")
    try:
        [(tree,)] = con.execute("SELECT json_serialize_sql(?)", [text]).fetchall()
    finally:
        con.close()
    parsed = json.loads(tree)
    if parsed.get("error"):
        raise _refuse(text)
    for name in _table_functions(parsed):
        if name not in READ_FUNCTIONS:
            raise _refuse(text, f"table function {name}() is")


def _check_named(pattern: re.Pattern[str], allowed: frozenset[str]) -> Callable[[str], None]:
    """Return a check passing statements whose name (first group) is in `allowed`."""

    def check(text: str) -> None:
        match = pattern.match(text)
        name = match.group(1).lower() if match else None
        if name not in allowed:
            words = _WORDS.match(text)
            said = f"{words.group(1).upper()} {words.group(2) or ''}".strip() if words else "?"
            raise _refuse(text, f"{said} is")

    return check


def _check_explain(text: str) -> None:
    """Check the statement an EXPLAIN describes (EXPLAIN ANALYZE runs it)."""
    match = _EXPLAIN.match(text)
    if match is None:
        raise _refuse(text)
    for statement in _parse(match.group(1)):
        _check(statement)


_CHECKS: dict[str, Callable[[str], None]] = {
    "SELECT": _check_select,
    "EXPLAIN": _check_explain,
    "PRAGMA": _check_named(_PRAGMA, READ_PRAGMAS),
    "CALL": _check_named(_CALL, READ_FUNCTIONS),
    "SET": _check_named(_SET, SAFE_OPTIONS),
}


def _parse(sql: str) -> list[duckdb.Statement]:
    """Return the statements of `sql` as DuckDB parses them; a syntax error is one line."""
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"SQL error: {first}") from None


def _check(statement: duckdb.Statement) -> None:
    """Raise InputError unless the statement only reads."""
    check = _CHECKS.get(statement.type.name)
    if check is None:
        raise _refuse(statement.query)
    check(statement.query)


def read_statements(sql: str) -> list[duckdb.Statement]:
    """Return the statements of `sql` if every one only reads; else raise naming the first."""
    statements = _parse(sql)
    if not statements:
        raise InputError("no SQL statement given")
    for statement in statements:
        _check(statement)
    return statements


def run_query(home: Path, sql: str) -> pl.DataFrame:
    """Return the result of the last statement of `sql` over the lake, if all only read.

    A refused statement or a SQL error becomes one clear InputError; nothing runs before
    every statement has passed.
    """
    from warehouse.catalog import reader

    statements = read_statements(sql)
    try:
        with reader(home) as con:
            for statement in statements[:-1]:
                con.sql(statement.query)  # a SET runs at once; an earlier SELECT is never used
            result = con.sql(statements[-1].query)
            return pl.DataFrame() if result is None else result.pl()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"SQL error: {first}") from None


def check_output(home: Path, output: Path | None) -> None:
    """Refuse an --output file inside the home folder (symlinks resolved): sql never writes it."""
    if output is None:
        return
    target, root = output.expanduser().resolve(), home.expanduser().resolve()
    if target == root or root in target.parents:
        error = InputError(f"--output {output} is inside the gammalake home {root}")
        error.hint = HINT
        raise error


def check_csv(frame: pl.DataFrame) -> None:
    """Refuse CSV for a result with list or struct columns, naming them."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    if nested:
        error = InputError(
            f"--format csv cannot hold list or struct column(s): {', '.join(nested)}"
        )
        error.hint = (
            "use --format json or parquet, or select array_to_string(column, ',') in the query"
        )
        raise error


def table_of(frame: pl.DataFrame) -> object:
    """Return a rich table of a result (numbers right-aligned)."""
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold")
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in frame.iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def emit(
    frame: pl.DataFrame, fmt: OutputFormat, output: Path | None, home: Path | None = None
) -> None:
    """Write a result in `fmt` to `output` (stdout when None; Parquet needs a file).

    With `home`, an `output` inside it is refused.
    """
    if home is not None:
        check_output(home, output)
    if fmt is OutputFormat.table:
        from gammalake.cli.console import make_console

        make_console().print(table_of(frame))
        return
    if fmt is OutputFormat.parquet:
        if output is None:
            raise InputError("--format parquet needs --output FILE")
        frame.write_parquet(output)
        return
    if fmt is OutputFormat.csv:
        check_csv(frame)
    text = frame.write_csv() if fmt is OutputFormat.csv else frame.write_json()
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text)


def sql_command(home: Path, sql: str | None, fmt: OutputFormat, output: Path | None) -> None:
    """Run `gammalake sql`: the prompt when `sql` is None, else one query written out."""
    if not home.is_dir():
        raise InputError(f"--home {home}: no such folder, nothing is stored there yet")
    check_output(home, output)
    if sql is None:
        prompt(home)
        return
    if fmt is OutputFormat.parquet and output is None:
        raise InputError("--format parquet needs --output FILE")
    emit(run_query(home, sql), fmt, output, home)


def prompt(home: Path) -> None:
    """Read statements ending in ';' from stdin and print each result; .quit or EOF ends."""
    from gammalake.cli.console import make_console

    console = make_console()
    console.print(f"gammalake sql on {home} - views: {', '.join(view_names(home))}")
    console.print("End statements with ';'. .quit to leave. Only reads are allowed.")
    buffer: list[str] = []
    while True:
        try:
            line = input("gammalake> " if not buffer else "       ...> ")
        except EOFError:
            break
        if line.strip() in (".quit", ".exit") and not buffer:
            break
        buffer.append(line)
        if line.rstrip().endswith(";"):
            statement, buffer = "\n".join(buffer), []
            try:
                console.print(table_of(run_query(home, statement)))
            except InputError as exc:
                console.print(f"[red]error:[/] {exc}")


def view_names(home: Path) -> list[str]:
    """Return the names of the views a query can use."""
    frame = run_query(home, "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1")
    return frame.get_column("view_name").to_list()
