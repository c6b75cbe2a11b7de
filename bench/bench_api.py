"""Local API latency against stored history length; writes bench/results/api.json.

Three synthetic homes, each of three symbols (SPY, QQQ, SPX) ending on END:
- `1m`: 21 sessions; `2y`: 504 sessions; `10y`: 2,520 sessions.
- Every session has its daily snapshot at the close (16:00 New York, as a daily run stamps
  it). The latest INTRADAY_SESSIONS sessions (a year: intraday capture that started a year
  ago, older history backfilled daily) also have snapshots every 30 minutes from 10:00 to
  15:30 (12 more a session). The `1m` home is intraday throughout.
- Each snapshot holds STRIKES strikes and EXPIRIES expiries. The rows of one priced chain per
  symbol and time of day are re-stamped for every session (only the figures repeat; keys,
  partitions and files are what a collector writes: one file per day partition of strikes and
  expiries, one per month of snapshots), so building ten years takes minutes, not hours.
Homes are cached under bench/.cache/api-homes/<name> (delete it to rebuild); the build time of
each is recorded. The API runs in a process of its own (uvicorn on 127.0.0.1, a free port);
one client per home measures warm p50/p95 of /v1/exposure/gex/SPY for the latest snapshot and
for `at=` the middle session, and DuckDB (in this process, a warm connection, the same Parquet
files) reads the same rows: the snapshot row from its month's file, its strikes from its
day's file. Every home's four timings are taken in turn on each run, so the machine's other
load weighs on all alike. The 10-year home then serves 50 concurrent clients.

Run: `.venv/bin/python bench/bench_api.py [--homes 1m,2y,10y] [--runs 200] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import select
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench/results/api.json"
CACHE = ROOT / "bench/.cache/api-homes"
SYMBOLS = ("SPY", "QQQ", "SPX")
END = date(2026, 11, 20)
HOMES = {"1m": 21, "2y": 504, "10y": 2520}
INTRADAY_SESSIONS = 252
INTRADAY = tuple(clock(10 + m // 60, m % 60) for m in range(0, 6 * 60, 30))  # 10:00 .. 15:30
STRIKES, EXPIRIES = 150, 8
TARGET_MS, FLAT_RATIO = 25.0, 1.5
CLIENTS, REQUESTS_EACH, BOUND_SECONDS = 50, 10, 60.0
SERVER = """
import sys
from gammalake import Lake
from gammalake.api import create_app, serve
serve(create_app(Lake(sys.argv[1])), "127.0.0.1", 0, ready=lambda url: print(url, flush=True))
"""


def sessions(count: int) -> list[date]:
    """Return the last `count` NYSE sessions up to END."""
    from pipeline.sessions import sessions_between

    days = sessions_between(date(END.year - 12, 1, 1), END)
    return days[-count:]


def templates(symbol: str, method: str) -> dict[clock, dict[str, Any]]:
    """Return the stored rows of one priced synthetic chain per time of day (close included)."""
    from pipeline.engine.presets import preset
    from pipeline.engine.snapshot import ExposureSnapshot
    from pipeline.engine.timing import NEW_YORK
    from pipeline.normalize import snapshot_rows
    from pipeline.sources.synthetic import SyntheticMarket

    out = {}
    for moment in (*INTRADAY, clock(16, 0)):
        when = datetime.combine(END, moment, NEW_YORK)
        chain = SyntheticMarket().chain(symbol, when, expiries=EXPIRIES, strikes=STRIKES)
        payloads = ExposureSnapshot(chain, preset("default")).payloads()
        out[moment] = snapshot_rows(payloads, source="synthetic", method=method)
    return out


def stamped(rows: dict[str, Any], day: date, moment: clock) -> dict[str, Any]:
    """Return template rows moved to `moment` of session `day` (as_of, trade_date, fetched_at)."""
    import polars as pl

    from pipeline.engine.timing import NEW_YORK

    when = datetime.combine(day, moment, NEW_YORK).astimezone(UTC)
    moved = {"as_of": pl.lit(when).dt.cast_time_unit("us"), "trade_date": pl.lit(day)}
    out = {}
    for name, frame in rows.items():
        extra = {"fetched_at": moved["as_of"]} if "fetched_at" in frame.columns else {}
        out[name] = frame.with_columns(**moved, **extra)
    return out


def build_home(home: Path, count: int) -> float:
    """Write a home of `count` sessions (see the module docstring); return seconds taken."""
    import polars as pl

    from pipeline.engine.method import resolve_method
    from warehouse import catalog
    from warehouse.lake import Lake

    start = time.perf_counter()
    method = resolve_method("default")
    rows = {s: templates(s, method) for s in SYMBOLS}
    days = sessions(count)
    intraday = set(days[-INTRADAY_SESSIONS:])
    lake = Lake(home)
    months = sorted({(d.year, d.month) for d in days})
    for year, month in months:
        batch: dict[str, list[pl.DataFrame]] = {}
        for day in (d for d in days if (d.year, d.month) == (year, month)):
            moments = (*INTRADAY, clock(16, 0)) if day in intraday else (clock(16, 0),)
            for symbol in SYMBOLS:
                for moment in moments:
                    for name, frame in stamped(rows[symbol][moment], day, moment).items():
                        batch.setdefault(name, []).append(frame)
        lake.write_all({name: pl.concat(frames) for name, frames in batch.items()})
    catalog.rebuild(lake.home, method)
    return time.perf_counter() - start


def cached_home(name: str) -> tuple[Path, float | None]:
    """Return the cached home `name` and its build seconds (None: it was cached)."""
    home = CACHE / name / "home"
    done = CACHE / name / "built.json"
    if done.is_file():
        return home, None
    shutil.rmtree(CACHE / name, ignore_errors=True)
    seconds = build_home(home, HOMES[name])
    done.write_text(json.dumps({"seconds": round(seconds, 1)}) + "\n")
    return home, seconds


def start_server(home: Path) -> tuple[subprocess.Popen[str], str]:
    """Start the API over `home` in its own process; return it and its URL once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(home)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 120)
    if not ready:
        process.kill()
        raise RuntimeError("the API server did not start within 120 s")
    return process, process.stdout.readline().strip()


