"""Write the fuzz corpus: small bad input files, each named for what is wrong with it.

Rebuild from the repository root: `.venv/bin/python tests/pipeline/sources/fuzz/make_corpus.py`.
The files are kept in the repository; README.md lists each with what is wrong and what must
become of it: refused with an error containing a fragment, or stored with figures of a class
(tests/pipeline/sources/test_fuzz.py checks both). Top level: chain files (read_chain, then the
firewall and the engine); replies/: Cboe feed replies (the feed parser, then the firewall);
bars/: price bar files (read_bars); dix/: DIX.csv files. The firewall's cases (absurd numbers,
padded duplicates, foreign roots, encodings, huge lines, valid-but-odd files) live in
firewall_cases.py.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import polars as pl
from firewall_cases import CHAIN_CASES as FIREWALL_CHAIN_CASES
from firewall_cases import REPLY_CASES

HERE = Path(__file__).resolve().parent

TITLE = "SPDR S&P 500 ETF Trust,Last: 470.5,Change: 1.2"
DATE = '"Date: January 5, 2024 at 4:15 PM EST",Bid: 470.4,Ask: 470.6'
HEADER = (
    "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,"
    "Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest"
)


def cboe_row(
    k: float = 470, day: str = "Fri Jan 19 2024", ymd: str = "240119", **cells: str
) -> str:
    """Return one CBOE data row at strike `k`; `cells` replace fields by CBOE column index."""
    kid = f"{round(k * 1000):08d}"
    fields = [
        day,
        f"SPY{ymd}C{kid}",
        "5.1",
        "0.2",
        "5.0",
        "5.2",
        "10",
        "0.14",
        "0.55",
        "0.04",
        "100",
        f"{k:.2f}",
        f"SPY{ymd}P{kid}",
        "3.1",
        "-0.1",
        "3.0",
        "3.2",
        "20",
        "0.15",
        "-0.45",
        "0.04",
        "50",
    ]
    for index, value in cells.items():
        fields[int(index.removeprefix("c"))] = value
    return ",".join(fields)


def cboe(*rows: str, title: str = TITLE, date: str = DATE, header: str = HEADER) -> str:
    """Return a CBOE quotedata file: blank line, title, date line, header, rows."""
    body = rows or (cboe_row(465), cboe_row(470), cboe_row(470, "Fri Feb 16 2024", "240216"))
    return "\n".join(["", title, date, header, *body]) + "\n"


# Column indexes of the CBOE layout, for cboe_row(c<i>=...).
C_VOL, C_IV, C_DELTA, C_GAMMA, C_OI, STRIKE, P_BID, P_ASK, P_OI = 6, 7, 8, 9, 10, 11, 15, 16, 21
C_BID = 4

GENERIC_HEADER = "expiration,strike,right,open_interest,volume,iv,symbol,underlying_price,as_of"
META = "SPY,470.5,2024-01-05T16:15:00-05:00"


def generic(*rows: str, header: str = GENERIC_HEADER) -> str:
    """Return a generic contract CSV."""
    body = rows or (
        f"2024-01-19,465,C,100,10,0.14,{META}",
        f"2024-01-19,465,P,50,20,0.15,{META}",
        f"2024-01-19,470,C,100,10,0.14,{META}",
    )
    return "\n".join([header, *body]) + "\n"


def parquet(frame: pl.DataFrame) -> bytes:
    """Return `frame` as Parquet bytes."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def good_generic_frame() -> pl.DataFrame:
    """Return the generic rows as a frame (for Parquet cases)."""
    return pl.read_csv(io.StringIO(generic()), infer_schema=False)


Case = tuple[str, str | bytes, str, str]

