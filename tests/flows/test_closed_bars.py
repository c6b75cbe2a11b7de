"""A price bar is stored only once its session has closed, and never for a day after today.

Every test injects the clock (`now`), so the answer does not depend on when the suite runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest

from flows.imports import import_synthetic_prices, update_prices
from flows.settings import Settings
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sources.prices import last_closed_session, synthetic_bars
from pipeline.sources.synthetic import SyntheticMarket
from warehouse import catalog

#: A Friday afternoon, the session still open (the outside trial's 14:46).
FRIDAY_1446 = datetime(2026, 12, 4, 14, 46, tzinfo=NEW_YORK)
#: The same Friday after its close.
FRIDAY_1605 = datetime(2026, 12, 4, 16, 5, tzinfo=NEW_YORK)


def test_the_last_closed_session_waits_for_the_close():
    assert last_closed_session(FRIDAY_1446) == date(2026, 12, 3)
    assert last_closed_session(FRIDAY_1605) == date(2026, 12, 4)
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=NEW_YORK)
    assert last_closed_session(saturday) == date(2026, 12, 4)
    # 2026-11-27, the day after Thanksgiving, closes at 13:00.
    half_day = datetime(2026, 11, 27, 13, 30, tzinfo=NEW_YORK)
    assert last_closed_session(half_day) == date(2026, 11, 27)


def test_update_during_the_session_stores_no_bar_for_today(tmp_path):
    settings = Settings(home=tmp_path)
    update_prices(settings, ["SPY"], date(2026, 11, 2), now=FRIDAY_1446)
    last = catalog.query(tmp_path, "SELECT max(trade_date) FROM prices").item()
    assert last == date(2026, 12, 3)
    after = update_prices(settings, ["SPY"], date(2026, 11, 2), now=FRIDAY_1605)
    assert after.rows == {"prices": 1}  # today's bar, once its session has closed
    stamped = catalog.query(tmp_path, "SELECT max(as_of) FROM prices").item()
    assert stamped.astimezone(NEW_YORK).hour == 16


@pytest.mark.parametrize("end", [date(2026, 12, 31), date(2026, 12, 4)])
def test_synthetic_bars_past_the_last_closed_session_are_refused(tmp_path, end):
    start = date(2026, 11, 2)
    with pytest.raises(InputError, match=f"--end {end} is past the last closed session 2026-12-03"):
        import_synthetic_prices(tmp_path, ["SPY"], start, end, SyntheticMarket(), now=FRIDAY_1446)
    with pytest.raises(InputError, match="past the last closed session"):
        synthetic_bars(SyntheticMarket(), "SPY", start, end, now=FRIDAY_1446)
    assert not (tmp_path / "lake").exists()


def test_synthetic_bars_up_to_the_last_closed_session_are_stored(tmp_path):
    done = import_synthetic_prices(
        tmp_path, ["SPY"], date(2026, 11, 2), date(2026, 12, 3), SyntheticMarket(), now=FRIDAY_1446
    )
    assert done.rows["prices"] == 23


def test_the_cli_refuses_a_future_end_in_one_line(tmp_path):
    from tests.gammalake.test_cli import BIN

    end = (datetime.now(NEW_YORK) + timedelta(days=10)).date()  # a process has the real clock
    args = ["--home", str(tmp_path), "prices", "synthetic", "--symbols", "SPY"]
    done = subprocess.run(
        [str(BIN), *args, "--start", "2024-01-02", "--end", end.isoformat()],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--end {end} is past the last closed session" in lines[0]
    assert not (tmp_path / "lake").exists()


def test_prices_update_runs_without_prefect_unless_one_is_configured(tmp_path):
    """No temporary Prefect server: the command never imports Prefect when none is set up."""
    script = (
        "import sys\n"
        "from gammalake.cli.app import main\n"
        f"sys.argv = ['gammalake', '--home', {str(tmp_path)!r}, 'prices', 'update',"
        " '--symbols', 'SPY', '--start', '2026-11-02']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "assert 'prefect' not in sys.modules, 'prefect was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # no profiles file: nothing configured
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "imported bars" in done.stdout
