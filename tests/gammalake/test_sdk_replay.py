"""The FlashAlpha historical SDK, pointed at `gammalake api`, replays April day by day.

The SDK (`flashalpha-historical`) asks for each trading day at its close, 16:00 New York
(`iter_days`), and the API answers with the latest snapshot known at that moment. A daily
snapshot must therefore be stamped at the moment its data describes, the session's close, not
when the run fetched it (16:15): stamped at 16:15, every day got the previous session's
snapshot, with no error. The lake is a real synthetic backfill of April 2025 (21 sessions,
Good Friday closed) and the server real uvicorn on 127.0.0.1, a free port, in a thread.

Served: the exposure endpoints (`gex`, `dex`, `vex`, `chex`, `exposure_levels`,
`exposure_summary`). `Backtester`'s default endpoint, `stock_summary`
(GET /v1/stock/{symbol}/summary?at=...), is not: the API answers 404, which the SDK skips as
a day without data, so these tests run `Backtester` on `exposure_summary`.
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
