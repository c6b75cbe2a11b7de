"""`gammalake sql`: read-only queries over the catalog's views, printed or written, or a prompt.

Queries run in the SQL sandbox (warehouse.sandbox): DuckDB itself refuses any file outside the
lake, every URL, extension installs and any SET that would undo that. What DuckDB would still
allow (COPY, EXPORT or ATTACH inside the lake folder, DDL, several statements at once) is
refused by the sandbox's statement check before anything runs: one line, exit code 2. No
result is ever written inside the home folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from gammalake.cli.choices import OutputFormat

if TYPE_CHECKING:
    from rich.console import Console
from pipeline.errors import InputError
from warehouse.sandbox import LOCAL, WRITE_HINT, Limits, SandboxError

HINT = WRITE_HINT
#: Exit codes of a query stopped by SIGINT (Ctrl-C) and SIGTERM: 128 + the signal's number.
STOPPED, STOPPED_BY_TERM = 130, 143
#: --output suffixes that choose the format when --format is not given.
SUFFIXES = {
    ".csv": OutputFormat.csv,
    ".json": OutputFormat.json,
    ".parquet": OutputFormat.parquet,
    ".pq": OutputFormat.parquet,
}


def run_query(
    home: Path,
    sql: str,
    method: str | None = None,
    limits: Limits = LOCAL,
    limit: int | None = None,
) -> pl.DataFrame:
    """Return the result of one read-only statement over the lake, in the SQL sandbox.

    A refused statement, an SQL error or a query past `limits` becomes one InputError line.
    """
    from warehouse.sandbox import query

    try:
        return query(home, sql, method, limits, limit)
    except SandboxError as exc:
        error = InputError(str(exc))
        error.hint = exc.hint
        raise error from None


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
    from rich.text import Text

    # Text, not str: rich would read "[/x]" in a value or a column name as markup.
    table = Table(show_edge=False, header_style="bold")
    for name, dtype in frame.schema.items():
        table.add_column(Text(name), justify="right" if dtype.is_numeric() else "left")
    for row in frame.iter_rows():
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    return table


def choose_format(fmt: OutputFormat | None, output: Path | None) -> OutputFormat:
    """Return the output format: `fmt`, else the one --output's suffix names, else table."""
    if fmt is not None:
        return fmt
    if output is None:
        return OutputFormat.table
    chosen = SUFFIXES.get(output.suffix.lower())
    if chosen is None:
        raise InputError(
            f"--output {output}: give --format (table, csv, json, parquet) or name the file "
            ".csv, .json or .parquet"
        )
    return chosen


def render(frame: pl.DataFrame, fmt: OutputFormat) -> bytes:
    """Return a result written in `fmt` (table: the text printed; parquet: the file's bytes)."""
    import io

    if fmt is OutputFormat.table:
        from rich.console import Console

        buffer = io.StringIO()
        Console(file=buffer, width=200, color_system=None).print(table_of(frame))
        return buffer.getvalue().encode()
    if fmt is OutputFormat.parquet:
        out = io.BytesIO()
        frame.write_parquet(out)
        return out.getvalue()
    if fmt is OutputFormat.csv:
        check_csv(frame)
    text = frame.write_csv() if fmt is OutputFormat.csv else frame.write_json()
    return (text if text.endswith("\n") else text + "\n").encode()


def _rendered(frame: pl.DataFrame, fmt: OutputFormat) -> bytes:
    """Return `render`'s bytes; a type the format cannot hold is one InputError line."""
    try:
        return render(frame, fmt)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        error = InputError(f"--format {fmt.value} cannot hold this result: {first}")
        error.hint = "cast the column to VARCHAR in the query, or choose another --format"
        raise error from None


def emit(
    frame: pl.DataFrame, fmt: OutputFormat, output: Path | None, home: Path | None = None
) -> None:
    """Write a result in `fmt` to `output` (stdout when None; Parquet needs a file).

    The file is written whole or not at all (a temp file beside it, then renamed). With
    `home`, an `output` inside it is refused.
    """
    if home is not None:
        check_output(home, output)
    if fmt is OutputFormat.parquet and output is None:
        raise InputError("--format parquet needs --output FILE")
    if fmt is OutputFormat.table and output is None:
        from gammalake.cli.console import make_console

        make_console().print(table_of(frame))
        return
    data = _rendered(frame, fmt)
    if output is None:
        sys.stdout.write(data.decode())
        return
    write_whole(output, data)


def check_target(output: Path) -> None:
    """Refuse an --output that exists and is not a regular file (a FIFO, a device, a folder).

    The file is replaced by a rename: a device such as /dev/full would be replaced itself.
    """
    if output.exists() and not output.is_file():
        raise InputError(f"--output {output} exists and is not a regular file")
    if not output.parent.is_dir():
        raise InputError(f"--output {output}: the folder {output.parent} does not exist")


def write_whole(output: Path, data: bytes) -> None:
    """Write `data` to `output` whole or not at all (a temp file beside it, then renamed)."""
    check_target(output)
    temp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        temp.write_bytes(data)
        os.replace(temp, output)
    except OSError as exc:
        # The temp file's name would puzzle: the error names the file the user gave.
        raise OSError(exc.errno, exc.strerror, str(output)) from None
    finally:
        temp.unlink(missing_ok=True)


def sql_command(home: Path, sql: str | None, fmt: OutputFormat | None, output: Path | None) -> None:
    """Run `gammalake sql`: the prompt when `sql` is None, else one query written out.

    `fmt` None: the format --output's suffix names (.csv, .json, .parquet), else a table.
    """
    if not home.is_dir():
        raise InputError(f"--home {home}: no such folder, nothing is stored there yet")
    check_output(home, output)
    if output is not None:
        check_target(output)
    with stoppable():
        if sql is None:
            prompt(home)
            return
        chosen = choose_format(fmt, output)
        if chosen is OutputFormat.parquet and output is None:
            raise InputError("--format parquet needs --output FILE")
        emit(run_query(home, sql), chosen, output, home)


class Terminated(KeyboardInterrupt):
    """Raised by the SIGTERM handler: stops a query like Ctrl-C, but also leaves the prompt."""


def _terminate(signum: int, frame: object) -> None:
    """Raise Terminated in the main thread (the query in hand is then interrupted)."""
    raise Terminated


@contextmanager
def stoppable() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into one line "stopped" and exit code 130 / 143.

    The query runs in a worker thread (warehouse.sandbox): the KeyboardInterrupt raised here
    interrupts DuckDB before it propagates, so the process does not hang until it ends.
    """
    import signal

    import typer

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except KeyboardInterrupt as exc:
        print("stopped", file=sys.stderr)
        raise typer.Exit(STOPPED_BY_TERM if isinstance(exc, Terminated) else STOPPED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def prompt(home: Path) -> None:
    """Read statements ending in ';' from stdin and print each result; .quit or EOF ends."""
    from rich.markup import escape

    from gammalake.cli.console import make_console

    console = make_console()
    console.print(escape(f"gammalake sql on {home} - views: {', '.join(view_names(home))}"))
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
            run_statement(console, home, statement)


def run_statement(console: Console, home: Path, statement: str) -> None:
    """Print the result of one statement of the prompt, or its error; Ctrl-C stops it only."""
    from rich.markup import escape

    try:
        console.print(table_of(run_query(home, statement)))
    except InputError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):
            raise
        console.print("stopped")


def view_names(home: Path) -> list[str]:
    """Return the names of the views a query can use."""
    frame = run_query(home, "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1")
    return frame.get_column("view_name").to_list()
