"""Bad input of every kind: one InputError naming the file, never a traceback or a result.

The corpus (fuzz/, listed in fuzz/README.md with the fragment each error must contain) keeps
the cases found so far; hypothesis mutates real-looking CBOE and generic files further, and
every chain that still reads must be one the engine can trust.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.chain import Chain, duplicate_contracts
from pipeline.errors import InputError
from pipeline.sources.chains import read_chain
from pipeline.sources.dix import read_dix
from pipeline.sources.prices import read_bars

FUZZ = Path(__file__).parent / "fuzz"
READERS = {
    "": read_chain,
    "bars": lambda path: read_bars(path, "SPY"),
    "dix": read_dix,
}


def manifest() -> list[tuple[str, str, str]]:
    """Return (folder, file, fragment) for every row of fuzz/README.md's tables."""
    rows, folder = [], ""
    for line in (FUZZ / "README.md").read_text().splitlines():
        if line.startswith("## "):
            folder = "" if line.startswith("## top level") else line.split()[1]
        found = re.match(r"\| `([^`]+)` \| .* \| `(.+)` \|$", line)
        if found:
            rows.append((folder, found[1], found[2]))
    return rows


CORPUS = manifest()


def test_the_manifest_lists_every_corpus_file_and_nothing_else():
    listed = {str(Path(folder) / name) for folder, name, _ in CORPUS}
    present = {
        str(p.relative_to(FUZZ))
        for p in FUZZ.rglob("*")
        if p.is_file() and p.name not in {"README.md", "make_corpus.py"}
    }
    assert listed == present
    assert sum(1 for folder, _, _ in CORPUS if folder == "") >= 40


@pytest.mark.parametrize(("folder", "name", "fragment"), CORPUS, ids=[c[1] for c in CORPUS])
def test_every_corpus_file_is_refused_in_one_line_naming_it(folder, name, fragment):
    path = FUZZ / folder / name
    with pytest.raises(InputError) as err:
        READERS[folder](path)
    message = str(err.value)
    assert str(path) in message
    assert "\n" not in message and len(message) < 600
    assert fragment in message


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
    """Return the chain of `data`, or None when refused with a one-line InputError naming it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"quotedata{suffix}"
        path.write_bytes(data)
        try:
            chain = read_chain(path)
        except InputError as exc:
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


CLI_CASES = [
    "cboe_oi_nan.csv",
    "cboe_row_extra_trailing_cell.csv",
    "cboe_header_column_deleted.csv",
    "cboe_duplicate_contract_row.csv",
    "cboe_utf16_with_bom.csv",
    "cboe_date_year_9999_overflows.csv",
    "generic_duplicated_header_name.csv",
    "generic_garbage.parquet",
]


@pytest.mark.parametrize("name", CLI_CASES)
def test_the_cli_prints_one_error_line_and_exits_2(name, tmp_path):
    env = {**os.environ, "GAMMALAKE_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [str(gammalake()), "chain", str(FUZZ / name), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0]
    assert not (tmp_path / "home" / "lake").exists()
