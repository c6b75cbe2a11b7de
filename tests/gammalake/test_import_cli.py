"""`gammalake import FORMAT PATH...` as users run it: vendor day files, bad ones refused whole."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from subprocess import PIPE

import polars as pl
import pytest

from pipeline.sources.formats.base import load_all
from warehouse.doctor import diagnose

BIN = Path(sys.executable).with_name("gammalake")
DATA = Path(__file__).resolve().parents[1] / "pipeline/sources/formats/data"
DATASHOP = DATA / "datashop_calcs.csv"


def gammalake(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI on `home`; return the finished process (output as text)."""
    command = [str(BIN), "--home", str(home), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def sql(home: Path, query: str) -> list[dict[str, object]]:
    """Return the rows of a query over `home`'s lake."""
    result = gammalake(home, "sql", "--format", "json", query)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def tree(home: Path) -> dict[str, str]:
    """Return every file under `home` (lake, raw, catalog) with the hash of its bytes."""
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


def datashop_copy(folder: Path, edit: object = None) -> Path:
    """Return a copy of the DataShop fixture in `folder`, its text table passed through `edit`."""
    frame = pl.read_csv(DATASHOP, infer_schema=False)
    if callable(edit):
        frame = edit(frame)
    path = folder / "UnderlyingOptionsEODCalcs_2023-11-24.csv"
    frame.write_csv(path)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Return a home that already holds one import (so refusals must leave it as it is)."""
    folder = tmp_path / "home"
    first = gammalake(folder, "import", "datashop", str(DATASHOP))
    assert first.returncode == 0, first.stderr
    return folder


def test_import_help_lists_every_registered_format():
    result = subprocess.run([str(BIN), "import", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in load_all():
        assert name in result.stdout


def test_datashop_import_prints_counts_and_a_second_import_says_nothing_new(home):
    again = gammalake(home, "import", "datashop", str(DATASHOP))
    assert again.returncode == 0, again.stderr
    assert "read: 1 file(s), 1 day(s), 3 symbol(s), 11 contract(s), 0 refused" in again.stdout
    assert "nothing new: all 3 (symbol, session) pairs are already stored" in again.stdout
    forced = gammalake(home, "import", "datashop", str(DATASHOP), "--force")
    assert "stored 3 snapshot(s)" in forced.stdout
    rows = sql(home, "SELECT count(*) AS n FROM snapshots WHERE source = 'datashop'")
    assert rows == [{"n": 3}]


FIXTURES = [("orats", "orats_strikes.csv"), ("hod", "hod_l2.csv")]


@pytest.mark.parametrize(("fmt", "fixture"), FIXTURES)
def test_each_format_imports_its_fixture(tmp_path, fmt, fixture):
    home = tmp_path / "home"
    result = gammalake(home, "import", fmt, str(DATA / fixture))
    assert result.returncode == 0, result.stderr
    rows = sql(home, "SELECT DISTINCT source FROM snapshots")
    assert rows == [{"source": fmt}]


def test_symbols_start_and_end_limit_the_import(tmp_path):
    home = tmp_path / "home"
    outside = gammalake(home, "import", "datashop", str(DATASHOP), "--start", "2023-11-27")
    assert outside.returncode == 0, outside.stderr
    assert "0 day(s)" in outside.stdout
    result = gammalake(home, "import", "datashop", str(DATASHOP), "--symbols", "SPX,AAPL")
    assert result.returncode == 0, result.stderr
    rows = sql(home, "SELECT symbol FROM snapshots ORDER BY symbol")
    assert [r["symbol"] for r in rows] == ["AAPL", "SPX"]


@pytest.mark.parametrize(
    ("given", "said"),
    [("^SPX", "no '^'"), ("spy", "not upper case"), ("SPY,", None)],
)
def test_caret_and_lower_case_symbols_are_refused(home, given, said):
    before = tree(home)
    result = gammalake(home, "import", "datashop", str(DATASHOP), "--symbols", given)
    if said is None:  # a trailing comma is harmless
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 2
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert tree(home) == before


def _two_dates(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the fixture with its last row quoted a day earlier."""
    dates = ["2023-11-24"] * (frame.height - 1) + ["2023-11-22"]
    return frame.with_columns(pl.Series("quote_date", dates))


def _cell(column: str, row: int, value: str) -> object:
    """Return an edit setting one cell of the fixture's text table."""

    def edit(frame: pl.DataFrame) -> pl.DataFrame:
        values = frame.get_column(column).to_list()
        values[row] = value
        return frame.with_columns(pl.Series(column, values))

    return edit


BAD_FILES = {
    "missing column": (lambda f: f.drop("open_interest"), "open_interest"),
    "two quote dates": (_two_dates, "2023-11-22"),
    "duplicate contract": (lambda f: pl.concat([f, f.head(1)]), "duplicate"),
    "negative OI": (_cell("open_interest", 5, "-3"), "line 7"),
    "non-finite number": (_cell("strike", 5, "inf"), "line 7"),
    "expiry before quote date": (_cell("expiration", 5, "2023-11-17"), "line 7"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_one_line_exit_2_and_nothing_written(home, tmp_path, case):
    edit, named = BAD_FILES[case]
    bad = datashop_copy(tmp_path, edit)
    before = tree(home)
    result = gammalake(home, "import", "datashop", str(bad))
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and bad.name in lines[0] and named in lines[0], lines
    assert tree(home) == before


def test_another_vendors_file_is_refused_naming_it(home):
    before = tree(home)
    orats = DATA / "orats_strikes.csv"
    result = gammalake(home, "import", "datashop", str(orats))
    assert result.returncode == 2
    assert orats.name in result.stderr and "ORATS" in result.stderr.upper()
    assert len(result.stderr.strip().splitlines()) == 1
    assert tree(home) == before


def _zip_with_corrupt_member(folder: Path) -> Path:
    """Return a zip holding the good fixture and a member whose compressed bytes are broken."""
    path = folder / "days.zip"
    text = DATASHOP.read_bytes()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a_good.csv", text)
        archive.writestr("b_broken.csv", text.replace(b"2023-11-24", b"2023-11-22"))
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("b_broken.csv")
    start = info.header_offset + 30 + len(info.filename) + 10
    data[start : start + 40] = bytes(40)
    path.write_bytes(bytes(data))
    return path


def test_a_zip_with_a_corrupt_member_is_refused_whole(home, tmp_path):
    archive = _zip_with_corrupt_member(tmp_path)
    before = tree(home)
    result = gammalake(home, "import", "datashop", str(archive), "--force")
    assert result.returncode == 2
    assert "days.zip" in result.stderr and "b_broken.csv" in result.stderr
    assert tree(home) == before


def test_skip_bad_stores_the_rest_and_counts_the_refused(tmp_path):
    folder = tmp_path / "days"
    folder.mkdir()
    good = datashop_copy(folder)
    bad = folder / "zz_bad.csv"
    bad.write_text(good.read_text().replace(",8123,", ",-8123,"))
    home = tmp_path / "home"
    refused = gammalake(home, "import", "datashop", str(folder))
    assert refused.returncode == 2 and "zz_bad.csv" in refused.stderr
    result = gammalake(home, "import", "datashop", str(folder), "--skip-bad")
    assert result.returncode == 0, result.stderr
    assert "1 refused" in result.stdout and "zz_bad.csv" in result.stdout
    assert sql(home, "SELECT count(*) AS n FROM snapshots") == [{"n": 3}]


def test_a_calcs_less_file_is_priced_only_by_a_preset_that_solves_iv(tmp_path):
    plain = datashop_copy(
        tmp_path, lambda f: f.drop("implied_volatility_1545", "delta_1545", "gamma_1545")
    )
    home = tmp_path / "home"
    refused = gammalake(home, "import", "datashop", str(plain), "--preset", "perfiliev")
    assert refused.returncode == 2
    assert "solve IV" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    result = gammalake(home, "import", "datashop", str(plain), "--preset", "default")
    assert result.returncode == 0, result.stderr
    assert "stored 3 snapshot(s)" in result.stdout


def test_rebuild_reprices_from_raw_with_the_vendor_file_gone(tmp_path):
    home = tmp_path / "home"
    copy = datashop_copy(tmp_path)
    assert gammalake(home, "import", "datashop", str(copy)).returncode == 0
    copy.unlink()
    result = gammalake(home, "rebuild", "--preset", "perfiliev")
    assert result.returncode == 0, result.stderr
    rows = sql(home, "SELECT DISTINCT method FROM snapshots ORDER BY method")
    methods = [str(r["method"]) for r in rows]
    assert len(methods) == 2 and any(m.startswith("perfiliev") for m in methods)
    perfiliev = sql(
        home,
        "SELECT symbol FROM snapshots WHERE method LIKE 'perfiliev%' AND source = 'datashop' "
        "ORDER BY symbol",
    )
    assert [r["symbol"] for r in perfiliev] == ["AAPL", "SPX", "SPY"]


def test_imported_figures_equal_gammalake_chain_on_the_same_contracts(home, tmp_path):
    spy = pl.read_csv(DATASHOP, infer_schema=False).filter(pl.col("underlying_symbol") == "SPY")
    generic = spy.select(
        pl.col("expiration"),
        pl.col("strike"),
        pl.col("option_type").str.to_uppercase().alias("right"),
        pl.col("open_interest"),
        pl.col("trade_volume").alias("volume"),
        pl.col("implied_volatility_1545").alias("iv"),
        pl.col("bid_1545").alias("bid"),
        pl.col("ask_1545").alias("ask"),
        pl.col("gamma_1545").alias("gamma"),
        pl.col("delta_1545").alias("delta"),
    )
    path = tmp_path / "spy.csv"
    generic.write_csv(path)
    # DataShop's spot: the nearest expiry's implied underlying price; its snapshot: 15 minutes
    # before the close (13:00 on the day after Thanksgiving).
    spot = spy.filter(pl.col("expiration") == "2023-11-24")["implied_underlying_price_1545"][0]
    moment = "2023-11-24T12:45:00-05:00"
    flags = ["--json", "--symbol", "SPY", "--spot", spot, "--as-of", moment]
    result = subprocess.run(
        [str(BIN), "chain", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    payloads = json.loads(result.stdout)
    stored = sql(home, "SELECT * FROM snapshots WHERE symbol = 'SPY'")[0]
    expected = {**payloads["summary"]["exposures"], "gamma_flip": payloads["gex"]["gamma_flip"]}
    for name, value in expected.items():
        assert stored[name] == pytest.approx(value, rel=1e-9), name


def _many_days(folder: Path, first: str, last: str) -> int:
    """Write the DataShop fixture as the day file of every session first..last; return days."""
    from datetime import date

    from pipeline.sessions import sessions_between

    text = pl.read_csv(DATASHOP, infer_schema=False)
    days = sessions_between(date.fromisoformat(first), date.fromisoformat(last))
    for day in days:
        path = folder / f"UnderlyingOptionsEODCalcs_{day.isoformat()}.csv"
        text.with_columns(pl.lit(day.isoformat()).alias("quote_date")).write_csv(path)
    return len(days)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_import_whole_and_a_second_run_finishes_it(tmp_path, signum, code):
    folder = tmp_path / "days"
    folder.mkdir()
    days = _many_days(folder, "2023-08-01", "2023-11-22")
    home = tmp_path / "home"
    env = {**os.environ, "GAMMALAKE_MAX_WORKERS": "1"}
    command = [str(BIN), "--home", str(home), "import", "datashop", str(folder)]
    child = subprocess.Popen(command, env=env, stdout=PIPE, stderr=PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and child.poll() is None:  # wait until it is mid-way
        if len(list((home / "raw").glob("datashop/chain/*/*/*.parquet"))) >= 6:
            break
        time.sleep(0.05)
    child.send_signal(signum)
    _, err = child.communicate(timeout=600)
    assert child.returncode == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("cancelled by "), err
    assert sql(home, "SELECT status FROM runs") == [{"status": "cancelled"}]
    assert diagnose(home).healthy
    again = gammalake(home, "import", "datashop", str(folder))
    assert again.returncode == 0, again.stderr
    stored = sql(home, "SELECT count(*) AS n FROM snapshots")
    assert stored == [{"n": 3 * days}]


def test_gz_and_zip_inputs_import_like_the_file(tmp_path):
    packed = tmp_path / "UnderlyingOptionsEODCalcs_2023-11-24.csv.gz"
    packed.write_bytes(gzip.compress(DATASHOP.read_bytes()))
    archive = tmp_path / "day.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(DATASHOP, "UnderlyingOptionsEODCalcs_2023-11-24.csv")
    home = tmp_path / "home"
    first = gammalake(home, "import", "datashop", str(packed))
    assert first.returncode == 0, first.stderr
    assert "stored 3 snapshot(s)" in first.stdout
    again = gammalake(home, "import", "datashop", str(archive))
    assert again.returncode == 0, again.stderr
    assert "nothing new: all 3" in again.stdout
