"""The deploy/ kit: the compose file parses, and every unit starts a command that exists."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

KIT = REPO / "deploy"
UNITS = sorted((KIT / "systemd").glob("*.service"))
BIN = Path(sys.executable).parent  # the venv's gammalake and prefect


def unit_entries(path: Path) -> dict[str, list[str]]:
    """Return `Section.Key` -> values of a systemd unit (keys may repeat)."""
    entries: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        entries.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return entries


def help_of(argv: list[str]) -> str:
    """Return the help text of a command line (its words before the first option)."""
    words = [argv[0], *[w for w in argv[1:] if not w.startswith("-")][:2]]
    if Path(words[0]).name == "gammalake":
        words = words[:2]  # `gammalake deploy`: one command word; the rest are values
    tool = BIN / Path(words[0]).name
    done = subprocess.run(
        [str(tool), *words[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": str(BIN), "HOME": str(Path.home()), "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


def test_compose_file_has_server_worker_deploy_and_the_home_volume():
    compose = yaml.safe_load((KIT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"prefect-server", "worker", "deploy"}
    assert {"home", "prefect"} <= set(compose["volumes"])
    for name in ("worker", "deploy"):
        service = services[name]
        assert "home:/data/home" in service["volumes"]
        assert service["environment"]["GAMMALAKE_HOME"] == "/data/home"
        assert service["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["worker"]["command"][:5] == [
        "prefect",
        "worker",
        "start",
        "--pool",
        "gammalake",
    ]
    assert services["deploy"]["command"][:4] == ["gammalake", "deploy", "--pool", "gammalake"]
    assert services["worker"]["depends_on"]["deploy"] == {
        "condition": "service_completed_successfully"
    }
    assert (REPO / services["worker"]["build"]["dockerfile"]).is_file()
    assert "prefect:/data/prefect" in services["prefect-server"]["volumes"]


def test_the_units_set_home_and_api_and_are_the_documented_three():
    assert [u.name for u in UNITS] == [
        "gammalake-deploy.service",
        "gammalake-worker.service",
        "prefect-server.service",
    ]
    for unit in UNITS:
        entries = unit_entries(unit)
        assert len(entries["Service.ExecStart"]) == 1, unit.name
        if unit.name.startswith("gammalake-"):
            env = dict(e.split("=", 1) for e in entries["Service.Environment"])
            assert env["GAMMALAKE_HOME"].startswith("/")
            assert env["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    readme = (KIT / "README.md").read_text()
    assert all(u.name in readme for u in UNITS) and "compose.yaml" in readme


@pytest.mark.parametrize("unit", UNITS, ids=[u.stem for u in UNITS])
def test_every_exec_start_names_an_existing_command_and_its_options(unit):
    (line,) = unit_entries(unit)["Service.ExecStart"]
    argv = shlex.split(line.lstrip("-@+!:"))
    assert Path(argv[0]).name in ("gammalake", "prefect"), argv
    text = help_of(argv)
    for option in (w for w in argv if w.startswith("--")):
        assert option in text, (unit.name, option)


def test_systemd_accepts_the_units():
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    done = subprocess.run(
        [analyze, "verify", *map(str, UNITS)], capture_output=True, text=True, timeout=600
    )
    # The executables live in /opt/gammalake/venv on the target machine, not here.
    complaints = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "is not executable" not in line
    ]
    assert complaints == []
