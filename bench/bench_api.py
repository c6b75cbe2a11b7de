"""Local API benchmark; writes bench/results/api.json (see bench/README.md).

The SPX refdata chain is stored with `gammalake chain FILE --save` into a temporary home, and
the API serves it from a process of its own (uvicorn on 127.0.0.1, a free port), as
`gammalake api` does. Then:
1. warm latency, one client: the stored SPX gex response (every strike), its levels, a past
   `at=`, and one expiration re-priced from the raw chain (cached after the first request);
2. 50 concurrent clients (httpx async, one connection each), 10 requests each over gex,
   levels, summary and dex: every answer must be a 200, within a bounded wall time.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SPX = ROOT.parent / "shared/refdata/phammings-spx500-gamma/modules/spx_quotedata.csv"
OUT = ROOT / "bench/results/api.json"
TARGET_MS = 50.0
CLIENTS = 50
REQUESTS_EACH = 10
#: The concurrent run must finish within this (seconds): "served, bounded".
BOUND_SECONDS = 60.0
SERVER = """
import sys
from gammalake import Lake
from gammalake.api import create_app, serve
serve(create_app(Lake(sys.argv[1])), "127.0.0.1", 0, ready=lambda url: print(url, flush=True))
"""


def store_spx(home: Path) -> None:
    """Store the SPX refdata chain in `home` the way a user does (`chain FILE --save`)."""
    exe = str(Path(sys.executable).with_name("gammalake"))
    subprocess.run(
        [exe, "--home", str(home), "chain", str(SPX), "--save"],
        check=True,
        capture_output=True,
        timeout=300,
    )


def start_server(home: Path) -> tuple[subprocess.Popen[str], str]:
    """Start the API over `home` in its own process; return it and its URL once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(home)], stdout=subprocess.PIPE, text=True
    )
    ready, _, _ = select.select([process.stdout], [], [], 60)
    if not ready or process.stdout is None:
        process.kill()
        raise RuntimeError("the API server did not start within 60 s")
    return process, process.stdout.readline().strip()


def timings(client: httpx.Client, path: str, repeat: int = 60, warmup: int = 5) -> dict[str, float]:
    """Return median, p90 and max wall time (ms) of GET `path`, and the response size."""
    for _ in range(warmup):
        client.get(path).raise_for_status()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        answer.raise_for_status()
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 2),
        "max_ms": round(samples[-1], 2),
        "bytes": len(answer.content),
        "runs": repeat,
    }


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


async def concurrent(url: str) -> dict[str, object]:
    """Return how 50 concurrent clients of 10 requests each were served."""
    kinds = ["gex", "levels", "summary", "dex"]
    plans = [
        [f"/v1/exposure/{kinds[(c + i) % len(kinds)]}/SPX" for i in range(REQUESTS_EACH)]
        for c in range(CLIENTS)
    ]
    start = time.perf_counter()
    results = await asyncio.gather(*(one_client(url, plan) for plan in plans))
    wall = time.perf_counter() - start
    statuses = [s for got, _ in results for s in got]
    latencies = sorted(ms for _, took in results for ms in took)
    return {
        "clients": CLIENTS,
        "requests": len(statuses),
        "errors": sum(1 for s in statuses if s != 200),
        "wall_s": round(wall, 2),
        "bound_s": BOUND_SECONDS,
        "within_bound": wall < BOUND_SECONDS,
        "latency_median_ms": round(statistics.median(latencies), 1),
        "latency_p90_ms": round(latencies[int(0.9 * (len(latencies) - 1))], 1),
        "latency_max_ms": round(latencies[-1], 1),
        "requests_per_s": round(len(statuses) / wall, 1),
    }


def measure(url: str, home: Path) -> dict[str, object]:
    """Return the warm timings of one client and the concurrent run."""
    from gammalake import Lake

    expiries = [row["expiration"] for row in Lake(home).expiries("SPX")]
    middle = expiries[len(expiries) // 2]
    with httpx.Client(base_url=url, timeout=60) as client:
        spx = client.get("/v1/exposure/gex/SPX").json()
        warm = {
            "gex_SPX_latest": timings(client, "/v1/exposure/gex/SPX"),
            "gex_SPX_at_date": timings(client, f"/v1/exposure/gex/SPX?at={spx['as_of'][:10]}"),
            "levels_SPX": timings(client, "/v1/exposure/levels/SPX"),
            "summary_SPX": timings(client, "/v1/exposure/summary/SPX"),
            "gex_SPX_one_expiration_repriced": timings(
                client, f"/v1/exposure/gex/SPX?expiration={middle}"
            ),
        }
    return {
        "strikes": len(spx["strikes"]),
        "expirations": len(expiries),
        "warm_one_client": warm,
        "concurrent": asyncio.run(concurrent(url)),
    }


def main() -> None:
    """Run the benchmark and write bench/results/api.json."""
    if not SPX.is_file():
        print(f"skipped: {SPX} not found (needs ../shared beside the repo)")
        return
    home = Path(tempfile.mkdtemp(prefix="bench-api-")) / "home"
    store_spx(home)
    process, url = start_server(home)
    try:
        measured = measure(url, home)
    finally:
        process.terminate()
        process.wait(timeout=30)
    warm = measured["warm_one_client"]
    assert isinstance(warm, dict)
    gex = warm["gex_SPX_latest"]
    results = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "httpx": httpx.__version__,
        },
        "chain": str(SPX.relative_to(ROOT.parent)),
        "target_gex_warm_ms": TARGET_MS,
        "meets_target": gex["median_ms"] < TARGET_MS and gex["p90_ms"] < TARGET_MS,
        **measured,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
