"""The vendor import flow: Cboe DataShop day files into the lake, resumable and all-or-nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from flows.settings import Settings, load_settings
from flows.vendor_import import Imported, ImportRequest, prepare, read_inputs, run_import
from pipeline.errors import InputError
from pipeline.sources.formats.base import ReadOptions
from warehouse.lake import Lake
from warehouse.raw import RawArchive, read_input

DATA = Path(__file__).resolve().parents[1] / "pipeline/sources/formats/data"
FIXTURE = DATA / "datashop_calcs.csv"
#: The fixture's session and the NYSE sessions before it (Thanksgiving 2023-11-23 closed).
SESSIONS = (date(2023, 11, 20), date(2023, 11, 21), date(2023, 11, 22), date(2023, 11, 24))


def day_file(folder: Path, session: date, oi_scale: int = 1) -> Path:
    """Write the DataShop fixture as the day file of `session` (open interest x oi_scale)."""
    text = pl.read_csv(FIXTURE, infer_schema=False)
    day = text.with_columns(
        pl.lit(session.isoformat()).alias("quote_date"),
        (pl.col("open_interest").cast(pl.Int64) * oi_scale).cast(pl.String),
    )
    path = folder / f"UnderlyingOptionsEODCalcs_{session.isoformat()}.csv"
    day.write_csv(path)
    return path


def settings_in(home: Path) -> Settings:
    """Return default settings for `home` (no settings file, no environment)."""
    return load_settings(home, environ={})


def imported(
    home: Path,
    *paths: Path,
    options: ReadOptions | None = None,
    force: bool = False,
    skip_bad: bool = False,
) -> Imported:
    """Import DataShop `paths` into `home`; return the Imported counts."""
    request = ImportRequest("datashop", paths, options or ReadOptions(), force, skip_bad)
    return run_import(settings_in(home), request)


def test_every_underlying_is_stored_with_raw_input_and_oi_date(tmp_path):
    home = tmp_path / "home"
    result = imported(home, FIXTURE)
    snaps = Lake(home).read("snapshots")
    assert sorted(snaps.get_column("symbol").to_list()) == ["AAPL", "SPX", "SPY"]
    assert set(snaps.get_column("source")) == {"datashop"}
    assert set(snaps.get_column("trade_date")) == {date(2023, 11, 24)}
    chains = Lake(home).read("chains")
    assert chains.height == 11  # every contract of the file but AAPL1's (adjusted, dropped)
    # DataShop's OI is the previous session's close: Wednesday, before Thanksgiving.
    assert set(chains.get_column("oi_as_of")) == {date(2023, 11, 22)}
    inputs = [read_input(p) for p in RawArchive(home).inputs()]
    assert sorted(i.symbol for i in inputs) == ["AAPL", "SPX", "SPY"]
    assert {i.oi_as_of for i in inputs} == {"2023-11-22"}
    assert result.stored == 3 and result.contracts == 11 and result.files == 1


def test_second_import_stores_nothing_and_force_reimports(tmp_path):
    home = tmp_path / "home"
    imported(home, FIXTURE)
    files = sorted(p for p in (home / "lake").rglob("*.parquet") if "runs" not in p.parts)
    stamps = [p.stat().st_mtime_ns for p in files]
    again = imported(home, FIXTURE)
    assert (again.stored, again.skipped) == (0, 3)
    assert [p.stat().st_mtime_ns for p in files] == stamps  # nothing rewritten
    forced = imported(home, FIXTURE, force=True)
    assert (forced.stored, forced.skipped) == (3, 0)
    assert Lake(home).read("snapshots").height == 3  # replaced, not added


def test_symbols_start_and_end_choose_what_is_stored(tmp_path):
    days = tmp_path / "days"
    days.mkdir()
    for session in SESSIONS:
        day_file(days, session)
    home = tmp_path / "home"
    options = ReadOptions(frozenset({"SPY"}), SESSIONS[1], SESSIONS[2])
    result = imported(home, days, options=options)
    snaps = Lake(home).read("snapshots")
    assert set(snaps.get_column("symbol")) == {"SPY"}
    assert sorted(snaps.get_column("trade_date")) == list(SESSIONS[1:3])
    assert result.days == 2


def test_oi_change_is_taken_against_the_previous_session(tmp_path):
    days = tmp_path / "days"
    days.mkdir()
    day_file(days, SESSIONS[2], oi_scale=1)
    day_file(days, SESSIONS[3], oi_scale=3)
    home = tmp_path / "home"
    imported(home, days)
    strikes = Lake(home).read("strikes").filter(pl.col("symbol") == "SPY").sort("as_of", "strike")
    later = strikes.filter(pl.col("trade_date") == SESSIONS[3])
    # Tripled OI: the change is what the first day did not have.
    calls = later.get_column("call_oi").to_list()
    assert later.get_column("call_oi_change").to_list() == [c - c // 3 for c in calls]


def test_days_imported_out_of_order_derive_against_the_true_previous(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    home = tmp_path / "home"
    imported(home, day_file(second, SESSIONS[3], oi_scale=3))
    imported(home, day_file(first, SESSIONS[2], oi_scale=1))
    strikes = (
        Lake(home)
        .read("strikes")
        .filter((pl.col("symbol") == "SPY") & (pl.col("trade_date") == SESSIONS[3]))
    )
    calls = strikes.get_column("call_oi").to_list()
    assert strikes.get_column("call_oi_change").to_list() == [c - c // 3 for c in calls]


def test_a_bad_file_refuses_the_whole_import_before_any_write(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    day_file(good, SESSIONS[2])
    bad = day_file(good, SESSIONS[3])
    text = bad.read_text()  # an expiry before the quote date
    bad.write_text(text.replace("SPY,2023-11-24,SPY,2023-11-24", "SPY,2023-11-24,SPY,2023-11-17"))
    home = tmp_path / "home"
    with pytest.raises(InputError, match=bad.name):
        imported(home, good)
    assert not home.exists() or not any(home.rglob("*.parquet"))


def test_skip_bad_stores_the_rest_and_counts_the_refused_file(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    day_file(good, SESSIONS[2])
    bad = day_file(good, SESSIONS[3])
    bad.write_text(bad.read_text().replace(",8123", ",-8123", 1))  # negative OI
    home = tmp_path / "home"
    result = imported(home, good, skip_bad=True)
    assert len(result.refused) == 1 and bad.name in result.refused[0]
    assert set(Lake(home).read("snapshots").get_column("trade_date")) == {SESSIONS[2]}
    runs = Lake(home).read("runs")
    assert runs.get_column("notes").to_list()[0][0].endswith("refused 1")


def test_runs_row_tells_files_days_symbols_contracts_refused(tmp_path):
    days = tmp_path / "days"
    days.mkdir()
    for session in SESSIONS[2:]:
        day_file(days, session)
    home = tmp_path / "home"
    imported(home, days)
    run = Lake(home).read("runs").row(0, named=True)
    assert run["flow"] == "import" and run["source"] == "datashop"
    assert run["status"] == "completed"
    assert run["symbols"] == ["AAPL", "SPX", "SPY"]
    assert any("AAPL1" in note for note in run["notes"])  # the reader's note is kept
    assert run["notes"][0] == (
        "files 2, days 2, symbols 3, contracts 22, stored 6, skipped 0, refused 0"
    )


def test_the_same_day_twice_in_the_inputs_is_refused(tmp_path):
    days = tmp_path / "days"
    days.mkdir()
    path = day_file(days, SESSIONS[3])
    copy = days / "copy.csv"
    copy.write_bytes(path.read_bytes())
    with pytest.raises(InputError, match="also in"):
        prepare(settings_in(tmp_path / "home"), ImportRequest("datashop", (days,)))


def test_inputs_past_the_memory_budget_are_read_again(tmp_path):
    days = tmp_path / "days"
    days.mkdir()
    for session in SESSIONS[2:]:
        day_file(days, session)
    settings = settings_in(tmp_path / "home")
    request = ImportRequest("datashop", (days,))
    fmt, _ = prepare(settings, request)
    from flows.snapshot import pricing_of

    inputs = read_inputs(fmt, request, pricing_of(settings), keep=10)
    assert all(f.chains is None for f in inputs.files)
    result = run_import(settings, request, inputs)
    assert result.stored == 6


def test_a_calcs_less_file_needs_a_preset_that_solves_iv(tmp_path):
    text = pl.read_csv(FIXTURE, infer_schema=False)
    plain = tmp_path / "UnderlyingOptionsEOD_2023-11-24.csv"
    text.drop("implied_volatility_1545", "delta_1545", "gamma_1545").write_csv(plain)
    home = tmp_path / "home"
    perfiliev = replace(settings_in(home), preset="perfiliev")
    with pytest.raises(InputError, match="solve IV"):
        run_import(perfiliev, ImportRequest("datashop", (plain,)))
    result = run_import(settings_in(home), ImportRequest("datashop", (plain,)))
    assert result.stored == 3
