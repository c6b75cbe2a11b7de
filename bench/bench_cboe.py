"""The `cboe` source against the local Cboe-shaped server; writes bench/results/cboe.json.

A 10-symbol snapshot: four real chains from ../shared/refdata (SPX, SPY, XSP, NDX, served as
the feed's JSON) and six small synthetic ones, collected through the whole flow (fetch,
archive, check, price, write, catalog). The engine's share is the time the engine alone
takes to price the same ten chains, in process, over the flow's wall time.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.settings import Settings  # noqa: E402
from flows.snapshot import run_snapshot  # noqa: E402
from pipeline.engine.presets import preset  # noqa: E402
from pipeline.sources.base import engine_payloads  # noqa: E402
from pipeline.sources.cboe_feed import CboeConfig, CboeFeedSource  # noqa: E402
from tests.support.cboe_server import ServerState, serve  # noqa: E402

REFDATA = ROOT.parent / "shared/refdata"
CSVS = {
    "carlosjimenezdiaz-gex-python/spx_quotedata.csv": True,
    "carlosjimenezdiaz-gex-python/spy_quotedata.csv": False,
    "carlosjimenezdiaz-gex-python/xsp_quotedata.csv": True,
    "luca-castelli-index-gamma/ndx_quotedata.csv": True,
}
OUT = ROOT / "bench/results/cboe.json"


def engine_seconds(url: str, symbols: list[str]) -> float:
    """Return the engine's time to price the chains the feed serves, in process."""
    source = CboeFeedSource(CboeConfig(base_url=url))
    chains = [source.fetch(s, datetime.now(UTC)).chain for s in symbols]
    config = preset("default")
    start = time.perf_counter()
    for chain in chains:
        assert chain is not None
        engine_payloads(chain, config)
    return time.perf_counter() - start


def collect_once(url: str, symbols: list[str], at: datetime) -> float:
    """Return the wall time of one 10-symbol snapshot into a fresh home."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), cboe_url=url)
        start = time.perf_counter()
        summary = run_snapshot(settings, symbols, "cboe", at)
        took = time.perf_counter() - start
        assert not summary.failures, summary.failures
    return took


def main() -> None:
    """Serve the chains, time the collection and the engine, write the JSON."""
    if not REFDATA.exists():
        result: dict[str, object] = {"skipped": f"{REFDATA} is absent"}
    else:
        state = ServerState(weekend=True)
        real = [state.add_csv(REFDATA / name, index=index) for name, index in CSVS.items()]
        symbols = real + [f"SYM{i:03d}" for i in range(1, 7)]
        server = serve(state)
        try:
            # Each real chain keeps its own time; the firewall judges it against the moment
            # asked, so each is collected at its own moment (one run per distinct moment).
            at = state.listed[real[0]].chain.as_of
            walls = [collect_once(server.url, symbols[:1], at) for _ in range(2)]
            runs = [collect_everything(server.url, state, real, symbols) for _ in range(3)]
            engine = engine_seconds(server.url, symbols)
        finally:
            server.stop()
        wall = statistics.median(runs)
        result = {
            "symbols": symbols,
            "contracts": {s: state.listed[s].chain.frame.height for s in real},
            "snapshot_10_symbols_s": round(wall, 3),
            "one_symbol_spx_s": round(min(walls), 3),
            "engine_s": round(engine, 3),
            "engine_share": round(engine / wall, 3),
            "runs": len(runs),
        }
    payload = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "cboe_10_symbols": result,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))


def collect_everything(url: str, state: ServerState, real: list[str], symbols: list[str]) -> float:
    """Return the wall time of collecting all ten symbols into one fresh home.

    Real chains carry their CSV's own (past) time, so each is asked at that moment; the
    synthetic ones are stamped by the server and asked at theirs. Both groups go into one
    home, one after the other, and the times add up.
    """
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), cboe_url=url)
        start = time.perf_counter()
        for symbol in real:
            summary = run_snapshot(settings, [symbol], "cboe", state.listed[symbol].chain.as_of)
            assert not summary.failures, summary.failures
        rest = [s for s in symbols if s not in real]
        summary = run_snapshot(settings, rest, "cboe", state.stamp())
        assert not summary.failures, summary.failures
        return time.perf_counter() - start


if __name__ == "__main__":
    main()
