"""Dealer sign rules: each preset's position per contract, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.engine.book import build_book
from pipeline.engine.method import config_of, method_of, resolve_method
from pipeline.engine.presets import preset
from pipeline.errors import InputError
from tests.conftest import make_chain

ROWS = [("2024-03-15", 100.0, "C", 10, 0.2), ("2024-03-15", 100.0, "P", 30, 0.2)]


def positions(name: str, symbol: str, **extra: list[object]) -> list[float]:
    """Return the dealer position (shares) of the call and the put under preset `name`."""
    chain = make_chain(ROWS, symbol=symbol, **extra)
    return build_book(chain, preset(name)).position.tolist()


def test_default_has_dealers_long_calls_and_short_puts() -> None:
    assert positions("default", "AAPL") == [1000.0, -3000.0]


def test_all_short_has_dealers_short_both() -> None:
    assert positions("all_short", "SPY") == [-1000.0, -3000.0]


@pytest.mark.parametrize("symbol", ["SPX", "SPY", "QQQ", "IWM", "NDX", "RUT", "DIA", "XSP"])
def test_index_long_calls_on_indices_and_index_etfs(symbol: str) -> None:
    assert positions("index_long_calls", symbol) == [1000.0, -3000.0]


@pytest.mark.parametrize("symbol", ["AAPL", "TSLA", "NVDA"])
def test_index_long_calls_has_dealers_short_both_on_single_stocks(symbol: str) -> None:
    assert positions("index_long_calls", symbol) == [-1000.0, -3000.0]


def test_open_close_takes_each_contracts_own_position() -> None:
    # Dealers hold +4 calls and -25 puts (contracts) whatever the open interest says.
    got = positions("open_close", "SPY", dealer_position=[4.0, -25.0])
    assert got == [400.0, -2500.0]


def test_open_close_without_a_position_holds_nothing() -> None:
    got = positions("open_close", "SPY", dealer_position=[None, -25.0])
    assert got == [0.0, -2500.0]
    assert np.all(build_book(make_chain(ROWS, symbol="SPY"), preset("open_close")).gex == 0)


def test_the_new_presets_are_engine_v2_methods_that_round_trip() -> None:
    for name in ("index_long_calls", "open_close"):
        method = resolve_method(name)
        assert method == f"{name}@v2"
        assert method_of(config_of(method)) == method
    with pytest.raises(InputError, match="has no engine v1"):
        config_of("open_close@v1")


def test_a_recipe_with_am_settlement_off_is_its_own_method() -> None:
    assert resolve_method("default+am_settlement=false") == "default+am_settlement=false@v2"
    assert resolve_method("default+am_settlement=true") == "default@v2"
    assert resolve_method("default@v1") == "default@v1"
    with pytest.raises(InputError, match="unknown setting"):
        resolve_method("default+am_settle=false")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("default+expiry_close=abc", "expiry_close must be session or a time like 16:00"),
        ("default+am_settlement=maybe", "'maybe' is not true or false"),
        ("default+dealer_rule=everyone", "dealer_rule must be fixed, index_long_calls"),
    ],
)
def test_a_setting_outside_its_values_is_refused_by_name(text: str, named: str) -> None:
    with pytest.raises(InputError, match=named):
        resolve_method(text)
