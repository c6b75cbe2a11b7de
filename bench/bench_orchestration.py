"""Orchestration benchmarks; writes bench/results/orchestration.json (see bench/README.md).

1. `gammalake snapshot --symbols SPY` (synthetic, a fresh home each run) against
   `gammalake chain <SPX refdata> --json`, whole processes, alternated in one run: the ratio
   of the medians (target: at most 3x);
2. a 500-symbol synthetic watchlist (small chains) snapshot, whole process (target: < 60 s
   on 2 cores), with the per-symbol overhead: (T(500) - T(1)) / 499;
3. the time from SIGINT to exit of a running backfill (target: < 5 s).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv/bin/gammalake"
SPX = ROOT.parent / "shared/refdata/phammings-spx500-gamma/modules/spx_quotedata.csv"
OUT = ROOT / "bench/results/orchestration.json"
AT = "2024-03-15T16:15-04:00"
#: Small chains for the wide watchlist: 6 expiries x 21 strikes x 2 = 252 contracts a symbol.
LONG_SPAN = ("--start", "2015-01-02", "--end", "2024-12-31")
SMALL = {"GAMMALAKE_SYNTHETIC_EXPIRIES": "6", "GAMMALAKE_SYNTHETIC_STRIKES": "21"}


def run(args: list[str], env: dict[str, str] | None = None) -> float:
    """Run the CLI once; return its wall time in seconds (a failure raises)."""
    start = time.perf_counter()
    subprocess.run(
        [str(BIN), *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    return time.perf_counter() - start


def snapshot_against_chain(repeat: int = 7) -> dict[str, object]:
    """Return median whole-process times of a one-symbol snapshot and of `chain --json`."""
    if not SPX.exists():
        return {"skipped": f"{SPX} is absent (../shared/refdata)"}
    snaps, chains = [], []
    for i in range(repeat + 1):
        with tempfile.TemporaryDirectory() as home:
            snap = run(["--home", home, "snapshot", "--symbols", "SPY", "--at", AT])
        chain = run(["chain", str(SPX), "--json"])
        if i:  # the first pair warms the disk cache and the session table
            snaps.append(snap)
            chains.append(chain)
    s, c = statistics.median(snaps), statistics.median(chains)
    return {
        "snapshot_median_s": round(s, 3),
        "chain_json_median_s": round(c, 3),
        "ratio": round(s / c, 2),
        "target_ratio": 3.0,
        "runs": repeat,
    }


def wide_watchlist(symbols: int = 500) -> dict[str, object]:
    """Return whole-process times of a 1- and an N-symbol snapshot, and the per-symbol cost."""
    names = ",".join(f"W{i:03d}" for i in range(symbols))
    with tempfile.TemporaryDirectory() as home:
        one = run(["--home", home, "snapshot", "--symbols", "W000", "--at", AT], SMALL)
    with tempfile.TemporaryDirectory() as home:
        many = run(["--home", home, "snapshot", "--symbols", names, "--at", AT], SMALL)
    return {
        "symbols": symbols,
        "contracts_per_symbol": 252,
        "one_symbol_s": round(one, 2),
        "all_symbols_s": round(many, 2),
        "per_symbol_overhead_ms": round((many - one) / (symbols - 1) * 1000, 1),
        "target_s": 60,
    }


def stop_time(after: float = 4.0) -> dict[str, object]:
    """Return seconds from SIGINT to exit of a long synthetic backfill, and its exit code."""
    with tempfile.TemporaryDirectory() as home:
        child = subprocess.Popen(
            [str(BIN), "--home", home, "backfill", "--symbols", "SPY,QQQ", *LONG_SPAN],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(after)  # let it get going: the point is to stop it mid-way
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        code = child.wait(timeout=120)
        took = time.perf_counter() - sent
    return {"seconds_to_exit": round(took, 2), "exit_code": code, "target_s": 5}


def main() -> None:
    """Run the benchmarks and write the JSON."""
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "snapshot_vs_chain": snapshot_against_chain(),
        "wide_watchlist_snapshot": wide_watchlist(),
        "stop_on_sigint": stop_time(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
