"""ORATS strikes files: the history layout and the near-EOD short names."""

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

STRIKES = DATA / "orats_strikes.csv"
NEAR_EOD = DATA / "orats_near_eod.csv"


def _contracts(path: Path, symbol: str) -> dict[str, dict[str, object]]:
    """Return the symbol's contracts keyed by id."""
    frame = by_symbol(read_all("orats", path))[symbol].chain.frame
    return {row["contract"]: row for row in frame.iter_rows(named=True)}


def test_each_row_becomes_a_call_and_a_put_with_orats_delta_convention() -> None:
    spx = _contracts(STRIKES, "SPX")
    call, put = spx["SPX231215C04550000"], spx["SPX231215P04550000"]
    assert (call["bid"], call["ask"], call["iv"], call["open_interest"]) == (
        64.9,
        66.1,
        0.1105,
        22011,
    )
    assert (put["bid"], put["ask"], put["iv"], put["open_interest"]) == (47.1, 48.3, 0.1212, 31544)
    assert call["delta"] == 0.5621 and put["delta"] == pytest.approx(0.5621 - 1)
    assert call["gamma"] == put["gamma"] == 0.0024
    # ORATS has no roots: the third-Friday SPX expiry is the AM monthly, the others SPXW.
    assert "SPXW231222C04600000" in spx


def test_a_missing_side_iv_falls_back_to_the_smoothed_vol() -> None:
    put = _contracts(STRIKES, "SPY")["SPY231215P00450000"]
    assert put["iv"] == 0.11  # putMidIv 0 -> smvVol


def test_short_names_read_the_same_way() -> None:
    qqq = _contracts(NEAR_EOD, "QQQ")
    assert qqq["QQQ240119P00390000"]["open_interest"] == 50221
    assert qqq["QQQ240119P00390000"]["delta"] == pytest.approx(0.7101 - 1)
    assert by_symbol(read_all("orats", NEAR_EOD))["QQQ"].chain.spot == 396.12  # stkPx


def test_point_in_time_snapshot_time_half_day_and_previous_session_oi(tmp_path: Path) -> None:
    spx = by_symbol(read_all("orats", STRIKES))["SPX"]
    # No snapShotEstTime: 14 minutes before the close, which is 13:00 on 2023-11-24.
    assert spx.chain.as_of == datetime(2023, 11, 24, 12, 46, tzinfo=NEW_YORK)
    assert spx.oi_as_of == date(2023, 11, 22)
    qqq = by_symbol(read_all("orats", NEAR_EOD))["QQQ"]
    assert qqq.chain.as_of == datetime(2024, 1, 5, 15, 46, tzinfo=NEW_YORK)  # snapShotEstTime
    assert (qqq.session, qqq.oi_as_of) == (date(2024, 1, 5), date(2024, 1, 4))
    earlier = tmp_path / "earlier.csv"
    earlier.write_text(NEAR_EOD.read_text().replace(",1546,", ",1530,"))
    assert by_symbol(read_all("orats", earlier))["QQQ"].chain.as_of.hour == 15
    assert by_symbol(read_all("orats", earlier))["QQQ"].chain.as_of.minute == 30


def test_a_file_of_several_trade_dates_gives_one_chain_per_date(tmp_path: Path) -> None:
    lines = NEAR_EOD.read_text().splitlines()
    later = [line.replace("01/05/2024", "01/08/2024", 1) for line in lines[1:]]
    path = tmp_path / "two_days.csv"
    path.write_text("\n".join([*lines, *later]) + "\n")
    sessions = [vc.session for vc in read_all("orats", path)]
    assert sessions == [date(2024, 1, 5), date(2024, 1, 8)]


@pytest.mark.parametrize(
    ("path", "symbol"), [(STRIKES, "SPX"), (STRIKES, "SPY"), (NEAR_EOD, "QQQ")]
)
def test_prices_exactly_as_the_chain_command(path: Path, symbol: str, tmp_path: Path) -> None:
    assert_same_as_chain_command(by_symbol(read_all("orats", path))[symbol], tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (",22011,", ",-22011,", "line 2, column 'callOpenInterest/putOpenInterest': -22011.0"),
        (",1546,", ",9961,", "line 2, column 'snapShotEstTime': '9961' is not a time"),
        ("2023-12-15,22,4550", "2023-11-20,22,4550", "line 2, column 'expirDate': 2023-11-20 is"),
        (",0.1105,", ",inf,", "column 'callMidIv/putMidIv': inf is not a finite number"),
    ],
)
def test_bad_rows_are_refused(old: str, new: str, message: str, tmp_path: Path) -> None:
    source = NEAR_EOD if "1546" in old else STRIKES
    path = tmp_path / "bad.csv"
    path.write_text(source.read_text().replace(old, new, 1))
    with pytest.raises(InputError) as caught:
        read_all("orats", path)
    assert message in str(caught.value)


def test_another_vendors_file_or_a_missing_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="looks like a Cboe DataShop Option EOD Summary file"):
        read_all("orats", DATA / "datashop_calcs.csv")
    path = tmp_path / "no_oi.csv"
    path.write_text(STRIKES.read_text().replace("putOpenInterest", "putOI", 1))
    with pytest.raises(InputError, match=r"missing column\(s\) putOpenInterest"):
        read_all("orats", path)
