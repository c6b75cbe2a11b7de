"""The FlashAlpha daily request budget, counted across processes in $GAMMALAKE_HOME/quota/.

One small JSON file per New York calendar day holds the count; every reservation reads and
rewrites it under an exclusive lock, so parallel runs never overspend. A new day starts a new
file: the budget resets at midnight America/New_York, as the API's does.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pipeline.engine.timing import NEW_YORK
from pipeline.sources.flashalpha import TIER_BUDGETS
from warehouse.locks import flocked


class FileQuotaLedger:
    """A QuotaLedger backed by a file per day (see the module docstring)."""

    def __init__(self, home: Path, tier: str, clock: Callable[[], datetime] | None = None) -> None:
        """Count against `tier`'s budget; `clock` returns now (tests move it across midnight)."""
        if tier not in TIER_BUDGETS:
            raise ValueError(f"unknown FlashAlpha plan {tier!r} (known: {', '.join(TIER_BUDGETS)})")
        self.home = home
        self.tier = tier
        self.budget = TIER_BUDGETS[tier]
        self._clock = clock or (lambda: datetime.now(NEW_YORK))

    def _path(self) -> Path:
        """Return today's counter file (New York date)."""
        day = self._clock().astimezone(NEW_YORK).date().isoformat()
        return self.home / "quota" / f"flashalpha-{day}.json"

    def used(self) -> int:
        """Return requests counted today."""
        path = self._path()
        return json.loads(path.read_text())["used"] if path.exists() else 0

    def remaining(self) -> int | None:
        """Return requests left today (None: unlimited plan)."""
        return None if self.budget is None else max(0, self.budget - self.used())

    def try_spend(self) -> bool:
        """Reserve one request; return False, reserving nothing, when today's budget is spent."""
        path = self._path()
        with flocked(path.with_suffix(".lock"), fcntl.LOCK_EX):
            used = json.loads(path.read_text())["used"] if path.exists() else 0
            if self.budget is not None and used >= self.budget:
                return False
            temp = path.with_suffix(f".{os.getpid()}.tmp")
            temp.write_text(json.dumps({"used": used + 1, "tier": self.tier}))
            os.replace(temp, path)
        return True