CHAIN_CASES: list[Case] = [
    ("cboe_empty_file.csv", "", "empty file", "is empty"),
    ("cboe_only_whitespace.csv", "\n  \n\t\n", "only blank lines", "is empty"),
    ("cboe_binary_garbage.csv", bytes(range(256)) * 4, "binary bytes", "binary data"),
    ("cboe_utf16_with_bom.csv", cboe().encode("utf-16"), "UTF-16 with a BOM", "UTF-16"),
    ("cboe_utf16_without_bom.csv", cboe().encode("utf-16-le"), "UTF-16 without BOM", "UTF-16"),
    (
        "cboe_latin1_title.csv",
        cboe(title="S\xe9lection 500,Last: 470.5").encode("latin-1"),
        "Latin-1 byte in the title",
        "is not UTF-8",
    ),
    ("cboe_nul_in_a_cell.csv", cboe(cboe_row(470, c4="5\x000")), "NUL inside a cell", "binary"),
    (
        "cboe_bell_in_a_cell.csv",
        cboe(cboe_row(470, c4="5\x07")),
        "control char in a cell",
        "binary",
    ),
    ("cboe_preamble_only.csv", "\n".join(["", TITLE, DATE]) + "\n", "no header", "no header line"),
    ("cboe_header_without_rows.csv", cboe("", ""), "header, no rows", "no option rows"),
    ("cboe_missing_date_line.csv", cboe(date=""), "no Date: line", "no 'Date:' line"),
    ("cboe_missing_last.csv", cboe(title="SPDR,Change: 1.2"), "no Last: on the title", "no spot"),
    ("cboe_last_zero.csv", cboe(title="SPDR,Last: 0"), "Last: 0", "not a positive finite"),
    ("cboe_last_negative.csv", cboe(title="SPDR,Last: -470.5"), "Last: -470.5", "not a positive"),
    ("cboe_last_nan.csv", cboe(title="SPDR,Last: nan"), "Last: nan", "not a positive finite"),
    ("cboe_last_inf.csv", cboe(title="SPDR,Last: inf"), "Last: inf", "not a positive finite"),
    ("cboe_last_text.csv", cboe(title="SPDR,Last: n/a"), "Last: n/a", "is not a number"),
    ("cboe_date_unparseable.csv", cboe(date="Date: yesterday"), "Date: yesterday", "unrecognised"),
    (
        "cboe_date_february_30.csv",
        cboe(date="Date: February 30, 2024 at 4:15 PM EST"),
        "a day that does not exist",
        "column 'Date'",
    ),
    (
        "cboe_date_hour_25.csv",
        cboe(date="Date: January 5, 2024 at 25:15 EST"),
        "hour 25",
        "column 'Date'",
    ),
    (
        "cboe_date_13_pm.csv",
        cboe(date="Date: January 5, 2024 at 13:15 PM EST"),
        "13 PM",
        "does not go with PM",
    ),
    (
        "cboe_date_year_9999_overflows.csv",
        cboe(date="Date: December 31, 9999 at 11:59 PM EST"),
        "converting to New York overflows",
        "column 'Date'",
    ),
    (
        "cboe_date_unknown_zone.csv",
        cboe(date="Date: January 5, 2024 at 4:15 PM XYZ"),
        "zone XYZ",
        "unknown time zone",
    ),
    (
        "cboe_date_offset_out_of_range.csv",
        cboe(date="Date: 16 April 2023, 22:59 UTC+99"),
        "UTC+99",
        "column 'Date'",
    ),
    (
        "cboe_header_column_deleted.csv",
        cboe(header=HEADER.replace("IV,Delta,", "Delta,", 1)),
        "header lacks the calls' IV",
        "header column 8 is 'Delta', expected 'IV'",
    ),
    (
        "cboe_column_deleted_everywhere.csv",
        cboe(
            *(
                ",".join(r.split(",")[:7] + r.split(",")[8:])
                for r in (cboe_row(465), cboe_row(470))
            ),
            header=HEADER.replace("IV,Delta,", "Delta,", 1),
        ),
        "the calls' IV column deleted from header and rows",
        "expected 'IV'",
    ),
    (
        "cboe_row_missing_a_cell.csv",
        cboe(cboe_row(465), ",".join(cboe_row(470).split(",")[:-1])),
        "last row is one cell short",
        "line 6: has 21 fields, expected 22",
    ),
    (
        "cboe_row_missing_a_middle_cell.csv",
        cboe(cboe_row(465), ",".join(cboe_row(470).split(",")[:5] + cboe_row(470).split(",")[6:])),
        "a row lost its calls' Ask cell",
        "line 6: has 21 fields",
    ),
    (
        "cboe_row_extra_trailing_cell.csv",
        cboe(cboe_row(465), cboe_row(470) + ",999"),
        "extra trailing cell",
        "line 6: has 23 fields, expected 22: extra cell(s) '999'",
    ),
    (
        "cboe_header_extra_column.csv",
        cboe(header=HEADER + ",Notes"),
        "header has a 23rd column",
        "is not part of the CBOE layout",
    ),
    (
        "cboe_header_renamed_column.csv",
        cboe(header=HEADER.replace("Open Interest", "Open Int", 1)),
        "header says Open Int",
        "expected 'Open Interest'",
    ),
    (
        "cboe_header_duplicated_strike.csv",
        cboe(header=HEADER.replace("Puts", "Strike")),
        "Strike named twice, Puts missing",
        "expected 'Puts'",
    ),
    ("cboe_oi_nan.csv", cboe(cboe_row(470, c10="NaN")), "OI NaN", "not a finite number"),
    ("cboe_oi_inf.csv", cboe(cboe_row(470, c10="inf")), "OI inf", "not a finite number"),
    ("cboe_oi_minus_inf.csv", cboe(cboe_row(470, c21="-inf")), "put OI -inf", "not a finite"),
    ("cboe_oi_1e23.csv", cboe(cboe_row(470, c10="1e23")), "OI 1e23", "implausibly large"),
    ("cboe_oi_fraction.csv", cboe(cboe_row(470, c10="10.5")), "OI 10.5", "not a whole number"),
    ("cboe_oi_negative.csv", cboe(cboe_row(470, c21="-3")), "put OI -3", "is negative"),
    ("cboe_oi_text.csv", cboe(cboe_row(470, c10="lots")), "OI 'lots'", "is not a number"),
    ("cboe_oi_empty.csv", cboe(cboe_row(470, c10="")), "OI empty", "is empty"),
    ("cboe_volume_1e12.csv", cboe(cboe_row(470, c6="1e12")), "volume 1e12", "implausibly large"),
    ("cboe_strike_inf.csv", cboe(cboe_row(470, c11="inf")), "strike inf", "not a finite number"),
    ("cboe_strike_zero.csv", cboe(cboe_row(0)), "strike 0 (ids agree)", "is not positive"),
    ("cboe_strike_negative.csv", cboe(cboe_row(470, c11="-470")), "strike -470", "not positive"),
    ("cboe_iv_nan.csv", cboe(cboe_row(470, c7="nan")), "IV nan", "not a finite number"),
    ("cboe_iv_negative.csv", cboe(cboe_row(470, c7="-0.2")), "IV -0.2", "is negative"),
    ("cboe_bid_inf.csv", cboe(cboe_row(470, c4="Infinity")), "bid Infinity", "not a finite"),
    ("cboe_ask_minus_inf.csv", cboe(cboe_row(470, c16="-inf")), "put ask -inf", "not a finite"),
    ("cboe_gamma_nan.csv", cboe(cboe_row(470, c9="NaN")), "gamma NaN", "not a finite number"),
    ("cboe_delta_inf.csv", cboe(cboe_row(470, c8="inf")), "delta inf", "not a finite number"),
    ("cboe_delta_2_5.csv", cboe(cboe_row(470, c8="2.5")), "delta 2.5", "implausibly large"),
    (
        "cboe_duplicate_contract_row.csv",
        cboe(cboe_row(465), cboe_row(470), cboe_row(470)),
        "the same row twice",
        "SPY240119C00470000 listed 2 times (lines 6, 7)",
    ),
    (
        "cboe_strike_and_oi_swapped.csv",
        cboe(cboe_row(465), cboe_row(470, c10="470.00", c11="100")),
        "strike and calls' OI cells swapped",
        "names another strike",
    ),
    (
        "cboe_call_and_put_ids_swapped.csv",
        cboe(cboe_row(470, c1="SPY240119P00470000", c12="SPY240119C00470000")),
        "call id in the puts block",
        "is not a call id",
    ),
    (
        "cboe_expiration_not_a_date.csv",
        cboe(cboe_row(470, day="2024-01-19")),
        "expiration in ISO form",
        "not a date like 'Fri Jan 05 2024'",
    ),
    (
        "cboe_expiration_disagrees_with_ids.csv",
        cboe(cboe_row(470, day="Fri Jan 26 2024")),
        "expiration a week off the ids'",
        "names another expiration",
    ),
    ("cboe_id_empty.csv", cboe(cboe_row(470, c1="")), "no call id", "is empty"),
    ("cboe_id_garbage.csv", cboe(cboe_row(470, c12="???")), "put id ???", "not an option id"),
    (
        "cboe_quoted_cell_with_line_break.csv",
        cboe(cboe_row(465), cboe_row(470, c3='"0.2\n0.3"')),
        "a quoted cell spanning two lines",
        "quote that is never closed",
    ),
    (
        "cboe_unclosed_quote.csv",
        cboe(cboe_row(470, c3='"0.2')),
        "a quote never closed",
        "quote that is never closed",
    ),
    (
        "cboe_line_of_20000_chars.csv",
        cboe(cboe_row(465), cboe_row(470, c3="9" * 20_000)),
        "one line 20,000 characters long",
        "characters long",
    ),
    (
        "cboe_header_after_line_12.csv",
        "\n" * 12 + cboe(),
        "twelve blank lines before the file",
        "no header line starting 'Expiration Date' in the first 12 lines",
    ),
    ("generic_empty.csv", "", "empty file", "is empty"),
    ("generic_header_only.csv", GENERIC_HEADER + "\n", "no rows", "has no contract rows"),
    (
        "generic_missing_strike_column.csv",
        generic("2024-01-19,C,100,10,0.14," + META, header=GENERIC_HEADER.replace("strike,", "")),
        "no strike column",
        "missing required column(s): strike",
    ),
    (
        "generic_duplicated_header_name.csv",
        generic(header=GENERIC_HEADER.replace("volume", "strike")),
        "strike named twice",
        "column 'strike' appears twice",
    ),
    (
        "generic_duplicated_header_name_by_case.csv",
        generic(header=GENERIC_HEADER.replace("volume", "Strike")),
        "strike and Strike",
        "appears twice",
    ),
    (
        "generic_unnamed_header_column.csv",
        generic(header=GENERIC_HEADER.replace("volume", "")),
        "an empty header cell",
        "header column 5 has no name",
    ),
    (
        "generic_typo_volme.csv",
        generic(header=GENERIC_HEADER.replace("volume", "volme")),
        "volume misspelt",
        "did you mean 'volume'",
    ),
    (
        "generic_row_missing_a_cell.csv",
        generic(f"2024-01-19,465,C,100,10,{META}"),
        "a row one cell short",
        "line 2: has 8 fields, expected 9",
    ),
    (
        "generic_row_extra_cell.csv",
        generic(f"2024-01-19,465,C,100,10,0.14,{META},oops"),
        "a row with a 10th cell",
        "line 2: has 10 fields, expected 9",
    ),
    ("generic_oi_nan.csv", generic(f"2024-01-19,465,C,nan,10,0.14,{META}"), "OI nan", "finite"),
    ("generic_oi_1e23.csv", generic(f"2024-01-19,465,C,1e23,10,0.14,{META}"), "OI 1e23", "large"),
    (
        "generic_strike_inf.csv",
        generic(f"2024-01-19,inf,C,1,10,0.14,{META}"),
        "strike inf",
        "finite",
    ),
    (
        "generic_strike_zero.csv",
        generic(f"2024-01-19,0,C,1,10,0.14,{META}"),
        "strike 0",
        "positive",
    ),
    (
        "generic_iv_minus_inf.csv",
        generic(f"2024-01-19,465,C,1,10,-inf,{META}"),
        "IV -inf",
        "finite",
    ),
    ("generic_right_x.csv", generic(f"2024-01-19,465,X,1,10,0.14,{META}"), "right X", "C, P, call"),
    (
        "generic_expiration_day_first.csv",
        generic(f"19/01/2024,465,C,1,10,0.14,{META}"),
        "19/01/2024",
        "not a date like 2024-01-19",
    ),
    (
        "generic_duplicate_contract.csv",
        generic(f"2024-01-19,465,C,100,10,0.14,{META}", f"2024-01-19,465.0,C,7,1,0.2,{META}"),
        "the same expiry/strike/right twice",
        "2024-01-19 465.0 C listed 2 times (lines 2, 3)",
    ),
    (
        "generic_duplicate_contract_id.csv",
        generic(
            f"X1,2024-01-19,465,C,100,10,0.14,{META}",
            f"X1,2024-01-19,470,C,7,1,0.2,{META}",
            header="contract," + GENERIC_HEADER,
        ),
        "the same contract id twice",
        "X1 listed 2 times",
    ),
    (
        "generic_as_of_without_offset.csv",
        generic("2024-01-19,465,C,1,10,0.14,SPY,470.5,2024-01-05T16:15:00"),
        "as_of without offset",
        "has no UTC offset",
    ),
    (
        "generic_as_of_garbage.csv",
        generic("2024-01-19,465,C,1,10,0.14,SPY,470.5,soon"),
        "as_of 'soon'",
        "is not an ISO 8601 time",
    ),
    (
        "generic_spot_nan.csv",
        generic("2024-01-19,465,C,1,10,0.14,SPY,nan,2024-01-05T16:15:00-05:00"),
        "underlying_price nan",
        "not a positive finite number",
    ),
    (
        "generic_spot_varies.csv",
        generic(f"2024-01-19,465,C,1,10,0.14,{META}", "2024-01-19,470,C,1,10,0.14,SPY,471,x"),
        "two spots",
        "must hold one value",
    ),
    (
        "generic_no_spot.csv",
        generic("2024-01-19,465,C,1", header="expiration,strike,right,open_interest"),
        "no underlying_price column",
        "no spot",
    ),
    (
        "generic_quoted_cell_with_line_break.csv",
        generic(f'2024-01-19,465,C,100,10,"0.1\n4",{META}'),
        "a quoted cell spanning two lines",
        "quote that is never closed",
    ),
    (
        "generic_semicolon_separated.csv",
        generic(header=GENERIC_HEADER.replace(",", ";")),
        "semicolons for commas",
        "separate columns with commas",
    ),
    (
        "generic_dix_file_as_chain.csv",
        "date,price,dix,gex\n2024-01-04,4688.68,0.45,1e9\n",
        "a DIX.csv given as a chain",
        "missing required column",
    ),
    ("generic_garbage.parquet", b"PAR1 this is not parquet PAR1", "garbage Parquet", "Parquet"),
    ("generic_empty.parquet", b"", "0-byte Parquet", "Parquet"),
    (
        "generic_duplicate_contract.parquet",
        parquet(pl.concat([good_generic_frame(), good_generic_frame().head(1)])),
        "a Parquet file with a row twice",
        "listed 2 times (lines 1, 4)",
    ),
    (
        "generic_oi_nan.parquet",
        parquet(good_generic_frame().with_columns(pl.lit(float("nan")).alias("open_interest"))),
        "Parquet OI NaN",
        "not a finite number",
    ),
    (
        "generic_strike_inf.parquet",
        parquet(good_generic_frame().with_columns(pl.lit(float("inf")).alias("strike"))),
        "Parquet strike inf",
        "not a finite number",
    ),
]

