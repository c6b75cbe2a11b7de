"""Schemas: names users give are validated; rows are conformed or refused with the field named."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from warehouse.errors import WarehouseInputError
from warehouse.schema import DATASETS, conform, dataset, validate_source, validate_symbol


@pytest.mark.parametrize("symbol", ["SPY", "BRK.B", "^GSPC", "SPX", "ES_F", "RDS-A"])
def test_plain_symbols_pass(symbol):
    assert validate_symbol(symbol) == symbol


@pytest.mark.parametrize("symbol", ["../../x", "SPY; DROP", "spy", "", "A/B", "SPY'--", "X" * 21])
def test_hostile_symbols_are_refused(symbol):
    with pytest.raises(WarehouseInputError, match="invalid symbol"):
        validate_symbol(symbol)


@pytest.mark.parametrize("source", ["../raw", "Flash Alpha", ""])
def test_bad_sources_are_refused(source):
    with pytest.raises(WarehouseInputError, match="invalid source"):
        validate_source(source)


def row(**changes):
    base = {
        "symbol": "SPY",
        "source": "synthetic",
        "method": "default@v1",
        "as_of": datetime(2024, 3, 1, 21, tzinfo=UTC),
        "trade_date": date(2024, 3, 1),
        "strike": 500.0,
        "net_gex": 1.0,
    }
    return {**base, **changes}


def test_conform_orders_and_types_columns():
    out = conform(dataset("strikes"), pl.DataFrame([row()]))
    assert out.columns == list(DATASETS["strikes"].columns)
    assert out.schema["call_oi"] == pl.Int64 and out.get_column("call_oi").to_list() == [None]


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (pl.DataFrame([row(bogus=1)]), "unknown column"),
        (pl.DataFrame([row()]).drop("strike"), "missing key column"),
        (pl.DataFrame([row(), row()]), "rows repeat the key"),
        (pl.DataFrame([row(symbol="../x")]), "invalid symbol"),
        (pl.DataFrame([row(method="default")]), "invalid method"),
        (pl.DataFrame([row(method="x@v1; DROP")]), "invalid method"),
    ],
)
def test_conform_refuses(frame, match):
    with pytest.raises(WarehouseInputError, match=match):
        conform(dataset("strikes"), frame)


def test_two_methods_of_one_snapshot_live_side_by_side():
    out = conform(dataset("strikes"), pl.DataFrame([row(), row(method="perfiliev@v1")]))
    assert out.get_column("method").to_list() == ["default@v1", "perfiliev@v1"]


def test_unknown_dataset():
    with pytest.raises(WarehouseInputError, match="unknown dataset 'nope'"):
        dataset("nope")
