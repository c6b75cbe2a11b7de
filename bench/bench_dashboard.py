"""Dashboard first load and day switches on the demo home; writes bench/results/dashboard.json.

The home is `gammalake demo`'s (three symbols, two years, intraday snapshots of the last
sessions): made in a temporary folder, or the one given with `--home` (a home made by
`gammalake demo` before, to measure again without waiting for it). The API and the dashboard
run under uvicorn on 127.0.0.1 in a thread, and Debian's Chromium (driven by Playwright, the
tests' `Watched` page) opens `/` with nothing cached on either side: the first load is the
page's "gl-ready" mark (navigation start to the first complete view). Then it switches to
sessions neither the page nor the server has seen; `window.gammalake.timings` gives each,
request to last chart drawn. Targets (issue 21): first load under 2 s, median switch under
250 ms.

Run: `.venv/bin/python bench/bench_dashboard.py [--home PATH] [--screenshots]` (skips, saying
why in the JSON, without /usr/bin/chromium or playwright). `--screenshots` also writes the
README's docs/dashboard-desktop.png (1440x900) and docs/dashboard-phone.png (390x844, its first
two screens) of the home's latest session at 12:00, an intraday snapshot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' page helper and the project, run from anywhere

from tests.gammalake.test_dashboard import CHROMIUM, Watched, cli, draw_every_chart  # noqa: E402

OUT = ROOT / "bench/results/dashboard.json"
DOCS = ROOT / "docs"
FIRST_LOAD_TARGET_MS = 2000.0
SWITCH_TARGET_MS = 250.0
SWITCHES = 8
LOADS = 3


def make_home(home: Path) -> float:
    """Fill `home` with `gammalake demo` (its defaults); return how long it took (s)."""
    began = time.perf_counter()
    cli(home, "demo")
    return time.perf_counter() - began


def measure(home: Path) -> dict[str, Any]:
    """Return the first loads (a fresh server each) and the cold day switches, in ms."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            loads = []
            for _ in range(LOADS - 1):
                with Served(home) as url:
                    loads.append(first_load(Watched(browser, url))[0])
            with Served(home) as url:
                ms, watched, symbol = first_load(Watched(browser, url))
                loads.append(ms)
                found = switch_days(watched, home, symbol)
        finally:
            browser.close()
    return {"first_load_ms": loads, **found}


class Served:
    """A fresh server of the API and the dashboard over `home` (a context manager: its URL)."""

    def __init__(self, home: Path) -> None:
        """Serve `home` (started on entering)."""
        self.home = home
        self.running: Any = None

    def __enter__(self) -> str:
        """Start the server; return its base URL."""
        from gammalake.api import dashboard
        from gammalake.api.server import create_app, start
        from gammalake.lake import Lake

        lake = Lake(self.home)
        routes = dashboard.routes(lake, self.home / "reports")
        self.running = start(create_app(lake, extra_routes=routes), wait=600.0)
        return str(self.running.url)

    def __exit__(self, *exc: object) -> None:
        """Stop the server."""
        self.running.stop()


def first_load(watched: Watched) -> tuple[float, Watched, str]:
    """Return the first load of `/` (ms, navigation start to gl-ready), the page, its symbol."""
    page = watched.page
    page.goto(f"{watched.base}/")
    page.wait_for_selector("body[data-state=ready]")
    page.wait_for_function("window.gammalake.pending === 0")
    ms = page.evaluate("performance.getEntriesByName('gl-ready')[0].startTime")
    return round(ms, 1), watched, str(page.get_attribute("body", "data-symbol"))


def switch_days(watched: Watched, home: Path, symbol: str) -> dict[str, Any]:
    """Return SWITCHES cold switches of `symbol` after the first load (ms)."""
    from gammalake.lake import Lake

    page = watched.page
    sessions = [d.isoformat() for d in Lake(home).sessions(symbol)]
    picked = sessions[-40:-2:5][:SWITCHES]  # apart: the page prefetches the neighbours
    for day in picked:
        watched.ready(symbol=symbol)  # the previous day's prefetches are done
        page.select_option("#date", day)
        watched.ready(day, symbol)
    timings = page.evaluate("window.gammalake.timings")
    cold = [round(t["ms"], 1) for t in timings if t["at"][:10] in picked and not t["cached"]]
    return {"switch_ms": cold, "problems": watched.problems}


def screenshots(home: Path) -> list[str]:
    """Write docs/dashboard-desktop.png and docs/dashboard-phone.png; return their paths."""
    from playwright.sync_api import sync_playwright

    from gammalake.lake import Lake

    lake = Lake(home)
    symbol = "SPY" if "SPY" in lake.symbols() else lake.symbols()[0]
    moment = f"{lake.sessions(symbol)[-1].isoformat()}T12:00"
    shots = {"desktop": (1440, 900, 1), "phone": (390, 844, 2)}
    written = []
    with sync_playwright() as driver, Served(home) as url:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for name, (width, height, screens) in shots.items():
                watched = Watched(browser, url)
                page = watched.page
                page.set_viewport_size({"width": width, "height": height})
                page.goto(f"{url}/?symbol={symbol}&at={moment}")
                watched.ready(symbol=symbol)
                draw_every_chart(page)
                path = DOCS / f"dashboard-{name}.png"
                clip = {"x": 0, "y": 0, "width": width, "height": height * screens}
                page.screenshot(path=path, full_page=True, clip=clip)
                written.append(str(path.relative_to(ROOT)))
                page.close()
        finally:
            browser.close()
    return written


def main() -> None:
    """Measure and write OUT; print where it went and the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a home made by `gammalake demo` before")
    parser.add_argument("--screenshots", action="store_true", help="write docs/dashboard-*.png")
    args = parser.parse_args()
    record: dict[str, Any] = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_1min": round(os.getloadavg()[0], 2),
        },
        "target_first_load_ms": FIRST_LOAD_TARGET_MS,
        "target_switch_median_ms": SWITCH_TARGET_MS,
    }
    if not CHROMIUM.is_file():
        record["skipped"] = f"{CHROMIUM} not found (apt-get install chromium)"
    else:
        with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
            home = args.home or Path(folder) / "home"
            if args.home is None:
                record["demo_s"] = round(make_home(home), 1)
            record["home"] = "given (--home)" if args.home else "gammalake demo, fresh"
            record.update(measure(home))
            if args.screenshots:
                record["screenshots"] = screenshots(home)
        first = statistics.median(record["first_load_ms"])
        median = statistics.median(record["switch_ms"])
        record["first_load_median_ms"] = round(first, 1)
        record["switch_median_ms"] = round(median, 1)
        record["meets_target"] = first < FIRST_LOAD_TARGET_MS and median < SWITCH_TARGET_MS
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(
        f"{OUT}: first load {record.get('first_load_median_ms', 'skipped')} ms, "
        f"median day switch {record.get('switch_median_ms', 'skipped')} ms"
    )


if __name__ == "__main__":
    main()
