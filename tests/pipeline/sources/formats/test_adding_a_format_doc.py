"""docs/adding-a-format.md cannot drift: its sample module is run as written, end to end.

The page's ```python block (the Acme Options EOD format) is written as a module of a
temporary package and imported; the page promises that importing it registers the format,
which is then sniffed, read into one VendorChain per underlying with the page's point-in-time
rule, refused on another vendor's file or a bad cell, priced like `gammalake chain`, and
importable with `gammalake import acme` with nothing else changed.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sources.formats.base import (
    FORMATS,
    FileFormat,
    ReadOptions,
    format_for,
    load_all,
    read_header,
)
from tests.conftest import REPO
from tests.pipeline.sources.formats.support import DATA, assert_same_as_chain_command, by_symbol

PAGE = REPO / "docs" / "adding-a-format.md"
MODULE = "gammalake_doc_formats.acme"
#: A small Acme day on the half day 2023-11-24 (closes 13:00): SPX (a weekly and the December
#: monthly) and SPY, in the page's columns. IV and greeks are not in Acme files.
ACME_DAY = """Symbol,Date,Expiry,Strike,CP,Bid,Ask,OI,Vol,Spot
SPY,2023-11-24,2023-12-15,450,C,9.0,9.1,5100,800,455.2
SPY,2023-11-24,2023-12-15,450,P,3.6,3.7,6100,900,455.2
SPY,2023-11-24,2023-12-15,460,C,3.9,4.0,4100,700,455.2
SPY,2023-11-24,2023-12-15,460,P,8.6,8.7,3100,600,455.2
SPX,2023-11-24,2023-12-01,4550,C,30.0,31.0,1200,300,4559.34
SPX,2023-11-24,2023-12-15,4500,C,86.0,87.0,9000,120,4559.34
SPX,2023-11-24,2023-12-15,4550,C,52.0,53.0,22011,812,4559.34
SPX,2023-11-24,2023-12-15,4550,P,45.0,46.0,31544,1312,4559.34
SPX,2023-11-24,2023-12-15,4600,P,67.0,68.0,8000,210,4559.34
"""


def sample_module(text: str) -> str:
    """Return the page's sample format module: its ```python block that registers a format."""
    blocks = re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)
    found = [block for block in blocks if "register(" in block]
    assert len(found) == 1, f"{PAGE.name} should hold one ```python format module"
    return found[0]


@pytest.fixture
def acme(tmp_path: Path) -> Iterator[FileFormat]:
    """Return the page's format, imported from a temporary package (unregistered afterwards)."""
    package = tmp_path / "pkg" / MODULE.split(".")[0]
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "acme.py").write_text(sample_module(PAGE.read_text()))
    sys.path.insert(0, str(package.parent))
    before = dict(load_all())  # the four formats, loaded before this one joins them
    try:
        module = importlib.import_module(MODULE)
        yield module.FORMAT
    finally:
        sys.path.remove(str(package.parent))
        for name in [MODULE, MODULE.split(".")[0]]:
            sys.modules.pop(name, None)
        FORMATS.clear()
        FORMATS.update(before)


@pytest.fixture
def acme_day(tmp_path: Path) -> Path:
    """Return the small Acme day file."""
    path = tmp_path / "acme_2023-11-24.csv"
    path.write_text(ACME_DAY)
    return path


def test_importing_the_module_registers_and_sniffs_the_format(acme, acme_day):
    assert load_all()["acme"] is acme and acme.title == "Acme Options EOD"
    assert format_for(read_header(acme_day)) is acme
    # The four vendors' own files are not taken for Acme files.
    for fixture in ("datashop_calcs.csv", "orats_strikes.csv", "hod_l2.csv"):
        assert not acme.matches(read_header(DATA / fixture))


def test_a_day_becomes_one_chain_per_underlying_with_the_pages_rules(acme, acme_day):
    chains = list(acme.read(acme_day, ReadOptions()))
    assert [vc.chain.symbol for vc in chains] == ["SPX", "SPY"]  # symbol order
    spx = by_symbol(chains)["SPX"]
    # Closing quotes: as_of is the close (13:00 on the half day); OI is the previous session's.
    assert spx.chain.as_of == datetime(2023, 11, 24, 13, 0, tzinfo=NEW_YORK)
    assert (spx.session, spx.oi_as_of) == (date(2023, 11, 24), date(2023, 11, 22))
    assert spx.chain.spot == 4559.34
    frame = spx.chain.frame.sort("contract")
    assert frame.get_column("contract").to_list() == [
        "SPX231215C04500000",
        "SPX231215C04550000",
        "SPX231215P04550000",
        "SPX231215P04600000",
        "SPXW231201C04550000",  # not the third Friday: the weekly root
    ]
    row = frame.row(1, named=True)
    assert (row["open_interest"], row["volume"], row["bid"], row["ask"]) == (22011, 812, 52, 53)
    assert row["iv"] is None and row["root"] == "SPX"


def test_it_prices_exactly_as_the_chain_command(acme, acme_day, tmp_path):
    for vc in acme.read(acme_day, ReadOptions()):
        assert_same_as_chain_command(vc, tmp_path)


def test_bad_input_is_one_line_naming_file_line_and_column(acme, acme_day):
    orats = DATA / "orats_strikes.csv"
    with pytest.raises(InputError, match="looks like an ORATS strikes file, not Acme Options EOD"):
        list(acme.read(orats, ReadOptions()))
    acme_day.write_text(ACME_DAY.replace("22011", "many"))
    with pytest.raises(InputError) as refused:
        list(acme.read(acme_day, ReadOptions()))
    message = str(refused.value)
    assert "acme_2023-11-24.csv" in message and "line 8" in message and "OI" in message
    assert "\n" not in message


def test_gammalake_import_acme_stores_the_day(acme, acme_day, tmp_path):
    """The CLI offers and runs `import acme` once the module is imported: nothing else changes."""
    package = tmp_path / "pkg"
    run = (
        f"import sys; sys.path.insert(0, {str(package)!r}); import {MODULE}; "
        "from gammalake.cli import main; sys.argv[0] = 'gammalake'; main()"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GAMMALAKE_")}
    environ["GAMMALAKE_HOME"] = str(tmp_path / "home")

    def gammalake(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", run, *args],
            capture_output=True,
            text=True,
            env=environ,
            cwd=REPO,
            timeout=600,
        )

    listed = gammalake("import", "--help")
    assert listed.returncode == 0 and "acme" in listed.stdout, listed.stdout + listed.stderr
    imported = gammalake("import", "acme", str(acme_day))
    real = imported.stdout + imported.stderr
    assert imported.returncode == 0, real
    assert "2 symbol(s), 9 contract(s), 0 refused" in real and "stored 2 snapshot(s)" in real


@pytest.mark.parametrize("column", ["Vol", "Spot"])
def test_a_file_without_a_column_it_reads_is_one_line(acme, acme_day, column):
    lines = [line.split(",") for line in ACME_DAY.splitlines()]
    at = lines[0].index(column)
    acme_day.write_text(
        "\n".join(",".join(c for i, c in enumerate(row) if i != at) for row in lines)
    )
    with pytest.raises(InputError, match=f"acme_2023-11-24.csv.*{column}"):
        list(acme.read(acme_day, ReadOptions()))
