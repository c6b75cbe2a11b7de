"""Run audit: one `runs` row per flow run, and the per-symbol outcomes it sums up."""

from __future__ import annotations

import errno
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.sessions import session_of
from warehouse import catalog
from warehouse.lake import Lake

#: Error numbers that mean the disk (or the user's quota) has no room left.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """Return True when `exc` says a write found no room left on the disk (or quota)."""
    return isinstance(exc, OSError) and exc.errno in NO_ROOM


def disk_full_line(exc: OSError, home: Path) -> str:
    """Return one line saying that a write into `home` found the disk full (no traceback)."""
    where = exc.filename or home
    return f"disk full writing {where}: {exc.strerror or os.strerror(exc.errno or errno.ENOSPC)}"


@dataclass
class SymbolOutcome:
    """What one symbol's task did.

    `stored`: the as_of of each snapshot written; `skipped`: sessions already stored;
    `missing`: sessions without an input (a chain folder without the day's file);
    `unaffordable`: sessions the request budget could not buy (left for the next run);
    `refused`: snapshots the checks refused (one line each); `notes`: what arrived incomplete;
    `error`: why the symbol stopped, if it did; `cancelled`: the run was stopped before the
    symbol was done (what it stored is kept); `disk_full`: it stopped because a write found
    no room left (`error` says which).
    """

    symbol: str
    rows: dict[str, int] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    sessions: int = 0
    skipped: int = 0
    stored: list[datetime] = field(default_factory=list)
    missing: list[date] = field(default_factory=list)
    unaffordable: list[date] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    cancelled: bool = False
    disk_full: bool = False

    def add(self, written: dict[str, int]) -> None:
        """Add rows written per dataset."""
        for name, count in written.items():
            self.rows[name] = self.rows.get(name, 0) + count

    @property
    def problems(self) -> list[str]:
        """Return every failure of this symbol, one line each (empty when all went well)."""
        lines = [self.error] if self.error else []
        lines += self.refused
        if self.unaffordable:
            lines.append(
                f"{len(self.unaffordable)} session(s) not taken after the run halted, left "
                f"for the next run: {_days(self.unaffordable)}"
            )
        return lines

    @property
    def status(self) -> str:
        """Return `ok`, `partial` (something failed, something stored), `failed` or `cancelled`."""
        if not self.problems:
            return "cancelled" if self.cancelled else "ok"
        return "partial" if self.stored else "failed"

    def remarks(self) -> list[str]:
        """Return what the user should know that is not a failure (missing days, gaps)."""
        lines = list(self.notes)
        if self.missing:
            lines.append(f"{len(self.missing)} session(s) without input: {_days(self.missing)}")
        return lines


def _days(days: list[date]) -> str:
    """Return a short list of days: all of them up to six, else the first and last three."""
    text = [d.isoformat() for d in sorted(days)]
    return ", ".join(text if len(text) <= 6 else [*text[:3], "...", *text[-3:]])


@dataclass
class RunSummary:
    """What a flow run did, for the CLI and the `runs` table."""

    flow: str
    source: str
    symbols: list[str]
    method: str | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    outcomes: list[SymbolOutcome] = field(default_factory=list)
    finished: datetime | None = None
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False
    recorded: bool = False

    @property
    def disk_full(self) -> bool:
        """Return True when a symbol stopped because the disk had no room left."""
        return any(o.disk_full for o in self.outcomes)

    @property
    def failures(self) -> dict[str, str]:
        """Return symbol -> why, for the symbols where something failed."""
        return {o.symbol: "; ".join(o.problems) for o in self.outcomes if o.problems}

    @property
    def status(self) -> str:
        """Return `completed`, `partial`, `failed`, or `cancelled` (stopped; stored rows kept)."""
        if self.cancelled:
            return "cancelled"
        if not self.failures:
            return "completed"
        return "partial" if any(o.stored for o in self.outcomes) else "failed"

    @property
    def rows(self) -> dict[str, int]:
        """Return rows written per dataset, summed over symbols."""
        total: dict[str, int] = {}
        for outcome in self.outcomes:
            for name, count in outcome.rows.items():
                total[name] = total.get(name, 0) + count
        return total

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Return every alert raised."""
        return [a for o in self.outcomes for a in o.alerts]

    def finish(self, home: Path) -> RunSummary:
        """Stamp the end time and write the `runs` row; return self."""
        self.finished = datetime.now(UTC)
        row = {
            "symbol": "*",
            "source": self.source,
            "as_of": self.started,
            "trade_date": session_of(self.started),
            "run_id": self.run_id,
            "flow": self.flow,
            "method": self.method,
            "symbols": self.symbols,
            "finished_at": self.finished,
            "status": self.status,
            "rows_written": sum(self.rows.values()),
            "requests_used": sum(o.requests for o in self.outcomes),
            "failures": [f"{s}: {why}" for s, why in self.failures.items()],
            "notes": [
                *self.notes,
                *(f"{o.symbol}: {line}" for o in self.outcomes for line in o.remarks()),
            ],
            "duration_seconds": (self.finished - self.started).total_seconds(),
        }
        Lake(home).write("runs", pl.DataFrame([row]))
        self.recorded = True
        return self


def record_run(home: Path, summary: RunSummary, method: str) -> None:
    """Write the run's `runs` row, then refresh the catalog's views once.

    The row goes first so that one refresh covers it too (a refresh rebuilds warehouse.duckdb:
    on a loaded machine the second one cost a stopped run seconds). A refresh another process
    will defer is noted in the row beforehand. When the disk is full the row is written if it
    still fits (`summary.recorded` says whether it did) and a failed refresh is left for the
    next run: the lake is whole either way.
    """
    held = [h for h in catalog.catalog_holders(home) if h.mode == "write" and h.pid != os.getpid()]
    if held:
        summary.notes.append(catalog.CatalogBuild([], method, tuple(held)).summary())
    if not summary.disk_full:
        summary.finish(home)
        catalog.ensure(home, method)
        return
    try:
        summary.finish(home)
        catalog.ensure(home, method)
    except Exception as exc:  # a full disk fails duckdb's writes too (duckdb.IOException)
        if summary.recorded or is_disk_full(exc) or "space" in str(exc).lower():
            return
        raise
