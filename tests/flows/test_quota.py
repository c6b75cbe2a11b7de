"""The daily request budget is shared by every process and resets at midnight New York."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime

import pytest

from flows.quota import FileQuotaLedger
from pipeline.engine.timing import NEW_YORK
from tests.conftest import REPO

SPEND = """
import sys
from pathlib import Path
from flows.quota import FileQuotaLedger
ledger = FileQuotaLedger(Path(sys.argv[1]), "free")
print(sum(ledger.try_spend() for _ in range(8)))
"""


def test_processes_share_one_budget(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", SPEND, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    granted = sum(int(p.communicate(timeout=600)[0]) for p in runs)
    assert granted == 10  # free plan: 10 a day, out of 32 tries
    assert FileQuotaLedger(tmp_path, "free").remaining() == 0


def test_the_budget_resets_at_new_york_midnight(tmp_path):
    now = [datetime(2024, 3, 4, 23, 59, tzinfo=NEW_YORK)]
    ledger = FileQuotaLedger(tmp_path, "free", clock=lambda: now[0])
    assert sum(ledger.try_spend() for _ in range(12)) == 10
    now[0] = datetime(2024, 3, 5, 3, 0, tzinfo=UTC)  # past midnight UTC, still the 4th in NY
    assert ledger.remaining() == 0 and not ledger.try_spend()
    now[0] = datetime(2024, 3, 5, 0, 0, 1, tzinfo=NEW_YORK)
    assert ledger.remaining() == 10 and ledger.try_spend()


def test_unlimited_plan_and_unknown_plan(tmp_path):
    assert FileQuotaLedger(tmp_path, "alpha").remaining() is None
    with pytest.raises(ValueError, match="unknown FlashAlpha plan"):
        FileQuotaLedger(tmp_path, "gold")


SPEND_AND_REFUND = """
import sys
from pathlib import Path
from flows.quota import FileQuotaLedger
ledger = FileQuotaLedger(Path(sys.argv[1]), "free")
granted = refunded = 0
for i in range(8):
    if ledger.try_spend():
        granted += 1
        if i % 2:
            ledger.refund()
            refunded += 1
print(granted, refunded)
"""


def test_refunds_are_shared_by_every_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", SPEND_AND_REFUND, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    counts = [tuple(map(int, p.communicate(timeout=600)[0].split())) for p in runs]
    granted, refunded = sum(c[0] for c in counts), sum(c[1] for c in counts)
    assert refunded > 0 and granted > 10  # refunded requests were granted again
    # No update lost under contention: the file holds exactly what was kept, within budget.
    assert FileQuotaLedger(tmp_path, "free").used() == granted - refunded <= 10


def test_a_refund_never_counts_below_zero(tmp_path):
    ledger = FileQuotaLedger(tmp_path, "basic")
    ledger.refund()
    assert ledger.used() == 0 and ledger.try_spend() and ledger.used() == 1
    ledger.refund()
    ledger.refund()
    assert ledger.used() == 0 and ledger.remaining() == 250


def test_the_ledger_per_day_and_plan_and_resetting_today(tmp_path):
    from rich.console import Console

    from flows.quota import QuotaDay, ledger_days, quota_table, reset_today, today_used

    now = [datetime(2024, 3, 4, 12, 0, tzinfo=NEW_YORK)]
    clock = lambda: now[0]  # noqa: E731
    for tier, spend in (("free", 3), ("basic", 7)):
        ledger = FileQuotaLedger(tmp_path, tier, clock=clock)
        assert all(ledger.try_spend() for _ in range(spend))
        now[0] = datetime(2024, 3, 5, 12, 0, tzinfo=NEW_YORK)
    assert ledger_days(tmp_path) == [
        QuotaDay(date(2024, 3, 4), "free", 3, 10),
        QuotaDay(date(2024, 3, 5), "basic", 7, 250),
    ]
    console = Console(record=True, width=100)
    console.print(quota_table(tmp_path, clock=clock))
    text = console.export_text()
    assert "2024-03-04" in text and "2024-03-05 (today)" in text and "243" in text
    assert reset_today(tmp_path, clock=clock) == 7 and today_used(tmp_path, clock=clock) == 0
    assert FileQuotaLedger(tmp_path, "basic", clock=clock).remaining() == 250
    assert [d.used for d in ledger_days(tmp_path)] == [3, 0]  # earlier days are kept
    assert reset_today(tmp_path / "new", clock=clock) == 0 and ledger_days(tmp_path / "new") == []
