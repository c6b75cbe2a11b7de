"""Docs examples are real: every `$ gammalake ...` line of README.md and docs/*.md is run.

What counts as an example, and what is checked (the rules a README writer can rely on):

- An example is a line of a fenced code block that starts with `$ gammalake `. It goes on over
  the next lines while a quote is open or the line ends with `\\`. Its shown output is the lines
  after it, up to the next `$ ` line or the end of the block; `...` lines (abridged) and
  `# comments` after two spaces are left out.
- It runs in README order, in one shell (`bash -o pipefail -c`, so `| jq` and `> /dev/null`
  work as written), with the installed `gammalake` first on PATH, in a scratch working
  directory, and `GAMMALAKE_HOME` set to the README home built once per session (below).
- Exit code: the number a following `$ echo $?` line shows; else 2 when the shown output has a
  line starting with `error:`; else 1 when it ends with `run failed` or `run partial`; else 0.
- Figures: every number, date and time in the shown output must appear in the real output (stdout
  and stderr together): numbers within half a unit of their last shown decimal (so `4,697.24`
  matches 4697.2402, `-10.999B` matches `-10.999B`, `4175.0` matches 4175), dates and times as
  written. Words, table borders and anything with a `/` in it (paths, report names) are not
  compared.
- Outputs that describe the whole home rather than figures of it vary with the home and the
  day and are only run (exit code checked): `rebuild`, `doctor`, `quota`, and `sql` queries
  reading `runs` or counting rows (`count(`). A README line can say the same of itself with the
  marker `# output: varies`.
- Skipped, each with its reason in the test's report: a line marked `# needs: WHAT` (e.g.
  `# needs: network`, `# needs: key`); until the README carries such markers, the built-in rules
  of NEEDS below (the FlashAlpha sources need a key or a server; `--source chains` needs a
  chains folder the test does not make); and, when ../shared/refdata is absent, every example
  that names a reference file or reads what those files import (SPX, squeezemetrics).

The README home: SPY and QQQ from the synthetic market over four weeks of NYSE sessions,
2026-10-26 .. 2026-11-23 (`gammalake backfill` and `gammalake prices synthetic`). Fixed dates,
so its figures never change (the synthetic market is a pure function of the date): write README
output from a home made the same way. The working directory holds the reference files the
examples name (`spx_quotedata.csv` is `phammings-spx500-gamma/modules/spx_quotedata.csv`,
`DIX.csv`, `^GSPC.csv`, and every refdata folder by its own name) and two bad files made here:
`bad.csv` (bars whose line 2 has its high below its low) and `broken.csv` (a CBOE file whose
line 5 has the strike `abc`); `tests/` is the repository's own tests folder, so examples can name
its fixtures (the fuzz corpus, vendor day files).

Pages of docs/ follow the same rules, each page on its own: every page with a `$ gammalake `
line runs (in name order) in a fresh working directory made as above and a fresh README home
built for it alone; a page without one is not run and costs nothing. On a docs page every other
`$ ` line is a step too (`$ cp tests/.../datashop_calcs.csv Day.csv`, `$ rm Day.csv`), run in
the same shell sequence and checked by the same rules (exit code 0 unless shown otherwise), so
a page can make the files its later examples read. Only `$ echo $?` stays a question about the
step before it. Drift is reported as `docs/PAGE.md:LINE: command`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REFDATA, REPO

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
README = REPO / "README.md"
#: The docs pages whose examples run (each needs a `$ gammalake ` line; see the docstring).
DOC_PAGES = sorted(
    page for page in (REPO / "docs").glob("*.md") if "\n$ gammalake " in f"\n{page.read_text()}"
)
#: The README home: symbols and the fixed span of sessions (see the module docstring).
HOME_SYMBOLS, HOME_START, HOME_END = "SPY,QQQ", "2026-10-26", "2026-11-23"
#: Files the examples name, in the working directory, from ../shared/refdata.
REFERENCE_FILES = {
    "spx_quotedata.csv": "phammings-spx500-gamma/modules/spx_quotedata.csv",
    "DIX.csv": "squeezemetrics-dix-caribbel/DIX.csv",
    "^GSPC.csv": "fja05680-gspc-daily/^GSPC.csv",
}
#: Built-in skip rules, until the README marks such lines `# needs: ...`: (pattern, reason).
NEEDS = [
    (
        r"--source flashalpha",
        "network: the FlashAlpha API needs FLASHALPHA_API_KEY (or the local test server)",
    ),
    (r"--source chains", "a chains folder (settings chains_dir) with the files it describes"),
]
#: Outputs that describe the whole home (counts, runs, health, the request ledger).
VARIES = [r"^gammalake (rebuild|doctor|quota)\b", r"\bFROM runs\b", r"count\("]
#: What reads data the reference files import (skipped with them when refdata is absent).
FROM_REFERENCE = r"\bSPX\b|squeezemetrics"
TIMEOUT = 600


class ReadmeExampleSkipped(UserWarning):
    """README examples that were not run, with the reason of each."""


@dataclass
class Example:
    """One `$ gammalake ...` line of the README, what it shows and what it should exit with."""

    line: int
    command: str
    shown: list[str] = field(default_factory=list)
    exit_code: int | None = None  # from a following `$ echo $?`

    @property
    def expected_exit(self) -> int:
        """Return the exit code the README implies (see the module docstring)."""
        if self.exit_code is not None:
            return self.exit_code
        if any(line.startswith("error:") for line in self.shown):
            return 2
        if self.shown and self.shown[-1].strip() in ("run failed", "run partial"):
            return 1
        return 0

    @property
    def marker(self) -> dict[str, str]:
        """Return the `# needs: X` / `# output: varies` markers of the command line."""
        return dict(re.findall(r"#\s*(needs|output):\s*([\w-]+)", self.command))


def examples(text: str, shell: bool = False) -> list[Example]:
    """Return the console examples of a markdown text, in order.

    With `shell`, every `$ ` line but `$ echo $?` is an example (docs pages), not only
    `$ gammalake ` lines (README.md).
    """
    found: list[Example] = []
    in_block = False
    open_command: Example | None = None  # a command whose quote or backslash is still open
    showing: Example | None = None  # the example the next output lines belong to
    exit_of: Example | None = None  # the example a `$ echo $?` just asked about
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            in_block, open_command, showing, exit_of = not in_block, None, None, None
        elif not in_block:
            continue
        elif open_command is not None:
            open_command.command += "\n" + line
            if _complete(open_command.command):
                open_command = None
        elif exit_of is not None:
            exit_of.exit_code = int(line.strip())
            exit_of = None
        elif line.startswith("$ "):
            exit_of = showing if line.strip() == "$ echo $?" else None
            showing = None
            if line.startswith("$ gammalake ") or (shell and line.strip() != "$ echo $?"):
                showing = Example(number, line[2:])
                found.append(showing)
                open_command = None if _complete(showing.command) else showing
        elif showing is not None:
            shown = re.sub(r"\s{2,}#.*$", "", line)
            if shown.strip() != "...":
                showing.shown.append(shown)
    return found


def _complete(command: str) -> bool:
    """Return whether a command is whole: quotes closed and no trailing backslash."""
    if command.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:  # "No closing quotation"
        return False
    return True


_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[+-]\d{2}:?\d{2}|Z)?)?"
)
_NUMBER = re.compile(
    r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?([BMKT%]?)(?![\w.])"
)


def figures(text: str) -> tuple[set[str], list[tuple[float, int, str]]]:
    """Return the dates/times and the numbers (value, decimals shown, unit suffix) of a text."""
    text = "\n".join(
        " ".join(word for word in line.split() if "/" not in word) for line in text.splitlines()
    )
    text = text.replace("\u2212", "-")  # a typographic minus
    moments = set(_MOMENT.findall(text))
    numbers = []
    for match in _NUMBER.finditer(_MOMENT.sub(" ", text)):
        digits = match.group(0)[: len(match.group(0)) - len(match.group(1))].replace(",", "")
        mantissa = re.split(r"[eE]", digits)[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        numbers.append((float(digits), decimals, match.group(1)))
    return moments, numbers


def missing_figures(shown: list[str], real: str) -> list[str]:
    """Return the figures of the shown output that the real output does not hold."""
    want_moments, want_numbers = figures("\n".join(shown))
    have_moments, have_numbers = figures(real)
    missing = sorted(want_moments - have_moments)
    for value, decimals, unit in want_numbers:
        near = 0.5 * 10**-decimals + 1e-9 * abs(value)
        if not any(u == unit and abs(v - value) <= near for v, _, u in have_numbers):
            missing.append(f"{value:.{decimals}f}{unit}")
    return list(dict.fromkeys(missing))


def skip_reason(example: Example, have_refdata: bool) -> str | None:
    """Return why an example is not run, or None (see the module docstring)."""
    if "needs" in example.marker:
        return f"needs: {example.marker['needs']} (marked in the README)"
    for pattern, reason in NEEDS:
        if re.search(pattern, example.command):
            return f"needs {reason}"
    if not have_refdata:
        names = [*REFERENCE_FILES, *(p.name for p in _reference_folders())]
        if any(name in example.command for name in names) or re.search(
            FROM_REFERENCE, example.command
        ):
            return f"needs the reference data at {REFDATA} (absent)"
    return None


def varies(example: Example) -> bool:
    """Return whether an example's output describes the whole home (not compared)."""
    return example.marker.get("output") == "varies" or any(
        re.search(p, example.command) for p in VARIES
    )


