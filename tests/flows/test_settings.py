"""Settings: defaults, the TOML file, environment overrides, and no keys in files."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.settings import example_toml, load_settings
from pipeline.errors import InputError


def test_defaults_need_no_file(tmp_path):
    settings = load_settings(tmp_path, environ={})
    assert settings.watchlist == ("SPY", "QQQ", "IWM") and settings.source == "synthetic"


def test_file_then_environment(tmp_path):
    (tmp_path / "gammalake.toml").write_text(
        'watchlist = ["spy", "tsla"]\nwall_alert_pct = 1.5\nchains_dir = "~/chains"\n'
    )
    settings = load_settings(
        tmp_path, environ={"GAMMALAKE_WALL_ALERT_PCT": "0.25", "GAMMALAKE_SOURCE": "chains"}
    )
    assert settings.watchlist == ("SPY", "TSLA") and settings.wall_alert_pct == 0.25
    assert settings.source == "chains" and settings.chains_dir == Path("~/chains").expanduser()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('flashalpha_api_key = "abc"', "API keys do not belong"),
        ("bogus = 1", "unknown setting"),
        ("watchlist = [", "not valid TOML"),
        ('max_workers = "many"', "max_workers"),
    ],
)
def test_bad_files(tmp_path, text, match):
    (tmp_path / "gammalake.toml").write_text(text + "\n")
    with pytest.raises(InputError, match=match):
        load_settings(tmp_path, environ={})


def test_example_file_loads(tmp_path):
    (tmp_path / "gammalake.toml").write_text(example_toml())
    assert load_settings(tmp_path, environ={}).max_workers == 2


def test_key_from_the_environment_only(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHALPHA_API_KEY", "k-123")
    assert load_settings(tmp_path).api_key() == "k-123"


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"GAMMALAKE_TASK_RUNNER": "foo"}, "task_runner: 'foo' is unknown"),
        ({"GAMMALAKE_MAX_WORKERS": "0"}, "max_workers: 0 must be at least 1"),
    ],
)
def test_a_runner_no_run_could_use_is_refused(tmp_path, environ, match):
    with pytest.raises(InputError, match=match):
        load_settings(tmp_path, environ=environ)


def test_a_relative_home_and_chains_dir_become_absolute(tmp_path, monkeypatch):
    # Units may run in Dask workers whose working directory is not ours.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAMMALAKE_HOME", "lake-home")
    settings = load_settings(environ={"GAMMALAKE_CHAINS_DIR": "chains"})
    assert settings.home == tmp_path / "lake-home" and settings.home.is_absolute()
    assert settings.chains_dir == tmp_path / "chains"
