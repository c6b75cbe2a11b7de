"""The FlashAlpha historical SDK, pointed at `gammalake api`, replays April day by day.

The SDK (`flashalpha-historical`) asks for each trading day at its close, 16:00 New York
(`iter_days`), and the API answers with the latest snapshot known at that moment. A daily
snapshot must therefore be stamped at the moment its data describes, the session's close, not
when the run fetched it (16:15): stamped at 16:15, every day got the previous session's
snapshot, with no error. The lake is a real synthetic backfill of April 2025 (21 sessions,
Good Friday closed) and the server real uvicorn on 127.0.0.1, a free port, in a thread.

Served: the exposure endpoints (`gex`, `dex`, `vex`, `chex`, `exposure_levels`,
`exposure_summary`) and `tickers` (the stored coverage). Errors carry FlashAlpha's `error`
codes, so the SDK raises its own exceptions: a moment outside the stored range or an unknown
symbol is `NoCoverageError`, which a replay does not skip (a `NoDataError` it would skip,
yielding nothing). Every other call of both SDKs (`flashalpha`, `flashalpha_historical`)
answers 501, which the SDKs raise as `ServerError` naming the call: `Backtester`'s default
endpoint, `stock_summary`, is one, so these tests run `Backtester` on `exposure_summary`.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.engine.timing import NEW_YORK
from pipeline.sessions import sessions_between

historical = pytest.importorskip("flashalpha_historical")

KEY = "replay-key"
FIRST, LAST = date(2025, 4, 1), date(2025, 4, 30)
ENDPOINTS = ("exposure_summary", "exposure_levels", "gex", "dex", "vex", "chex")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a home holding SPY's synthetic daily snapshots of April 2025 (a real backfill)."""
    from flows.backfill import run_backfill
    from flows.settings import Settings

    home = tmp_path_factory.mktemp("replay") / "home"
    settings = Settings(home=home, synthetic_expiries=4, synthetic_strikes=21)
    summary = run_backfill(settings, ["SPY"], "synthetic", FIRST, LAST)
    assert [o.error for o in summary.outcomes] == [None]
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Any:
    """Return `gammalake api` over `home`, asking for KEY, on 127.0.0.1 and a free port."""
    from gammalake import Lake
    from gammalake.api import create_app, start

    running = start(create_app(Lake(home), keys=frozenset({KEY})))
    yield running
    running.stop()


@pytest.fixture
def client(server: Any) -> Any:
    """Return the SDK's client, as a user makes it, pointed at the local API."""
    return historical.FlashAlphaHistorical(KEY, base_url=server.url, timeout=600)


def days() -> list[datetime]:
    """Return the SDK's own 16:00 moments of every April 2025 trading day."""
    return list(historical.iter_days(FIRST, LAST))


def session_of_answer(body: dict[str, Any]) -> date:
    """Return the New York date of the snapshot an SDK answer holds."""
    return datetime.fromisoformat(body["as_of"]).astimezone(NEW_YORK).date()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_replay_at_the_close_gets_each_days_own_session(client, endpoint):
    answers = list(historical.replay(client, endpoint, "SPY", days(), skip_missing=False))
    asked = [datetime.fromisoformat(at).date() for at, _body in answers]
    got = [session_of_answer(body) for _at, body in answers]
    assert asked == sessions_between(FIRST, LAST) and len(asked) == 21  # the SDK's calendar
    assert got == asked


def test_replay_answers_with_the_snapshot_of_the_close(client):
    answers = historical.replay(client, "exposure_summary", "SPY", days(), skip_missing=False)
    for at, body in answers:
        moment = datetime.fromisoformat(body["as_of"]).astimezone(NEW_YORK)
        assert moment == datetime.fromisoformat(at).replace(tzinfo=NEW_YORK), at


def test_backtester_sees_every_session_once(client):
    tester = historical.Backtester(client, method="exposure_summary", symbol="SPY")
    gaps: list[str] = []
    results = tester.run(
        days(), lambda at, snap: session_of_answer(snap), on_error=lambda at, e: gaps.append(at)
    )
    assert gaps == []
    assert [r.output for r in results] == [datetime.fromisoformat(r.at).date() for r in results]
    records = tester.to_records(results)
    assert len({r["underlying_price"] for r in records}) == len(records) == 21


