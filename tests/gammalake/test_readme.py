"""Docs examples are real: every command and Python block of README.md and the site is run.

What counts as an example, and what is checked (the rules a README or docs writer can rely on):

- A command is a line of a fenced code block that starts with `$ gammalake `. It goes on over
  the next lines while a quote is open or the line ends with `\\`. Its shown output is the lines
  after it, up to the next `$ ` line or the end of the block; `...` lines (abridged) and
  `# comments` after two spaces are left out.
- A ```python block whose first line is `# file: NAME.py` is written into the working directory
  as NAME.py at that point of the page (so later commands and blocks can import it). Any other
  ```python block runs with the venv's python (`python -`, so the working directory is on
  `sys.path`), `GAMMALAKE_HOME` set, in the working directory; a ```text block right after it
  is its shown output, checked like a command's; it must exit 0.
- Everything runs in page order, in one shell (`bash -o pipefail -c`, so `| jq` and
  `> /dev/null` work as written), with the installed `gammalake` first on PATH, in a scratch
  working directory, and `GAMMALAKE_HOME` set to a copy of the README home (below).
- Exit code: the number a following `$ echo $?` line shows; else 2 when the shown output has a
  line starting with `error:`; else 1 when it ends with `run failed` or `run partial`; else 0.
- Figures: every number, date and time in the shown output must appear in the real output (stdout
  and stderr together): numbers within half a unit of their last shown decimal (so `4,697.24`
  matches 4697.2402, `-10.999B` matches `-10.999B`, `4175.0` matches 4175), dates and times as
  written. Words, table borders and anything with a `/` in it (paths, report names) are not
  compared.
- Outputs that describe the whole home rather than figures of it vary with the home and the
  day and are only run (exit code checked): `rebuild`, `doctor`, `quota`, and `sql` queries
  reading `runs` or counting rows (`count(`). A command line, or a Python block's first line,
  can say the same of itself with the marker `# output: varies`.
- Skipped, each with its reason in the test's report: a command line (or a Python block's
  first line) marked `# needs: WHAT` (e.g. `# needs: network`, `# needs: key`,
  `# needs: server`); the built-in rules of NEEDS below (the FlashAlpha sources need a key or a
  server; `--source chains` needs a chains folder the test does not make); and, when
  ../shared/refdata is absent, every example that names a reference file or reads what those
  files import (SPX, squeezemetrics).
- Other blocks (a settings file, a client's JSON config, a transcript of `make demo`) are
  shown, not run; a page says so next to them when their figures could drift.

The README home: SPY and QQQ from the synthetic market over four weeks of NYSE sessions,
2026-10-26 .. 2026-11-23 (`gammalake backfill` and `gammalake prices synthetic`), built once
per test session and copied for each page. Fixed dates, so its figures never change (the
synthetic market is a pure function of the date): write output from a home made the same way.
The working directory holds the reference files the examples name (`spx_quotedata.csv` is
`phammings-spx500-gamma/modules/spx_quotedata.csv`, `DIX.csv`, `^GSPC.csv`, and every refdata
folder by its own name) and two bad files made here: `bad.csv` (bars whose line 2 has its high
below its low) and `broken.csv` (a CBOE file whose line 5 has the strike `abc`); `tests/` is the
repository's own tests folder, so examples can name its fixtures (the fuzz corpus, vendor day
files) and Python blocks can import `tests.support`.

Pages of docs/ (docs/**/*.md) follow the same rules, each page on its own: every page with a
`$ gammalake ` line or a ```python block runs (in name order) in a fresh working directory
made as above and a fresh copy of the README home; a page without either is not run and costs
nothing. On a docs page every other `$ ` line is a step too (`$ cp tests/.../datashop_calcs.csv
Day.csv`, `$ rm Day.csv`), run in the same shell sequence and checked by the same rules (exit
code 0 unless shown otherwise), so a page can make the files its later examples read. Only
`$ echo $?` stays a question about the step before it. Drift is reported as
`docs/PAGE.md:LINE: command`. Every page under docs/ is in the site's nav (mkdocs.yml).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import REFDATA, REPO

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
README = REPO / "README.md"
DOCS = REPO / "docs"
#: The site's configuration: its nav lists every docs page.
MKDOCS = REPO / "mkdocs.yml"


def _runs(page: Path) -> bool:
    """Return whether a docs page has something to run (see the module docstring)."""
    text = f"\n{page.read_text()}"
    return "\n$ gammalake " in text or "\n```python" in text


#: The docs pages whose examples run (see the docstring).
DOC_PAGES = sorted(page for page in DOCS.rglob("*.md") if _runs(page))
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
    """One command or Python block of a page, what it shows and what it should exit with."""

    line: int
    command: str  # a shell command, or the source of a Python block
    shown: list[str] = field(default_factory=list)
    exit_code: int | None = None  # from a following `$ echo $?`
    kind: str = "shell"  # "shell", "python" (run it) or "file" (write it as `# file: NAME.py`)

    @property
    def expected_exit(self) -> int:
        """Return the exit code the page implies (see the module docstring)."""
        if self.exit_code is not None:
            return self.exit_code
        if any(line.startswith("error:") for line in self.shown):
            return 2
        if self.shown and self.shown[-1].strip() in ("run failed", "run partial"):
            return 1
        return 0

    @property
    def marker(self) -> dict[str, str]:
        """Return the `# needs: X` / `# output: varies` markers (a Python block's first line)."""
        text = self.command if self.kind == "shell" else self.command.split("\n", 1)[0]
        return dict(re.findall(r"#\s*(needs|output):\s*([\w-]+)", text))

    @property
    def file_name(self) -> str | None:
        """Return NAME.py of a `# file: NAME.py` block, else None."""
        found = re.match(r"#\s*file:\s*([\w.-]+\.py)\s*$", self.command.split("\n", 1)[0])
        return found.group(1) if found else None

    @property
    def title(self) -> str:
        """Return the first line, as drift and skip reports name the example."""
        first = self.command.splitlines()[0] if self.command else ""
        return first if self.kind == "shell" else f"```python {first}"


def examples(text: str, shell: bool = False) -> list[Example]:
    """Return the commands and Python blocks of a markdown text, in order.

    With `shell`, every `$ ` line but `$ echo $?` is an example (docs pages), not only
    `$ gammalake ` lines (README.md).
    """
    found: list[Example] = []
    fence: str | None = None  # the info string of the open block, None outside blocks
    python: Example | None = None  # the Python block being read
    output_of: Example | None = None  # a Python block whose ```text output may follow
    open_command: Example | None = None  # a command whose quote or backslash is still open
    showing: Example | None = None  # the example the next output lines belong to
    exit_of: Example | None = None  # the example a `$ echo $?` just asked about
    printed = False  # inside the ```text block of a Python block's output
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            printed = False
            if fence is None:
                fence = line[3:].strip()
                if fence == "python":
                    python = Example(number + 1, "", kind="python")
                elif fence == "text" and output_of is not None:
                    showing, printed = output_of, True
                output_of = None
            else:
                if python is not None:
                    python.kind = "file" if python.file_name else "python"
                    found.append(python)
                    output_of = python if python.kind == "python" else None
                fence, python, open_command, showing, exit_of = None, None, None, None, None
            continue
        if fence is None:
            if line.strip():
                output_of = None
            continue
        if python is not None:
            python.command = line if number == python.line else f"{python.command}\n{line}"
        elif open_command is not None:
            open_command.command += "\n" + line
            if _complete(open_command.command):
                open_command = None
        elif exit_of is not None:
            exit_of.exit_code = int(line.strip())
            exit_of = None
        elif line.startswith("$ ") and not printed:
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
        return f"needs: {example.marker['needs']} (marked on the page)"
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
    return example.marker.get("output") == "varies" or (
        example.kind == "shell" and any(re.search(p, example.command) for p in VARIES)
    )


def _reference_folders() -> list[Path]:
    return sorted(p for p in REFDATA.iterdir() if p.is_dir()) if REFDATA.is_dir() else []


def _environment(home: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GAMMALAKE_", "PREFECT_"))}
    environ.pop("FLASHALPHA_API_KEY", None)
    environ.pop("TTY_COMPATIBLE", None)
    environ.pop("FORCE_COLOR", None)
    # Prefect's own profiles (~/.prefect) could name a server; the docs show the machine without.
    prefect_home = str(home.parent / "prefect-home")
    path = f"{BIN}:{environ.get('PATH', '')}"
    return {**environ, "GAMMALAKE_HOME": str(home), "PREFECT_HOME": prefect_home, "PATH": path}


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
def readme_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the README home, built once per session; pages run on copies of it."""
    root = tmp_path_factory.mktemp("readme-home")
    work, home = _work(root), root / "home"
    span = f"--symbols {HOME_SYMBOLS} --start {HOME_START} --end {HOME_END}"
    for step in (f"gammalake backfill {span}", f"gammalake prices synthetic {span}"):
        made = _shell(step, work, home)
        assert made.returncode == 0, f"{step}\n{made.stdout}\n{made.stderr}"
    return home


def _world(root: Path, readme_home: Path) -> tuple[Path, Path]:
    """Return (working directory, home) made under root: a copy of the README home."""
    home = root / "home"
    shutil.copytree(readme_home, home, symlinks=True)
    return _work(root), home


def _work(root: Path) -> Path:
    """Return a working directory under root holding the files examples name (see above)."""
    work = root / "work"
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
    return work


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
    assert skip_reason(first, have_refdata=True) == "needs: network (marked on the page)"
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
        where = f"{name}:{example.line}: {example.title}"
        if example.kind == "file":
            (work / str(example.file_name)).write_text(example.command + "\n")
            continue
        reason = skip_reason(example, have_refdata)
        if reason:
            skipped.append(f"{where}\n    skipped: {reason}")
            continue
        result = _run(example, work, home)
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


def _run(example: Example, work: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run one command in the page's shell, or one Python block with the venv's python."""
    if example.kind == "shell":
        return _shell(example.command, work, home)
    return subprocess.run(
        [str(BIN / "python"), "-"],
        input=example.command + "\n",
        cwd=work,
        env=_environment(home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


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


def test_readme_examples_run_as_shown(readme_home: Path, tmp_path: Path):
    work, home = _world(tmp_path, readme_home)
    assert_ran_as_shown(
        "README", *run_examples("README.md", examples(README.read_text()), work, home)
    )


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_docs_examples_run_as_shown(page: Path, readme_home: Path, tmp_path: Path):
    work, home = _world(tmp_path, readme_home)
    found = examples(page.read_text(), shell=True)
    name = str(page.relative_to(REPO))
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
        if example.kind != "shell":
            continue
        for word in shlex.split(example.command, comments=True)[1:]:
            if not word.endswith(".csv") or word in provided:
                continue
            if word.split("/")[0] not in folders and not (REPO / word).is_file():
                unknown.add(word)
    assert not unknown, f"README examples name files the test does not provide: {unknown}"


def test_python_blocks_are_files_or_runs_with_their_shown_output(tmp_path: Path):
    """`# file: NAME.py` is written where it stands; another block runs and its ```text shows."""
    text = "\n".join(
        [
            "```python",
            "# file: mine.py",
            "VALUE = 4697.2402",
            "```",
            "",
            "```python",
            "import mine",
            "print(f'spot {mine.VALUE:,.2f}')",
            "```",
            "",
            "```text",
            "spot 4,697.24",
            "$ not a command",
            "```",
            "```python",
            "# needs: network",
            "import httpx",
            "```",
            "Prose ends a block's output.",
            "```text",
            "$ gammalake sql 'SELECT 1'",
            "```",
        ]
    )
    written, run, skipped, command = examples(text)
    assert (written.kind, written.file_name, written.command) == (
        "file",
        "mine.py",
        "# file: mine.py\nVALUE = 4697.2402",
    )
    assert (run.kind, run.line, run.shown) == ("python", 7, ["spot 4,697.24", "$ not a command"])
    assert skipped.kind == "python" and skipped.shown == []
    assert skip_reason(skipped, have_refdata=True) == "needs: network (marked on the page)"
    assert (command.kind, command.command) == ("shell", "gammalake sql 'SELECT 1'")
    work = tmp_path / "work"
    work.mkdir()
    run.shown = ["spot 4,697.24"]
    assert run_examples("page.md", [written, run, skipped], work, tmp_path / "home")[::2] == ([], 1)
    assert (work / "mine.py").read_text() == "# file: mine.py\nVALUE = 4697.2402\n"
    run.shown = ["spot 4,697.25"]
    drift, _, _ = run_examples("page.md", [run], work, tmp_path / "home")
    assert len(drift) == 1 and drift[0].startswith("page.md:7: ```python import mine")
    failing = Example(3, "raise SystemExit(3)", kind="python")
    drift, _, _ = run_examples("page.md", [failing], work, tmp_path / "home")
    assert len(drift) == 1 and "exit 3" in drift[0]


def _nav_pages(entries: object) -> set[str]:
    """Return every page path of a mkdocs nav (nested lists and single-key dicts)."""
    if isinstance(entries, str):
        return {entries}
    if isinstance(entries, list):
        return set().union(*(_nav_pages(entry) for entry in entries)) if entries else set()
    if isinstance(entries, dict):
        return set().union(*(_nav_pages(value) for value in entries.values()))
    return set()


def test_every_docs_page_is_in_the_site_nav():
    """A page under docs/ that the nav misses is built but unreachable: list it in mkdocs.yml."""
    nav = _nav_pages(yaml.safe_load(MKDOCS.read_text())["nav"])
    pages = {str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md")}
    assert pages - nav == set(), f"docs pages missing from the nav of mkdocs.yml: {pages - nav}"
    assert nav - pages == set(), f"nav entries of mkdocs.yml with no page: {nav - pages}"


def test_the_cli_reference_is_generated_from_the_app_with_every_command():
    """docs/cli.md's directive becomes every command's section, as page markdown (no HTML)."""
    import importlib.util

    import typer.main

    from gammalake.cli.app import app

    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "hooks/cli_reference.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = (DOCS / "cli.md").read_text()
    assert "::: mkdocs-typer2" in page
    rendered = hook.on_page_markdown(page)
    assert "::: mkdocs-typer2" not in rendered and "<div" not in rendered
    headings = set(re.findall(r"^#{2,6} (\S+)$", rendered, flags=re.MULTILINE))
    commands = typer.main.get_command(app).commands
    assert set(commands) <= headings, f"commands missing: {set(commands) - headings}"
    assert "`gammalake sql [OPTIONS] [QUERY]`" in rendered
