"""Sources built from settings: engine sources without a preset, the API source for a run."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from flows.settings import Settings
from flows.sources import build_source, run_fetches
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sources.base import RunHaltedError

AT = datetime(2024, 3, 8, 16, 15, tzinfo=NEW_YORK)


def test_engine_sources_return_chains_for_the_flow_to_price(tmp_path):
    settings = Settings(home=tmp_path, synthetic_strikes=11, synthetic_expiries=2)
    fetched = build_source(settings, "synthetic", ["SPY"], AT).fetch("SPY", AT)
    assert fetched.chain is not None and fetched.payloads == {}
    assert fetched.chain.frame.height == 2 * 11 * 2
    chains = build_source(Settings(home=tmp_path, chains_dir=tmp_path), "chains", ["SPY"], AT)
    assert chains.computes and chains.file_for("SPY", date(2024, 3, 8)) is None
    with pytest.raises(InputError, match="needs chains_dir"):
        build_source(Settings(home=tmp_path), "chains", ["SPY"], AT)


def test_the_api_source_knows_the_run_and_the_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHALPHA_API_KEY", "flows-key-123")
    settings = Settings(home=tmp_path, request_deadline_seconds=7.5, flashalpha_tier="basic")
    source = build_source(settings, "flashalpha-historical", ["SPY", "QQQ"], AT, sessions=20)
    assert source.client.config.deadline == 7.5 and source.historical
    assert source.fetches == 40 and source.tier == "basic"
    assert run_fetches(["SPY", "QQQ"], {"SPY": 3, "IWM": 9}) == 3


def test_a_run_the_budget_cannot_start_is_halted_without_a_request(tmp_path, monkeypatch):
    from flows.quota import FileQuotaLedger

    monkeypatch.setenv("FLASHALPHA_API_KEY", "flows-key-123")
    ledger = FileQuotaLedger(tmp_path, "free")
    while ledger.try_spend():  # today's Free budget already spent by an earlier run
        pass
    source = build_source(Settings(home=tmp_path), "flashalpha", ["SPY"], AT)
    with pytest.raises(RunHaltedError, match="budget spent, 0 request") as err:
        source.fetch("SPY", AT)
    assert err.value.requests == 0 and ledger.used() == 10


def test_whether_a_source_computes_is_known_before_it_is_built(tmp_path, monkeypatch):
    from flows.sources import computes
    from pipeline.sources.base import registered

    monkeypatch.setenv("FLASHALPHA_API_KEY", "flows-key-123")
    settings = Settings(home=tmp_path, chains_dir=tmp_path)
    for name in registered():
        assert computes(name) == build_source(settings, name, ["SPY"], AT).computes


def test_the_cboe_source_honours_the_request_deadline(tmp_path):
    settings = Settings(home=tmp_path, request_deadline_seconds=7.5, cboe_window=300.0)
    source = build_source(settings, "cboe", ["SPY"], AT)
    config = source.config  # type: ignore[attr-defined]
    # Requests end by the deadline; only the wait for a window slot may take longer.
    assert config.deadline == 7.5 and config.window_wait == 307.5


def test_the_stop_flag_reaches_the_http_sources(tmp_path, monkeypatch):
    import threading

    from pipeline.sources.base import watch_stop

    monkeypatch.setenv("FLASHALPHA_API_KEY", "flows-key-123")
    stop = threading.Event()
    for name in ("cboe", "flashalpha"):
        source = build_source(Settings(home=tmp_path), name, ["SPY"], AT)
        watch_stop(source, stop)
        stop.set()
        with pytest.raises(RunHaltedError, match="stopped"):
            source.fetch("SPY", AT)  # nothing is sent once stopped
        stop.clear()
    watch_stop(build_source(Settings(home=tmp_path), "synthetic", ["SPY"], AT), stop)
