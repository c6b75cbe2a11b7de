"""Every option of every command, given hostile values, ends with exit 0 or 2 and no traceback.

The command tree is walked from the app itself (`typer.main.get_command`), so a command or
option added later is fuzzed without a change here. Each run is in-process (`run_main`, the
`gammalake` script's own `main`, so its one-line errors and exit codes are what a user gets),
in a fresh home. Commands that start servers or schedule work are left out (SKIPPED), and
spans that would start long jobs are capped (a demo's years, a backfill's dates).
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import typer
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gammalake.cli.app import app, main


@dataclass(frozen=True)
class Outcome:
    """How one in-process `gammalake` call ended."""

    code: int
    out: str
    err: str
    crash: str = ""  # the traceback of an exception that escaped `main`, else ""

    @property
    def text(self) -> str:
        """Return everything the user saw (and the escaped traceback, if any)."""
        return self.out + self.err + self.crash


def run_main(args: list[str], input: str | None = None, home: Path | None = None) -> Outcome:
    """Run `gammalake ARGS` in-process as the installed script does; return how it ended."""
    env: dict[str, str | None] = {"COLUMNS": "200", "NO_COLOR": "1", "GAMMALAKE_API_KEY": None}
    if home is not None:
        env["GAMMALAKE_HOME"] = str(home)
    runner = CliRunner()
    code, crash = 0, ""
    with runner.isolation(input=input, env=env) as (out, err, _):
        argv, sys.argv = sys.argv, ["gammalake", *args]
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # the point: anything escaping main is a finding
            code, crash = -1, traceback.format_exc()
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        return Outcome(code, _text(out), _text(err), crash)


def _text(stream: io.BytesIO) -> str:
    """Return a captured stream as text."""
    return stream.getvalue().decode("utf-8", "replace")


#: Commands that start servers or deployments, or wait for work: never run by a fuzzer.
SKIPPED = {"api", "mcp", "serve", "deploy", "worker"}
#: Commands that fetch from the network whatever their options (tests never do).
NETWORK = {("prices", "update")}
#: Options whose values are addresses to connect to (a Dask scheduler, a Prefect API): a
#: fuzzed value would open connections to whatever it names.
CONNECTING = {"--dask", "--prefect"}
#: Commands whose every example runs a job (a backfill, the demo): fewer examples.
HEAVY = {("demo",), ("backfill",), ("snapshot",)}
#: Exit 1 is documented for these (a finding, not an input error): doctor on an unhealthy
#: home, `rebuild --catalog-only` with a deferred catalog, a declined confirmation.
EXIT_1_ALLOWED = {"doctor", "rebuild", "quota", "forget"}

#: GAMMALAKE_FUZZ_SEARCH=N: N random examples per command (a search for new findings);
#: unset, the suite runs a small fixed set, the same on every run.
SEARCH = int(os.environ.get("GAMMALAKE_FUZZ_SEARCH", "0"))

#: Any text a shell can pass: everything but NUL (argv entries are C strings).
ARGV_TEXT = st.text(st.characters(blacklist_characters="\x00"), max_size=12)

HOSTILE = [
    "",
    " ",
    "-1",
    "0",
    "-5",
    "99999999999999999999",
    "1e308",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "20261120",
    "2026-11-20",
    "9999-12-31",
    "0001-01-01",
    "1900-01-01",
    "2026-02-30",
    "2026W47",
    "^SPX",
    "spy",
    "SPY,,QQQ",
    "ıwm",
    "ß",
    "💥",
    "a" * 300,
    "../../etc/passwd",
    "/nonexistent/file.csv",
    "--",
    "16:30",
    "25:99",
    "2026-11-20T16:15",
    "2026-11-20T16:15-05:00",
]


def commands() -> list[tuple[tuple[str, ...], click.Command]]:
    """Return every runnable command of the app with its path of names, servers left out."""
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(path: tuple[str, ...], command: click.Command) -> None:
        if isinstance(command, click.Group):
            for name, child in command.commands.items():
                walk((*path, name), child)
        elif path and path[0] not in SKIPPED and path not in NETWORK:
            found.append((path, command))

    walk((), typer.main.get_command(app))
    return found


COMMANDS = commands()


def options_of(command: click.Command) -> list[click.Option]:
    """Return the options of a command that take a value (flags are fuzzed by presence)."""
    return [
        p
        for p in command.params
        if isinstance(p, click.Option) and p.name != "help" and p.opts[-1] not in CONNECTING
    ]


def _value(option: click.Option, tmp: Path) -> st.SearchStrategy[list[str]]:
    """Return the argument lists a fuzzer gives one option: hostile text or special paths."""
    name = option.opts[-1]
    if option.is_flag:
        return st.just([name])
    paths = [str(tmp / "missing"), str(tmp), str(tmp / "file.txt")]
    text = st.sampled_from(HOSTILE + paths) | ARGV_TEXT
    return text.map(lambda v: [f"{name}={v}"])


def _argument(tmp: Path) -> st.SearchStrategy[str]:
    """Return the values a fuzzer gives a positional argument (a file, a query, a symbol)."""
    paths = [str(tmp / "missing"), str(tmp), str(tmp / "file.txt")]
    return st.sampled_from([v for v in HOSTILE if v != "--"] + paths) | ARGV_TEXT


def _capped(path: tuple[str, ...], args: list[str]) -> list[str]:
    """Return `args` with what would start a long job made small (demo years, backfill span)."""
    if path == ("demo",):
        return ["--years", "0.02", *args]
    if path in (("backfill",), ("snapshot",), ("prices", "synthetic")):
        return ["--symbols", "SPY", *args, "--start", "2024-03-04", "--end", "2024-03-05"]
    return args


def check(outcome: Outcome, path: tuple[str, ...], args: list[str]) -> None:
    """Assert the call ended as the CLI promises: 0 or 2 (1 where documented), no traceback."""
    shown = f"gammalake {' '.join(path)} {args!r} -> {outcome.code}\n{outcome.text[-3000:]}"
    assert not outcome.crash, shown
    assert "Traceback" not in outcome.text, shown
    allowed = {0, 2} | ({1} if path[0] in EXIT_1_ALLOWED else set())
    assert outcome.code in allowed, shown


@pytest.mark.slow
@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_hostile_option_values_never_crash(
    path: tuple[str, ...], command: click.Command, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "file.txt").write_text("not a chain\n")
    options = options_of(command)
    one = st.sampled_from(options).flatmap(lambda o: _value(o, tmp)) if options else st.just([])
    positional = [p for p in command.params if isinstance(p, click.Argument)]
    given_args = st.tuples(*(_argument(tmp) for _ in positional)).map(list)

    @settings(
        max_examples=SEARCH or (6 if path in HEAVY else 12),
        derandomize=not SEARCH,  # the suite's runs repeat; a search explores
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(one, min_size=1, max_size=2), given_args)
    def fuzz(picked: list[list[str]], values: list[str]) -> None:
        args = _capped(path, [a for option in picked for a in option]) + values
        home = Path(tmp_path_factory.mktemp("home"))
        check(run_main([*path, *args], home=home / "gl"), path, args)

    fuzz()