BAR_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"


def bars(*rows: str, header: str = BAR_HEADER) -> str:
    """Return a Yahoo-style bar file."""
    body = rows or ("2024-03-01,10,11,9.5,10.5,10.5,1000", "2024-03-04,10.5,12,10,11,11,2000")
    return "\n".join([header, *body]) + "\n"


BAR_CASES: list[Case] = [
    ("bars_empty.csv", "", "empty file", "is empty"),
    ("bars_header_only.csv", BAR_HEADER + "\n", "no rows", "no rows"),
    ("bars_utf16.csv", bars().encode("utf-16"), "UTF-16", "UTF-16"),
    ("bars_on_a_saturday.csv", bars("2024-03-02,10,11,9,10,10,1"), "a Saturday", "weekend"),
    ("bars_on_a_sunday.csv", bars("2024-03-03,10,11,9,10,10,1"), "a Sunday", "weekend"),
    ("bars_on_christmas.csv", bars("2024-12-25,10,11,9,10,10,1"), "Christmas 2024", "holiday"),
    ("bars_in_2099.csv", bars("2099-01-02,10,11,9,10,10,1"), "2099", "in the future"),
    ("bars_in_1800.csv", bars("1800-01-02,10,11,9,10,10,1"), "1800", "before 1885-02-16"),
    ("bars_close_nan.csv", bars("2024-03-01,10,11,9,nan,10,1"), "close nan", "non-finite price"),
    ("bars_high_inf.csv", bars("2024-03-01,10,inf,9,10,10,1"), "high inf", "non-finite price"),
    ("bars_volume_inf.csv", bars("2024-03-01,10,11,9,10,10,inf"), "volume inf", "non-finite"),
    ("bars_row_missing_a_cell.csv", bars("2024-03-01,10,11,9,10,1"), "one cell short", "fields"),
    ("bars_row_extra_cell.csv", bars("2024-03-01,10,11,9,10,10,1,2"), "extra cell", "fields"),
    (
        "bars_duplicated_header.csv",
        bars(header=BAR_HEADER.replace("Adj Close", "Close")),
        "Close named twice",
        "appears twice",
    ),
]

