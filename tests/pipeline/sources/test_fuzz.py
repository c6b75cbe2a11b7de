"""Bad input of every kind: one clear line naming the file, never a traceback or a bad result.

The corpus (fuzz/, listed in fuzz/README.md with what must become of each file) keeps the cases
found so far: chain files and Cboe feed replies are read, checked by the firewall and priced,
and must end either refused in one line containing the fragment given, or with finite figures
of the class given; `gammalake chain` runs on every chain file too. Hypothesis mutates
real-looking CBOE and generic files further, and every chain that still reads must be one the
engine can trust.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gammalake.cli.chain import ChainOptions, load_snapshot
from pipeline.chain import Chain, duplicate_contracts
from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.errors import InputError
from pipeline.firewall import RejectedError, check_chain, check_contents, check_finite_payloads
from pipeline.normalize import PayloadError, snapshot_rows
from pipeline.sources.chains import read_chain
from pipeline.sources.dix import read_dix
from pipeline.sources.formats.cboe_json import parse_feed
from pipeline.sources.prices import read_bars

FUZZ = Path(__file__).parent / "fuzz"
#: Every way a corpus file may be refused: one line naming it.
REFUSALS = (InputError, RejectedError, PayloadError)
#: Smallest corpus sizes (gammalake issue 20: 225 chain files, 56 hostile feed replies).
MIN_CHAIN_FILES, MIN_REPLIES = 225, 56


def manifest() -> list[tuple[str, str, str, str]]:
    """Return (folder, file, outcome, detail) for every row of fuzz/README.md's tables.

    outcome is "refused" (detail: a fragment of the error) or "stored" (detail: net_gex>0,
    net_gex<0 or net_gex=0).
    """
    rows, folder = [], ""
    for line in (FUZZ / "README.md").read_text().splitlines():
        if line.startswith("## "):
            folder = "" if line.startswith("## top level") else line.split()[1]
        found = re.match(r"\| `([^`]+)` \| .* \| `(refused|stored): (.+)` \|$", line)
        if found:
            rows.append((folder, found[1], found[2], found[3]))
    return rows


CORPUS = manifest()
CHAIN_FILES = [(name, outcome, detail) for folder, name, outcome, detail in CORPUS if folder == ""]
REPLIES = [
    (name, outcome, detail) for folder, name, outcome, detail in CORPUS if folder == "replies"
]
OTHERS = [c for c in CORPUS if c[0] not in {"", "replies"}]
READERS = {"bars": lambda path: read_bars(path, "SPY"), "dix": read_dix}


def test_the_manifest_lists_every_corpus_file_and_nothing_else():
    listed = {str(Path(folder) / name) for folder, name, _, _ in CORPUS}
    present = {
        str(p.relative_to(FUZZ))
        for p in FUZZ.rglob("*")
        if p.is_file()
        and p.suffix != ".py"
        and p.name != "README.md"
        and "__pycache__" not in p.parts
    }
    assert listed == present


def test_the_corpus_holds_the_attack_s_sizes():
    assert len(CHAIN_FILES) >= MIN_CHAIN_FILES
    assert len(REPLIES) >= MIN_REPLIES
    # Every class of the attack is represented, refused and valid-but-odd alike.
    names = " ".join(name for name, _, _ in CHAIN_FILES + REPLIES)
    for word in ("spot_1e300", "padded", "foreign", "utf16", "chars", "bom", "crlf", "calls_only"):
        assert word in names, word
    assert sum(1 for _, outcome, _ in CHAIN_FILES if outcome == "stored") >= 40


def figures_class(payloads: dict[str, Any]) -> str:
    """Return the class of a snapshot's figures: the sign of its net GEX."""
    net = payloads["gex"]["net_gex"]
    return "net_gex>0" if net > 0 else "net_gex<0" if net < 0 else "net_gex=0"


def stored_rows(chain: Chain, payloads: dict[str, Any]) -> dict[str, pl.DataFrame]:
    """Return the warehouse rows the flow would write (normalise checks every number)."""
    check_finite_payloads(payloads, chain.origin)
    return snapshot_rows(payloads, source="chains", method="default@test", raw_ref=None)


