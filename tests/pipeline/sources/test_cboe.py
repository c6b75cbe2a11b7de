"""CBOE quotedata reader: every layout in refdata, the date formats, and bad files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.errors import ChainFormatError
from pipeline.sources.chains import read_chain
from pipeline.sources.formats.quotedata import parse_cboe_date, read_cboe

HEADER = (
    "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,"
    "Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest"
)
ROW = (
    "Fri Jan 19 2024,SPY240119C{kid},5.1,0.2,5.0,5.2,{cv},0.14,0.55,0.04,{coi},{k},"
    "SPY240119P{kid},3.1,-0.1,3.0,3.2,20,0.15,-0.45,0.04,{poi}"
)


def row(cv: object = 10, coi: object = 100, k: object = "470.00", poi: object = 50) -> str:
    """Return a data row; the option ids name strike `k` (470 when `k` is not a number)."""
    try:
        kid = f"{round(float(k) * 1000):08d}"
    except (ValueError, OverflowError):
        kid = "00470000"
    return ROW.format(cv=cv, coi=coi, k=k, poi=poi, kid=kid)


UTC4 = timezone(timedelta(hours=-4))
UTC5 = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("January 7, 2024 at 10:52 AM EST", datetime(2024, 1, 7, 10, 52, tzinfo=UTC5)),
        ("July 12, 2022, 11:55 AM EDT", datetime(2022, 7, 12, 11, 55, tzinfo=UTC4)),
        ("February 5 2022, 8:26 PM EST", datetime(2022, 2, 5, 20, 26, tzinfo=UTC5)),
        ("9 June 2023, 1:40 PM EDT", datetime(2023, 6, 9, 13, 40, tzinfo=UTC4)),
        ("8 June 2023 7:56 PM EDT", datetime(2023, 6, 8, 19, 56, tzinfo=UTC4)),
        ("16 April 2023, 22:59 UTC\u22124", datetime(2023, 4, 16, 22, 59, tzinfo=UTC4)),
        ("May 26, 2023 at 12:01 AM EDT", datetime(2023, 5, 26, 0, 1, tzinfo=UTC4)),
        ("May 26, 2023 at 12:30 PM EDT", datetime(2023, 5, 26, 12, 30, tzinfo=UTC4)),
    ],
)
def test_date_line_formats(text, expected):
    parsed = parse_cboe_date(text)
    assert parsed == expected
    assert str(parsed.tzinfo) == "America/New_York"


def test_unknown_date_format_is_refused():
    with pytest.raises(ValueError, match="unrecognised date"):
        parse_cboe_date("yesterday at noon")


# (path, symbol, spot, as_of ISO, data rows) from each folder's SOURCE.md.
LAYOUTS = [
    (
        "phammings-spx500-gamma/modules/spx_quotedata.csv",
        "SPX",
        4697.2402,
        "2024-01-07T10:52:00-05:00",
        10519,
    ),
    (
        "phammings-spx500-gamma/spx_quotedata.csv",
        "SPX",
        3900.8601,
        "2022-06-11T20:47:00-04:00",
        9835,
    ),
    ("nickkxsper-index-gamma/spx_quotedata.csv", "SPX", 3856.28, "2022-07-12T11:55:00-04:00", 9689),
    (
        "luca-castelli-index-gamma/ndx_quotedata.csv",
        "NDX",
        14694.3506,
        "2022-02-05T20:26:00-05:00",
        9193,
    ),
    (
        "luca-castelli-index-gamma/spx_quotedata.csv",
        "SPX",
        4500.5298,
        "2022-02-05T20:09:00-05:00",
        10257,
    ),
    ("ralph-e-boy-gamma-chart/quotedata.csv", "SPY", 658.05, "2025-09-25T21:05:00-04:00", 1858),
    (
        "carlosjimenezdiaz-gex-python/spy_quotedata.csv",
        "SPY",
        450.81,
        "2023-09-14T16:31:00-04:00",
        3646,
    ),
    (
        "carlosjimenezdiaz-gex-python/xsp_quotedata.csv",
        "XSP",
        450.51,
        "2023-09-14T16:30:00-04:00",
        5441,
    ),
    (
        "ayourelwazani97-gamma/4925a7cc55f2e43994c4483ff953eea506f42997/ES/spx_quotedata.csv",
        "SPX",
        4137.6401,
        "2023-04-16T22:59:00-04:00",
        9048,
    ),
    (
        "ayourelwazani97-gamma/5396338b43a5b5a5144f7ee8a4e74b320dfb0cd1/ES/spx_quotedata.csv",
        "SPX",
        4293.9302,
        "2023-06-08T19:56:00-04:00",
        8979,
    ),
    (
        "ayourelwazani97-gamma/28e3b7714a4410c9000a24bf9f74ffc94ad129c2/ES/spx_quotedata.csv",
        "SPX",
        4300.0098,
        "2023-06-09T13:40:00-04:00",
        8894,
    ),
    (
        "ayourelwazani97-gamma/cdb00a66d25eb91f674858880d77d19ffbd00d52/ES/spx_quotedata.csv",
        "SPX",
        4145.5801,
        "2023-05-23T19:39:00-04:00",
        8670,
    ),
]


@pytest.mark.refdata
@pytest.mark.parametrize(("name", "symbol", "spot", "as_of", "rows"), LAYOUTS)
def test_every_refdata_layout(refdata, name, symbol, spot, as_of, rows):
    chain = read_chain(refdata / name)
    assert chain.symbol == symbol
    assert chain.spot == spot
    assert chain.as_of == datetime.fromisoformat(as_of)
    assert chain.frame.height == 2 * rows
    assert chain.frame.get_column("strike").null_count() == 0


@pytest.mark.refdata
def test_every_refdata_chain_file_parses(refdata):
    files = [p for p in refdata.rglob("*.csv") if "quotedata" in p.name]
    assert len(files) >= 15
    for path in files:
        assert read_cboe(path).frame.height > 0, path


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "quotedata.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def good_lines(**cells: object) -> list[str]:
    return [
        "",
        "SPDR S&P 500 ETF Trust,Last: 470.5,Change: 1.2",
        '"Date: January 5, 2024 at 4:15 PM EST",Bid: 470.4,Ask: 470.6',
        HEADER,
        row(k="465.00", poi=50),
        row(**{"poi": 200, **cells}),
    ]


def test_small_file_parses(tmp_path):
    chain = read_cboe(write(tmp_path, good_lines()))
    assert chain.symbol == "SPY" and chain.spot == 470.5
    assert chain.frame.get_column("open_interest").to_list() == [100, 100, 50, 200]


@pytest.mark.parametrize(
    ("cells", "line", "column", "message"),
    [
        ({"k": "abc"}, 6, "Strike", "'abc' is not a number"),
        ({"poi": -5}, 6, "Open Interest (puts)", "is negative"),
        ({"coi": 1.5}, 6, "Open Interest (calls)", "not a whole number"),
        ({"coi": ""}, 6, "Open Interest (calls)", "is empty"),
    ],
)
def test_bad_cells_name_file_line_and_column(tmp_path, cells, line, column, message):
    path = write(tmp_path, good_lines(**cells))
    with pytest.raises(ChainFormatError) as err:
        read_cboe(path)
    text = str(err.value)
    assert str(path) in text and f"line {line}" in text and repr(column) in text
    assert message in text


def test_missing_spot_is_refused(tmp_path):
    lines = good_lines()
    lines[1] = "SPDR S&P 500 ETF Trust,Change: 1.2"
    with pytest.raises(ChainFormatError, match="no spot"):
        read_cboe(write(tmp_path, lines))


def test_missing_header_is_refused(tmp_path):
    lines = good_lines()
    lines[3] = HEADER.replace("Expiration Date", "Expiry")
    with pytest.raises(ChainFormatError, match="no header line"):
        read_cboe(write(tmp_path, lines))


def test_bad_expiration_names_the_line(tmp_path):
    lines = good_lines()
    lines[5] = lines[5].replace("Fri Jan 19 2024", "2024-01-19")
    with pytest.raises(ChainFormatError, match=r"line 6, column 'Expiration Date'"):
        read_cboe(write(tmp_path, lines))


def test_header_only_is_refused(tmp_path):
    with pytest.raises(ChainFormatError, match="no option rows"):
        read_cboe(write(tmp_path, good_lines()[:4]))


def test_rows_padded_with_empty_cells_still_read(tmp_path):
    lines = good_lines()
    lines[4:] = [line + ",,," for line in lines[4:]]
    assert read_cboe(write(tmp_path, lines)).frame.height == 4


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_windows_and_old_mac_line_ends_read(tmp_path, ending):
    path = tmp_path / "quotedata.csv"
    path.write_bytes(ending.join(good_lines()).encode() + ending.encode())
    assert read_cboe(path).frame.height == 4


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"coi": "nan"}, "Open Interest (calls)", "is not a finite number"),
        ({"coi": "inf"}, "Open Interest (calls)", "is not a finite number"),
        ({"poi": "1e23"}, "Open Interest (puts)", "implausibly large"),
        ({"cv": "2e9"}, "Volume (calls)", "implausibly large"),
        ({"k": "inf"}, "Strike", "is not a finite number"),
        ({"k": "0"}, "Strike", "is not positive"),
    ],
)
def test_non_finite_and_implausible_numbers_are_refused(tmp_path, cells, column, message):
    path = write(tmp_path, good_lines(**cells))
    with pytest.raises(ChainFormatError) as err:
        read_chain(path)
    assert f"line 6, column {column!r}" in str(err.value) and message in str(err.value)


def test_a_deleted_header_column_is_named(tmp_path):
    lines = good_lines()
    lines[3] = HEADER.replace("Gamma,", "", 1)
    with pytest.raises(ChainFormatError, match=r"line 4: header column 10 is 'Open Interest'"):
        read_chain(write(tmp_path, lines))


def test_a_row_with_a_deleted_cell_is_named_not_shifted(tmp_path):
    lines = good_lines()
    cells = lines[5].split(",")
    lines[5] = ",".join(cells[:3] + cells[4:])  # the calls' Net is gone: all cells shift left
    with pytest.raises(ChainFormatError, match=r"line 6: has 21 fields, expected 22"):
        read_chain(write(tmp_path, lines))


def test_an_extra_trailing_cell_is_refused_naming_the_line(tmp_path):
    lines = good_lines()
    lines[4] += ",17"
    with pytest.raises(ChainFormatError, match=r"line 5: has 23 fields.*extra cell\(s\) '17'"):
        read_chain(write(tmp_path, lines))


def test_the_same_contract_twice_is_refused_with_its_lines(tmp_path):
    lines = good_lines()
    lines.append(lines[5])
    with pytest.raises(ChainFormatError, match=r"SPY240119C00470000 listed 2 times \(lines 6, 7\)"):
        read_chain(write(tmp_path, lines))


def test_cells_moved_within_a_row_are_caught_by_the_ids(tmp_path):
    lines = good_lines()
    cells = lines[5].split(",")
    cells[10], cells[11] = cells[11], cells[10]  # calls' OI and Strike swapped: 22 fields still
    lines[5] = ",".join(cells)
    with pytest.raises(ChainFormatError, match=r"line 6, column 'Calls'.*another strike"):
        read_chain(write(tmp_path, lines))


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("SPDR,Last: 0,Change: 1", "spot 0 is not a positive finite number"),
        ("SPDR,Last: -5,Change: 1", "spot -5 is not a positive finite number"),
        ("SPDR,Last: nan,Change: 1", "spot nan is not a positive finite number"),
        ("SPDR,Last: inf,Change: 1", "spot inf is not a positive finite number"),
    ],
)
def test_a_spot_that_is_no_price_is_refused(tmp_path, title, message):
    lines = good_lines()
    lines[1] = title
    with pytest.raises(ChainFormatError, match=rf"line 2, column 'Last': {message}"):
        read_chain(write(tmp_path, lines))


@pytest.mark.parametrize("year", [2099, 1850])
def test_far_dates_are_read_for_the_firewall_to_judge(tmp_path, year):
    lines = good_lines()
    lines[2] = f'"Date: January 5, {year} at 4:15 PM EST",Bid: 470.4'
    assert read_chain(write(tmp_path, lines)).as_of.year == year


@pytest.mark.parametrize(
    "when", ["yesterday", "February 30, 2024 at 4:15 PM EST", "December 31, 9999 at 11:59 PM EST"]
)
def test_an_unreadable_date_is_one_line(tmp_path, when):
    lines = good_lines()
    lines[2] = f'"Date: {when}",Bid: 470.4'
    with pytest.raises(ChainFormatError, match=r"line 3, column 'Date': .* is not a time CBOE"):
        read_chain(write(tmp_path, lines))


def test_a_20_mb_line_is_refused_without_echoing_it(tmp_path):
    lines = good_lines()
    lines[5] = lines[5].replace(",0.2,", "," + "7" * 20_000_000 + ",", 1)
    with pytest.raises(ChainFormatError) as err:
        read_chain(write(tmp_path, lines))
    assert "line 6: is 20,000,135 characters long" in str(err.value) and len(str(err.value)) < 300


@pytest.mark.refdata
def test_the_spx_file_reads_every_contract(refdata):
    # Its speed (~20 ms on 2 cores) is bench/bench_cboe.py's `one_symbol_spx_s`, not a test.
    path = refdata / "phammings-spx500-gamma/modules/spx_quotedata.csv"
    assert read_chain(path).frame.height == 21038
