"""Whole-market lake layout; writes bench/results/layout.json (see bench/README.md).

Builds a lake straight through the Lake API (no engine): daily `snapshots` of SYMBOLS
symbols over YEARS years (one write per month, as a vendor-file import writes a day), and
the per-strike and per-contract tables of the whole market for the last STRIKE_DAYS and
CHAIN_DAYS sessions (a day's partition is what a query of one day reads, however many years
are stored beside it). Then times, warm (median of 7): one symbol's daily levels over every
year through `gammalake sql` (the CLI, whole process, and the same query in process) and
`gammalake.Lake.history`; one day's cross-section of every symbol; `Lake.gex` of one symbol
and day (the API's read path). Counts files per table per month. Usage:
`python bench/bench_layout.py [SYMBOLS] [YEARS]` (defaults 5000 and 10).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from warehouse import catalog
from warehouse.lake import Lake

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "layout.json"
BIN = ROOT / ".venv" / "bin" / "gammalake"
METHOD = "default@v1"
STRIKES, CONTRACTS = 40, 300
STRIKE_DAYS, CHAIN_DAYS = 21, 2


def sessions(years: int) -> list[date]:
    """Return the weekdays of `years` years ending 2026-10-30 (holidays ignored)."""
    end = date(2026, 10, 30)
    days = np.arange(np.datetime64(end - timedelta(days=365 * years)), np.datetime64(end))
    return [d for d in days.astype(date).tolist() if d.weekday() < 5]


def close_of(day: date) -> datetime:
    """Return a session's snapshot moment (20:15 UTC)."""
    return datetime(day.year, day.month, day.day, 20, 15, tzinfo=UTC)


