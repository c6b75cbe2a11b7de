"""gammalake: a point-in-time history of options dealer exposure, and what people do with it.

The interfaces people touch live here: the `gammalake` command (`gammalake.cli`), the local
FlashAlpha-compatible API (`gammalake.api`) and `from gammalake import Lake`, the stored history
in Python. Importing this package is cheap: nothing below it is loaded until it is used (the
CLI imports it on every start), so `Lake` is resolved on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gammalake.lake import Lake, NotStoredError

__all__ = ["Lake", "NotStoredError"]


def __getattr__(name: str) -> Any:
    """Return `Lake` or `NotStoredError`, importing gammalake.lake (polars, DuckDB) on first use."""
    if name in __all__:
        from gammalake import lake

        return getattr(lake, name)
    raise AttributeError(f"module 'gammalake' has no attribute {name!r}")
