"""CLI habits: --home/--config after the command, --version, -h, completion, progress bars."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from pipeline.errors import InputError
from tests.backtest.conftest import sessions, write_history

BIN = Path(sys.executable).with_name("gammalake")


def hoist_global_options(args: list[str]) -> list[str]:
    """Call the CLI's option hoisting (imported late: old code fails each test, not collection)."""
    from gammalake.cli.options import hoist_global_options as hoist

    return hoist(args)


def run(*args: str, home: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `gammalake ARGS` with GAMMALAKE_HOME set to `home` (or unset)."""
    environ = {k: v for k, v in os.environ.items() if k != "GAMMALAKE_HOME"}
    if home is not None:
        environ["GAMMALAKE_HOME"] = str(home)
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=600, env={**environ, **env}
    )


def bars_csv(path: Path) -> Path:
    """Write three daily bars in the generic CSV layout and return the file."""
    path.write_text(
        "date,open,high,low,close\n"
        "2024-03-11,100,101,99,100.5\n"
        "2024-03-12,100.5,102,100,101.5\n"
        "2024-03-13,101.5,102,100.5,101\n"
    )
    return path


# --- --home and --config after the command name -------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["sql", "--home", "H", "SELECT 1"], ["--home", "H", "sql", "SELECT 1"]),
        (["sql", "--home=H", "SELECT 1"], ["--home", "H", "sql", "SELECT 1"]),
        (
            ["prices", "import", "F", "--symbol", "SPY", "--home", "H"],
            ["--home", "H", "prices", "import", "F", "--symbol", "SPY"],
        ),
        (
            ["--home", "H", "chain", "F", "--config", "C.toml"],
            ["--home", "H", "--config", "C.toml", "chain", "F"],
        ),
        (["--home", "H", "sql", "--home", "H/", "x"], ["--home", "H", "--home", "H/", "sql", "x"]),
        # after a `--` separator it is an argument, not an option
        (["sql", "--", "--home", "H"], ["sql", "--", "--home", "H"]),
        # no command at all: nothing to move
        (["--home", "H"], ["--home", "H"]),
        (["--version"], ["--version"]),
    ],
)
def test_hoist_moves_home_and_config_in_front_of_the_command(args, expected):
    assert hoist_global_options(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["--home", "A", "sql", "--home", "B", "SELECT 1"],
        ["--home=A", "sql", "--home=B"],
        ["sql", "--home", "A", "--home", "B"],
        ["--config", "a.toml", "doctor", "--config=b.toml"],
    ],
)
def test_hoist_refuses_two_different_values(args):
    with pytest.raises(InputError, match="different values"):
        hoist_global_options(args)


def test_hoist_refuses_a_trailing_option_without_value():
    with pytest.raises(InputError, match="--home needs a value"):
        hoist_global_options(["sql", "SELECT 1", "--home"])


def test_home_after_the_command_is_the_home_used(tmp_path):
    elsewhere, wanted = tmp_path / "env-home", tmp_path / "wanted"
    result = run(
        "prices",
        "import",
        str(bars_csv(tmp_path / "bars.csv")),
        "--symbol",
        "SPY",
        "--home",
        str(wanted),
        home=elsewhere,
    )
    assert result.returncode == 0, result.stderr
    assert "imported SPY bars" in result.stdout
    assert (wanted / "lake" / "prices").is_dir()
    assert not (elsewhere / "lake").exists()
    # and `sql` reads it from there, `--home=DIR` spelling after the command
    query = run("sql", f"--home={wanted}", "SELECT count(*) AS n FROM prices", home=elsewhere)
    assert query.returncode == 0, query.stderr
    assert " 3 " in query.stdout


def test_home_given_twice_with_different_values_is_one_line_and_exit_2(tmp_path):
    result = run("--home", str(tmp_path / "a"), "sql", "--home", str(tmp_path / "b"), "SELECT 1")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: --home is given before and after the command")
    assert str(tmp_path / "a") in lines[0] and str(tmp_path / "b") in lines[0]


def test_the_same_home_before_and_after_is_fine(tmp_path):
    result = run("--home", str(tmp_path), "sql", "--home", f"{tmp_path}/", "SELECT 42 AS answer")
    assert result.returncode == 0, result.stderr
    assert "42" in result.stdout


def test_config_after_the_command_reaches_the_settings(tmp_path):
    missing = tmp_path / "nowhere.toml"
    result = run("prices", "update", "--config", str(missing), home=tmp_path / "home")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {missing}: no such settings file"


# --- --version, -h, completion -------------------------------------------------------------


def test_version():
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"gammalake {version('gammalake')}\n"


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["-h"], "Usage: gammalake [OPTIONS] COMMAND"),
        (["sql", "-h"], "Usage: gammalake sql [OPTIONS] [QUERY]"),
        (["prices", "-h"], "Usage: gammalake prices [OPTIONS] COMMAND"),
        (["prices", "import", "-h"], "Usage: gammalake prices import [OPTIONS] FILE"),
        (["backtest", "-h"], "Usage: gammalake backtest [OPTIONS]"),
    ],
)
def test_dash_h_is_help_everywhere(args, usage):
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert usage in result.stdout
    assert result.stdout == run(*args[:-1], "--help").stdout


def test_completion_script_and_completions():
    script = run("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert script.returncode == 0, script.stderr
    assert "_GAMMALAKE_COMPLETE=complete_bash" in script.stdout
    # what bash asks for when the user presses tab after `gammalake prices `
    words = run(_GAMMALAKE_COMPLETE="complete_bash", COMP_WORDS="gammalake prices ", COMP_CWORD="2")
    assert words.returncode == 0, words.stderr
    assert words.stdout.split() == ["import", "update", "synthetic"]


# --- progress of backtests and studies ------------------------------------------------------


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[date]]:
    """Return a hand-made lake of 120 sessions of two symbols, with flips and walls."""
    home = tmp_path_factory.mktemp("habits")
    days = sessions(120)
    for seed, symbol in enumerate(("ABC", "XYZ")):
        rng = np.random.default_rng(seed)
        close = 50 * np.exp(np.cumsum(rng.normal(0.0, 0.012, len(days))))
        flip = close * (1 + 0.03 * np.sin(np.arange(len(days)) / 7))
        write_history(
            home,
            days,
            {k: close.tolist() for k in ("open", "high", "low", "close")},
            {
                "underlying_price": close.tolist(),
                "gamma_flip": flip.tolist(),
                "call_wall": (close * 1.02).tolist(),
                "put_wall": (close * 0.98).tolist(),
                "net_gex": rng.normal(0, 1e8, len(days)).tolist(),
            },
            symbol=symbol,
        )
    return home, days


class Heard:
    """A progress hook that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, task: str, done: int, total: int) -> None:
        self.calls.append((task, done, total))

    def of(self, task: str) -> list[tuple[int, int]]:
        return [(d, t) for name, d, t in self.calls if name == task]


