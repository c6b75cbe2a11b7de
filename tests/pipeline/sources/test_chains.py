"""Generic contract files (CSV and Parquet) and format detection."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import ChainFormatError
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
            r"line 5, column 'right': must be C, P",
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
