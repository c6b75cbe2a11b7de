"""Run audit: one `runs` row per flow run, and the per-symbol outcomes it sums up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.sessions import session_of
from warehouse.lake import Lake


@dataclass
class SymbolOutcome:
    """What one symbol's task did.

    `stored`: the as_of of each snapshot written; `skipped`: sessions already stored;
    `missing`: sessions without an input (a chain folder without the day's file);
    `unaffordable`: sessions the request budget could not buy (left for the next run);
    `refused`: snapshots the checks refused (one line each); `notes`: what arrived incomplete;
    `error`: why the symbol stopped, if it did; `cancelled`: the run was stopped before the
    symbol was done (what it stored is kept).
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
        return self
