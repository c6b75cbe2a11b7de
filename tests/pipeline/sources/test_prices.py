"""Price bars: the real ^GSPC file, generic layouts, bad rows, close times, synthetic bars."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from pipeline.errors import InputError
from pipeline.sources.prices import BarsError, bar_problems, read_bars, synthetic_bars
from pipeline.sources.synthetic import SyntheticMarket
from pipeline.sources.tabular import LINE

HEADER = "date,open,high,low,close,volume"


@pytest.mark.refdata
def test_yahoo_gspc(refdata):
    bars = read_bars(refdata / "fja05680-gspc-daily/^GSPC.csv", "SPX", "yahoo")
    rows = bars.rows
    assert rows.height == 24114
    assert bars.notes == [
        "5075 bars have open 0, Yahoo's mark for an unknown open "
        "(1962-01-02 .. 1982-04-19): stored with no open"
    ]
    day = rows.filter(pl.col("trade_date") == date(2022, 2, 4)).row(0, named=True)
    assert day["close"] == pytest.approx(4500.5298, abs=1e-4)  # = the NDX/SPX chain's spot
    half_day = rows.filter(pl.col("trade_date") == date(2023, 11, 24)).item(0, "as_of")
    assert half_day == datetime(2023, 11, 24, 18, 0, tzinfo=UTC)  # 13:00 New York


def write(tmp_path, lines, name="bars.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def test_generic_csv_and_parquet(tmp_path):
    path = write(tmp_path, ["2024-03-01,10,11,9.5,10.5,1000", "2024-03-04,10.5,12,10,11,2000"])
    rows = read_bars(path, "ABC").rows
    assert rows.get_column("close").to_list() == [10.5, 11.0]
    assert rows.item(0, "as_of") == datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
    parquet = tmp_path / "bars.parquet"
    pl.read_csv(path).write_parquet(parquet)
    assert read_bars(parquet, "ABC").rows.equals(rows)


def test_every_bad_row_is_reported_and_nothing_returned(tmp_path):
    path = write(
        tmp_path,
        [
            "2024-03-01,10,11,9.5,10.5,1000",
            "2024-03-04,10,9,11,10,1000",  # line 3: high below low
            ",10,11,9,10,1000",  # line 4: no date
            "2024-03-01,10,11,9,10,1000",  # line 5: duplicate date (with line 2)
            "2024-03-06,0,11,-1,10,1000",  # line 6: non-positive
            "2024-03-07,10,11,9,12,1000",  # line 7: close above high
        ],
    )
    with pytest.raises(BarsError) as err:
        read_bars(path, "ABC")
    text = str(err.value)
    assert "6 bad row(s), nothing imported" in text
    for expected in (
        "line 2: duplicate date",
        "line 3: high below low",
        "line 4: missing or unreadable date",
        "line 6: non-positive price",
        "line 7: open or close outside high-low",
    ):
        assert expected in text


def test_missing_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Date,Close\n2024-03-01,10\n")
    with pytest.raises(BarsError, match="line 1: missing column"):
        read_bars(path, "ABC")


def test_synthetic_bars_are_consistent_sessions():
    bars = synthetic_bars(SyntheticMarket(), "SPY", date(2024, 3, 25), date(2024, 4, 5))
    assert date(2024, 3, 29) not in bars.get_column("trade_date").to_list()  # Good Friday
    assert (
        bar_problems(bars.with_row_index(LINE).with_columns(pl.lit(False).alias("_unknown_open")))
        == []
    )


NOON = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)  # 07:00 New York, Wednesday 2024-03-06


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        ("2024-03-02", "dated on a weekend"),  # Saturday
        ("2024-03-03", "dated on a weekend"),  # Sunday
        ("2024-03-29", "dated on an NYSE holiday"),  # Good Friday
        ("2024-12-25", "in the future"),  # after NOON, and a holiday too
        ("2099-01-02", "in the future"),
        ("2024-03-06", "in the future"),  # today, before the close
        ("1800-01-02", "dated before 1885-02-16"),
    ],
)
def test_bars_off_the_calendar_are_refused(tmp_path, day, reason):
    path = write(tmp_path, ["2024-03-01,10,11,9.5,10.5,1000", f"{day},10,11,9,10,1"])
    with pytest.raises(BarsError, match=rf"nothing imported: line 3: .*{reason}"):
        read_bars(path, "ABC", now=NOON)


def test_saturdays_before_1952_were_sessions(tmp_path):
    path = write(tmp_path, ["1950-03-04,17,17,17,17,0", "1950-03-06,17,17,17,17,0"])
    assert read_bars(path, "ABC", now=NOON).rows.height == 2  # Saturday 1950-03-04


def test_a_session_is_importable_once_it_has_closed(tmp_path):
    path = write(tmp_path, ["2024-03-06,10,11,9,10,1"])
    evening = datetime(2024, 3, 6, 21, 30, tzinfo=UTC)  # 16:30 New York
    assert read_bars(path, "ABC", now=evening).rows.height == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_prices_are_refused(tmp_path, value):
    path = write(tmp_path, [f"2024-03-01,10,{value},9,10,1"])
    with pytest.raises(BarsError, match="line 2: non-finite price"):
        read_bars(path, "ABC", now=NOON)


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["2024-03-01,10,11,9,10"], "line 2: has 5 fields, expected 6"),
        (["2024-03-01,10,11,9,10,1,7"], r"line 2: has 7 fields.*extra cell\(s\) '7'"),
    ],
)
def test_rows_that_do_not_fit_the_header_are_refused(tmp_path, lines, match):
    with pytest.raises(BarsError, match=match):
        read_bars(write(tmp_path, lines), "ABC", now=NOON)


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        (date(2024, 3, 10), date(2024, 3, 1), "--start 2024-03-10 is after --end 2024-03-01"),
        (date(2024, 3, 2), date(2024, 3, 3), "no NYSE session from --start 2024-03-02"),
        (date(1985, 1, 2), date(1985, 2, 1), "outside the NYSE calendar"),
        (date(1995, 1, 3), date(1995, 2, 1), "the synthetic market starts 2000-01-03"),
    ],
)
def test_synthetic_spans_without_sessions_are_refused(tmp_path, start, end, match):
    from flows.imports import import_synthetic_prices

    with pytest.raises(InputError, match=match):
        import_synthetic_prices(tmp_path, ["SPY"], start, end, SyntheticMarket())
    with pytest.raises(InputError):
        synthetic_bars(SyntheticMarket(), "SPY", start, end)
    assert not (tmp_path / "lake").exists()


def test_synthetic_prices_need_a_symbol(tmp_path):
    from flows.imports import import_synthetic_prices

    with pytest.raises(InputError, match="--symbols names no symbol"):
        import_synthetic_prices(tmp_path, [], date(2024, 3, 1), date(2024, 3, 8), SyntheticMarket())
    assert not (tmp_path / "lake").exists()


def test_update_prices_refuses_a_start_after_the_latest_session(tmp_path):
    from flows.imports import update_prices
    from flows.settings import Settings

    with pytest.raises(InputError, match="--start 2999-01-01 is after the latest session"):
        update_prices(Settings(home=tmp_path), ["SPY"], date(2999, 1, 1))
    with pytest.raises(InputError, match="--symbols names no symbol"):
        update_prices(Settings(home=tmp_path), [], date(2024, 1, 2))
    assert not (tmp_path / "lake").exists()


def test_prices_import_refuses_an_empty_symbol(tmp_path):
    from flows.imports import import_prices

    path = write(tmp_path, ["2024-03-01,10,11,9.5,10.5,1000"])
    with pytest.raises(InputError, match="--symbol is empty"):
        import_prices(tmp_path, path, " ")
    assert not (tmp_path / "lake").exists()
