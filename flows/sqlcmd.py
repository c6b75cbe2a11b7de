"""`gammalake sql`: queries over the catalog's views, printed or written, or a prompt."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from flows.choices import OutputFormat
from pipeline.errors import InputError


def run_query(home: Path, sql: str) -> pl.DataFrame:
    """Return the result of `sql` over the lake; a SQL error becomes one clear InputError."""
    import duckdb

    from warehouse.catalog import query

    try:
        return query(home, sql)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"SQL error: {first}") from None


def table_of(frame: pl.DataFrame) -> object:
    """Return a rich table of a result (numbers right-aligned)."""
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold")
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in frame.iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def emit(frame: pl.DataFrame, fmt: OutputFormat, output: Path | None) -> None:
    """Write a result in `fmt` to `output` (stdout when None; Parquet needs a file)."""
    if fmt is OutputFormat.table:
        from flows.console import make_console

        make_console().print(table_of(frame))
        return
    if fmt is OutputFormat.parquet:
        if output is None:
            raise InputError("--format parquet needs --output FILE")
        frame.write_parquet(output)
        return
    text = frame.write_csv() if fmt is OutputFormat.csv else frame.write_json()
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text)


def prompt(home: Path) -> None:
    """Read statements ending in ';' from stdin and print each result; .quit or EOF ends."""
    from flows.console import make_console

    console = make_console()
    console.print(f"gammalake sql on {home} - views: {', '.join(view_names(home))}")
    console.print("End statements with ';'. .quit to leave.")
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
