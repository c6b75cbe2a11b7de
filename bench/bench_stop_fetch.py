"""How fast a stop ends a Cboe fetch in flight; writes bench/results/stop_fetch.json.

Against the local Cboe-shaped server (tests/support/cboe_server.py): a fetch whose reply drips
one byte every 50 ms (minutes for the whole body), and a fetch answered 429 with Retry-After
120 s. A thread sets the run's stop flag 0.5 s after the server logged the request; the figure
is the time from that moment to the fetch returning (seconds), and the requests the server saw
after it (must be 0). The deadline is left at 550 s so only the stop can end the fetch. A gzip
bomb (512 MiB of zeros) measures how much the refusal at the default 256 MiB cap costs.
"""

from __future__ import annotations

import contextlib
import json
import platform
import resource
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.sources.base import FetchError, FetchStoppedError  # noqa: E402
from pipeline.sources.cboe_feed import CboeConfig, CboeFeedSource  # noqa: E402
from tests.support.cboe_server import Fault, ServerState, serve  # noqa: E402

OUT = ROOT / "bench/results/stop_fetch.json"
RUNS = 5
AT = datetime(2024, 3, 15, 20, 15, tzinfo=UTC)


def stop_latency(url: str, state: ServerState, fault: Fault, symbol: str) -> tuple[float, int]:
    """Return (seconds from the stop to the fetch's return, requests logged after the stop)."""
    state.reset()
    state.add_faults(fault)
    stop = threading.Event()
    stopped_at: list[float] = []

    def set_stop() -> None:
        while not state.log:
            time.sleep(0.005)
        time.sleep(0.5)
        stopped_at.append(time.monotonic())
        stop.set()

    config = CboeConfig(base_url=url, timeout=300.0, deadline=550.0, limit=1000)
    threading.Thread(target=set_stop, daemon=True).start()
    with CboeFeedSource(config, stop=stop) as source:
        with contextlib.suppress(FetchStoppedError):
            source.fetch(symbol, AT)
        returned = time.monotonic()
    time.sleep(0.3)  # anything sent after the stop would be logged by now
    after = sum(1 for entry in state.log if entry["time"] >= stopped_at[0])
    return returned - stopped_at[0], after


def bomb_cost(url: str, state: ServerState) -> dict[str, float | str]:
    """Return the seconds and peak-RSS growth (MiB) of refusing a 512 MiB gzip bomb."""
    state.reset()
    state.add_faults(Fault("bomb", size=512 * 2**20))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    with CboeFeedSource(CboeConfig(base_url=url, deadline=120.0)) as source:
        try:
            source.fetch("SYM900", AT)
            message = "accepted"
        except FetchError as exc:
            message = str(exc)
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": round(took, 2),
        "peak_rss_growth_mib": round(peak - before),
        "error": message,
    }


def main() -> None:
    """Measure and write the results."""
    state = ServerState()
    server = serve(state)
    try:
        figures: dict[str, object] = {}
        faults = {
            "slow_drip": Fault("drip", seconds=0.05),
            "retry_after_120": Fault("status", 429, retry_after="120"),
        }
        for name, fault in faults.items():
            runs = [stop_latency(server.url, state, fault, f"SYM{i:03d}") for i in range(RUNS)]
            latencies = [r[0] for r in runs]
            figures[name] = {
                "median_s": round(statistics.median(latencies), 3),
                "max_s": round(max(latencies), 3),
                "requests_after_stop": sum(r[1] for r in runs),
                "runs": RUNS,
            }
        figures["gzip_bomb_512mib"] = bomb_cost(server.url, state)
    finally:
        server.stop()
    result = {"machine": platform.platform(), "python": platform.python_version(), **figures}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
