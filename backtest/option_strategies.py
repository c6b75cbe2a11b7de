"""Strategies that hold option packages chosen by rule, priced from the stored chains.

An option strategy is a `backtest.strategies.Strategy` (name, defaults, grid, checks), whose
rule returns, per session, which of its packages to hold from that decision on: 0 none (close
what is held), k the k-th package of `packages(params)` (1-based; open it unless it is held),
NaN keep what is held. `backtest.option_run` trades them: fills at the decision's snapshot,
marks at later ones, settlement at expiry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from backtest.option_legs import LegRule, Package
from backtest.strategies import PERCENT, SWITCH, Accepts, Known, Params, Strategy

#: A number of calendar days to the chosen expiry.
DAYS = Accepts(low=1, high=365, whole=True)


def _no_packages(_params: Params) -> tuple[Package, ...]:
    """Return no package (a plain strategy's placeholder)."""
    return ()


@dataclass(frozen=True)
class OptionStrategy(Strategy):
    """A Strategy whose positions are package numbers (see module doc) and its packages.

    `packages(params)`: the packages the rule's numbers name, for one configuration.
    """

    packages: Callable[[Params], tuple[Package, ...]] = field(default=_no_packages)

    def packages_of(self, params: Params | None = None) -> tuple[Package, ...]:
        """Return the packages of `params` over the defaults."""
        return self.packages({**self.defaults, **(params or {})})


def _above_flip(k: Known) -> np.ndarray:
    """Return spot's distance above the gamma flip in % of spot (NaN when unknown)."""
    return 100.0 * (k.spot - k.gamma_flip) / k.spot


def _held_where(wanted: np.ndarray, *inputs: np.ndarray) -> np.ndarray:
    """Return 1 where `wanted`, else 0; 0 wherever an input is unknown (NaN)."""
    known = np.ones(wanted.shape, dtype=bool)
    for values in inputs:
        known &= ~np.isnan(values)
    return np.where(known & wanted, 1.0, 0.0)


def wall_premium(k: Known, p: Params) -> np.ndarray:
    """In positive gamma (spot above the flip by more than `band` %) hold the wall strangle.

    Out of positive gamma, or without known walls, hold nothing.
    """
    positive = _above_flip(k) > float(p["band"])
    return _held_where(positive, k.gamma_flip, k.call_wall, k.put_wall)


def wall_strangle(p: Params) -> tuple[Package, ...]:
    """Return the short call at the call wall and short put at the put wall (`width` % out)."""
    width = float(p["width"])
    legs = (LegRule("C", -1, "call_wall", width), LegRule("P", -1, "put_wall", -width))
    return (Package("short wall strangle", legs, int(float(p["dte"]))),)


def long_gamma(k: Known, p: Params) -> np.ndarray:
    """In negative gamma (spot below the flip by more than `band` %) hold the ATM straddle."""
    negative = _above_flip(k) < -float(p["band"])
    return _held_where(negative, k.gamma_flip)


def atm_straddle(p: Params) -> tuple[Package, ...]:
    """Return a long call and a long put at the strike nearest spot (or short: `short` 1)."""
    side = -1 if int(float(p["short"])) else 1
    legs = (LegRule("C", side, "spot"), LegRule("P", side, "spot"))
    return (Package("ATM straddle", legs, int(float(p["dte"]))),)


OPTION_STRATEGIES: dict[str, OptionStrategy] = {
    s.name: s
    for s in (
        OptionStrategy(
            "wall_premium",
            wall_premium,
            {"dte": 1, "band": 0.0, "width": 0.0},
            {"dte": [1, 2, 5], "band": [0.0, 0.5, 1.0], "width": [0.0, 1.0]},
            "options: in positive gamma sell the call at the call wall and the put at the put wall",
            {"dte": DAYS, "band": PERCENT, "width": PERCENT},
            packages=wall_strangle,
        ),
        OptionStrategy(
            "long_gamma",
            long_gamma,
            {"dte": 5, "band": 0.0, "short": 0},
            {"dte": [1, 2, 5, 10], "band": [0.0, 0.5, 1.0]},
            "options: in negative gamma buy the ATM straddle",
            {"dte": DAYS, "band": PERCENT, "short": SWITCH},
            packages=atm_straddle,
        ),
    )
}
