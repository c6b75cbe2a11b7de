"""Dashboard day-switch benchmark; writes bench/results/dashboard.json (see bench/README.md).

A temporary home gets two months of synthetic SPY and QQQ (`gammalake backfill`, `prices
synthetic`), as the dashboard tests make it. The API and dashboard run under uvicorn on
127.0.0.1 in a thread, and Debian's Chromium (driven by Playwright, the tests' `Watched` page)
loads QQQ, then switches to days neither the page nor the server has seen. The page's own
`window.gammalake.timings` gives each switch, request to last chart drawn. Target: median
under 300 ms (issue 20 moved it here from the test suite, where a busy machine failed it).

Run: `.venv/bin/python bench/bench_dashboard.py` (skips, saying why in the JSON, without
/usr/bin/chromium or playwright).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' page helper and the project, run from anywhere

from tests.gammalake.test_dashboard import CHROMIUM, END, START, Watched, cli  # noqa: E402

OUT = ROOT / "bench/results/dashboard.json"
TARGET_MS = 300.0
SWITCHES = 8


def make_home(home: Path) -> None:
    """Fill `home` with two months of synthetic SPY and QQQ snapshots and their bars."""
    symbols = ("--symbols", "SPY,QQQ")
    cli(home, "backfill", *symbols, "--start", START, "--end", END)
    cli(home, "prices", "synthetic", *symbols, "--start", START, "--end", END)


def measure(home: Path) -> dict[str, Any]:
    """Return the first load and the cold day switches of QQQ, in milliseconds."""
    from playwright.sync_api import sync_playwright

    from gammalake.api import dashboard
    from gammalake.api.server import create_app, start
    from gammalake.lake import Lake

    lake = Lake(home, "default")
    running = start(create_app(lake, extra_routes=dashboard.routes(lake, home / "reports")))
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM))
            try:
                return switch_days(Watched(browser, running.url), lake)
            finally:
                browser.close()
    finally:
        running.stop()


def switch_days(watched: Watched, lake: Any) -> dict[str, Any]:
    """Return the timings of SWITCHES cold switches after the first load (ms)."""
    page = watched.page
    page.goto(f"{watched.base}/?symbol=QQQ&at={END}")
    watched.ready(END, "QQQ")
    first = page.evaluate("performance.getEntriesByName('gl-ready')[0].startTime")
    sessions = [d.isoformat() for d in lake.sessions("QQQ")]
    picked = sessions[2:-2:4][:SWITCHES]  # apart: the page prefetches the neighbours
    for day in picked:
        watched.ready(symbol="QQQ")  # the previous day's prefetches are done
        page.select_option("#date", day)
        watched.ready(day, "QQQ")
    timings = page.evaluate("window.gammalake.timings")
    cold = [round(t["ms"], 1) for t in timings if t["at"] in picked and not t["cached"]]
    return {"first_load_ms": round(first, 1), "switch_ms": cold, "problems": watched.problems}


def main() -> None:
    """Measure and write OUT; print where it went and the median switch."""
    record: dict[str, Any] = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_1min": round(os.getloadavg()[0], 2),
        },
        "target_switch_median_ms": TARGET_MS,
    }
    if not CHROMIUM.is_file():
        record["skipped"] = f"{CHROMIUM} not found (apt-get install chromium)"
    else:
        with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
            home = Path(folder) / "home"
            make_home(home)
            record.update(measure(home))
        median = statistics.median(record["switch_ms"])
        record["switch_median_ms"] = round(median, 1)
        record["meets_target"] = median < TARGET_MS
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{OUT}: median day switch {record.get('switch_median_ms', 'skipped')} ms")


if __name__ == "__main__":
    main()
