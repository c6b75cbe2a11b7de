"""Vendor-file import speed; writes bench/results/import.json (see bench/README.md).

1. `whole_market_day`: one generated whole-market Cboe DataShop day (5,000 underlyings, 1.5 M
   contracts, a realistic size mix: a few index/ETF chains of 10,000-25,000 contracts, a long
   tail of names with a few hundred) imported by the whole CLI process
   (`gammalake --home TMP import datashop FILE`, threads, 2 workers): wall time and peak RSS.
2. `breakdown`: the same day in process, one worker, with timers around parsing (the first
   pass: read + checks), the engine, raw writes, lake writes and the catalog.
3. `per_day`: many small days imported in one run; seconds per day for the first and last
   days, to show the cost stays flat as the lake grows.
4. `dask`: the whole-market day with `--dask local` and 1 then 2 workers.
5. `ten_years_full_market`: the per-day cost x 2,500 days on a 16-core Dask cluster, an
   extrapolation (stated as such), from the measured 2-worker throughput.

Run: `.venv/bin/python bench/bench_import.py [--quick]` (--quick: a 500-underlying day).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from warehouse.schema import Grain

ROOT = Path(__file__).resolve().parent.parent
#: Folders to delete once every figure is written.
LEFT: list[Path] = []
OUT = ROOT / "bench" / "results" / "import.json"
EXE = str(Path(sys.executable).with_name("gammalake"))
DAY = date(2024, 3, 15)


# --- Timers around the steps of an import (in process) ---


class Timers:
    """Seconds spent in named steps, summed over calls (and over threads)."""

    def __init__(self) -> None:
        """Start with nothing timed."""
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: Any, attribute: str, step: str) -> Callable[[], None]:
        """Time every call of `owner.attribute` as `step`; return the undo."""
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            """Call the original, adding its time to `step`."""
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[step] += time.perf_counter() - began
                self.calls[step] += 1

        setattr(owner, attribute, timed)
        return lambda: setattr(owner, attribute, original)


CATALOG = "catalog (queries, views, runs row)"
_CATALOG_CALLS = ("stored_pairs", "previous_many", "followers_many", "close_run")


@contextmanager
def timed_steps(timers: Timers) -> Iterator[None]:
    """Time parsing, checks, engine, raw writes, lake writes and catalog while inside."""
    import flows.vendor_import as vendor
    import warehouse.raw as raw

    undo = [
        timers.wrap(vendor, "read_one", "parse"),
        timers.wrap(vendor, "check_read", "checks (firewall, first pass)"),
        timers.wrap(vendor, "normalise", "engine (price + rows)"),
        timers.wrap(vendor, "against_previous", "derive (OI change, alerts)"),
        timers.wrap(raw.RawArchive, "put_input", "raw writes"),
        timers.wrap(raw.RawArchive, "settle", "raw writes"),
        timers.wrap(raw.RawArchive, "add_method", "raw writes"),
        timers.wrap(vendor, "write_captures", "lake writes"),
        *(timers.wrap(vendor, name, CATALOG) for name in _CATALOG_CALLS),
    ]
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


# --- The measurements ---

#: The lake layout before the shared-partition change (file count grows with symbols x time).
OLD_GRAINS: dict[str, Grain] = dict.fromkeys(
    ("snapshots", "strikes", "expiries", "chains", "alerts"), "symbol_month"
)


def market_day(folder: Path, underlyings: int, contracts: int) -> tuple[Path, int]:
    """Write the synthetic whole-market DataShop day; return its path and contract count."""
    from pipeline.sources.formats.synthesize import write_datashop_day

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"UnderlyingOptionsEODCalcs_{DAY.isoformat()}.csv"
    return path, write_datashop_day(path, DAY, underlyings, contracts)


def cli_import(path: Path, workers: int, dask: bool) -> dict[str, Any]:
    """Import `path` with the whole CLI into a fresh home; return wall, CPU and peak RSS."""
    home = Path(tempfile.mkdtemp(prefix="gl-bench-import-"))
    env = {**os.environ, "GAMMALAKE_MAX_WORKERS": str(workers), "GAMMALAKE_TASK_RUNNER": "threads"}
    command = ["/usr/bin/time", "-v", EXE, "--home", str(home), "import", "datashop", str(path)]
    command += ["--dask", "local"] if dask else []
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"import failed: {done.stderr[-2000:]}")
    usage = _time_v(done.stderr)
    LEFT.append(home)
    return {
        "runner": "dask local" if dask else "threads",
        "workers": workers,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(usage["user"] + usage["system"], 2),
        "peak_rss_mb": round(usage["rss_kb"] / 1024, 1),
        "load_average_1min_after": round(os.getloadavg()[0], 1),
    }


def _time_v(text: str) -> dict[str, float]:
    """Return user and system seconds and the peak RSS (kB) from /usr/bin/time -v output."""

    def field(label: str) -> float:
        """Return the number after `label:` (NaN when absent)."""
        match = re.search(rf"{re.escape(label)}: ([\d.]+)", text)
        return float(match[1]) if match else float("nan")

    return {
        "user": field("User time (seconds)"),
        "system": field("System time (seconds)"),
        "rss_kb": field("Maximum resident set size (kbytes)"),
    }


def breakdown(path: Path, grains: dict[str, Grain] | None) -> dict[str, Any]:
    """Import `path` in process with one worker; return seconds per step (and in total)."""
    from dataclasses import replace

    import flows.capture as capture
    from flows.settings import load_settings
    from flows.vendor_import import ImportRequest, prepare, run_import
    from warehouse.lake import Lake

    home = Path(tempfile.mkdtemp(prefix="gl-bench-breakdown-"))
    settings = replace(load_settings(home, environ={}), max_workers=1)
    request = ImportRequest("datashop", (path,))
    timers, real = Timers(), capture.Lake
    if grains is not None:
        capture.Lake = lambda home: Lake(home, grains=grains)  # type: ignore[misc,assignment]
    try:
        with timed_steps(timers):
            began = time.perf_counter()
            _, inputs = prepare(settings, request)
            run_import(settings, request, inputs)
            total = time.perf_counter() - began
    finally:
        capture.Lake = real  # type: ignore[misc]
    files = sum(1 for _ in (home / "lake").rglob("*.parquet"))
    LEFT.append(home)
    steps = {k: round(v, 2) for k, v in sorted(timers.seconds.items(), key=lambda kv: -kv[1])}
    return {"total_seconds": round(total, 2), "steps_seconds": steps, "lake_files": files}


def small_days(folder: Path, days: int, underlyings: int) -> list[Path]:
    """Write `days` consecutive small DataShop day files (ordinary names only)."""
    from pipeline.sessions import sessions_between
    from pipeline.sources.formats.synthesize import BIG_NAMES, day_frame

    big = [b[0] for b in BIG_NAMES]
    paths = []
    for i, session in enumerate(sessions_between(date(2023, 1, 3), date(2024, 12, 31))[:days]):
        frame = day_frame(session, underlyings + len(big), 150 * underlyings, seed=i)
        path = folder / f"UnderlyingOptionsEODCalcs_{session.isoformat()}.csv"
        frame.filter(~pl.col("underlying_symbol").is_in(big)).write_csv(path)
        paths.append(path)
    return paths


def per_day(folder: Path, days: int, underlyings: int) -> dict[str, Any]:
    """Import many small days in one run; return seconds per day, first days against last."""
    from dataclasses import replace

    from flows.settings import load_settings
    from flows.vendor_import import ImportRequest, prepare, run_import

    small_days(folder, days, underlyings)
    home = Path(tempfile.mkdtemp(prefix="gl-bench-days-"))
    settings = replace(load_settings(home, environ={}), max_workers=2)
    request = ImportRequest("datashop", (folder,))
    began = time.perf_counter()
    _, inputs = prepare(settings, request)
    parsed = time.perf_counter() - began
    stamps: list[float] = []
    start = time.perf_counter()
    run_import(
        settings, request, inputs, progress=lambda day, n: stamps.append(time.perf_counter())
    )
    each = np.diff(np.array([start, *stamps]))
    tenth = max(1, days // 10)
    LEFT.append(home)
    return {
        "days": days,
        "underlyings_per_day": underlyings,
        "first_pass_seconds_all_days": round(parsed, 2),
        "median_seconds_per_day_first_tenth": round(float(np.median(each[:tenth])), 3),
        "median_seconds_per_day_last_tenth": round(float(np.median(each[-tenth:])), 3),
        "ratio_last_to_first": round(float(np.median(each[-tenth:]) / np.median(each[:tenth])), 2),
        "seconds_per_day_every_tenth_day": [round(float(x), 3) for x in each[::tenth]],
    }


def ten_years(per_day_2_workers: float, serial_seconds: float) -> dict[str, Any]:
    """Return the 10-year (2,500 days) full-market figure on 16 cores, extrapolated."""
    parallel = max(0.0, per_day_2_workers - serial_seconds)
    per_day_16 = serial_seconds + parallel * 2 / 16
    return {
        "extrapolated": True,
        "how": "per-day cost measured with 2 Dask workers; its parallel part (engine, raw "
        "writes) divided by 8 for 16 workers, its serial part (parsing, checks, lake writes "
        "in the client) kept whole; days do not overlap",
        "seconds_per_day_16_cores": round(per_day_16, 1),
        "hours_for_2500_days": round(per_day_16 * 2500 / 3600, 1),
    }


def main() -> None:
    """Run every measurement and write bench/results/import.json."""
    parser = argparse.ArgumentParser(description="vendor import benchmarks")
    parser.add_argument("--quick", action="store_true", help="500 underlyings, 30 small days")
    args = parser.parse_args()
    underlyings, contracts = (500, 150_000) if args.quick else (5_000, 1_500_000)
    days = 30 if args.quick else 120
    work = Path(tempfile.mkdtemp(prefix="gl-bench-files-"))
    LEFT.append(work)
    try:
        _measure(work, underlyings, contracts, days)
    finally:
        for folder in LEFT:  # after the figures: deleting 10,000s of files is slow on this disk
            shutil.rmtree(folder, ignore_errors=True)


def _measure(work: Path, underlyings: int, contracts: int, days: int) -> dict[str, Any]:
    """Return every figure of the benchmark (files under `work`), saving after each step."""
    path, rows = market_day(work, underlyings, contracts)
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "note": "2 shared cores; load average is recorded with each CLI run: wall times "
        "under load are longer than on an idle machine, CPU seconds are not",
    }
    steps = _save(results, "breakdown_one_worker", breakdown(path, None))
    threads = cli_import(path, 2, dask=False)
    _save(results, "whole_market_day", {"underlyings": underlyings, "contracts": rows, **threads})
    one, two = cli_import(path, 1, dask=True), cli_import(path, 2, dask=True)
    speedup = round(one["wall_seconds"] / two["wall_seconds"], 2)
    _save(results, "dask", {"one_worker": one, "two_workers": two, "speedup": speedup})
    serial = sum(v for k, v in steps["steps_seconds"].items() if k in _SERIAL)
    _save(results, "ten_years_full_market", ten_years(two["wall_seconds"], serial))
    small = work / "small"
    small.mkdir()
    _save(results, "per_day", per_day(small, days, 20))
    _save(results, "breakdown_old_layout_symbol_month", _old_layout(work, underlyings))
    return results


def _old_layout(work: Path, underlyings: int) -> dict[str, Any]:
    """Return the one-worker breakdown under the old per-symbol layout, on 1/20 of the day.

    Per symbol, per month files: ~4.4 files written per symbol a day, too slow for the whole
    day on this disk (each replaced file is discarded by ext4); 1/20 shows the per-symbol cost.
    """
    tenth = max(10, underlyings // 20)
    path, rows = market_day(work / "tenth", tenth, 30 * tenth)
    return {"underlyings": tenth, "contracts": rows, **breakdown(path, OLD_GRAINS)}


def _save(results: dict[str, Any], key: str, value: dict[str, Any]) -> dict[str, Any]:
    """Add one measurement to `results`, write the JSON so far, and return the measurement."""
    results[key] = value
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(key, json.dumps(value), flush=True)
    return value


#: Steps that run in the client process whatever the number of workers.
_SERIAL = (
    "parse",
    "first-pass checks (firewall)",
    "lake writes",
    "catalog (queries, views, runs row)",
)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
