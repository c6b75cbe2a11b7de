"""Run audit: one `runs` row per flow run, and the per-symbol outcomes it sums up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.sessions import session_of
from warehouse.lake import Lake


@dataclass
class SymbolOutcome:
    """What one symbol's task did."""

    symbol: str
    rows: dict[str, int] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    sessions: int = 0
    skipped: int = 0
    error: str | None = None


@dataclass
class RunSummary:
    """What a flow run did, for the CLI and the `runs` table."""

    flow: str
    source: str
    symbols: list[str]
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    outcomes: list[SymbolOutcome] = field(default_factory=list)
    finished: datetime | None = None

    @property
    def failures(self) -> dict[str, str]:
        """Return symbol -> why, for the symbols that failed."""
        return {o.symbol: o.error for o in self.outcomes if o.error}

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
        status = (
            "completed"
            if not self.failures
            else ("partial" if len(self.failures) < len(self.symbols) else "failed")
        )
        row = {
            "symbol": "*",
            "source": self.source,
            "as_of": self.started,
            "trade_date": session_of(self.started),
            "run_id": self.run_id,
            "flow": self.flow,
            "symbols": self.symbols,
            "finished_at": self.finished,
            "status": status,
            "rows_written": sum(self.rows.values()),
            "requests_used": sum(o.requests for o in self.outcomes),
            "failures": [f"{s}: {why}" for s, why in self.failures.items()],
            "duration_seconds": (self.finished - self.started).total_seconds(),
        }
        Lake(home).write("runs", pl.DataFrame([row]))
        return self
