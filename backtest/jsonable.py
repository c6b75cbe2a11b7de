"""Plain JSON values from numpy and polars: NaN and infinity become null."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl


def number(value: float) -> float | None:
    """Return a JSON number: None for NaN or infinity."""
    value = float(value)
    return value if math.isfinite(value) else None


def floats(values: np.ndarray) -> list[float | None]:
    """Return floats as a JSON list (None for NaN), rounded to 8 significant digits."""
    return [None if not math.isfinite(v) else float(f"{v:.8g}") for v in values.tolist()]


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Return a frame as JSON-ready rows (NaN as None)."""
    return [
        {k: (number(v) if isinstance(v, float) else v) for k, v in row.items()}
        for row in frame.to_dicts()
    ]
