"""API responses stored end to end: the key is in no file gammalake writes."""

from __future__ import annotations

import gzip

from flows.store import store_payloads
from pipeline.sources.flashalpha import ClientConfig, FlashAlphaClient, RetryPolicy
from tests.support.flashalpha_server import Fault, ServerState, serve
from warehouse import catalog

KEY = "fa-live-ABCDEF0123456789"


def test_api_snapshot_is_stored_and_no_file_holds_the_key(tmp_path):
    server = serve(ServerState(keys={KEY: "growth"}))
    try:
        server.state.add_faults(Fault("status", 503))
        config = ClientConfig(KEY, base_url=server.url, retry=RetryPolicy(base_delay=0.01))
        with FlashAlphaClient(config) as fa:
            responses = [fa.gex("SPY"), fa.exposure_levels("SPY"), fa.exposure_summary("SPY")]
    finally:
        server.stop()
    payloads = {r.endpoint: r.payload for r in responses}
    request = {r.endpoint: {**r.meta, "headers": {"X-Api-Key": KEY}} for r in responses}
    from pipeline.normalize import parse_as_of

    stored = store_payloads(
        tmp_path,
        payloads,
        source="flashalpha",
        symbol="SPY",
        as_of=parse_as_of(payloads["gex"]["as_of"]),
        request=request,
        secrets=[KEY],
    )
    assert stored.rows["snapshots"] == 1 and stored.rows["strikes"] > 0
    row = catalog.query(tmp_path, "SELECT * FROM snapshots").row(0, named=True)
    assert row["call_wall"] == payloads["levels"]["levels"]["call_wall"]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 5
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        assert KEY.encode() not in data, path
