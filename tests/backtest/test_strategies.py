"""Each rule on a few hand-written sessions of known levels."""

from __future__ import annotations

import numpy as np
import pytest

from backtest.strategies import STRATEGIES, Known, strategy
from warehouse.errors import WarehouseInputError

NAN = np.nan


def known(**columns: list[float]) -> Known:
    """Return known columns of equal length, NaN for the ones not given."""
    size = len(next(iter(columns.values())))
    blank = [NAN] * size
    return Known(**{n: np.array(columns.get(n, blank), float) for n in Known.__dataclass_fields__})


def same(actual: np.ndarray, expected: list[float]) -> None:
    """Assert positions equal, NaN matching NaN."""
    np.testing.assert_array_equal(actual, np.array(expected, float))


def test_regime_by_flip_with_a_band_and_shorting() -> None:
    k = known(spot=[101, 100.2, 99, 100, 102], gamma_flip=[100, 100, 100, NAN, 100])
    same(strategy("regime").positions(k), [1, 1, 0, 0, 1])  # no flip known: flat
    same(strategy("regime").positions(k, {"band": 0.5}), [1, NAN, 0, 0, 1])  # 0.2% in band
    same(strategy("regime").positions(k, {"short": 1}), [1, 1, -1, 0, 1])


def test_regime_by_net_gex_threshold() -> None:
    k = known(net_gex=[2e9, 5e8, -1e9, NAN])
    same(strategy("regime").positions(k, {"basis": "gex", "threshold": 1e9}), [1, 0, 0, 0])


def test_zero_net_gex_is_not_negative_gamma() -> None:
    k = known(net_gex=[1e9, 0.0, -1e9, 0.0])
    # Exactly at the threshold is neither side: the position held is kept (NaN).
    same(strategy("regime").positions(k, {"basis": "gex", "short": 1}), [1, NAN, -1, NAN])


def test_flip_cross_acts_only_on_crosses() -> None:
    k = known(spot=[101, 102, 99, 98, 101], gamma_flip=[100] * 5)
    same(strategy("flip_cross").positions(k), [NAN, NAN, 0, NAN, 1])
    same(strategy("flip_cross").positions(k, {"short": 1}), [NAN, NAN, -1, NAN, 1])


def test_wall_fade_buys_the_put_wall_and_sells_the_call_wall_in_positive_gamma() -> None:
    k = known(
        spot=[100.5, 103, 109.5, 95],
        gamma_flip=[98, 98, 98, 98],
        put_wall=[100, 100, 100, 90],
        call_wall=[110, 110, 110, 110],
    )
    same(strategy("wall_fade").positions(k, {"near": 1.0}), [1, NAN, 0, 0])
    same(strategy("wall_fade").positions(k, {"near": 1.0, "short": 1}), [1, NAN, -1, 0])


def test_wall_break_follows_the_break_for_the_holding_period() -> None:
    k = known(
        spot=[95, 106, 107, 104, 103, 89],
        gamma_flip=[110] * 6,
        call_wall=[105] * 6,
        put_wall=[90] * 6,
    )
    same(strategy("wall_break").positions(k, {"hold": 2, "short": 1}), [0, 1, 1, 1, 0, -1])
    same(strategy("wall_break").positions(k, {"hold": 2, "short": 0}), [0, 1, 1, 1, 0, 0])


def test_alignment_needs_the_signs_to_agree() -> None:
    k = known(
        net_gex=[1, -1, 1, 1],
        net_dex=[1, -1, 1, -1],
        net_vex=[2, -2, 2, 1],
        net_chex=[3, -3, -3, 1],
    )
    same(strategy("alignment").positions(k), [1, -1, 0, 0])
    same(strategy("alignment").positions(k, {"agree": 3}), [1, -1, 1, 1])
    same(strategy("alignment").positions(k, {"short": 0}), [1, 0, 0, 0])


def test_every_strategy_has_a_grid_of_its_own_parameters() -> None:
    for item in STRATEGIES.values():
        assert item.grid and set(item.grid) <= set(item.defaults), item.name


def test_unknown_names_are_refused_with_the_choices() -> None:
    with pytest.raises(WarehouseInputError, match="known: regime, flip_cross"):
        strategy("momentum")
    with pytest.raises(WarehouseInputError, match="no parameter nope"):
        strategy("regime").positions(known(spot=[1.0]), {"nope": 1})
    with pytest.raises(WarehouseInputError, match="basis=dix is not one of flip, gex"):
        strategy("regime").positions(known(spot=[1.0]), {"basis": "dix"})
