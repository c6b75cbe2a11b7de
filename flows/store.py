"""Storing snapshots: archive raw, normalise, validate, write, refresh the catalog, in that order.

The raw payloads are on disk before anything parses them, so a rejected or mis-parsed snapshot
can be re-derived later (`gammalake rebuild`) without fetching it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.chain import Chain, complete_frame
from pipeline.normalize import snapshot_rows
from pipeline.sessions import session_of
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.raw import RawArchive


@dataclass(frozen=True)
class Stored:
    """What one store call wrote: rows per dataset and the raw files."""

    rows: dict[str, int]
    raw_files: list[Path]


def archive(
    home: Path,
    payloads: Mapping[str, Any],
    *,
    source: str,
    symbol: str,
    as_of: datetime,
    request: Mapping[str, Mapping[str, Any]] | None = None,
    secrets: Iterable[str] = (),
) -> list[Path]:
    """Archive every payload of one snapshot; return the files, gex's (or the first) first."""
    raw = RawArchive(home)
    files = [
        raw.put(
            source=source,
            endpoint=endpoint,
            symbol=symbol,
            as_of=as_of,
            payload=payload,
            request=dict((request or {}).get(endpoint, {})),
            secrets=secrets,
        )
        for endpoint, payload in sorted(payloads.items(), key=lambda kv: kv[0] != "gex")
    ]
    return files


def chain_rows(chain: Chain, source: str) -> pl.DataFrame:
    """Return the chain's contracts as `chains` rows."""
    keys = {
        "symbol": chain.symbol,
        "source": source,
        "as_of": chain.as_of,
        "trade_date": session_of(chain.as_of),
    }
    frame = complete_frame(chain.frame)
    # OCC-style id (root, yymmdd, C/P, strike x 1000) where the source gave none.
    occ = pl.format(
        "{}{}{}{}",
        pl.lit(chain.symbol),
        pl.col("expiration").dt.strftime("%y%m%d"),
        pl.col("right"),
        (pl.col("strike") * 1000).round(0).cast(pl.Int64).cast(pl.String).str.zfill(8),
    )
    frame = frame.with_columns(pl.col("contract").fill_null(occ))
    return frame.with_columns(*(pl.lit(v).alias(k) for k, v in keys.items()))


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
) -> Stored:
    """Archive, normalise and write one snapshot (and its chain when given)."""
    symbol = str((payloads.get("gex") or payloads.get("summary") or {}).get("symbol", ""))
    files = archive(
        home, payloads, source=source, symbol=symbol, as_of=as_of, request=request, secrets=secrets
    )
    rows = snapshot_rows(
        payloads, source=source, as_of=as_of, raw_ref=str(files[0].relative_to(home))
    )
    if chain is not None:
        rows["chains"] = chain_rows(chain, source)
    written = Lake(home).write_all(rows)
    if refresh_catalog:
        catalog.ensure(home)
    return Stored(written, files)


def rebuild_from_raw(home: Path, batch: int = 500) -> dict[str, int]:
    """Re-derive snapshots, strikes and expiries from raw/; return rows written per dataset.

    Each archived snapshot replaces its stored rows (same symbol, source, as_of), so a parser
    fix reaches every stored day without a single new request.
    """
    groups: dict[tuple[str, str, datetime], dict[str, Any]] = defaultdict(dict)
    refs: dict[tuple[str, str, datetime], str] = {}
    for env in RawArchive(home).envelopes():
        key = (env.source, env.symbol, env.as_of)
        groups[key][env.endpoint] = env.payload
        if env.endpoint == "gex" or key not in refs:
            refs[key] = str(env.path.relative_to(home))
    totals: dict[str, int] = defaultdict(int)
    keys = sorted(groups, key=lambda k: (k[2], k[0], k[1]))
    for start in range(0, len(keys), batch):
        frames: dict[str, list[pl.DataFrame]] = defaultdict(list)
        for key in keys[start : start + batch]:
            rows = snapshot_rows(groups[key], source=key[0], as_of=key[2], raw_ref=refs[key])
            for name, frame in rows.items():
                frames[name].append(frame)
        merged = {n: pl.concat(f, how="diagonal_relaxed") for n, f in frames.items()}
        for name, count in Lake(home).write_all(merged).items():
            totals[name] += count
    catalog.rebuild(home)
    return dict(totals)
