"""Stop latency under load; writes bench/results/stop.json (see bench/README.md).

A synthetic backfill (`gammalake backfill`, two symbols over ten years, the default two workers)
runs as its own process beside `stress-ng --cpu 10`, which keeps the load average near 10 or
more on any machine. Once the run has stored its first partitions it is sent SIGINT (or
SIGTERM); the bench records the seconds from the signal to the process's exit, its exit code
(target: 130 for SIGINT, 143 for SIGTERM) and the one-minute load average at that moment.
Target: every stop within 5 s at load 10.

Without stress-ng (Debian package `stress-ng`) the bench says so and writes nothing.
Usage: `.venv/bin/python bench/bench_stop.py [REPEAT]` (stops per signal, default 3).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv/bin/gammalake"
OUT = ROOT / "bench/results/stop.json"
SPAN = ("--start", "2015-01-02", "--end", "2024-12-31")
#: Stressors beside the run: the issue's load of about 10.
STRESSORS = 10
#: The issue's bound, seconds from the signal to the exit.
TARGET_S = 5.0
EXPECTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _wait_for_partitions(home: Path, child: subprocess.Popen[bytes], files: int = 2) -> None:
    """Wait until the run has written `files` snapshot partitions (it is mid-computation)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and child.poll() is None:
        if len(list((home / "lake" / "snapshots").glob("**/*.parquet"))) >= files:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the backfill never got going (exit {child.poll()})")


def one_stop(signum: signal.Signals, settle: float) -> dict[str, object]:
    """Return seconds from `signum` to exit of a running backfill, its exit code and the load.

    `settle`: seconds to let the run compute after its first partitions, so the signal lands
    at different points of a month's sessions.
    """
    with tempfile.TemporaryDirectory() as home:
        child = subprocess.Popen(
            [str(BIN), "--home", home, "backfill", "--symbols", "SPY,QQQ", *SPAN],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_for_partitions(Path(home), child)
        time.sleep(settle)  # why: mid-computation, at a different point each time
        load = os.getloadavg()[0]
        sent = time.perf_counter()
        child.send_signal(signum)
        _, err = child.communicate(timeout=600)
        took = time.perf_counter() - sent
    last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
    return {
        "signal": signum.name,
        "seconds_to_exit": round(took, 2),
        "exit_code": child.returncode,
        "expected_exit_code": EXPECTED[signum],
        "load_1min": round(load, 1),
        "last_line": last[0][:160],
    }


def under_load(repeat: int) -> list[dict[str, object]]:
    """Return `repeat` stops per signal, measured beside STRESSORS CPU stressors."""
    stress = subprocess.Popen(
        ["stress-ng", "--cpu", str(STRESSORS), "--timeout", "1800s", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(20)  # why: the one-minute load average needs time to climb to the load
        return [
            one_stop(signum, settle=1.0 + i)
            for i in range(repeat)
            for signum in (signal.SIGINT, signal.SIGTERM)
        ]
    finally:
        stress.terminate()
        stress.wait()


def main() -> None:
    """Measure the stops and write the JSON (or say why not)."""
    if shutil.which("stress-ng") is None:
        print("bench_stop: stress-ng is not installed (apt-get install -y stress-ng); skipped")
        sys.exit(0)
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    stops = under_load(repeat)
    seconds = [float(str(s["seconds_to_exit"])) for s in stops]
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "stressors": STRESSORS,
        "target_s": TARGET_S,
        "max_seconds_to_exit": max(seconds),
        "median_seconds_to_exit": round(statistics.median(seconds), 2),
        "exit_codes_right": all(s["exit_code"] == s["expected_exit_code"] for s in stops),
        "stops": stops,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
