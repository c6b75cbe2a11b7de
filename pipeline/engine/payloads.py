"""Payload shapes of the FlashAlpha exposure API (field names as in the public SDK types).

Engine output and API responses share these shapes, so one normaliser reads both. Every
engine payload adds `warnings` (what was dropped and why), which API consumers ignore.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from pipeline.engine.levels import ExposureLevels
from pipeline.engine.narrative import Regime


class PayloadHead(TypedDict):
    """The fields every payload starts with."""

    symbol: str
    underlying_price: float
    as_of: str


class GexStrikeRow(TypedDict):
    """One strike of the GEX breakdown ($ per 1% move; put_gex carries its sign)."""

    strike: float
    call_gex: float
    put_gex: float
    net_gex: float
    call_oi: int
    put_oi: int
    call_volume: int
    put_volume: int
    call_oi_change: int | None
    put_oi_change: int | None


class GexResponse(TypedDict):
    """Per-strike GEX with the headline net GEX and gamma flip."""

    symbol: str
    underlying_price: float
    as_of: str
    gamma_flip: float | None
    gamma_flip_status: str
    net_gex: float
    net_gex_label: str
    strikes: list[GexStrikeRow]
    expiration: NotRequired[str | None]
    warnings: NotRequired[list[str]]


class DexStrikeRow(TypedDict):
    """One strike of the DEX breakdown (dollars)."""

    strike: float
    call_dex: float
    put_dex: float
    net_dex: float


class DexResponse(TypedDict):
    """Per-strike delta exposure ($)."""

    symbol: str
    underlying_price: float
    as_of: str
    net_dex: float
    strikes: list[DexStrikeRow]
    warnings: NotRequired[list[str]]


class VexStrikeRow(TypedDict):
    """One strike of the VEX breakdown ($ per vol point)."""

    strike: float
    call_vex: float
    put_vex: float
    net_vex: float


class VexResponse(TypedDict):
    """Per-strike vanna exposure ($ per vol point) with a one-line reading."""

    symbol: str
    underlying_price: float
    as_of: str
    net_vex: float
    vex_interpretation: str
    strikes: list[VexStrikeRow]
    warnings: NotRequired[list[str]]


class ChexStrikeRow(TypedDict):
    """One strike of the CHEX breakdown ($ per day)."""

    strike: float
    call_chex: float
    put_chex: float
    net_chex: float


class ChexResponse(TypedDict):
    """Per-strike charm exposure ($ per day) with a one-line reading."""

    symbol: str
    underlying_price: float
    as_of: str
    net_chex: float
    chex_interpretation: str
    strikes: list[ChexStrikeRow]
    warnings: NotRequired[list[str]]


class ExposureLevelsResponse(TypedDict):
    """The key levels of a snapshot."""

    symbol: str
    underlying_price: float
    as_of: str
    levels: ExposureLevels
    warnings: NotRequired[list[str]]


class HedgingMove(TypedDict):
    """Dealer hedge for one spot move: shares (+ buy, - sell) and their notional ($)."""

    dealer_shares_to_trade: float
    direction: str
    notional_usd: float


class HedgingEstimate(TypedDict):
    """Dealer hedges for spot moves of +-0.5% and +-1%."""

    spot_up_half_pct: HedgingMove
    spot_down_half_pct: HedgingMove
    spot_up_1pct: HedgingMove
    spot_down_1pct: HedgingMove


class SummaryExposures(TypedDict):
    """Net exposures: GEX ($/1%), DEX ($), VEX ($/vol point), CHEX ($/day)."""

    net_gex: float
    net_dex: float
    net_vex: float
    net_chex: float


class Interpretation(TypedDict):
    """One sentence per greek."""

    gamma: str
    vanna: str
    charm: str


class SummaryZeroDte(TypedDict):
    """Same-day expiry's share of GEX (None fields when there is no same-day expiry)."""

    net_gex: float | None
    pct_of_total_gex: float | None
    expiration: str | None


class ExposureSummaryResponse(TypedDict):
    """Headline exposures, regime, interpretation and hedge estimates."""

    symbol: str
    underlying_price: float
    as_of: str
    gamma_flip: float | None
    gamma_flip_status: str
    regime: Regime
    exposures: SummaryExposures
    interpretation: Interpretation
    hedging_estimate: HedgingEstimate
    zero_dte: SummaryZeroDte
    warnings: NotRequired[list[str]]


class ExpiryRow(TypedDict):
    """Net exposures of one expiration and its strike of largest |net GEX|."""

    expiration: str
    days_to_expiry: float
    net_gex: float
    net_dex: float
    net_vex: float
    net_chex: float
    call_oi: int
    put_oi: int
    pct_of_total_gex: float | None
    top_strike: float | None
    top_strike_net_gex: float | None


class ExpiriesResponse(TypedDict):
    """Per-expiration breakdown (gammalake's own payload; the API has per-expiry gex calls)."""

    symbol: str
    underlying_price: float
    as_of: str
    expiries: list[ExpiryRow]
    warnings: NotRequired[list[str]]