def assert_outcome(path: Path, outcome: str, detail: str, run: Callable[[], str]) -> None:
    """Assert that `run` (returning the figures class) ends as the manifest says."""
    if outcome == "stored":
        assert run() == detail
        return
    with pytest.raises(REFUSALS) as err:
        run()
    message = str(err.value)
    assert str(path) in message, message
    assert "\n" not in message and len(message) < 600, message
    assert detail in message, message


@pytest.mark.parametrize(
    ("name", "outcome", "detail"), CHAIN_FILES, ids=[c[0] for c in CHAIN_FILES]
)
def test_every_chain_file_is_stored_or_refused_in_one_line(name, outcome, detail):
    path = FUZZ / name

    def run() -> str:
        chain, snapshot = load_snapshot(path, ChainOptions())  # read, firewall, engine
        payloads = snapshot.payloads()
        rows = stored_rows(chain, payloads)
        assert rows["snapshots"].height == 1
        return figures_class(payloads)

    assert_outcome(path, outcome, detail, run)


@pytest.mark.parametrize(
    ("name", "outcome", "detail"),
    [pytest.param(*c, id=c[0]) for c in REPLIES],
)
def test_every_feed_reply_is_stored_or_refused_in_one_line(name, outcome, detail):
    path = FUZZ / "replies" / name
    symbol = name.split("_")[0].upper()

    def run() -> str:
        chain = parse_feed(path.read_bytes(), origin=str(path), symbol=symbol).chain
        check_chain(chain, symbol, None, datetime.now(UTC))
        payloads = ExposureSnapshot(chain, preset("default")).payloads()
        stored_rows(chain, payloads)
        return figures_class(payloads)

    assert_outcome(path, outcome, detail, run)


@pytest.mark.parametrize(
    ("folder", "name", "outcome", "detail"), OTHERS, ids=[c[1] for c in OTHERS]
)
def test_every_history_file_is_refused_in_one_line_naming_it(folder, name, outcome, detail):
    path = FUZZ / folder / name
    assert outcome == "refused"
    with pytest.raises(InputError) as err:
        READERS[folder](path)
    message = str(err.value)
    assert str(path) in message
    assert "\n" not in message and len(message) < 600
    assert detail in message


def assert_trustworthy(chain: Chain) -> None:
    """A chain that was read must hold nothing the engine cannot trust."""
    frame = chain.frame
    assert math.isfinite(chain.spot) and chain.spot > 0
    assert chain.as_of.utcoffset() is not None
    for column, dtype in frame.schema.items():
        if dtype.is_float():
            values = frame.get_column(column).drop_nulls()
            assert values.is_finite().all(), column
    assert (frame.get_column("strike") > 0).all()
    assert frame.get_column("open_interest").is_between(0, 1e9).all()
    assert frame.get_column("right").is_in(["C", "P"]).all()
    assert duplicate_contracts(frame).height == 0


