"""The FlashAlpha daily request budget, counted across processes in $GAMMALAKE_HOME/quota/.

One small JSON file per New York calendar day holds the count and the plan it was counted
against; every reservation, refund and reset reads and rewrites it under an exclusive lock, so
parallel runs never overspend. A new day starts a new file: the budget resets at midnight
America/New_York, as the API's does. `ledger_days` and `quota_table` show the ledger;
`reset_today` clears today's count (`gammalake quota --reset`).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.engine.timing import NEW_YORK
from pipeline.sources.flashalpha import TIER_BUDGETS
from warehouse.home import Layout
from warehouse.locks import flocked

if TYPE_CHECKING:
    from rich.table import Table

    from pipeline.sources.http import WindowBook

Clock = Callable[[], datetime]
PREFIX = "flashalpha-"


def _now() -> datetime:
    """Return now in New York."""
    return datetime.now(NEW_YORK)


def _day_path(home: Path, day: date) -> Path:
    """Return the counter file of one New York day."""
    return Layout(home).quota / f"{PREFIX}{day.isoformat()}.json"


def _read(path: Path) -> dict[str, Any]:
    """Return a counter file's content ({} when there is none)."""
    return json.loads(path.read_text()) if path.exists() else {}


def _write(path: Path, used: int, tier: str | None) -> None:
    """Replace a counter file atomically (the caller holds its lock)."""
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps({"used": used, "tier": tier}))
    os.replace(temp, path)


class FileQuotaLedger:
    """A QuotaLedger backed by a file per day (see the module docstring)."""

    def __init__(self, home: Path, tier: str, clock: Clock | None = None) -> None:
        """Count against `tier`'s budget; `clock` returns now (tests move it across midnight)."""
        if tier not in TIER_BUDGETS:
            raise ValueError(f"unknown FlashAlpha plan {tier!r} (known: {', '.join(TIER_BUDGETS)})")
        self.home = home
        self.tier = tier
        self.budget = TIER_BUDGETS[tier]
        self._clock = clock or _now

    def _path(self) -> Path:
        """Return today's counter file (New York date)."""
        return _day_path(self.home, self._clock().astimezone(NEW_YORK).date())

    def used(self) -> int:
        """Return requests counted today."""
        return int(_read(self._path()).get("used", 0))

    def remaining(self) -> int | None:
        """Return requests left today (None: unlimited plan)."""
        return None if self.budget is None else max(0, self.budget - self.used())

    def try_spend(self) -> bool:
        """Reserve one request; return False, reserving nothing, when today's budget is spent."""
        path = self._path()
        with flocked(path.with_suffix(".lock"), fcntl.LOCK_EX):
            used = int(_read(path).get("used", 0))
            if self.budget is not None and used >= self.budget:
                return False
            _write(path, used + 1, self.tier)
        return True

    def refund(self) -> None:
        """Give back one request that never left the machine (never below zero)."""
        # Refunds follow their reservation within one attempt, so today's file is the right one
        # except for an attempt straddling midnight; that one is lost to the new day at worst.
        path = self._path()
        with flocked(path.with_suffix(".lock"), fcntl.LOCK_EX):
            used = int(_read(path).get("used", 0))
            if used > 0:
                _write(path, used - 1, self.tier)


@dataclass(frozen=True)
class QuotaDay:
    """One day of the ledger: requests counted against a plan's budget."""

    day: date
    plan: str
    used: int
    budget: int | None

    @property
    def remaining(self) -> int | None:
        """Return requests left that day (None: unlimited plan)."""
        return None if self.budget is None else max(0, self.budget - self.used)


def _quota_day(path: Path) -> QuotaDay:
    """Return the ledger row of one counter file."""
    content = _read(path)
    plan = str(content.get("tier") or "?")
    day = date.fromisoformat(path.stem.removeprefix(PREFIX))
    return QuotaDay(day, plan, int(content.get("used", 0)), TIER_BUDGETS.get(plan))


def ledger_days(home: Path) -> list[QuotaDay]:
    """Return one row per day counted in `home`/quota/, oldest first (requests per day)."""
    folder = Layout(home).quota
    if not folder.is_dir():
        return []
    return [_quota_day(p) for p in sorted(folder.glob(f"{PREFIX}????-??-??.json"))]


def today(clock: Clock | None = None) -> date:
    """Return today's New York date (the ledger's day)."""
    return (clock or _now)().astimezone(NEW_YORK).date()