def _reference_folders() -> list[Path]:
    return sorted(p for p in REFDATA.iterdir() if p.is_dir()) if REFDATA.is_dir() else []


def _environment(home: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GAMMALAKE_", "PREFECT_"))}
    environ.pop("FLASHALPHA_API_KEY", None)
    environ.pop("TTY_COMPATIBLE", None)
    environ.pop("FORCE_COLOR", None)
    return {**environ, "GAMMALAKE_HOME": str(home), "PATH": f"{BIN}:{environ.get('PATH', '')}"}


def _shell(command: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=cwd,
        env=_environment(home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture(scope="session")
def readme_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (working directory, home): the README home and the files the examples name."""
    return _world(tmp_path_factory.mktemp("readme"))


def _world(root: Path) -> tuple[Path, Path]:
    """Return (working directory, home) made under root (see the module docstring)."""
    work, home = root / "work", root / "home"
    work.mkdir()
    for folder in _reference_folders():
        (work / folder.name).symlink_to(folder)
    # Examples may name the repo's own test files (fuzz corpus, vendor fixtures) as `tests/...`.
    (work / "tests").symlink_to(REPO / "tests")
    for name, source in REFERENCE_FILES.items():
        if (REFDATA / source).is_file():
            (work / name).symlink_to(REFDATA / source)
    (work / "bad.csv").write_text(
        "date,open,high,low,close\n2024-03-11,100,99,101,100\n2024-03-12,100,101,99,100\n"
    )
    (work / "broken.csv").write_text(
        '\nSPY,Last: 470\n"Date: January 5, 2024 at 4:15 PM EST"\n'
        "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,"
        "Open Interest,Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,"
        "Open Interest\nFri Jan 19 2024,X,1,0,1,1,0,0.1,0.5,0.01,10,abc,Y,1,0,1,1,0,"
        "0.1,-0.5,0.01,10\n"
    )
    span = f"--symbols {HOME_SYMBOLS} --start {HOME_START} --end {HOME_END}"
    for step in (f"gammalake backfill {span}", f"gammalake prices synthetic {span}"):
        made = _shell(step, work, home)
        assert made.returncode == 0, f"{step}\n{made.stdout}\n{made.stderr}"
    return work, home


def test_the_parser_reads_commands_outputs_and_exit_codes():
    text = "\n".join(
        [
            "```",
            '$ gammalake sql "SELECT 1,',
            '                 2"  # needs: network',
            " a ┃ b",
            " 1 │ 2",
            "...",
            "$ gammalake chain broken.csv",
            "error: broken.csv, line 5",
            "$ echo $?",
            "2",
            "$ gammalake backtest --strategy x \\",
            "    --symbols SPY",
            "run failed",
            "$ find x",
            "found",
            "```",
            "$ gammalake not-in-a-block",
        ]
    )
    first, second, third = examples(text)
    assert first.command == 'gammalake sql "SELECT 1,\n                 2"  # needs: network'
    assert first.shown == [" a ┃ b", " 1 │ 2"] and first.expected_exit == 0
    assert first.marker == {"needs": "network"}
    assert skip_reason(first, have_refdata=True) == "needs: network (marked in the README)"
    assert (second.command, second.shown, second.expected_exit) == (
        "gammalake chain broken.csv",
        ["error: broken.csv, line 5"],
        2,
    )
    assert third.command.endswith("--symbols SPY") and third.expected_exit == 1


def test_figures_match_at_the_shown_precision():
    real = "│ spot │ 4,697.2402 │\n net GEX -10.999B\n 4175\nas_of 2024-01-07T10:52:00-05:00"
    assert missing_figures(["4,697.24  -10.999B  4175.0  2024-01-07T10:52:00-05:00"], real) == []
    assert missing_figures(["4,697.25 -11.000B 2024-01-08 run 4a0b3ba2"], real) == [
        "2024-01-08",
        "4697.25",
        "-11.000B",
    ]
    assert missing_figures(["report: /home/me/reports/study-20261128-033047.html"], real) == []


def run_examples(
    name: str, found: list[Example], work: Path, home: Path
) -> tuple[list[str], list[str], int]:
    """Return (drift, skipped, how many ran) of a page's examples run in order in work and home."""
    have_refdata = REFDATA.is_dir()
    drift, skipped, ran = [], [], 0
    for example in found:
        where = f"{name}:{example.line}: {example.command.splitlines()[0]}"
        reason = skip_reason(example, have_refdata)
        if reason:
            skipped.append(f"{where}\n    skipped: {reason}")
            continue
        result = _shell(example.command, work, home)
        ran += 1
        real = result.stdout + result.stderr
        problems = []
        if result.returncode != example.expected_exit:
            problems.append(f"exit {result.returncode}, {name} implies {example.expected_exit}")
        if not varies(example):
            missing = missing_figures(example.shown, real)
            if missing:
                problems.append(f"figures not in the real output: {', '.join(missing)}")
        if problems:
            output = "\n".join(f"      | {line}" for line in real.rstrip().splitlines()[-40:])
            drift.append(
                f"{where}\n    " + "\n    ".join(problems) + f"\n    real output:\n{output}"
            )
    return drift, skipped, ran


def assert_ran_as_shown(name: str, drift: list[str], skipped: list[str], ran: int) -> None:
    """Fail naming every drifted example of a page; warn with the skipped ones."""
    report = "\n".join(skipped)
    if skipped:  # listed in pytest's warnings summary, also when every example that ran is fine
        warnings.warn(ReadmeExampleSkipped(f"{len(skipped)} skipped:\n{report}"), stacklevel=2)
    assert ran, f"no {name} example ran:\n{report}"
    assert not drift, (
        f"{len(drift)} of {ran} {name} examples drifted from what the code does:\n\n"
        + "\n\n".join(drift)
        + f"\n\nskipped:\n{report}"
    )


def test_readme_examples_run_as_shown(readme_world):
    work, home = readme_world
    assert_ran_as_shown(
        "README", *run_examples("README.md", examples(README.read_text()), work, home)
    )


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda page: page.name)
def test_docs_examples_run_as_shown(page: Path, tmp_path: Path):
    work, home = _world(tmp_path)
    found = examples(page.read_text(), shell=True)
    name = f"docs/{page.name}"
    assert_ran_as_shown(name, *run_examples(name, found, work, home))


def test_docs_pages_run_their_shell_steps_in_order(tmp_path: Path):
    """A docs page's `$ cp` makes the file its next example reads; README lines stay gammalake."""
    text = "```\n$ printf 'a 7' > made.txt\n$ cat made.txt\na 7\n$ false\n$ echo $?\n1\n```\n"
    assert examples(text) == []
    made, shown, failed = examples(text, shell=True)
    assert (made.command, shown.shown, failed.expected_exit) == (
        "printf 'a 7' > made.txt",
        ["a 7"],
        1,
    )
    work = tmp_path / "work"
    work.mkdir()
    assert run_examples("page.md", [made, shown, failed], work, tmp_path / "home")[::2] == ([], 3)
    wrong = Example(9, "cat made.txt", ["a 8"])
    drift, _, _ = run_examples("page.md", [wrong], work, tmp_path / "home")
    assert len(drift) == 1 and drift[0].startswith("page.md:9: cat made.txt") and "8" in drift[0]


def test_every_file_an_example_names_is_provided():
    """Each `.csv` an example names is made here or comes from ../shared/refdata."""
    if not REFDATA.is_dir():
        pytest.skip(f"reference data not found at {REFDATA}")
    folders = {p.name for p in _reference_folders()}
    provided = {*REFERENCE_FILES, "bad.csv", "broken.csv"}
    unknown = set()
    for example in examples(README.read_text()):
        for word in shlex.split(example.command, comments=True)[1:]:
            if not word.endswith(".csv") or word in provided:
                continue
            if word.split("/")[0] not in folders and not (REPO / word).is_file():
                unknown.add(word)
    assert not unknown, f"README examples name files the test does not provide: {unknown}"
