"""Snapshot cost against watchlist size; writes bench/results/snapshot_scale.json.

`snapshot --source chains` (the flow, in this process: no Prefect server) over a folder of
generated chain files, one Parquet file per symbol (the synthetic market's chains: EXPIRIES x
STRIKES x 2 contracts, fewer than a real SPX chain so the run stays short; a typical equity
chain is about this size), into a fresh home per run. Target: 2,000 symbols cost at most 4.4x
what 500 cost (linear would be 4x). Sizes alternate REPEATS times and the fastest run of each
counts (the machine is shared). `--profile N [SORT]` prints a cProfile of one N-symbol run,
batches included (they run on worker threads, which cProfile does not follow by itself).
"""

from __future__ import annotations

import cProfile
import json
import os
import platform
import pstats
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from flows.settings import Settings
from flows.snapshot import run_snapshot
from pipeline.sources.synthetic import SyntheticMarket

OUT = Path(__file__).resolve().parent / "results" / "snapshot_scale.json"
AT = datetime(2024, 3, 15, 20, 15, tzinfo=UTC)
EXPIRIES, STRIKES = 8, 40
SIZES = (500, 2000)
REPEATS = 2


def symbols(count: int) -> list[str]:
    """Return `count` distinct made-up tickers (S0000, S0001, ...)."""
    return [f"S{i:04d}" for i in range(count)]


def write_chains(folder: Path, names: list[str]) -> int:
    """Write one chain file per symbol into `folder`; return the contracts per chain."""
    market = SyntheticMarket()
    folder.mkdir(parents=True, exist_ok=True)
    contracts = 0
    for name in names:
        chain = market.chain(name, AT, expiries=EXPIRIES, strikes=STRIKES)
        frame = chain.frame.with_columns(
            pl.lit(name).alias("symbol"),
            pl.lit(chain.spot).alias("underlying_price"),
            pl.lit(chain.as_of.isoformat()).alias("as_of"),
        )
        keep = [c for c in frame.columns if c not in ("root",)]
        frame.select(keep).write_parquet(folder / f"{name}_{AT.date().isoformat()}.parquet")
        contracts = frame.height
    return contracts


def run(count: int, chains: Path) -> float:
    """Snapshot the first `count` symbols into a fresh home; return the wall time in seconds."""
    home = Path(tempfile.mkdtemp(prefix=f"gl-bench-scale-{count}-"))
    settings = Settings(home=home, source="chains", chains_dir=chains, max_workers=2)
    began = time.perf_counter()
    summary = run_snapshot(settings, symbols(count), "chains", AT)
    took = time.perf_counter() - began
    failed = [o for o in summary.outcomes if o.error]
    shutil.rmtree(home)
    if failed:
        raise SystemExit(
            f"{len(failed)} symbols failed, e.g. {failed[0].symbol}: {failed[0].error}"
        )
    return took


def _profile_batches(profile: cProfile.Profile) -> None:
    """Make every batch (run on a worker thread, which cProfile does not follow) profiled."""
    import flows.snapshot as flow

    plain = flow.snapshot_batch
    guard = threading.Lock()

    def profiled(*args: Any) -> Any:
        with guard:  # one profiler, so batches take turns
            return profile.runcall(plain, *args)

    flow.snapshot_batch = profiled  # type: ignore[assignment]


def main() -> None:
    """Time each size (or profile one) and write the JSON results."""
    chains = Path(tempfile.mkdtemp(prefix="gl-bench-scale-chains-"))
    if sys.argv[1:2] == ["--profile"]:
        count = int(sys.argv[2])
        contracts = write_chains(chains, symbols(count))
        print(f"{count} symbols x {contracts} contracts")
        profile = cProfile.Profile()
        _profile_batches(profile)
        profile.runcall(run, count, chains)
        pstats.Stats(profile).sort_stats(
            sys.argv[3] if len(sys.argv) > 3 else "cumulative"
        ).print_stats(40)
        return
    contracts = write_chains(chains, symbols(max(SIZES)))
    samples: dict[str, list[float]] = {str(n): [] for n in SIZES}
    for _ in range(REPEATS):  # sizes alternate, so a change in the machine's load hits both
        for n in SIZES:
            samples[str(n)].append(round(run(n, chains), 2))
    shutil.rmtree(chains)
    seconds = {k: min(v) for k, v in samples.items()}
    ratio = seconds[str(SIZES[1])] / seconds[str(SIZES[0])]
    results = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "setup": f"snapshot --source chains (in process, 2 workers), one Parquet chain file per "
        f"symbol of {contracts} contracts ({EXPIRIES} expiries x {STRIKES} strikes x 2), "
        "fresh home per size",
        "seconds": seconds,
        "samples": samples,
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "per_symbol_ms": {k: round(v * 1000 / int(k), 1) for k, v in seconds.items()},
        "ratio_2000_over_500": round(ratio, 2),
        "target_ratio_max": 4.4,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
