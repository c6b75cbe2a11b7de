"""Storing one snapshot: archive raw, normalise, validate, write, refresh the catalog.

The raw payloads are on disk before anything parses them, so a rejected or mis-parsed snapshot
can be re-derived later (`gammalake rebuild`) without fetching it again. Every path that stores
snapshots (this, the snapshot flow, backfills, rebuild) goes through `flows.capture`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.capture import capture, previous_from_lake
from pipeline.chain import Chain
from pipeline.sources.base import Fetched
from warehouse import catalog
from warehouse.lake import Lake


@dataclass(frozen=True)
class Stored:
    """What one store call wrote: rows per dataset and the alerts it raised."""

    rows: dict[str, int]
    alerts: list[dict[str, Any]]


@dataclass(frozen=True)
class _Named:
    """A source known only by name (payloads already in hand)."""

    name: str
    computes: bool


def store_snapshot(
    home: Path,
    payloads: Mapping[str, Any],
    *,
    source: str,
    as_of: datetime,
    chain: Chain | None = None,
    request: Mapping[str, Mapping[str, Any]] | None = None,
    secrets: Iterable[str] = (),
    refresh_catalog: bool = True,
    wall_pct: float = 0.5,
) -> Stored:
    """Archive, normalise and write one snapshot (and its chain when given).

    Payloads with `request` metadata are API responses, archived one file per endpoint;
    without, they are engine output, archived as one bundle.
    """
    symbol = str((payloads.get("gex") or payloads.get("summary") or {}).get("symbol", ""))
    fetched = Fetched(symbol, as_of, dict(payloads), chain, dict(request or {}))
    previous = previous_from_lake(home, symbol, source, as_of)
    captured = capture(
        home,
        _Named(source, computes=request is None),
        fetched,
        previous,
        wall_pct=wall_pct,
        keep_chain=chain is not None,
        secrets=list(secrets),
    )
    written = Lake(home).write_all(captured.rows)
    if refresh_catalog:
        catalog.ensure(home)
    return Stored(written, captured.alerts)
