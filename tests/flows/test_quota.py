"""The daily request budget is shared by every process and resets at midnight New York."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

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
    granted = sum(int(p.communicate(timeout=60)[0]) for p in runs)
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
