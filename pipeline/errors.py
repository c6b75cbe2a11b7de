"""Errors raised for bad input: each names the file, line, field or symbol at fault."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input from a user or a data file; the CLI prints it on one line and exits with 2."""

    hint: str = ""


class FileFormatError(InputError):
    """A data file that cannot be read; says which file, and where known the line and column."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        where = self.path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


class ChainFormatError(FileFormatError):
    """A chain file that cannot be read; says which file, line and column."""
