"""Cboe DataShop Option EOD Summary day files."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sources.formats.base import ReadOptions
from tests.pipeline.sources.formats.support import (
    DATA,
    assert_same_as_chain_command,
    by_symbol,
    read_all,
)

CALCS = DATA / "datashop_calcs.csv"


def _variant(tmp_path: Path, old: str, new: str, source: Path = CALCS) -> Path:
    """Write the fixture with its first `old` replaced by `new`."""
    text = source.read_text()
    assert old in text
    path = tmp_path / "variant.csv"
    path.write_text(text.replace(old, new, 1))
    return path


def test_one_chain_per_underlying_with_roots_ids_and_spot() -> None:
    chains = read_all("datashop", CALCS)
    assert [vc.chain.symbol for vc in chains] == ["AAPL", "SPX", "SPY"]
    spx = by_symbol(chains)["SPX"].chain
    assert spx.frame.get_column("contract").to_list() == [
        "SPXW231124C04550000",
        "SPXW231124P04550000",
        "SPX231215C04550000",
        "SPX231215P04550000",
        "SPXW231215C04600000",
    ]
    # The nearest expiry's implied underlying price (15:45), not the later expiry's forward.
    assert spx.spot == 4556.62
    assert spx.frame.get_column("iv").to_list()[0] == 0.0712
    spy = by_symbol(chains)["SPY"].chain
    assert spy.frame.get_column("right").to_list() == ["C", "P", "C", "P"]  # c/p lower case


def test_zero_implied_price_falls_back_to_the_underlying_mid_and_adjusted_roots_are_noted() -> None:
    aapl = by_symbol(read_all("datashop", CALCS))["AAPL"]
    assert aapl.chain.spot == pytest.approx((189.91 + 189.94) / 2)
    assert aapl.chain.frame.height == 2  # the AAPL1 (adjusted) row is left out ...
    assert aapl.notes and "AAPL1" in aapl.notes[0]  # ... and said


def test_point_in_time_on_a_half_day_and_a_full_day(tmp_path: Path) -> None:
    spx = by_symbol(read_all("datashop", CALCS))["SPX"]
    # 2023-11-24, the day after Thanksgiving, closes at 13:00: the "1545" snapshot is 12:45.
    assert spx.chain.as_of == datetime(2023, 11, 24, 12, 45, tzinfo=NEW_YORK)
    assert spx.session == date(2023, 11, 24)
    assert spx.oi_as_of == date(2023, 11, 22)  # previous NYSE session (23rd: Thanksgiving)
    full = tmp_path / "full_day.csv"
    full.write_text(CALCS.read_text().replace("2023-11-24", "2023-11-21"))  # a Tuesday
    spy = by_symbol(read_all("datashop", full))["SPY"]
    assert spy.chain.as_of == datetime(2023, 11, 21, 15, 45, tzinfo=NEW_YORK)
    assert spy.oi_as_of == date(2023, 11, 20)


def test_a_file_without_calcs_imports_with_iv_null(tmp_path: Path) -> None:
    calcs = {f"{name}_1545" for name in ("implied_volatility", "delta", "gamma", "theta")}
    calcs |= {"vega_1545", "rho_1545"}
    lines = CALCS.read_text().splitlines()
    drop = {i for i, name in enumerate(lines[0].split(",")) if name in calcs}
    kept = [",".join(c for i, c in enumerate(line.split(",")) if i not in drop) for line in lines]
    path = tmp_path / "no_calcs.csv"
    path.write_text("\n".join(kept) + "\n")
    assert "implied_volatility_1545" not in kept[0] and "gamma_1545" not in kept[0]
    spx = by_symbol(read_all("datashop", path))["SPX"]
    assert spx.chain.frame.get_column("iv").null_count() == spx.chain.frame.height
    assert spx.chain.spot == 4556.62
    assert_same_as_chain_command(spx, tmp_path)  # the engine solves IV from the 15:45 mid


def test_symbols_filter_reads_only_those() -> None:
    chains = read_all("datashop", CALCS, ReadOptions(symbols=frozenset({"SPY"})))
    assert [vc.chain.symbol for vc in chains] == ["SPY"]


@pytest.mark.parametrize("symbol", ["SPX", "SPY", "AAPL"])
def test_prices_exactly_as_the_chain_command(symbol: str, tmp_path: Path) -> None:
    assert_same_as_chain_command(by_symbol(read_all("datashop", CALCS))[symbol], tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("SPY,2023-11-24,SPY,2023-11-24,455.000,P", "SPY,2023-11-27,SPY,2023-11-24,455.000,P",
         "line 8, column 'quote_date': a day file holds one quote date"),
        ("SPY,2023-11-24,SPY,2023-12-15,460.000,c", "SPY,2023-11-24,SPY,2023-12-15,450.000,p",
         "duplicate contract SPY231215P00450000 (SPY) on lines 9, 10"),
        (",9876,", ",-9876,", "line 3, column 'open_interest': -9876.0 is negative"),
        (",0.0712,", ",nan,", "line 2, column 'implied_volatility_1545': nan is not a finite"),
        ("SPY,2023-11-24,SPY,2023-11-24,", "SPY,2023-11-24,SPY,2023-11-22,",
         "line 7, column 'expiration': 2023-11-22 is before the quote date"),
        (",0.0712,", ",abc,", "line 2, column 'implied_volatility_1545': 'abc' is not a number"),
        (",C,3.10,", ",X,3.10,", "line 2, column 'option_type'"),
    ],
)  # fmt: skip
def test_bad_rows_are_refused_naming_line_and_column(
    old: str, new: str, message: str, tmp_path: Path
) -> None:
    path = _variant(tmp_path, old, new)
    with pytest.raises(InputError) as caught:
        read_all("datashop", path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_another_vendors_file_or_a_missing_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="looks like an ORATS strikes file, not Cboe DataShop"):
        read_all("datashop", DATA / "orats_strikes.csv")
    with pytest.raises(InputError, match=r"looks like a historicaloptiondata\.com"):
        read_all("datashop", DATA / "hod_l2.csv")
    missing = _variant(tmp_path, "open_interest,", "oi,")
    with pytest.raises(InputError, match=r"line 1: missing column\(s\) open_interest"):
        read_all("datashop", missing)
