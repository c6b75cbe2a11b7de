"""Engine benchmarks; writes bench/results/engine.json (see bench/README.md).

1. warm, in process: every payload (profile flip included) of a synthetic 20,000-contract chain;
2. warm, in process: read + every payload of the SPX refdata chain, both presets;
3. whole process: `gammalake chain FILE --json`, as a user runs it, median of repeated runs.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.chains import read_chain
from pipeline.sources.synthetic import SyntheticMarket

ROOT = Path(__file__).resolve().parents[1]
SPX = ROOT.parent / "shared/refdata/phammings-spx500-gamma/modules/spx_quotedata.csv"
OUT = ROOT / "bench/results/engine.json"
#: Whole-process time of the published Perfiliev script on the SPX file, as stated in issue 2
#: (not re-measured here: its code is not part of this repository).
PERFILIEV_SCRIPT_SECONDS = 36.0


def timings(fn: Callable[[], object], repeat: int, warmup: int = 2) -> dict[str, float]:
    """Return median, min and p90 wall time of `fn` in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "min_ms": round(samples[0], 2),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 2),
        "runs": repeat,
    }


def synthetic_case() -> dict[str, object]:
    """Return timings of all payloads for a 20,000-contract synthetic chain (in memory)."""
    as_of = datetime(2024, 3, 1, 11, 0, tzinfo=NEW_YORK)
    chain = SyntheticMarket().chain("SPY", as_of, expiries=40, strikes=253)  # 20,000 contracts
    result = timings(lambda: ExposureSnapshot(chain, preset("default")).payloads(), repeat=30)
    contracts = chain.frame.height
    result["contracts"] = contracts
    result["contracts_per_second"] = round(contracts / (result["median_ms"] / 1000))
    result["target_ms"] = 100
    return result


def spx_in_process() -> dict[str, object]:
    """Return read + all-payload timings on the SPX refdata chain, per preset."""
    out: dict[str, object] = {}
    for name in ("perfiliev", "default"):

        def run(name: str = name) -> None:
            ExposureSnapshot(read_chain(SPX), preset(name)).payloads()

        result = timings(run, repeat=20)
        contracts = read_chain(SPX).frame.height
        result["contracts"] = contracts
        result["contracts_per_second"] = round(contracts / (result["median_ms"] / 1000))
        out[name] = result
    return out


def whole_process(repeat: int = 15) -> dict[str, object]:
    """Return `gammalake chain SPX --json` wall times (ms) and peak RSS, per preset."""
    exe = str(Path(sys.executable).with_name("gammalake"))
    out: dict[str, object] = {}
    for name in ("perfiliev", "default"):
        command = [exe, "chain", str(SPX), "--json", "--preset", name]

        def run(command: list[str] = command) -> None:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

        result = timings(run, repeat=repeat, warmup=2)
        result["target_ms"] = 360
        result["speedup_vs_perfiliev_script"] = round(
            PERFILIEV_SCRIPT_SECONDS * 1000 / result["median_ms"], 1
        )
        out[name] = result
    out["peak_rss_mb_any_run"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
    )
    out["perfiliev_script_seconds_reference"] = PERFILIEV_SCRIPT_SECONDS
    return out


def main() -> None:
    """Run every benchmark and write the JSON results."""
    results: dict[str, object] = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "numpy": np.__version__,
            "polars": pl.__version__,
        },
        "synthetic_20k_all_payloads": synthetic_case(),
    }
    if SPX.is_file():
        results["spx_refdata_in_process"] = spx_in_process()
        results["spx_refdata_cli_json_whole_process"] = whole_process()
    else:
        results["skipped"] = f"{SPX} not found: SPX benchmarks need ../shared beside the repo"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
