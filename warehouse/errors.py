"""Errors of the warehouse layer."""

from __future__ import annotations


class WarehouseInputError(ValueError):
    """Rows, names or paths the warehouse refuses; the message names the field or value."""
