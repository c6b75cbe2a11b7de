"""A FlashAlpha reply the client's checks refuse is archived raw and marked rejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flows.settings import Settings
from flows.snapshot import run_snapshot
from tests.support.flashalpha_server import Fault, ServerState, serve
from warehouse.raw import REJECTED_SUFFIX, read_envelope

KEY = "fa-refused-0123456789"


def test_a_gex_reply_lacking_a_field_is_archived_and_marked_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHALPHA_API_KEY", KEY)
    server = serve(ServerState(keys={KEY: "growth"}))
    try:
        server.state.add_faults(Fault("missing_field", field="net_gex", endpoint="gex"))
        settings = Settings(home=tmp_path, flashalpha_base_url=server.url, flashalpha_tier="growth")
        summary = run_snapshot(settings, ["SPY"], "flashalpha", datetime.now(UTC))
    finally:
        server.stop()
    assert "lacks net_gex" in summary.failures["SPY"]
    markers = list((tmp_path / "raw" / "flashalpha" / "gex").rglob(f"*{REJECTED_SUFFIX}"))
    assert len(markers) == 1
    why = json.loads(markers[0].read_text())["reason"]
    assert "refused by the checks" in why and "lacks net_gex" in why and KEY not in why
    envelope = read_envelope(markers[0].with_name(markers[0].name.removesuffix(REJECTED_SUFFIX)))
    assert envelope.symbol == "SPY" and "net_gex" not in envelope.payload
    assert envelope.payload["strikes"]  # the reply as received, all but the missing field
