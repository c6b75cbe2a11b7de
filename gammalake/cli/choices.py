"""Choices offered by the command line (kept apart so modules using them need not load the CLI)."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    """How `gammalake sql` writes a result."""

    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


class ZeroDteChoice(StrEnum):
    """What a zero business-day count becomes (business-day year basis only)."""

    one_day = "one_day"
    drop = "drop"


class FlipChoice(StrEnum):
    """Gamma flip method."""

    profile = "profile"
    cumulative = "cumulative"
    adjacent = "adjacent"
