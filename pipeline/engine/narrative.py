"""Plain-English lines describing what an exposure sign means for dealer hedging flows.

Exposures are the dealer book's own sensitivities (position x greek). Hedging trades the
opposite way: a book whose delta rises must sell the underlying to stay neutral.
"""

from __future__ import annotations

from typing import Literal

Regime = Literal["positive_gamma", "negative_gamma", "unknown"]


def gex_label(net_gex: float, gross_gex: float, flat_fraction: float) -> str:
    """Return "long_gamma", "short_gamma" or "flat" (|net| below flat_fraction of gross)."""
    if gross_gex == 0 or abs(net_gex) < flat_fraction * gross_gex:
        return "flat"
    return "long_gamma" if net_gex > 0 else "short_gamma"


def regime(spot: float, flip: float | None) -> Regime:
    """Return the regime of spot against the gamma flip ("unknown" without a flip)."""
    if flip is None:
        return "unknown"
    return "positive_gamma" if spot >= flip else "negative_gamma"


def gamma_line(label: str) -> str:
    """Return the sentence for a net GEX label."""
    return {
        "long_gamma": "Dealers long gamma: hedging sells rallies and buys dips, "
        "dampening moves; mean reversion likely.",
        "short_gamma": "Dealers short gamma: hedging buys rallies and sells dips, "
        "amplifying moves; trend continuation likely.",
        "flat": "Dealer gamma near flat: hedging neither dampens nor amplifies moves much.",
    }[label]


def vanna_line(net_vex: float) -> str:
    """Return the sentence for net VEX ($ change of dealer delta per +1 vol point)."""
    if net_vex > 0:
        return (
            "Positive vanna: falling implied volatility makes dealers buy the underlying "
            "(supportive); a volatility spike makes them sell."
        )
    if net_vex < 0:
        return (
            "Negative vanna: rising implied volatility makes dealers buy the underlying; "
            "falling volatility makes them sell (vol crush is a headwind)."
        )
    return "Vanna flat: changes in implied volatility move dealer hedges little."


def charm_line(net_chex: float) -> str:
    """Return the sentence for net CHEX ($ change of dealer delta per day of time decay)."""
    if net_chex > 0:
        return (
            "Positive charm: time decay raises dealer delta, so hedging sells the "
            "underlying as the session passes (pressure into the close)."
        )
    if net_chex < 0:
        return (
            "Negative charm: time decay lowers dealer delta, so hedging buys the "
            "underlying as the session passes (support into the close)."
        )
    return "Charm flat: time decay moves dealer hedges little."
