"""A Prefect run's parameters carry no secret: the Apprise URL and keys are read at run time.

Parameters are read back from a real Prefect server (the session's patient temporary one,
tests/flows/conftest.py), where anyone with the UI would see them.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from flows import snapshot
from flows.prefect_runs import snapshot_flow
from flows.settings import load_settings
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

AT = datetime(2024, 3, 15, 16, 15, tzinfo=NEW_YORK)
TOKEN = "xoxb-secret-token-4242"
URL = f"slack://{TOKEN}/#alerts"
KEY = "fa-live-key-0042"


def parameters_of(state) -> str:
    """Return the flow run's parameters as the Prefect API holds them, as JSON text."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    return json.dumps(run.parameters, default=str)


@pytest.fixture
def delivered(monkeypatch) -> list[str | None]:
    """Record the Apprise URL each run hands to `deliver` (nothing is sent)."""
    urls: list[str | None] = []

    def deliver(alerts: object, url: str | None) -> bool:
        urls.append(url)
        return False

    monkeypatch.setattr(snapshot, "deliver", deliver)
    return urls


def _settings(tmp_path, monkeypatch, **variables: str):
    """Return settings loaded with GAMMALAKE_* variables, as the CLI loads them."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return load_settings(tmp_path / "home")


def test_the_apprise_url_and_the_key_stay_out_of_the_parameters(tmp_path, monkeypatch, delivered):
    settings = _settings(
        tmp_path,
        monkeypatch,
        GAMMALAKE_APPRISE_URL=URL,
        FLASHALPHA_API_KEY=KEY,
        GAMMALAKE_SYNTHETIC_EXPIRIES="4",
        GAMMALAKE_SYNTHETIC_STRIKES="21",
    )
    state = snapshot_flow(settings, ["SPY"], "synthetic", AT, return_state=True)
    assert state.is_completed()
    stored = parameters_of(state)
    assert '"synthetic_expiries": 4' in stored  # the settings are there, for the UI
    assert TOKEN not in stored and KEY not in stored
    assert delivered == [URL]  # read from the environment when the run needed it


def test_the_apprise_url_can_come_from_a_secret_block(tmp_path, monkeypatch, delivered):
    from prefect.blocks.system import Secret

    block: Secret[str] = Secret(value=URL)  # type: ignore[arg-type]  # pydantic: a SecretStr
    block.save("gammalake-apprise-test", overwrite=True)
    monkeypatch.delenv("GAMMALAKE_APPRISE_URL", raising=False)
    settings = _settings(
        tmp_path,
        monkeypatch,
        GAMMALAKE_APPRISE_SECRET_BLOCK="gammalake-apprise-test",
        GAMMALAKE_SYNTHETIC_EXPIRIES="4",
        GAMMALAKE_SYNTHETIC_STRIKES="21",
    )
    state = snapshot_flow(settings, ["SPY"], "synthetic", AT, return_state=True)
    assert state.is_completed()
    stored = parameters_of(state)
    assert "gammalake-apprise-test" in stored and TOKEN not in stored
    assert delivered == [URL]


def test_a_settings_file_with_an_apprise_url_is_refused(tmp_path):
    (tmp_path / "gammalake.toml").write_text(f'apprise_url = "{URL}"\n')
    with pytest.raises(InputError, match="apprise_url may hold a token") as refused:
        load_settings(tmp_path)
    assert TOKEN not in str(refused.value)