def read_or_refuse(data: bytes, suffix: str = ".csv") -> Chain | None:
    """Return the chain of `data`, or None when refused with one line naming it.

    A chain that reads must also pass the firewall's content checks or be refused by them in
    one line; one that passes must hold nothing the engine cannot trust.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"quotedata{suffix}"
        path.write_bytes(data)
        try:
            chain = read_chain(path)
            check_contents(chain)
        except REFUSALS as exc:
            assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
            return None
    assert_trustworthy(chain)
    return chain


CBOE_LINES = [
    "",
    "SPDR S&P 500 ETF Trust,Last: 470.5,Change: 1.2",
    '"Date: January 5, 2024 at 4:15 PM EST",Bid: 470.4,Ask: 470.6',
    "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,"
    "Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest",
    *(
        f"Fri Jan 19 2024,SPY240119C00{k}000,5.1,0.2,5.0,5.2,10,0.14,0.55,0.04,{oi},{k}.00,"
        f"SPY240119P00{k}000,3.1,-0.1,3.0,3.2,20,0.15,-0.45,0.04,{oi + 7}"
        for k, oi in ((465, 100), (470, 250), (475, 40))
    ),
]
GENERIC_LINES = [
    "contract,expiration,strike,right,open_interest,volume,iv,symbol,underlying_price,as_of",
    *(
        f"Q{i},2024-01-19,{k},{r},{100 + i},{i},0.2,SPY,470.5,2024-01-05T16:15:00-05:00"
        for i, (k, r) in enumerate([(465, "C"), (465, "P"), (470, "C"), (470, "P")])
    ),
]
NASTY = [
    "nan", "NaN", "inf", "-inf", "Infinity", "1e23", "1e308", "-1", "-0", "0", "", " ", '"',
    '""', "abc", "1,5", "\n", "\x00", "\x7f", "é", "\u2212", "9" * 300, "0x10", "1_000",
    "Fri Feb 30 2024", "SPY240119C00470000", "2024-01-19",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, lines: list[str]) -> bytes:
    """Return `lines` after a few random edits of cells, rows and bytes."""
    rows = [line.split(",") for line in lines]
    for _ in range(draw(st.integers(1, 4))):
        r = draw(st.integers(0, len(rows) - 1))
        row = rows[r]
        c = draw(st.integers(0, max(len(row) - 1, 0)))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "nasty", "row", "drop"]))
        if action == "delete" and row:
            del row[c]
        elif action == "duplicate" and row:
            row.insert(c, row[c])
        elif action == "swap" and row:
            d = draw(st.integers(0, len(row) - 1))
            row[c], row[d] = row[d], row[c]
        elif action == "nasty" and row:
            row[c] = draw(st.sampled_from(NASTY))
        elif action == "row":
            rows.insert(r, list(row))
        elif action == "drop" and len(rows) > 1:
            del rows[r]
    data = "\n".join(",".join(row) for row in rows).encode() + b"\n"
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


FUZZ_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_the_unmutated_bases_read():
    assert read_or_refuse("\n".join(CBOE_LINES).encode()) is not None
    assert read_or_refuse("\n".join(GENERIC_LINES).encode()) is not None


@FUZZ_SETTINGS
@given(mutated(CBOE_LINES))
def test_mutated_cboe_files_read_or_are_refused_in_one_line(data):
    read_or_refuse(data)


@FUZZ_SETTINGS
@given(mutated(GENERIC_LINES))
def test_mutated_generic_files_read_or_are_refused_in_one_line(data):
    read_or_refuse(data)


@FUZZ_SETTINGS
@given(mutated(GENERIC_LINES))
def test_mutated_generic_parquet_reads_or_is_refused_in_one_line(data):
    """The same edits, stored as Parquet (when the text still parses as a CSV at all)."""
    try:
        frame = pl.read_csv(data, infer_schema=False, truncate_ragged_lines=True)
    except Exception:  # a mutation polars cannot read as CSV is no Parquet case
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chain.parquet"
        frame.write_parquet(path)
        read_or_refuse(path.read_bytes(), ".parquet")


@FUZZ_SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_are_refused_in_one_line(data):
    read_or_refuse(data)
    read_or_refuse(data, ".parquet")


BAR_LINES = [
    "Date,Open,High,Low,Close,Adj Close,Volume",
    "2024-03-01,10,11,9.5,10.5,10.5,1000",
    "2024-03-04,10.5,12,10,11,11,2000",
    "2024-03-05,11,11.5,10.5,11.2,11.2,1500",
]
DIX_LINES = [
    "date,price,dix,gex",
    "2024-01-03,4704.81,0.44,-1e9",
    "2024-01-04,4688.68,0.45,0",
    "2024-01-05,4697.24,0.46,2e9",
]


def import_or_refuse(data: bytes, reader: Callable[[Path], object]) -> object | None:
    """Return what `reader` made of `data`, or None when refused in one line naming the file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.csv"
        path.write_bytes(data)
        try:
            return reader(path)
        except InputError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
            return None


@FUZZ_SETTINGS
@given(mutated(BAR_LINES))
def test_mutated_bar_files_import_or_are_refused_in_one_line(data):
    bars = import_or_refuse(data, lambda path: read_bars(path, "SPY"))
    if bars is not None:
        prices = bars.rows.select("open", "high", "low", "close").drop_nulls()
        assert all(prices.get_column(c).is_finite().all() for c in prices.columns)
        assert bars.rows.get_column("trade_date").dt.weekday().max() <= 5


@FUZZ_SETTINGS
@given(mutated(DIX_LINES))
def test_mutated_dix_files_import_or_are_refused_in_one_line(data):
    dix = import_or_refuse(data, read_dix)
    if dix is not None:
        numbers = dix.snapshots.select("underlying_price", "net_gex", "dix")
        assert all(numbers.get_column(c).is_finite().all() for c in numbers.columns)


