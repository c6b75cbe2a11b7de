"""Home paths an attacker shapes: glob characters and symlinks never widen what SQL can read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, one_session_home
from warehouse import sandbox
from warehouse.errors import WarehouseInputError
from warehouse.home import resolve_home
from warehouse.sandbox import SandboxError

CLI = [sys.executable, "-c", "from gammalake.cli import main; main()"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_session_home(tmp_path_factory.mktemp("paths") / "home")


@pytest.fixture
def home(stored: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(stored, tmp_path / "home"))


@pytest.mark.parametrize("name", ["[/x]", "g*", "h?", "{a,b}"])
def test_a_home_with_glob_characters_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(WarehouseInputError, match="glob"):
        resolve_home(tmp_path / name)


def test_the_cli_refuses_a_glob_home_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "--home", str(tmp_path / "[" / "x]"), "doctor"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "glob" in result.stderr


def test_a_view_duckdb_cannot_open_is_one_line(stored: Path, tmp_path: Path) -> None:
    home = Path(shutil.copytree(stored, tmp_path / "a[1]" / "home"))
    with pytest.raises(SandboxError) as caught:
        sandbox.open_sandbox(home)
    assert "\n" not in str(caught.value) and str(home) in str(caught.value)


def test_a_lake_linked_outside_the_home_is_refused(home: Path) -> None:
    shutil.rmtree(home / "lake")
    (home / "lake").symlink_to("/")
    with pytest.raises(SandboxError, match="outside the gammalake home"):
        sandbox.query(home, "SELECT * FROM read_text('/etc/passwd')")


def test_a_linked_catalog_does_not_open_its_target(home: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("api_key = hunter2\n")
    (home / "warehouse.duckdb").unlink()
    (home / "warehouse.duckdb").symlink_to(secret)
    with pytest.raises(SandboxError):
        sandbox.query(home, f"SELECT * FROM read_text('{home / 'warehouse.duckdb'}')")


def test_the_catalog_file_itself_stays_readable(home: Path) -> None:
    con, temp = sandbox.open_sandbox(home)
    try:
        allowed = con.execute("SELECT current_setting('allowed_paths')").fetchall()[0][0]
    finally:
        con.close()
        shutil.rmtree(temp, ignore_errors=True)
    assert str(home.resolve() / "warehouse.duckdb") in str(allowed)


#: Opens the sandbox outside pytest (under pytest DuckDB leaves its progress bar off anyway).
PROGRESS_BAR = """
import sys
from pathlib import Path
from warehouse import sandbox
con, temp = sandbox.open_sandbox(Path(sys.argv[1]))
print(con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0])
"""


def test_the_sandbox_draws_no_progress_bar(home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRESS_BAR, str(home)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert result.stdout.strip() == "False", result.stderr
