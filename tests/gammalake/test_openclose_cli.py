"""`gammalake import openclose PATH...`: counts, one copy, bad files refused whole (exit 2)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import pytest

from tests.gammalake.test_import_cli import BIN, DATA, gammalake, sql, tree

DAY1 = DATA / "C1OpenClose_2023-11-22.csv"
DAY2 = DATA / "C1OpenClose_2023-11-24.csv"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Return a home holding the first fixture day."""
    folder = tmp_path / "home"
    first = gammalake(folder, "import", "openclose", str(DAY1))
    assert first.returncode == 0, first.stderr
    return folder


def test_help_lists_openclose_beside_the_chain_formats():
    result = subprocess.run([str(BIN), "import", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "openclose" in result.stdout and "datashop" in result.stdout


def test_an_import_prints_counts_and_the_scaling_and_a_re_import_keeps_one_copy(home):
    result = gammalake(home, "import", "openclose", str(DAY1), str(DAY2))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "read: 2 file(s), 2 day(s), 2 symbol(s), 7 contract row(s), exchange(s) C1" in out
    assert "stored 7 row(s) in open_close covering 2023-11-22 .. 2023-11-24" in out
    assert "left out 1 row(s) of non-standard series" in out
    assert "scales each contract's market-maker net to its whole open interest" in out
    rows = sql(home, "SELECT trade_date, count(*) AS n FROM open_close GROUP BY 1 ORDER BY 1")
    assert rows == [{"trade_date": "2023-11-22", "n": 4}, {"trade_date": "2023-11-24", "n": 3}]


def test_symbols_limit_what_is_stored(tmp_path):
    home = tmp_path / "home"
    result = gammalake(home, "import", "openclose", str(DAY1), "--symbols", "SPY")
    assert result.returncode == 0, result.stderr
    assert sql(home, "SELECT DISTINCT symbol FROM open_close") == [{"symbol": "SPY"}]


def edited(tmp_path: Path, edit: object) -> Path:
    """Return a copy of the second fixture day (as text) passed through `edit`."""
    frame = pl.read_csv(DAY2, infer_schema=False)
    assert callable(edit)
    path = tmp_path / DAY2.name
    edit(frame).write_csv(path)
    return path


def _bad_number(frame: pl.DataFrame) -> pl.DataFrame:
    values = frame.get_column("mm_buy_vol").to_list()
    values[1] = "2O0"
    return frame.with_columns(pl.Series("mm_buy_vol", values))


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (_bad_number, "line 3, column 'mm_buy_vol': '2O0' is not a number"),
        (lambda f: f.drop("procust_gt_199_close_sell_vol"), "line 1: missing column(s)"),
        (
            lambda f: f.rename({"quote_date": "trade_datetime"}),
            "line 1: is a 10-minute interval Cboe Open-Close Volume Summary file",
        ),
    ],
)
def test_a_bad_file_is_one_line_exit_2_and_nothing_is_written(home, tmp_path, edit, said):
    before = tree(home)
    bad = edited(tmp_path, edit)
    result = gammalake(home, "import", "openclose", str(DAY1), str(bad))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: {bad}, ") and said in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert tree(home) == before


def test_another_vendors_file_is_named(home):
    before = tree(home)
    result = gammalake(home, "import", "openclose", str(DATA / "datashop_calcs.csv"))
    assert result.returncode == 2
    assert "looks like a Cboe DataShop Option EOD Summary file, not Cboe Open-Close" in (
        result.stderr
    )
    assert tree(home) == before


def test_the_docs_page_shows_the_commands_real_output(tmp_path):
    """docs/openclose.md's first example is this command's output, word for word."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "openclose.md").read_text()
    block = page.split("## The command", 1)[1].split("```\n", 2)[1]
    lines = [line for line in block.strip().splitlines() if not line.startswith("$ cp ")]
    command, *shown = lines
    assert command.startswith("$ gammalake import openclose ")
    for fixture in (DAY1, DAY2):
        (tmp_path / fixture.name).write_bytes(fixture.read_bytes())
    args = command.removeprefix("$ gammalake ").split()
    result = subprocess.run(
        [str(BIN), "--home", str(tmp_path / "home"), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == shown