def percentiles(samples: list[float]) -> dict[str, float]:
    """Return p50 and p95 (ms) of samples in ms."""
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
    }


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Return the wall time of `call()` in ms, and what it returned."""
    start = time.perf_counter()
    out = call()
    return (time.perf_counter() - start) * 1000, out


def api_call(client: httpx.Client, path: str) -> Callable[[], httpx.Response]:
    """Return a call of GET `path` that raises unless it answers 200."""

    def get() -> httpx.Response:
        answer = client.get(path)
        answer.raise_for_status()
        return answer

    return get


def duckdb_call(home: Path, as_of: str) -> Callable[[], None]:
    """Return a call reading one SPY snapshot row and its strikes with DuckDB (warm)."""
    import duckdb

    from pipeline.engine.timing import NEW_YORK

    moment = datetime.fromisoformat(as_of).astimezone(UTC)
    day = datetime.fromisoformat(as_of).astimezone(NEW_YORK).date()
    root = home / "lake"
    month = f"{root}/snapshots/source=synthetic/month={day:%Y-%m}/*.parquet"
    strikes = f"{root}/strikes/source=synthetic/day={day}/*.parquet"
    where = "WHERE symbol = 'SPY' AND as_of = $t"
    con = duckdb.connect(":memory:")
    con.execute("SET GLOBAL parquet_metadata_cache = true")

    def read() -> None:
        con.sql(f"SELECT * FROM read_parquet('{month}') {where}", params={"t": moment}).fetchall()
        query = f"SELECT * FROM read_parquet('{strikes}') {where} ORDER BY strike"
        con.sql(query, params={"t": moment}).fetchall()

    return read


def interleaved(calls: dict[str, Callable[[], Any]], runs: int) -> dict[str, list[float]]:
    """Return `runs` timings (ms) of each call, the calls taken in turn on every run.

    Taking them in turn, in a new random order each run, spreads the machine's other load
    over all of them alike: on a shared machine, timing one home after another compared the
    load of two moments, not the homes.
    """
    for call in calls.values():
        for _ in range(10):  # warm-up: caches, connections, footers
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    shuffler = random.Random(0)
    for _ in range(runs):
        shuffler.shuffle(order)  # no call always first, or always after the same one
        for name in order:
            samples[name].append(timed(calls[name])[0])
    return samples


async def one_client(url: str, paths: list[str]) -> tuple[list[int], list[float]]:
    """Return the statuses and latencies (ms) of one client requesting `paths` in turn."""
    statuses, latencies = [], []
    async with httpx.AsyncClient(base_url=url, timeout=BOUND_SECONDS) as client:
        for path in paths:
            start = time.perf_counter()
            try:
                statuses.append((await client.get(path)).status_code)
            except httpx.HTTPError:
                statuses.append(0)
            latencies.append((time.perf_counter() - start) * 1000)
    return statuses, latencies


async def concurrent(url: str) -> dict[str, Any]:
    """Return how 50 concurrent clients of 10 requests each (gex, levels, summary, dex) fared."""
    kinds = ["gex", "levels", "summary", "dex"]
    plans = [
        [f"/v1/exposure/{kinds[(c + i) % len(kinds)]}/SPY" for i in range(REQUESTS_EACH)]
        for c in range(CLIENTS)
    ]
    start = time.perf_counter()
    results = await asyncio.gather(*(one_client(url, plan) for plan in plans))
    wall = time.perf_counter() - start
    statuses = [s for got, _ in results for s in got]
    latencies = [ms for _, took in results for ms in took]
    return {
        "clients": CLIENTS,
        "requests": len(statuses),
        "errors": sum(1 for s in statuses if s != 200),
        "wall_s": round(wall, 2),
        "within_bound": wall < BOUND_SECONDS,
        **percentiles(latencies),
    }


def measure(names: list[str], runs: int) -> dict[str, dict[str, Any]]:
    """Return, per home, its build time and the API's and DuckDB's warm timings (interleaved)."""
    homes = {name: cached_home(name) for name in names}
    servers = {name: start_server(home) for name, (home, _) in homes.items()}
    clients = {name: httpx.Client(base_url=url, timeout=120) for name, (_, url) in servers.items()}
    try:
        middles = {name: sessions(HOMES[name])[HOMES[name] // 2] for name in names}
        paths = {"latest": "/v1/exposure/gex/SPY", "middle": "/v1/exposure/gex/SPY?at={}"}
        calls: dict[str, Callable[[], Any]] = {}
        for name in names:
            for which, path in paths.items():
                get = api_call(clients[name], path.format(middles[name]))
                as_of = get().json()["as_of"]
                calls[f"{name} api_{which}"] = get
                calls[f"{name} duckdb_{which}"] = duckdb_call(homes[name][0], as_of)
        samples = interleaved(calls, runs)
        crowd = asyncio.run(concurrent(servers["10y"][1])) if "10y" in servers else None
    finally:
        for client in clients.values():
            client.close()
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    out = {}
    for name in names:
        figures = {
            k.split(" ")[1]: percentiles(v) for k, v in samples.items() if k.startswith(f"{name} ")
        }
        home = homes[name][0]
        out[name] = {
            "sessions": HOMES[name],
            "middle_session": middles[name].isoformat(),
            "build_s": json.loads((CACHE / name / "built.json").read_text())["seconds"],
            "built_now": homes[name][1] is not None,
            "snapshot_files": sum(1 for _ in (home / "lake/snapshots").rglob("*.parquet")),
            "strike_files": sum(1 for _ in (home / "lake/strikes").rglob("*.parquet")),
            **figures,
            "concurrent_50_clients": crowd if name == "10y" else None,
        }
    return out


def verdict(homes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the issue's targets checked: 10y within FLAT_RATIO of 1m, under TARGET_MS."""
    if not {"1m", "10y"} <= set(homes):
        return {}
    out = {}
    for which in ("api_latest", "api_middle"):
        small, big = homes["1m"][which]["p50_ms"], homes["10y"][which]["p50_ms"]
        out[which] = {
            "ratio_10y_to_1m": round(big / small, 2),
            "flat": big <= FLAT_RATIO * small,
            "under_target": big < TARGET_MS,
        }
    return out


def main() -> None:
    """Measure the homes asked for and write bench/results/api.json."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--homes", default=",".join(HOMES))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON goes")
    args = parser.parse_args()
    homes = measure(args.homes.split(","), args.runs)
    results = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_1min": round(os.getloadavg()[0], 2),
            "platform": platform.platform(),
        },
        "setup": {
            "symbols": list(SYMBOLS),
            "end": END.isoformat(),
            "intraday": f"every 30 min 10:00-15:30 on the latest {INTRADAY_SESSIONS} sessions",
            "strikes": STRIKES,
            "expiries": EXPIRIES,
            "runs": args.runs,
        },
        "target": {"p50_ms": TARGET_MS, "ratio_to_1m": FLAT_RATIO},
        "verdict": verdict(homes),
        "homes": homes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
