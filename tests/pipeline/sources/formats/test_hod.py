"""historicaloptiondata.com L2/L3 day files, and the pre-2010 layout."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from tests.pipeline.sources.formats.support import (
    DATA,
    assert_same_as_chain_command,
    by_symbol,
    read_all,
)

L2, L3, PRE_2010 = DATA / "hod_l2.csv", DATA / "hod_l3.csv", DATA / "hod_pre2010.csv"


def test_roots_come_from_the_osi_option_symbol_padded_or_not() -> None:
    spx = by_symbol(read_all("hod", L2))["SPX"].chain
    assert spx.frame.get_column("contract").to_list() == [
        "SPXW231124C04550000",
        "SPXW231124P04550000",
        "SPX231215C04550000",  # "SPX   231215C04550000" in the file
        "SPX231215P04550000",
    ]
    assert spx.spot == 4559.34 and spx.frame.get_column("right").to_list() == ["C", "P", "C", "P"]


def test_pre_2010_roots_map_to_the_underlying_and_its_weekly_root() -> None:
    spx = by_symbol(read_all("hod", PRE_2010))["SPX"].chain
    # SPQ/SZP are pre-OSI roots: the Saturday-dated monthly is SPX, the quarterly SPXW.
    assert spx.frame.get_column("contract").to_list() == [
        "SPX091219C01100000",
        "SPX091219P01100000",
        "SPXW091231C01125000",
    ]


def test_point_in_time_is_the_close_and_oi_is_the_data_dates() -> None:
    spx = by_symbol(read_all("hod", L2))["SPX"]
    assert spx.chain.as_of == datetime(2023, 11, 24, 13, 0, tzinfo=NEW_YORK)  # half day
    assert (spx.session, spx.oi_as_of) == (date(2023, 11, 24), date(2023, 11, 24))
    aapl = by_symbol(read_all("hod", L3))["AAPL"]
    assert aapl.chain.as_of == datetime(2024, 1, 5, 16, 0, tzinfo=NEW_YORK)
    # L3's T1OpenInterest (59020) is the session before; OpenInterest is read.
    assert aapl.chain.frame.get_column("open_interest").to_list() == [60110, 50110]
    assert aapl.oi_as_of == date(2024, 1, 5)


@pytest.mark.parametrize(
    ("path", "symbol"), [(L2, "SPX"), (L2, "SPY"), (L3, "AAPL"), (PRE_2010, "SPX")]
)
def test_prices_exactly_as_the_chain_command(path: Path, symbol: str, tmp_path: Path) -> None:
    assert_same_as_chain_command(by_symbol(read_all("hod", path))[symbol], tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            ",11/24/2023,4550,9.5",
            ",11/27/2023,4550,9.5",
            "line 3, column 'DataDate': a day file holds one quote date: 2023-11-24 here, "
            "2023-11-27 on line 2",
        ),
        ("SPXW231124P04550000,,put", "SPXW231124P04550000,,xyz", "line 3, column 'Type'"),
        (",8123,", ",-8123,", "line 2, column 'OpenInterest': -8123.0 is negative"),
        ("call,11/24/2023,11/24/2023", "call,11/22/2023,11/24/2023", "column 'Expiration'"),
    ],
)
def test_bad_rows_are_refused(old: str, new: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(L2.read_text().replace(old, new, 1))
    with pytest.raises(InputError) as caught:
        read_all("hod", path)
    assert message in str(caught.value)


def test_a_contract_listed_twice_is_refused(tmp_path: Path) -> None:
    lines = L2.read_text().splitlines()
    path = tmp_path / "twice.csv"
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    duplicate = r"duplicate contract SPXW231124C04550000 \(SPX\) on lines 2, 8"
    with pytest.raises(InputError, match=duplicate):
        read_all("hod", path)


def test_another_vendors_file_is_named() -> None:
    with pytest.raises(InputError, match="looks like an ORATS strikes file, not historicaloption"):
        read_all("hod", DATA / "orats_near_eod.csv")