def today_used(home: Path, clock: Clock | None = None) -> int:
    """Return requests counted today (New York date) in `home`'s ledger."""
    return int(_read(_day_path(home, today(clock))).get("used", 0))


def reset_today(home: Path, clock: Clock | None = None) -> int:
    """Clear today's count (New York date) under the ledger's lock; return what it held.

    Only gammalake's count is cleared: the API keeps its own, so requests it already counted
    may still be refused today.
    """
    path = _day_path(home, today(clock))
    with flocked(path.with_suffix(".lock"), fcntl.LOCK_EX):
        content = _read(path)
        if content:
            _write(path, 0, content.get("tier"))
    return int(content.get("used", 0))


def quota_table(home: Path, clock: Clock | None = None) -> Table:
    """Return the ledger as a rich Table: day, plan, used, budget, left (requests per day)."""
    from rich.table import Table

    table = Table(title="FlashAlpha requests per day (New York)", caption=str(Layout(home).quota))
    for name in ("day", "plan", "used", "budget", "left"):
        table.add_column(name, justify="left" if name in ("day", "plan") else "right")
    current = today(clock)
    for row in ledger_days(home):
        label = f"{row.day} (today)" if row.day == current else str(row.day)
        known = row.plan in TIER_BUDGETS
        budget = "?" if not known else "unlimited" if row.budget is None else str(row.budget)
        left = "-" if row.remaining is None else str(row.remaining)
        table.add_row(label, row.plan, str(row.used), budget, left)
    if not table.rows:
        table.caption = f"no FlashAlpha request counted yet in {home / 'quota'}"
    return table


class FileWindowLedger:
    """A sliding-window request budget shared across processes (a WindowLedger).

    At most `limit` requests per `window_seconds` for every process using the same home and
    `name`: the held slots live in `$GAMMALAKE_HOME/quota/<name>-window.json`, read and
    rewritten under an exclusive lock (as FileQuotaLedger's day files are). Slot times are
    epoch seconds from `clock` (every process must share the machine's clock); a process
    that dies mid-request leaves a slot that frees itself a window later.
    """

    def __init__(
        self,
        home: Path,
        name: str,
        limit: int,
        window_seconds: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Count `name`'s requests in `home`/quota/; `clock` returns epoch seconds (tests)."""
        if not name.replace("-", "").isalnum():
            raise ValueError(f"ledger name {name!r} must be letters, digits and dashes")
        if limit < 1 or not window_seconds > 0:
            raise ValueError(f"{name}: need limit >= 1 and window_seconds > 0")
        self.home, self.name = home, name
        self.limit, self.window_seconds = limit, window_seconds
        self._clock = clock or time.time

    @property
    def path(self) -> Path:
        """Return the file holding the window's slots."""
        return Layout(self.home).quota / f"{self.name}-window.json"

    def reserve(self, key: str) -> float:
        """Hold a slot for request `key`: return 0.0, or seconds until one frees (none held)."""
        with flocked(self.path.with_suffix(".lock"), fcntl.LOCK_EX):
            book = self._book()
            wait = book.reserve(key, self._clock())
            if wait == 0.0:
                self._save(book)
        return wait

    def release(self, key: str, *, sent: bool) -> None:
        """End request `key`: `sent` holds its slot a window from now; unsent frees it."""
        with flocked(self.path.with_suffix(".lock"), fcntl.LOCK_EX):
            book = self._book()
            book.release(key, sent=sent, now=self._clock())
            self._save(book)

    def held(self) -> int:
        """Return the slots held now (requests counted in the current window)."""
        with flocked(self.path.with_suffix(".lock"), fcntl.LOCK_EX):
            return self._book().held(self._clock())

    def _book(self) -> WindowBook:
        """Return the slots on file (the caller holds the lock)."""
        from pipeline.sources.http import WindowBook

        slots = _read(self.path).get("slots", {})
        return WindowBook(
            self.limit, self.window_seconds, {str(k): float(v) for k, v in slots.items()}
        )

    def _save(self, book: WindowBook) -> None:
        """Replace the slots file atomically (the caller holds the lock)."""
        temp = self.path.with_suffix(f".{os.getpid()}.tmp")
        content = {"limit": self.limit, "window_seconds": self.window_seconds, "slots": book.slots}
        temp.write_text(json.dumps(content))
        os.replace(temp, self.path)