DIX_HEADER = "date,price,dix,gex"
DIX_CASES: list[Case] = [
    ("dix_empty.csv", "", "empty file", "is empty"),
    ("dix_gex_nan.csv", f"{DIX_HEADER}\n2024-01-04,4688.68,0.45,nan\n", "gex nan", "non-finite"),
    ("dix_price_inf.csv", f"{DIX_HEADER}\n2024-01-04,inf,0.45,1e9\n", "price inf", "non-finite"),
    ("dix_on_a_sunday.csv", f"{DIX_HEADER}\n2024-01-07,4688.68,0.45,1e9\n", "a Sunday", "weekend"),
    ("dix_in_2099.csv", f"{DIX_HEADER}\n2099-01-02,4688.68,0.45,1e9\n", "2099", "in the future"),
    (
        "dix_row_missing_a_cell.csv",
        f"{DIX_HEADER}\n2024-01-04,4688.68,1e9\n",
        "short row",
        "fields",
    ),
    ("dix_missing_gex_column.csv", "date,price,dix\n2024-01-04,4688.68,0.45\n", "no gex", "gex"),
    (
        "dix_duplicate_date.csv",
        f"{DIX_HEADER}\n2024-01-04,4688.68,0.45,1e9\n2024-01-04,4688.68,0.45,1e9\n",
        "a day twice",
        "duplicate date",
    ),
]


