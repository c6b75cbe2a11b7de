"""Option legs chosen by rule at a decision: which contract a leg rule names in one snapshot.

A leg rule says a side (buy or sell), a right (call or put), where its strike sits (relative to
the known call wall, put wall, gamma flip or spot, shifted by a % of spot) and how far out its
expiry is (the first listed expiry at least `dte` calendar days after the decision's session).
A package is the legs a strategy holds together (a strangle, a straddle). Choosing reads only
the snapshot's listing of contracts, so the choice never depends on whether a contract has a
usable quote: a chosen contract without one is a miss (see `backtest.option_book`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from warehouse.errors import WarehouseInputError

#: The known levels a leg's strike can sit at (columns of `backtest.strategies.Known`).
ANCHORS = ("call_wall", "put_wall", "gamma_flip", "spot")
RIGHTS = ("C", "P")


@dataclass(frozen=True)
class LegRule:
    """One leg: `side` +1 buys, -1 sells; `right` C or P; strike nearest `anchor` + `offset`.

    `offset` is in % of spot (positive: a higher strike); `ratio` is contracts per unit of
    the package (see `backtest.option_book.OptionCosts.size`).
    """

    right: str
    side: int
    anchor: str
    offset: float = 0.0
    ratio: int = 1

    def __post_init__(self) -> None:
        if self.right not in RIGHTS or self.side not in (-1, 1) or self.anchor not in ANCHORS:
            raise WarehouseInputError(
                f"leg {self.right} side {self.side} at {self.anchor}: right is C or P, side "
                f"+1 or -1, anchor one of {', '.join(ANCHORS)}"
            )

    def target(self, levels: dict[str, float]) -> float:
        """Return the strike this leg aims at (price units; NaN when its anchor is unknown)."""
        return levels[self.anchor] + levels["spot"] * self.offset / 100.0


@dataclass(frozen=True)
class Package:
    """Legs held together under one `name`, all of one expiry `dte` calendar days out (>= 1)."""

    name: str
    legs: tuple[LegRule, ...]
    dte: int

    def __post_init__(self) -> None:
        if self.dte < 1 or not self.legs:
            raise WarehouseInputError(f"package {self.name!r} needs legs and a dte >= 1")


@dataclass(frozen=True)
class Listing:
    """The contracts one snapshot lists: ids, expirations (days), strikes, rights, bid/ask ($)."""

    contract: np.ndarray
    expiration: np.ndarray
    strike: np.ndarray
    right: np.ndarray
    bid: np.ndarray
    ask: np.ndarray


@dataclass(frozen=True)
class Choice:
    """The contract a leg rule named: its id, expiry, strike and right (None: nothing listed)."""

    rule: LegRule
    contract: str
    expiration: date
    strike: float


def expiry_for(listing: Listing, session: date, dte: int) -> date | None:
    """Return the first listed expiry at least `dte` calendar days after `session` (or None)."""
    days = np.unique(listing.expiration)
    later = days[days >= np.datetime64(session, "D") + dte]
    return None if later.size == 0 else later[0].astype("datetime64[D]").item()


def choose(
    listing: Listing, package: Package, session: date, levels: dict[str, float]
) -> list[Choice] | None:
    """Return the contract of each leg of `package`, or None when a leg names no contract.

    A leg names none when its anchor is unknown (NaN) or the snapshot lists no contract of its
    right at the chosen expiry. Among the listed strikes the one nearest the leg's target
    wins; of two equally near, the lower.
    """
    expiry = expiry_for(listing, session, package.dte)
    if expiry is None:
        return None
    chosen = []
    for rule in package.legs:
        target = rule.target(levels)
        mask = (listing.expiration == np.datetime64(expiry, "D")) & (listing.right == rule.right)
        if not np.isfinite(target) or not mask.any():
            return None
        rows = np.flatnonzero(mask)
        order = np.lexsort((listing.strike[rows], np.abs(listing.strike[rows] - target)))
        row = rows[order[0]]
        chosen.append(Choice(rule, str(listing.contract[row]), expiry, float(listing.strike[row])))
    return chosen
