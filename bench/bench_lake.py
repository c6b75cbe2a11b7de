"""Partition grain benchmark; writes bench/results/lake.json (see bench/README.md).

Appends half a year of daily snapshots (3 symbols x 126 sessions x 400 strikes) to `strikes`
one snapshot at a time, as the daily flow does, under each grain, then times the queries
people run most: the latest profile of one symbol, and a year of daily net GEX of one symbol.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from warehouse import catalog
from warehouse.lake import Lake
from warehouse.schema import Grain

OUT = Path(__file__).resolve().parent / "results" / "lake.json"
SYMBOLS = ("SPY", "QQQ", "IWM")
SESSIONS = 126
STRIKES = 400
GRAINS: tuple[Grain, ...] = (
    "symbol_day",
    "symbol_month",
    "symbol_year",
    "source_day",
    "source_month",
)
QUERIES = {
    "latest_profile": "SELECT * FROM gex_profile WHERE symbol = 'SPY'",
    "daily_net_gex_one_symbol": "SELECT as_of, sum(net_gex) FROM strikes WHERE symbol = 'SPY' "
    "GROUP BY as_of ORDER BY as_of",
}


def snapshot(symbol: str, as_of: datetime, rng: np.random.Generator) -> pl.DataFrame:
    """Return one snapshot's strike rows with every strikes column filled."""
    columns = {
        f"{s}_{g}": rng.normal(0, 1e8, STRIKES)
        for g in ("gex", "dex", "vex", "chex")
        for s in ("call", "put", "net")
    }
    return pl.DataFrame(
        {
            "symbol": symbol,
            "source": "bench",
            "method": "default@v1",
            "as_of": as_of,
            "trade_date": as_of.date(),
            "strike": np.arange(STRIKES, dtype=float) * 5 + 300,
            **columns,
            **{
                c: rng.integers(0, 50000, STRIKES)
                for c in ("call_oi", "put_oi", "call_volume", "put_volume")
            },
        }
    )


def run_grain(grain: Grain) -> dict[str, object]:
    """Return append and query timings for one partition grain of `strikes`."""
    home = Path(tempfile.mkdtemp(prefix=f"gl-bench-{grain}-"))
    lake = Lake(home, grains={"strikes": grain, "snapshots": grain})
    rng = np.random.default_rng(0)
    appends = []
    start = datetime(2024, 1, 2, 21, 15, tzinfo=UTC)
    for day in range(SESSIONS):
        for symbol in SYMBOLS:
            rows = snapshot(symbol, start + timedelta(days=day), rng)
            began = time.perf_counter()
            lake.write("strikes", rows)
            appends.append((time.perf_counter() - began) * 1000)
    catalog.rebuild(home)
    result: dict[str, object] = {
        "files": len(lake.files("strikes")),
        "append_ms_median": round(statistics.median(appends), 2),
        "append_ms_last_20": round(statistics.median(appends[-20:]), 2),
        "append_total_s": round(sum(appends) / 1000, 2),
    }
    for name, sql in QUERIES.items():
        samples = []
        for _ in range(7):
            began = time.perf_counter()
            catalog.query(home, sql)
            samples.append((time.perf_counter() - began) * 1000)
        result[f"{name}_ms"] = round(statistics.median(samples), 2)
    shutil.rmtree(home)
    return result


def main() -> None:
    """Benchmark each grain and write the JSON results."""
    results = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "setup": f"{len(SYMBOLS)} symbols x {SESSIONS} sessions x {STRIKES} strikes, "
        "one append per snapshot",
        "grains": {g: run_grain(g) for g in GRAINS},
        # A partition shared by every symbol: files grow with time, not symbols (layout.json).
        "chosen": "source_day (strikes), source_month (snapshots)",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
