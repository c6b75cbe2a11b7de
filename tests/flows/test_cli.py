"""The `gammalake` command line, run as users run it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).with_name("gammalake")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.refdata
def test_chain_json_holds_the_seven_payloads(refdata):
    result = run(
        "chain", str(refdata / "phammings-spx500-gamma/modules/spx_quotedata.csv"), "--json"
    )
    assert result.returncode == 0, result.stderr
    payloads = json.loads(result.stdout)
    assert list(payloads) == ["gex", "dex", "vex", "chex", "levels", "summary", "expiries"]
    assert payloads["levels"]["symbol"] == "SPX"


@pytest.mark.refdata
@pytest.mark.parametrize(
    ("name", "flags", "flip"),
    [
        ("nickkxsper-index-gamma/spx_quotedata.csv", ["--year-basis", "252"], 3984.2495),
        ("luca-castelli-index-gamma/ndx_quotedata.csv", ["--zero-dte", "drop"], 14686.3297),
    ],
)
def test_perfiliev_flags(refdata, name, flags, flip):
    result = run("chain", str(refdata / name), "--preset", "perfiliev", "--json", *flags)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gex"]["gamma_flip"] == pytest.approx(flip, abs=5e-5)


def test_bad_file_is_one_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "quotedata.csv"
    bad.write_text(
        '\nSPY,Last: 470\n"Date: January 5, 2024 at 4:15 PM EST"\n'
        "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,"
        "Open Interest,Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,"
        "Open Interest\nFri Jan 19 2024,X,1,0,1,1,0,0.1,0.5,0.01,10,abc,Y,1,0,1,1,0,"
        "0.1,-0.5,0.01,10\n"
    )
    result = run("chain", str(bad), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ") and "line 5" in lines[0] and "'Strike'" in lines[0]


def test_unknown_preset_and_missing_file_exit_2(tmp_path):
    assert run("chain", str(tmp_path / "none.csv")).returncode == 2
    result = run("chain", str(tmp_path / "none.csv"), "--preset", "nope")
    assert result.returncode == 2 and "unknown preset 'nope'" in result.stderr


def test_table_output_and_demo():
    result = run("demo", "--symbols", "SPY")
    assert result.returncode == 0, result.stderr
    assert "SPY" in result.stdout and "gamma flip" in result.stdout