def snapshot_rows(names: list[str], days: list[date], rng: np.random.Generator) -> pl.DataFrame:
    """Return one snapshot row per symbol and day with the headline figures filled."""
    grid = pl.DataFrame({"symbol": names}).join(pl.DataFrame({"trade_date": days}), how="cross")
    n = grid.height
    spot = rng.uniform(10, 500, n)
    return grid.with_columns(
        pl.lit("bench").alias("source"),
        pl.lit(METHOD).alias("method"),
        (
            pl.col("trade_date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=20, minutes=15)
        ).alias("as_of"),
        pl.Series("underlying_price", spot),
        *(pl.Series(f"net_{g}", rng.normal(0, 1e9, n)) for g in ("gex", "dex", "vex", "chex")),
        pl.Series("gamma_flip", spot * rng.uniform(0.9, 1.1, n)),
        pl.Series("call_wall", np.round(spot * 1.05)),
        pl.Series("put_wall", np.round(spot * 0.95)),
        pl.lit("positive_gamma").alias("regime"),
        pl.lit("available").alias("gamma_flip_status"),
        pl.lit(STRIKES).alias("strike_count"),
    )


def per_symbol_rows(
    names: list[str], day: date, count: int, extra: dict[str, Any], rng: np.random.Generator
) -> pl.DataFrame:
    """Return `count` rows per symbol on one day, keys filled and a strike grid."""
    n = len(names) * count
    return pl.DataFrame(
        {
            "symbol": np.repeat(np.array(names), count),
            "strike": np.tile(np.arange(count, dtype=float) * 5 + 50, len(names)),
            **{k: v(n) if callable(v) else v for k, v in extra.items()},
        }
    ).with_columns(
        pl.lit("bench").alias("source"),
        pl.lit(day).alias("trade_date"),
        pl.lit(close_of(day)).alias("as_of"),
    )


def build(home: Path, names: list[str], years: int) -> dict[str, float]:
    """Write the lake; return seconds spent per dataset."""
    lake, rng, days = Lake(home), np.random.default_rng(0), sessions(years)
    took: dict[str, float] = {}
    months = pl.DataFrame({"d": days}).group_by(
        pl.col("d").dt.strftime("%Y-%m"), maintain_order=True
    )
    began = time.perf_counter()
    for _, month in months:
        lake.write("snapshots", snapshot_rows(names, month.get_column("d").to_list(), rng))
    took["snapshots"] = time.perf_counter() - began
    greeks = {
        f"{s}_{g}": lambda n: rng.normal(0, 1e7, n)
        for g in ("gex", "dex")
        for s in ("call", "put", "net")
    }
    ois = {c: lambda n: rng.integers(0, 50_000, n) for c in ("call_oi", "put_oi")}
    began = time.perf_counter()
    for day in days[-STRIKE_DAYS:]:
        lake.write(
            "strikes",
            per_symbol_rows(names, day, STRIKES, {"method": METHOD, **greeks, **ois}, rng),
        )
    took["strikes"] = time.perf_counter() - began
    began = time.perf_counter()
    for day in days[-CHAIN_DAYS:]:
        lake.write("chains", _chains(names, day, rng))
    took["chains"] = time.perf_counter() - began
    return {k: round(v, 1) for k, v in took.items()}


def _chains(names: list[str], day: date, rng: np.random.Generator) -> pl.DataFrame:
    """Return CONTRACTS contracts per symbol on one day (calls and puts of a strike grid)."""
    half = CONTRACTS // 2
    frame = per_symbol_rows(names, day, half, {}, rng)
    frame = pl.concat([frame.with_columns(pl.lit(r).alias("right")) for r in ("C", "P")])
    n = frame.height
    return frame.with_columns(
        pl.lit(day + timedelta(days=30)).alias("expiration"),
        pl.format("{}{}{}", "symbol", "right", pl.col("strike").cast(pl.Int64)).alias("contract"),
        pl.Series("open_interest", rng.integers(0, 50_000, n)),
        pl.Series("iv", rng.uniform(0.1, 0.6, n)),
    )


def timed(fn: Callable[[], object], repeat: int = 7) -> float:
    """Return the median wall time of `fn` in ms, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(samples), 2)


def cli_ms(home: Path, sql: str) -> float:
    """Return the median wall time of `gammalake sql ... --format csv` (whole process) in ms.

    CSV: the default table rendering of thousands of rows costs more than the query.
    """
    env = {**os.environ, "GAMMALAKE_HOME": str(home)}
    return timed(
        lambda: subprocess.run(
            [str(BIN), "sql", sql, "--format", "csv"],
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        ),
        repeat=3,
    )


def files_per_month(lake: Lake) -> dict[str, int]:
    """Return the most files any month holds, per dataset."""
    most = {}
    for name in lake.datasets():
        counts: dict[str, int] = {}
        for path in lake.files(name):
            month = path.parent.name.split("=", 1)[1][:7]
            counts[month] = counts.get(month, 0) + 1
        most[name] = max(counts.values())
    return most


def measure(home: Path, names: list[str], years: int) -> dict[str, Any]:
    """Return the query timings over the built lake."""
    from gammalake import Lake as Api

    days = sessions(years)
    one, day = names[len(names) // 2], days[-1]
    levels = (
        "SELECT trade_date, net_gex, gamma_flip FROM daily_levels "
        f"WHERE symbol = '{one}' ORDER BY trade_date"
    )
    cross = f"SELECT symbol, net_gex, gamma_flip FROM daily_levels WHERE trade_date = DATE '{day}'"
    api = Api(home=home, method=METHOD)
    assert len(api.history(one)) >= len(days) - 5
    assert catalog.query(home, cross).height == len(names)
    return {
        "gammalake_sql_select_1_cli_ms": cli_ms(home, "SELECT 1"),  # process start, imports
        "one_symbol_all_years_levels": {
            "sql_in_process_ms": timed(lambda: catalog.query(home, levels)),
            "gammalake_sql_cli_ms": cli_ms(home, levels),
            "lake_history_ms": timed(lambda: api.history(one)),
        },
        "one_day_cross_section": {
            "sql_in_process_ms": timed(lambda: catalog.query(home, cross)),
            "gammalake_sql_cli_ms": cli_ms(home, cross),
        },
        "api_gex_one_symbol_day_warm_ms": timed(lambda: api.gex(one, at=day.isoformat())),
        # An early session (its strikes are not stored here: the snapshot lookup only).
        "api_history_of_an_early_session_warm_ms": timed(
            lambda: api.history(one, days[30], days[30])
        ),
        "api_gex_early_session_warm_ms": timed(lambda: api.gex(one, at=days[30].isoformat())),
    }


def main() -> None:
    """Build, measure and write the JSON results."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    years = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    names = [f"S{i:04d}" for i in range(count)]
    home = Path(tempfile.mkdtemp(prefix="gl-bench-layout-"))
    built = build(home, names, years)
    catalog.rebuild(home, METHOD)
    lake = Lake(home)
    results = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "setup": f"{count} symbols x {len(sessions(years))} sessions ({years} years) of "
        f"snapshots; strikes ({STRIKES} a symbol) for the last {STRIKE_DAYS} sessions, "
        f"chains ({CONTRACTS} a symbol) for the last {CHAIN_DAYS}; written by the Lake API",
        "rows": {
            n: catalog.query(home, f"SELECT count(*) FROM {n}").item() for n in lake.datasets()
        },
        "build_seconds": built,
        "files": {n: len(lake.files(n)) for n in lake.datasets()},
        "most_files_in_one_month": files_per_month(lake),
        "bytes": sum(p.stat().st_size for n in lake.datasets() for p in lake.files(n)),
        **measure(home, names, years),
    }
    shutil.rmtree(home)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
