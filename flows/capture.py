"""One symbol at one moment: fetch, archive raw, normalise, OI change, alerts (no Prefect here).

The snapshot and backfill flows wrap these functions in tasks; keeping them plain makes them
fast to test and cheap to run in a loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from flows.alerts import derive_alerts
from pipeline.chain import Chain, complete_frame
from pipeline.errors import InputError
from pipeline.normalize import snapshot_rows
from pipeline.sessions import session_of
from pipeline.sources.base import Fetched, Source
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.raw import RawArchive

#: Endpoint under which an engine-computed snapshot's payloads are archived together.
BUNDLE = "snapshot"


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


@dataclass(frozen=True)
class Previous:
    """The last stored snapshot of a symbol: its row and its strikes."""

    snapshot: dict[str, Any]
    strikes: pl.DataFrame


@dataclass
class Captured:
    """Rows of one snapshot ready to write, with its alerts and the requests it cost."""

    symbol: str
    rows: dict[str, pl.DataFrame]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0

    @property
    def headline(self) -> dict[str, Any]:
        """Return the snapshot row."""
        return self.rows["snapshots"].row(0, named=True)

    def previous(self) -> Previous:
        """Return this capture as the previous snapshot of the next one."""
        return Previous(self.headline, self.rows.get("strikes", pl.DataFrame()))


def previous_from_lake(home: Path, symbol: str, source: str, before: datetime) -> Previous | None:
    """Return the latest stored snapshot of (symbol, source) taken before `before`, or None."""
    if "snapshots" not in Lake(home).datasets():
        return None
    snap = catalog.query(
        home,
        "SELECT * FROM snapshots WHERE symbol = ? AND source = ? AND "
        "as_of < ? ORDER BY as_of DESC LIMIT 1",
        [symbol, source, before],
    )
    if snap.height == 0:
        return None
    row = snap.row(0, named=True)
    strikes = pl.DataFrame()
    if "strikes" in Lake(home).datasets():
        strikes = catalog.query(
            home,
            "SELECT strike, call_oi, put_oi FROM strikes WHERE "
            "symbol = ? AND source = ? AND as_of = ?",
            [symbol, source, row["as_of"]],
        )
    return Previous(row, strikes)


def with_oi_change(strikes: pl.DataFrame, previous: Previous | None) -> pl.DataFrame:
    """Return strikes with OI change against `previous` where the source gave none."""
    given = strikes.get_column("call_oi_change").null_count() < strikes.height
    if given or previous is None or previous.strikes.height == 0:
        return strikes
    before = previous.strikes.select(
        "strike", pl.col("call_oi").alias("_c"), pl.col("put_oi").alias("_p")
    )
    joined = strikes.drop("call_oi_change", "put_oi_change").join(before, on="strike", how="left")
    return (
        joined.with_columns(
            (pl.col("call_oi") - pl.col("_c").fill_null(0)).alias("call_oi_change"),
            (pl.col("put_oi") - pl.col("_p").fill_null(0)).alias("put_oi_change"),
        )
        .drop("_c", "_p")
        .select(strikes.columns)
    )


def against_previous(
    rows: dict[str, pl.DataFrame], previous: Previous | None, wall_pct: float
) -> list[dict[str, Any]]:
    """Add OI change (where missing) and alert rows to `rows`; return the alerts.

    The one place both live captures and `rebuild` derive what depends on the previous
    snapshot, so a rebuilt lake equals the one the flows wrote.
    """
    if "strikes" in rows:
        rows["strikes"] = with_oi_change(rows["strikes"], previous)
    current = rows["snapshots"].row(0, named=True)
    alerts = derive_alerts(previous.snapshot if previous else None, current, wall_pct)
    if alerts:
        rows["alerts"] = pl.DataFrame(alerts)
    return alerts


def archive_fetched(home: Path, source: Source, fetched: Fetched, secrets: list[str]) -> str:
    """Archive what the source returned; return the raw reference of the snapshot."""
    if source.computes:
        path = RawArchive(home).put(
            source=source.name,
            endpoint=BUNDLE,
            symbol=fetched.symbol,
            as_of=fetched.as_of,
            payload=fetched.payloads,
        )
        return str(path.relative_to(home))
    files = archive(
        home,
        fetched.payloads,
        source=source.name,
        symbol=fetched.symbol,
        as_of=fetched.as_of,
        request=fetched.request,
        secrets=secrets,
    )
    return str(files[0].relative_to(home))


def capture(
    home: Path,
    source: Source,
    fetched: Fetched,
    previous: Previous | None,
    *,
    wall_pct: float,
    keep_chain: bool = False,
    secrets: list[str] | None = None,
) -> Captured:
    """Archive then normalise one fetched snapshot; add OI change, alerts (and the chain)."""
    if not fetched.payloads:
        why = "; ".join(getattr(source, "errors", {}).get(fetched.symbol, [])) or "no payload"
        raise InputError(f"{fetched.symbol}: nothing received from {source.name}: {why}")
    raw_ref = archive_fetched(home, source, fetched, secrets or [])
    rows = snapshot_rows(fetched.payloads, source=source.name, as_of=fetched.as_of, raw_ref=raw_ref)
    alerts = against_previous(rows, previous, wall_pct)
    if keep_chain and fetched.chain is not None:
        rows["chains"] = chain_rows(fetched.chain, source.name)
    return Captured(fetched.symbol, rows, alerts, fetched.requests)


def merge_rows(captures: list[Captured]) -> dict[str, pl.DataFrame]:
    """Return the rows of many captures concatenated per dataset."""
    frames: dict[str, list[pl.DataFrame]] = {}
    for item in captures:
        for name, frame in item.rows.items():
            frames.setdefault(name, []).append(frame)
    return {name: pl.concat(parts, how="diagonal_relaxed") for name, parts in frames.items()}
