"""The chain type's own checks, and the duplicate-contract finder every source can use."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from pipeline.chain import Chain, describe_duplicates, duplicate_contracts
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sources.formats.quotedata import read_cboe

AS_OF = datetime(2024, 1, 5, 16, 15, tzinfo=NEW_YORK)
DAY = date(2024, 1, 19)


def frame(**columns: list[object]) -> pl.DataFrame:
    base = {
        "expiration": [DAY, DAY, DAY, DAY],
        "strike": [465.0, 465.0, 470.0, 465.0],
        "right": ["C", "P", "C", "C"],
        "open_interest": [1, 2, 3, 4],
    }
    return pl.DataFrame({**base, **columns})


def test_without_ids_expiration_strike_and_right_key_a_contract():
    found = duplicate_contracts(frame())
    assert found.to_dicts() == [{"key": "2024-01-19 465.0 C", "rows": [0, 3]}]


def test_ids_key_a_contract_when_present():
    ids = frame(contract=["SPX1", "SPX2", "SPX3", "SPXW1"])
    assert duplicate_contracts(ids).height == 0  # same expiry/strike/right, two roots
    ids = frame(contract=["A", "B", "A", "C"])
    assert duplicate_contracts(ids).to_dicts() == [{"key": "A", "rows": [0, 2]}]


def test_rows_without_an_id_fall_back_to_expiration_strike_right():
    mixed = frame(contract=["A", "B", None, " "])
    assert duplicate_contracts(mixed).to_dicts() == []  # rows 0 and 3 differ: one has an id
    mixed = pl.concat([mixed, mixed.tail(1)])
    assert duplicate_contracts(mixed).to_dicts() == [{"key": "2024-01-19 465.0 C", "rows": [3, 4]}]


def test_no_duplicates_is_an_empty_frame_with_the_columns():
    found = duplicate_contracts(frame().head(3))
    assert found.height == 0 and found.columns == ["key", "rows"]
    assert duplicate_contracts(frame().head(0)).height == 0


def test_describe_names_lines_or_rows():
    found = duplicate_contracts(frame())
    assert describe_duplicates(found) == (
        "duplicate contract: 2024-01-19 465.0 C listed 2 times (contract rows 1, 4)"
    )
    assert describe_duplicates(found, [10, 11, 12, 13]).endswith("(lines 10, 13)")
    many = duplicate_contracts(pl.concat([frame(contract=list("ABCD"))] * 2))
    assert describe_duplicates(many, limit=2).endswith("; and 2 more duplicated contract(s)")


@pytest.mark.refdata
def test_real_spx_files_list_spx_and_spxw_side_by_side_and_none_is_a_duplicate(refdata):
    path = refdata / "phammings-spx500-gamma/modules/spx_quotedata.csv"
    contracts = read_cboe(path).frame  # the reader refuses duplicates: it must not here
    assert contracts.height == 21038
    by_fields = contracts.select(pl.struct("expiration", "strike", "right").is_duplicated().sum())
    assert by_fields.item() > 6000  # SPX and SPXW share expiry, strike and right...
    assert duplicate_contracts(contracts).height == 0  # ...under different ids


@pytest.mark.parametrize("spot", [0.0, -1.0, float("nan"), float("inf"), None, True])
def test_a_chain_needs_a_positive_finite_spot(spot):
    with pytest.raises(InputError, match="spot must be a positive finite number"):
        Chain("SPY", spot, AS_OF, frame(), origin="test")


def test_a_chain_needs_an_aware_time():
    with pytest.raises(InputError, match="has no timezone"):
        Chain("SPY", 470.5, datetime(2024, 1, 5, 16, 15), frame(), origin="test")


@pytest.mark.parametrize("year", [1, 1799, 2501, 9999])
def test_a_chain_time_the_engine_cannot_count_from_is_refused(year):
    when = AS_OF.replace(year=year)
    with pytest.raises(InputError, match=r"outside the years 1800\.\.2500"):
        Chain("SPY", 470.5, when, frame(), origin="test")
