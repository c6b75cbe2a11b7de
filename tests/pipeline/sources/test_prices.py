"""Price bars: the real ^GSPC file, generic layouts, bad rows, close times, synthetic bars."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

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
