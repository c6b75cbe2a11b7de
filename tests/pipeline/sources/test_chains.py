"""Generic contract files (CSV and Parquet) and format detection."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import ChainFormatError, InputError
from pipeline.sources.chains import read_chain
from pipeline.sources.synthetic import SyntheticMarket

AS_OF = datetime(2024, 3, 1, 11, 0, tzinfo=NEW_YORK)


def contract_file(tmp_path, suffix: str = ".csv", **changes):
    chain = SyntheticMarket().chain("QQQ", AS_OF, expiries=4, strikes=11)
    frame = chain.frame.with_columns(
        pl.lit("QQQ").alias("symbol"),
        pl.lit(chain.spot).alias("underlying_price"),
        pl.lit(AS_OF.isoformat()).alias("as_of"),
    )
    for name, value in changes.items():
        frame = frame.drop(name) if value is None else frame.with_columns(value.alias(name))
    path = tmp_path / f"chain{suffix}"
    frame.write_parquet(path) if suffix == ".parquet" else frame.write_csv(path)
    return path, chain


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_generic_files_give_the_same_exposures_as_the_chain(tmp_path, suffix):
    path, original = contract_file(tmp_path, suffix)
    chain = read_chain(path)
    assert (chain.symbol, chain.spot, chain.as_of) == ("QQQ", original.spot, AS_OF)
    a = ExposureSnapshot(original, preset("default")).net
    b = ExposureSnapshot(chain, preset("default")).net
    assert a == pytest.approx(b, rel=1e-12)


def test_contract_ids_pass_through(tmp_path):
    path, _ = contract_file(tmp_path, contract=pl.format("QQQ-{}", pl.int_range(pl.len())))
    assert read_chain(path).frame.get_column("contract")[3] == "QQQ-3"


def test_rights_may_be_words(tmp_path):
    path, _ = contract_file(tmp_path, right=pl.col("right").replace({"C": "call", "P": "PUT"}))
    assert set(read_chain(path).frame.get_column("right")) == {"C", "P"}


def test_arguments_supply_spot_and_as_of(tmp_path):
    path, original = contract_file(tmp_path, underlying_price=None, as_of=None)
    with pytest.raises(ChainFormatError, match="no spot"):
        read_chain(path)
    chain = read_chain(path, spot=original.spot, as_of=AS_OF)
    assert chain.spot == original.spot


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"strike": None}, r"line 1: missing required column\(s\): strike"),
        (
            {
                "right": pl.when(pl.int_range(pl.len()) == 3)
                .then(pl.lit("X"))
                .otherwise(pl.col("right"))
            },
            r"line 5, column 'right': value 'X' is not C, P, call or put",
        ),
        (
            {
                "open_interest": pl.when(pl.int_range(pl.len()) == 0)
                .then(-1)
                .otherwise(pl.col("open_interest"))
            },
            r"line 2, column 'open_interest'.*negative",
        ),
        ({"expiration": pl.lit("19/01/2024")}, r"line 2, column 'expiration'"),
        ({"as_of": pl.lit("2024-03-01T11:00:00")}, "has no UTC offset"),
        ({"underlying_price": pl.int_range(pl.len()).cast(pl.Float64)}, "one value for the whole"),
    ],
)
def test_bad_generic_files(tmp_path, changes, match):
    path, _ = contract_file(tmp_path, **changes)
    with pytest.raises(ChainFormatError, match=match):
        read_chain(path)


def test_missing_file(tmp_path):
    with pytest.raises(ChainFormatError, match="no such file"):
        read_chain(tmp_path / "nope.csv")


def write_csv(tmp_path, text: str, name: str = "chain.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


META = "SPY,470.5,2024-01-05T16:15:00-05:00"
HEADER = "expiration,strike,right,open_interest,symbol,underlying_price,as_of"


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([f"2024-01-19,465,C,{META}"], r"line 2: has 6 fields, expected 7: a cell is missing"),
        ([f"2024-01-19,465,C,5,{META},x"], r"line 2: has 8 fields.*extra cell\(s\) 'x'"),
        ([f"2024-01-19,465,C,nan,{META}"], r"line 2, column 'open_interest'.*not a finite"),
        ([f"2024-01-19,inf,C,5,{META}"], r"line 2, column 'strike'.*not a finite"),
        ([f"2024-01-19,465,C,1e23,{META}"], r"line 2, column 'open_interest'.*implausibly"),
        ([f"2024-01-19,0,C,5,{META}"], r"line 2, column 'strike'.*not positive"),
        (
            [f"2024-01-19,465,C,5,{META}", f"2024-01-19,465.00,C,9,{META}"],
            r"2024-01-19 465.0 C listed 2 times \(lines 2, 3\)",
        ),
        ([f'2024-01-19,465,"C\nP",5,{META}'], r"line 2: has a quote that is never closed"),
    ],
)
def test_bad_generic_rows_are_named(tmp_path, rows, match):
    path = write_csv(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(ChainFormatError, match=match):
        read_chain(path)


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (HEADER.replace("symbol", "strike"), r"line 1: column 'strike' appears twice"),
        (HEADER.replace("symbol", "Strike "), r"line 1: column 'strike' appears twice"),
        (HEADER.replace("symbol", ""), r"line 1: header column 5 has no name"),
        (HEADER + ",volme", r"column 'volme' is not one gammalake reads: did you mean 'volume'"),
        (HEADER.replace(",", ";"), r"line 1: the header is one column"),
    ],
)
def test_bad_generic_headers_are_named(tmp_path, header, match):
    row = f"2024-01-19,465,C,5,{META}" + ("," if header.endswith("volme") else "")
    path = write_csv(tmp_path, f"{header}\n{row}\n")
    with pytest.raises(ChainFormatError, match=match):
        read_chain(path)


def test_header_names_are_matched_loosely(tmp_path):
    header = "Expiration,Strike,Right,Open Interest,Symbol,Underlying Price,As Of"
    path = write_csv(tmp_path, f"{header}\n2024-01-19,465,C,5,{META}\n")
    assert read_chain(path).frame.get_column("open_interest").to_list() == [5]


def test_rows_with_and_without_ids_are_keyed_apart(tmp_path):
    header = "contract," + HEADER
    rows = [f"A,2024-01-19,465,C,5,{META}", f"B,2024-01-19,465,C,6,{META}"]
    path = write_csv(tmp_path, "\n".join([header, *rows]) + "\n")
    assert read_chain(path).frame.height == 2  # two ids: two contracts (SPX and SPXW alike)
    rows.append(f"A,2024-02-16,470,P,1,{META}")
    path = write_csv(tmp_path, "\n".join([header, *rows]) + "\n")
    with pytest.raises(ChainFormatError, match=r"A listed 2 times \(lines 2, 4\)"):
        read_chain(path)


def test_parquet_duplicates_and_non_finite_numbers_are_refused(tmp_path):
    path, _ = contract_file(tmp_path, ".parquet")
    frame = pl.read_parquet(path)
    pl.concat([frame, frame.head(1)]).write_parquet(path)
    with pytest.raises(ChainFormatError, match=rf"listed 2 times \(lines 1, {frame.height + 1}\)"):
        read_chain(path)
    frame.with_columns(pl.lit(float("nan")).alias("iv")).write_parquet(path)
    with pytest.raises(ChainFormatError, match=r"line 1, column 'iv'.*not a finite number"):
        read_chain(path)


def test_garbage_parquet_is_one_line(tmp_path):
    path = tmp_path / "chain.parquet"
    path.write_bytes(b"PAR1" + bytes(range(200)) + b"PAR1")
    with pytest.raises(ChainFormatError, match="cannot be read as Parquet"):
        read_chain(path)


@pytest.mark.parametrize("spot", [0.0, -1.0, float("nan"), float("inf")])
def test_a_spot_argument_that_is_no_price_is_refused(tmp_path, spot):
    path, _ = contract_file(tmp_path)
    with pytest.raises(InputError, match="spot must be a positive finite number"):
        read_chain(path, spot=spot)
