"""Checked conversion of text columns to numbers, with errors that name the line and column.

All columns are parsed in one polars pass and checked in a second; only when a check fails is
the offending line looked up, so a good file costs two passes whatever its width.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.errors import ChainFormatError

#: Name of the row-number column readers add (file line of each row, 1-based).
LINE = "__line"


@dataclass(frozen=True)
class NumberSpec:
    """How one text column must parse: `label` is the name users see in errors."""

    column: str
    label: str
    required: bool = True
    non_negative: bool = False
    whole: bool = False


def _value(spec: NumberSpec, dtype: pl.DataType) -> pl.Expr:
    """Return the column as Float64: text is stripped and parsed, numbers are cast."""
    if dtype == pl.String:
        return pl.col(spec.column).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.col(spec.column).cast(pl.Float64)


def _checks(spec: NumberSpec, dtype: pl.DataType) -> list[tuple[pl.Expr, str]]:
    """Return (failing-row expression, message) pairs for one column."""
    value = _value(spec, dtype)
    checks = []
    if dtype == pl.String:
        text = pl.col(spec.column).str.strip_chars()
        checks.append((text.is_not_null() & (text != "") & value.is_null(), "is not a number"))
    if spec.required:
        checks.append((value.is_null(), "is empty"))
    if spec.non_negative:
        checks.append((value < 0, "is negative"))
    if spec.whole:
        checks.append((value != value.round(0), "is not a whole number"))
    return checks


def parse_numbers(
    frame: pl.DataFrame, path: str | Path, specs: list[NumberSpec]
) -> dict[str, pl.Series]:
    """Return each spec's column as Float64 (Int64 when `whole`); raise on the first bad cell.

    Columns may be text (parsed here) or already numeric (checked only).
    """
    schema = frame.schema
    checks = [
        (spec, expr, msg) for spec in specs for expr, msg in _checks(spec, schema[spec.column])
    ]
    flags = frame.select(
        [expr.fill_null(False).any().alias(str(i)) for i, (_, expr, _) in enumerate(checks)]
    ).row(0)
    for hit, (spec, expr, message) in zip(flags, checks, strict=True):
        if hit:
            row = frame.filter(expr.fill_null(False)).row(0, named=True)
            raise ChainFormatError(
                path, f"value {row[spec.column]!r} {message}", line=row[LINE], column=spec.label
            )
    parsed = frame.select(_value(s, schema[s.column]) for s in specs)
    return {
        s.column: parsed.get_column(s.column).cast(pl.Int64) if s.whole else parsed[s.column]
        for s in specs
    }


def first_bad_line(frame: pl.DataFrame, bad: pl.Expr) -> int | None:
    """Return the file line of the first row where `bad` holds, or None."""
    hit = frame.filter(bad).get_column(LINE)
    return int(hit[0]) if hit.len() else None
