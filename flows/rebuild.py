"""`gammalake rebuild`: re-derive snapshots, strikes, expiries and alerts from raw/.

Each (source, symbol) is replayed in time order through the same steps as a live capture
(normalise, OI change against the previous snapshot, alerts), so a rebuilt lake equals the one
the flows wrote; a parser fix reaches every stored day without a single new request.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from flows.capture import BUNDLE, Previous, against_previous
from pipeline.normalize import snapshot_rows
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.raw import RawArchive

Key = tuple[str, str, datetime]


def _groups(home: Path) -> tuple[dict[Key, dict[str, Any]], dict[Key, str]]:
    """Return archived payloads per snapshot key, and each snapshot's raw reference."""
    groups: dict[Key, dict[str, Any]] = defaultdict(dict)
    refs: dict[Key, str] = {}
    for env in RawArchive(home).envelopes():
        key = (env.source, env.symbol, env.as_of)
        if env.endpoint == BUNDLE:
            groups[key].update(env.payload)
        else:
            groups[key][env.endpoint] = env.payload
        if env.endpoint in (BUNDLE, "gex") or key not in refs:
            refs[key] = str(env.path.relative_to(home))
    return groups, refs


def rebuild_from_raw(home: Path, wall_pct: float = 0.5) -> dict[str, int]:
    """Replay raw/ into the lake; return rows written per dataset."""
    groups, refs = _groups(home)
    frames: dict[str, list[pl.DataFrame]] = defaultdict(list)
    previous: dict[tuple[str, str], Previous] = {}
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2])):
        source, symbol, as_of = key
        rows = snapshot_rows(groups[key], source=source, as_of=as_of, raw_ref=refs[key])
        against_previous(rows, previous.get((source, symbol)), wall_pct)
        current = rows["snapshots"].row(0, named=True)
        previous[(source, symbol)] = Previous(current, rows.get("strikes", pl.DataFrame()))
        for name, frame in rows.items():
            frames[name].append(frame)
    merged = {n: pl.concat(f, how="diagonal_relaxed") for n, f in frames.items()}
    written = Lake(home).write_all(merged)
    catalog.rebuild(home)
    return written
