"""Backfill throughput; writes bench/results/backfill.json (see bench/README.md).

`gammalake backfill` as a user runs it (a subprocess; no Prefect server) over 10 years of NYSE
sessions for one SPY-size synthetic symbol (40 expiries x 253 strikes = 20,240 contracts a
session), into a fresh home, with the thread runner (one worker) and with the Dask runner (a
local cluster of two worker processes: the range runs as two chunks). Reports sessions/s,
contracts/s end to end, the peak RSS, and the bytes on disk per contract of the raw inputs
(every chain is kept in raw/ as received) and of the `chains` dataset.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from pipeline.sessions import sessions_between

OUT = Path(__file__).resolve().parent / "results" / "backfill.json"
START, END = date(2014, 1, 2), date(2023, 12, 29)  # within the synthetic history (2000-)
CONTRACTS = 40 * 253 * 2  # every synthetic chain has exactly expiries x strikes x 2


def run(runner: str) -> dict[str, object]:
    """Backfill once with `runner` (threads or dask) and return the figures."""
    home = Path(tempfile.mkdtemp(prefix=f"gl-bench-backfill-{runner}-"))
    env = {
        **os.environ,
        "GAMMALAKE_SYNTHETIC_EXPIRIES": "40",
        "GAMMALAKE_SYNTHETIC_STRIKES": "253",
        "GAMMALAKE_TASK_RUNNER": runner,
        "GAMMALAKE_MAX_WORKERS": "1" if runner == "threads" else "2",
    }
    exe = str(Path(sys.executable).with_name("gammalake"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    began = time.perf_counter()
    subprocess.run(
        [
            exe,
            "--home",
            str(home),
            "backfill",
            "--symbols",
            "SPY",
            "--start",
            START.isoformat(),
            "--end",
            END.isoformat(),
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - began
    sessions = len(sessions_between(START, END))
    size = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    raw = sum(p.stat().st_size for p in (home / "raw").rglob("*.parquet"))
    chains = sum(p.stat().st_size for p in (home / "lake" / "chains").rglob("*.parquet"))
    shutil.rmtree(home)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "sessions": sessions,
        "seconds": round(seconds, 1),
        "sessions_per_second": round(sessions / seconds, 1),
        "contracts_per_second": round(sessions * CONTRACTS / seconds),
        # Largest single process among the children so far (Dask workers are separate ones).
        "peak_rss_mb": round(max(peak, before) / 1024, 1),
        "home_size_mb": round(size / 2**20, 1),
        # The engine's inputs kept in raw/ (what `rebuild --preset` re-prices), per contract.
        "raw_input_bytes_per_contract": round(raw / (sessions * CONTRACTS), 2),
        "lake_chains_bytes_per_contract": round(chains / (sessions * CONTRACTS), 2),
    }


def main() -> None:
    """Run the backfill with each runner and write the figures."""
    results = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "setup": f"1 symbol, {START} .. {END}, {CONTRACTS} contracts a session",
        "target_contracts_per_second": 250_000,
        "target_peak_rss_mb": 2048,
        "threads_one_worker": run("threads"),
        "dask_two_workers": run("dask"),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
