"""Cboe Open-Close end-of-day files: read by name, refused clearly, kept out of the chain formats.

The fixtures C1OpenClose_2023-11-22.csv and C1OpenClose_2023-11-24.csv are hand-made in the
DataShop layout (84 columns: contract fields, prices, OI, the `_qty`/`_vol` pairs of market
makers, firms, broker-dealers and the customer size buckets).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipeline.errors import InputError
from pipeline.sources.formats.base import format_for, load_all, read_header
from pipeline.sources.formats.openclose import (
    VOLUME_COLUMNS,
    exchange_of,
    matches,
    read_open_close,
)
from tests.pipeline.sources.formats.support import DATA
from warehouse.schema import DATASETS

DAY1 = DATA / "C1OpenClose_2023-11-22.csv"
DAY2 = DATA / "C1OpenClose_2023-11-24.csv"


def edited(tmp_path: Path, edit: Callable[[pl.DataFrame], pl.DataFrame], name: str = "") -> Path:
    """Return a copy of DAY1 (as text) passed through `edit`, named like Cboe's files."""
    frame = edit(pl.read_csv(DAY1, infer_schema=False))
    path = tmp_path / (name or DAY1.name)
    frame.write_csv(path)
    return path


def cell(column: str, row: int, value: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Return an edit setting one cell (row 0 is the file's line 2)."""

    def edit(frame: pl.DataFrame) -> pl.DataFrame:
        values = frame.get_column(column).to_list()
        values[row] = value
        return frame.with_columns(pl.Series(column, values))

    return edit


def test_a_day_file_gives_one_row_per_contract_with_its_volumes():
    read = read_open_close(DAY1)
    assert read.exchange == "C1" and read.nonstandard == 1  # SPY1 (series_type N) left out
    frame = read.frame.sort("contract")
    assert frame.get_column("contract").to_list() == [
        "SPX231215C04500000",
        "SPXW231124P04550000",
        "SPXW231215C04500000",
        "SPY231215P00450000",
    ]
    spx = frame.row(0, named=True)
    assert (spx["trade_date"], spx["symbol"], spx["root"]) == (date(2023, 11, 22), "SPX", "SPX")
    assert (spx["expiration"], spx["strike"], spx["right"]) == (date(2023, 12, 15), 4500.0, "C")
    assert (spx["mm_buy_vol"], spx["mm_sell_vol"], spx["open_interest"]) == (0, 100, 2400)
    assert (spx["cust_lt_100_open_buy_vol"], spx["procust_lt_100_open_buy_vol"]) == (60, 40)
    assert spx["total_exchange_vol"] == 100 and spx["firm_open_sell_vol"] == 0
    put = frame.row(1, named=True)
    assert (put["mm_buy_vol"], put["firm_open_buy_vol"], put["cust_gt_199_open_sell_vol"]) == (
        50,
        250,
        300,
    )
    assert all(frame.schema[c] == pl.Int64 for c in VOLUME_COLUMNS)


def test_symbols_limit_the_rows():
    read = read_open_close(DAY1, symbols=frozenset({"SPY"}))
    assert read.frame.get_column("contract").to_list() == ["SPY231215P00450000"]


def test_it_is_not_a_chain_format_and_no_chain_format_claims_it():
    header = read_header(DAY1)
    assert matches(header)
    assert format_for(header) is None
    assert "openclose" not in load_all()
    for fixture in ("datashop_calcs.csv", "orats_strikes.csv", "hod_l2.csv"):
        assert not matches(read_header(DATA / fixture))


def test_every_volume_column_has_a_column_in_the_lake_dataset():
    columns = DATASETS["open_close"].columns
    assert set(VOLUME_COLUMNS) <= set(columns)
    assert len(VOLUME_COLUMNS) == 2 + 8 * 4
    assert {"open_interest", "exchange", "contract", "expiration", "strike", "right"} <= set(
        columns
    )


@pytest.mark.parametrize(
    ("name", "exchange"),
    [
        ("C1OpenClose_2023-11-22.csv", "C1"),
        ("/x/edgxopenclose_2023-11-22.csv.gz", "EDGX"),
        ("day.zip:BZXOpenClose_2023-11-22.csv", "BZX"),
        ("C2_OpenClose_2023-11-22.csv", "C2"),
        ("openclose.csv", "cboe"),
    ],
)
def test_the_exchange_comes_from_the_file_name(name, exchange):
    assert exchange_of(name) == exchange


def one_line(path: Path) -> str:
    """Return the one-line message reading `path` is refused with."""
    with pytest.raises(InputError) as refused:
        read_open_close(path)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_another_vendors_file_is_named():
    message = one_line(DATA / "datashop_calcs.csv")
    assert "line 1" in message
    assert "looks like a Cboe DataShop Option EOD Summary file, not Cboe Open-Close" in message


def test_an_interval_file_is_refused(tmp_path):
    path = edited(tmp_path, lambda f: f.rename({"quote_date": "trade_datetime"}))
    assert "is a 10-minute interval Cboe Open-Close Volume Summary file" in one_line(path)


def test_a_header_of_no_vendor_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    assert "header is not a Cboe Open-Close Volume Summary header" in one_line(path)


@pytest.mark.parametrize("column", ["mm_sell_vol", "bd_close_buy_vol", "strike_price"])
def test_a_missing_column_is_named(tmp_path, column):
    path = edited(tmp_path, lambda f: f.drop(column))
    assert one_line(path) == f"{path}, line 1: missing column(s) {column}"


@pytest.mark.parametrize(
    ("column", "row", "value", "said"),
    [
        ("cust_lt_100_open_buy_vol", 0, "6O", "'6O' is not a number"),
        ("mm_sell_vol", 2, "", "'' is empty"),
        ("mm_sell_vol", 3, "-30", "-30 is a negative count"),
        ("firm_open_buy_vol", 2, "2.5", "2.5 is not a whole number"),
        ("open_interest", 1, "many", "'many' is not a number"),
        ("strike_price", 1, "0", "0 is not positive"),
        ("call_put_flag", 1, "X", "'X' is not an option type (C/P)"),
        ("expiration_date", 3, "2023-11-21", "is before the quote date"),
        ("quote_date", 0, "22/11/2023", "'22/11/2023' is not a date"),
    ],
)
def test_a_bad_cell_is_named_by_line_and_column(tmp_path, column, row, value, said):
    path = edited(tmp_path, cell(column, row, value))
    message = one_line(path)
    assert message.startswith(f"{path}, line {row + 2}, column {column!r}: "), message
    assert said in message


def test_a_contract_listed_twice_is_refused_naming_the_lines(tmp_path):
    path = edited(tmp_path, lambda f: pl.concat([f, f.head(1)]))
    assert one_line(path) == (
        f"{path}: contract SPX231215C04500000 (SPX) is listed twice for 2023-11-22 on lines 2, 7"
    )


def test_an_empty_open_interest_is_null_not_refused(tmp_path):
    path = edited(tmp_path, cell("open_interest", 0, ""))
    frame = read_open_close(path).frame.sort("contract")
    assert frame.get_column("open_interest").to_list()[:2] == [None, 1200]


def test_blanks_around_a_number_are_read(tmp_path):
    """Cells are parsed as written first; a column that fails is parsed again, stripped."""
    path = edited(tmp_path, cell("mm_sell_vol", 0, " 100 "))
    frame = read_open_close(path).frame.sort("contract")
    assert frame.get_column("mm_sell_vol").to_list()[0] == 100