def test_tickers_is_the_stored_coverage(client):
    every = client.tickers()
    assert every["tickers"] == ["SPY"] and every["count"] == 1
    spy = client.tickers(symbol="spy")
    assert every["coverage"] == [spy]
    assert (spy["from"], spy["to"]) == (FIRST.isoformat(), LAST.isoformat())
    assert spy["healthy_days"] == spy["snapshots"] == 21 and spy["gaps"]["missing_sessions"] == 0
    with pytest.raises(historical.NoCoverageError, match=r"QQQ: not stored \(stored symbols: SPY"):
        client.tickers(symbol="QQQ")


def test_a_replay_past_the_stored_range_raises_no_coverage(client):
    may = historical.iter_days(date(2025, 4, 28), date(2025, 5, 6))
    answers = historical.replay(client, "exposure_levels", "SPY", may)  # skip_missing=True
    with pytest.raises(historical.NoCoverageError, match=r"covers 2025-04-01T16:00"):
        list(answers)
    with pytest.raises(historical.NoCoverageError):
        client.gex("QQQ", at=FIRST)


def test_a_bad_moment_is_invalid_at(client):
    with pytest.raises(historical.InvalidAtError, match=r"at='soon' is neither a date"):
        client.gex("SPY", at="soon")


def test_backtesters_default_endpoint_says_it_is_not_served(client):
    tester = historical.Backtester(client, symbol="SPY")  # method="stock_summary"
    with pytest.raises(historical.ServerError, match=r"does not serve /v1/stock/SPY/summary"):
        tester.run(days(), lambda at, snap: snap)


SERVED = {"tickers", "gex", "dex", "vex", "chex", "exposure_levels", "exposure_summary"}
#: Arguments the SDKs' calls require, by parameter name (any value the server can refuse).
ARGUMENTS: dict[str, Any] = {
    **dict.fromkeys(("symbol", "ticker", "index", "symbols", "date"), "SPY"),
    **dict.fromkeys(("spot", "strike", "dte", "sigma", "price", "win_rate"), 1.0),
    **dict.fromkeys(("expiry", "expiration"), "2025-04-17"),
    **dict.fromkeys(("type", "option_type"), "call"),
    "legs": [],
    "at": "2025-04-15",
}


def sdk_calls(cls: type) -> list[str]:
    """Return the public calls of an SDK client class."""
    return sorted(n for n, f in vars(cls).items() if callable(f) and not n.startswith("_"))


def call(client: Any, name: str) -> Any:
    """Call an SDK method with ARGUMENTS for its required parameters (others: "SPY")."""
    import inspect

    given: tuple[list[Any], dict[str, Any]] = ([], {})
    for p in list(inspect.signature(getattr(client, name)).parameters.values()):
        if p.default is inspect.Parameter.empty:
            if p.kind is p.KEYWORD_ONLY:
                given[1][p.name] = ARGUMENTS.get(p.name, "SPY")
            else:
                given[0].append(ARGUMENTS.get(p.name, "SPY"))
    return getattr(client, name)(*given[0], **given[1])


@pytest.mark.parametrize("name", sdk_calls(historical.FlashAlphaHistorical))
def test_every_historical_call_is_served_or_501(client, name):
    if name in SERVED:
        assert call(client, name)
        return
    with pytest.raises(historical.ServerError, match=r"gammalake does not serve /") as raised:
        call(client, name)
    assert raised.value.status_code == 501 and raised.value.response["error"] == "not_implemented"


def test_every_live_call_is_served_or_501(server):
    live = pytest.importorskip("flashalpha")
    sdk = live.FlashAlpha(KEY, base_url=server.url, timeout=600)
    unanswered = []
    for name in sdk_calls(live.FlashAlpha):
        try:
            body = call(sdk, name)
        except live.ServerError as exc:
            if exc.status_code != 501 or "gammalake does not serve" not in str(exc):
                unanswered.append(f"{name}: {exc}")
        else:
            assert body, name
    assert unanswered == []
    assert sdk.tickers()["tickers"] == sdk.symbols()["symbols"] == ["SPY"]