@pytest.mark.slow
def test_backtest_reports_grid_windows_and_symbols(lake):
    from backtest.run import Request, run_backtest

    home, days = lake
    heard = Heard()
    request = Request(
        "regime",
        ["ABC", "XYZ"],
        days[0],
        days[-1],
        "vendor",
        grid="band=0,0.5;short=0,1",
        train=40,
        test=20,
    )
    result = run_backtest(home, request, progress=heard)
    windows = len(result["symbols"]["ABC"]["walk_forward"])
    assert windows == 4  # 120 sessions: train 40, then four test windows of 20
    for symbol in ("ABC", "XYZ"):
        # one step per configuration's signals, one for the vectorbt pass over all four
        assert heard.of(f"{symbol} grid") == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
        assert heard.of(f"{symbol} walk-forward") == [(n, windows) for n in range(1, windows + 1)]
    assert heard.of("symbols") == [(1, 2), (2, 2)]
    # without a hook the figures are the same
    assert (
        run_backtest(home, request)["symbols"]["ABC"]["stats"] == result["symbols"]["ABC"]["stats"]
    )


def test_study_reports_each_symbol(lake):
    from backtest.study import run_study

    home, days = lake
    heard = Heard()
    run_study(home, ["ABC", "XYZ"], days[0], days[-1], method="vendor", progress=heard)
    assert heard.calls == [("symbols", 1, 2), ("symbols", 2, 2)]


def test_the_bar_draws_on_a_terminal_and_nothing_off_one():
    from gammalake.cli.research import progress_bar

    def drive(console: Console) -> str:
        with progress_bar("backtest regime", 2, console=console) as hook:
            for symbol in ("ABC", "XYZ"):
                for step in range(1, 6):
                    hook(f"{symbol} grid", step, 5)
                hook("symbols", 1 if symbol == "ABC" else 2, 2)
        return console.file.getvalue()

    shown = drive(Console(file=io.StringIO(), force_terminal=True, width=100))
    assert "backtest regime" in shown and "2/2" in shown
    assert drive(Console(file=io.StringIO(), force_terminal=False)) == ""


@pytest.mark.slow
def test_the_cli_draws_the_bar_on_stderr_of_a_terminal(lake, tmp_path):
    """TTY_COMPATIBLE=1 makes rich treat the pipes as a terminal, as a user's shell would be."""
    home, _ = lake
    result = run(
        "backtest",
        "--home",
        str(home),
        "--strategy",
        "regime",
        "--symbols",
        "ABC",
        "--grid",
        "band=0,0.5",
        "--train",
        "40",
        "--test",
        "20",
        "--out",
        str(tmp_path / "r"),
        TTY_COMPATIBLE="1",
    )
    assert result.returncode == 0, result.stderr
    assert "backtest regime" in result.stderr and "1/1" in result.stderr
    assert "━" in result.stderr
    assert "backtest regime" not in result.stdout  # the tables alone on stdout