def gammalake() -> Path:
    """Return the installed CLI beside this interpreter, or skip."""
    found = Path(sys.executable).parent / "gammalake"
    if not found.is_file():
        pytest.skip(f"no gammalake script beside {sys.executable}")
    return found


@dataclass(frozen=True)
class Ended:
    """How one `gammalake` run ended: exit code, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(path: Path, home: Path) -> Ended:
    """Return how `gammalake chain FILE --json` ended, run by a separate process."""
    env = {**os.environ, "GAMMALAKE_HOME": str(home)}
    done = subprocess.run(
        [str(gammalake()), "chain", str(path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    return Ended(done.returncode, done.stdout, done.stderr)


def run_in_process(path: Path, home: Path) -> Ended:
    """Return how `gammalake chain FILE --json` ended, run through the script's `main()`.

    The command ends a successful run with os._exit (skipping interpreter teardown); here
    that exit is replaced by SystemExit(0) so the test process lives on.
    """
    from gammalake.cli import app as cli_app
    from gammalake.cli.commands import chain as command

    def leave() -> None:
        sys.stdout.flush()
        raise SystemExit(0)

    runner = CliRunner()
    code = 0
    with (
        pytest.MonkeyPatch.context() as patch,
        runner.isolation(env={"GAMMALAKE_HOME": str(home)}) as (out, err, _),
    ):
        patch.setattr(command, "_exit_now", leave)
        patch.setattr(sys, "argv", ["gammalake", "chain", str(path), "--json"])
        try:
            cli_app.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except Exception:  # anything escaping main would be a traceback: exit 1
            code, err = 1, io.BytesIO(traceback.format_exc().encode())
        sys.stdout.flush()
        sys.stderr.flush()
        return Ended(code, out.getvalue().decode(), err.getvalue().decode("utf-8", "replace"))


def cli_problem(name: str, outcome: str, detail: str, result: Ended) -> str:
    """Return what is wrong with the CLI's answer to one corpus file ('' when it is right)."""
    if "Traceback" in result.stderr or result.returncode not in (0, 2):
        return f"{name}: exit {result.returncode}: {result.stderr[-300:]}"
    if outcome == "refused":
        lines = result.stderr.strip().splitlines()
        good = result.returncode == 2 and result.stdout == "" and len(lines) == 1
        good = good and lines[0].startswith("error: ") and name in lines[0] and detail in lines[0]
        return "" if good else f"{name}: expected a refusal with {detail!r}: {result.stderr[-300:]}"

    def refuse(constant: str) -> float:
        raise AssertionError(f"{name}: {constant} in the output")

    if result.returncode != 0:
        return f"{name}: expected exit 0: {result.stderr[-300:]}"
    payloads = json.loads(result.stdout, parse_constant=refuse)
    got = figures_class(payloads)
    return "" if got == detail else f"{name}: figures {got}, expected {detail}"


def test_gammalake_chain_on_every_chain_file_exits_0_with_finite_figures_or_2_in_one_line(
    tmp_path,
):
    """The CLI's verdict on each file matches the manifest: never exit 1, never a traceback."""
    home = tmp_path / "home"
    problems = [cli_problem(*case, run_in_process(FUZZ / case[0], home)) for case in CHAIN_FILES]
    assert [p for p in problems if p] == []
    assert not (home / "lake").exists()


#: A few files of each kind, run by the installed script itself (a process each).
SCRIPT_CASES = [
    "fw_cboe_spot_1e300.csv",
    "fw_json_padded_duplicate.json",
    "fw_generic_foreign_ids.csv",
    "fw_parquet_list_column.parquet",
    "cboe_utf16_with_bom.csv",
    "ok_cboe_crlf.csv",
    "ok_json_plain.json",
    "ok_parquet_typed.parquet",
]


@pytest.mark.parametrize("name", SCRIPT_CASES)
def test_the_installed_script_gives_the_same_verdicts(name, tmp_path):
    outcome, detail = next((o, d) for n, o, d in CHAIN_FILES if n == name)
    assert cli_problem(name, outcome, detail, run_cli(FUZZ / name, tmp_path / "home")) == ""
    assert not (tmp_path / "home" / "lake").exists()
