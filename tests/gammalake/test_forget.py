"""`gammalake forget SYMBOL`: a history leaves every dataset and view; its raw files the attic.

One synthetic home is made for the module as a user makes it (a backfill of SPY and the
mistyped SPYY, their bars, and three sessions of SPYY under a second preset); each test
works on its own copy.
"""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

from pipeline.engine.method import resolve_method
from tests.gammalake.test_cli import BIN, run_home
from tests.gammalake.test_cli_fuzz import run_main
from warehouse import catalog
from warehouse.forget import FORGET_ORDER, symbol_rows

START, END = "2024-03-01", "2024-03-08"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a home holding SPY and SPYY (two methods), bars included."""
    home = tmp_path_factory.mktemp("forget") / "home"
    span = ("--start", START, "--end", END)
    second = ("--start", START, "--end", "2024-03-05", "--preset", "perfiliev")
    for args in (
        ("backfill", "--symbols", "SPY,SPYY", *span),
        ("prices", "synthetic", "--symbols", "SPY,SPYY", *span),
        ("backfill", "--symbols", "SPYY", *second),
    ):
        done = run_home(home, *args)
        assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def home(made: Path, tmp_path: Path) -> Path:
    """Return this test's copy of the module's home."""
    copy = tmp_path / "home"
    shutil.copytree(made, copy, symlinks=True)
    return copy


def rows_of(home: Path, symbol: str) -> dict[str, pl.DataFrame]:
    """Return `symbol`'s rows of every dataset, in a stable order."""
    return {n: symbol_rows(home, n, symbol).sort(pl.all()) for n in FORGET_ORDER}


def files_of(root: Path) -> dict[str, str]:
    """Return the sha256 of every file under `root`, by path relative to it."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def view_count(home: Path, symbol: str) -> int:
    """Return the symbol's rows in the catalog's daily_levels view."""
    sql = f"SELECT count(*) FROM daily_levels WHERE symbol = '{symbol}'"
    return int(catalog.query(home, sql).item())


def test_forget_removes_every_row_and_view_row_and_moves_raw_to_the_attic(home: Path) -> None:
    before = rows_of(home, "SPY")
    raw_before = files_of(home / "raw")
    assert all(rows_of(home, "SPYY")[n].height for n in FORGET_ORDER)
    assert view_count(home, "SPYY") > 0
    done = run_main(["forget", "SPYY", "--yes"], home=home)
    assert done.code == 0, done.text
    assert done.out.splitlines()[-1].startswith("forgot SPYY: ")
    assert all(rows.height == 0 for rows in rows_of(home, "SPYY").values())
    assert view_count(home, "SPYY") == 0
    after = rows_of(home, "SPY")
    assert all(after[n].equals(before[n]) for n in FORGET_ORDER)  # SPY untouched
    kept = {k: v for k, v in raw_before.items() if "symbol=SPYY" not in k}
    assert files_of(home / "raw") == kept  # SPY's raw files byte-identical, SPYY's gone
    moved = {k: v for k, v in raw_before.items() if "symbol=SPYY" in k}
    assert moved and files_of(home / "attic" / "raw") == moved  # same paths, same bytes


def test_one_method_goes_and_the_shared_inputs_stay(home: Path) -> None:
    raw_before = files_of(home / "raw")
    done = run_main(["forget", "spyy", "--method", "perfiliev", "--yes"], home=home)
    assert done.code == 0, done.text
    left = rows_of(home, "SPYY")
    assert set(left["snapshots"].get_column("method").to_list()) == {resolve_method("default")}
    assert left["chains"].height and left["prices"].height  # the default history uses them
    assert files_of(home / "raw").keys() == raw_before.keys()
    sidecars = [p for p in (home / "raw").rglob("*.methods") if "symbol=SPYY" in str(p)]
    assert sidecars and all("perfiliev" not in p.read_text() for p in sidecars)


def test_an_unknown_symbol_is_one_line_and_exit_2(home: Path) -> None:
    done = run_main(["forget", "XYZ", "--yes"], home=home)
    assert done.code == 2 and not done.crash
    assert done.err.splitlines() == [
        f"error: no history of XYZ in {home} (stored symbols: SPY, SPYY)"
    ]


def test_answering_no_keeps_everything(home: Path) -> None:
    before = files_of(home / "lake"), files_of(home / "raw")
    done = run_main(["forget", "SPYY"], input="n\n", home=home)
    assert done.code == 1, done.text
    assert "Forget this history? [y/N]" in done.out and "nothing changed" in done.out
    assert (files_of(home / "lake"), files_of(home / "raw")) == before
    assert not (home / "attic").exists()


def test_a_second_forget_has_nothing_to_forget(home: Path) -> None:
    assert run_main(["forget", "SPYY", "--yes"], home=home).code == 0
    again = run_main(["forget", "SPYY", "--yes"], home=home)
    assert again.code == 0, again.text
    assert again.out.strip() == "forget: nothing to forget of SPYY (forgotten before)"


def test_ctrl_c_at_the_question_exits_130_and_changes_nothing(home: Path) -> None:
    before = files_of(home / "lake"), files_of(home / "raw")
    child = subprocess.Popen(
        [str(BIN), "--home", str(home), "forget", "SPYY"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    seen, deadline = b"", time.monotonic() + 600  # a ceiling for a busy machine
    while b"[y/N]" not in seen and time.monotonic() < deadline and child.poll() is None:
        if select.select([child.stdout], [], [], 1.0)[0]:
            seen += os.read(child.stdout.fileno(), 4096)
    assert b"[y/N]" in seen, seen
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=600)
    assert child.returncode == 130, err
    assert b"Traceback" not in err and b"nothing changed" in err
    assert (files_of(home / "lake"), files_of(home / "raw")) == before