def write(folder: Path, cases: list[Case]) -> None:
    """Write each case's file into `folder`."""
    folder.mkdir(exist_ok=True)
    for name, content, _, _ in cases:
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)


def expected(outcome: str) -> str:
    """Return a case's outcome as the manifest writes it (a bare fragment means refused)."""
    return outcome if outcome.startswith(("refused: ", "stored: ")) else f"refused: {outcome}"


def manifest(groups: list[tuple[str, str, list[Case]]]) -> str:
    """Return README.md: one table row per file (file, what it holds, expected outcome)."""
    out = [
        "# Fuzz corpus",
        "",
        "Input files, each named for what is odd or wrong in it. A file expected `refused` must",
        "be refused with one line naming the file and containing the fragment given (never",
        "another exception, never a result); a file expected `stored` must be read, pass the",
        "firewall and give finite figures whose net GEX has the sign given. Files starting",
        "`ok_` or holding `_ok_` are valid. tests/pipeline/sources/test_fuzz.py reads the",
        "tables below. Rebuild the files with `make_corpus.py`; replies/ files are asked for",
        "the symbol their name starts with.",
    ]
    for folder, reader, cases in groups:
        out += ["", f"## {folder or 'top level'} ({reader})", ""]
        out += ["| file | what is in it | expected |", "|---|---|---|"]
        out += [f"| `{n}` | {what} | `{expected(outcome)}` |" for n, _, what, outcome in cases]
    return "\n".join(out) + "\n"


def main(writer: Callable[[Path, list[Case]], None] = write) -> None:
    """Write every file and README.md."""
    groups = [
        ("", "read_chain, firewall, engine", CHAIN_CASES + FIREWALL_CHAIN_CASES),
        ("replies", "feed parser, firewall, engine", REPLY_CASES),
        ("bars", "read_bars", BAR_CASES),
        ("dix", "read_dix", DIX_CASES),
    ]
    for folder, _, cases in groups:
        writer(HERE / folder, cases)
    (HERE / "README.md").write_text(manifest(groups))


if __name__ == "__main__":
    main()
