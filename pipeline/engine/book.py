"""The dealer book: a chain turned into per-contract positions, greeks and dollar exposures."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime

import numpy as np
from numpy.typing import NDArray

from pipeline.chain import Chain, complete_frame
from pipeline.engine.config import EngineConfig
from pipeline.engine.greeks import FloatArray, bsm_greeks, implied_vol
from pipeline.engine.timing import AM_ROOTS, expiry_clock, session_date

BoolArray = NDArray[np.bool_]
#: Index and index-ETF underlyings, where the `index_long_calls` rule has dealers long calls
#: and short puts (SpotGamma's published rule); on every other symbol they are short both.
INDEX_UNDERLYINGS = frozenset(
    {"SPX", "SPXW", "XSP", "NDX", "NDXP", "RUT", "RUTW", "VIX", "DJX", "SPY", "QQQ", "IWM", "DIA"}
)


@dataclass(frozen=True)
class Contracts:
    """Columns of a chain as NumPy arrays (one entry per contract)."""

    expiration: NDArray[np.datetime64]
    strike: FloatArray
    is_call: BoolArray
    open_interest: FloatArray
    volume: FloatArray
    iv: FloatArray
    bid: FloatArray
    ask: FloatArray
    prev_open_interest: FloatArray
    vendor_gamma: FloatArray
    dealer_position: FloatArray

    def take(self, mask: BoolArray) -> Contracts:
        """Return the contracts where `mask` is True."""
        return Contracts(**{k: v[mask] for k, v in self.__dict__.items()})


@dataclass(frozen=True)
class DealerBook:
    """Per-contract dealer positions and exposures at one spot and moment.

    position: units of underlying (sign * share * OI * multiplier). years: time to expiry.
    sigma: volatility used (NaN where none). gex ($ per 1% move), dex ($), vex ($ per vol
    point), chex ($ per day). `warnings` says what was dropped and why.
    """

    spot: float
    as_of: datetime
    config: EngineConfig
    contracts: Contracts
    years: FloatArray
    sigma: FloatArray
    same_day: BoolArray
    position: FloatArray
    delta: FloatArray
    gex: FloatArray
    dex: FloatArray
    vex: FloatArray
    chex: FloatArray
    warnings: list[str] = field(default_factory=list)

    @property
    def session(self) -> date:
        """Return the New York date of the snapshot."""
        return session_date(self.as_of)

    def subset(self, mask: BoolArray) -> DealerBook:
        """Return the book restricted to `mask` (every per-contract figure is independent)."""
        per_contract = (
            "years",
            "sigma",
            "same_day",
            "position",
            "delta",
            "gex",
            "dex",
            "vex",
            "chex",
        )
        return replace(
            self,
            contracts=self.contracts.take(mask),
            **{name: getattr(self, name)[mask] for name in per_contract},
        )

    @property
    def priced(self) -> BoolArray:
        """Return which contracts carry a position and a usable volatility (for re-pricing)."""
        return (self.position != 0) & np.isfinite(self.sigma)


def contracts_of(chain: Chain) -> Contracts:
    """Return the chain's columns as float arrays (nulls as NaN, volume nulls as 0)."""
    frame = complete_frame(chain.frame)

    def floats(name: str) -> FloatArray:
        return frame.get_column(name).cast(float).fill_null(np.nan).to_numpy()

    return Contracts(
        expiration=frame.get_column("expiration").to_numpy().astype("datetime64[D]"),
        strike=floats("strike"),
        is_call=(frame.get_column("right") == "C").to_numpy(),
        open_interest=floats("open_interest"),
        volume=np.nan_to_num(floats("volume")),
        iv=floats("iv"),
        bid=floats("bid"),
        ask=floats("ask"),
        prev_open_interest=floats("prev_open_interest"),
        vendor_gamma=floats("gamma"),
        dealer_position=_dealer_positions(chain),
    )


def _dealer_positions(chain: Chain) -> FloatArray:
    """Return the chain's `dealer_position` column (signed contracts; NaN where absent)."""
    if "dealer_position" not in chain.frame.columns:
        return np.full(chain.frame.height, np.nan)
    column = chain.frame.get_column("dealer_position").cast(float)
    return column.fill_null(np.nan).to_numpy()


def am_settled(chain: Chain) -> BoolArray:
    """Return which contracts are of an AM-settled root (by their OSI id's root, e.g. SPX).

    Contracts without an id are taken as PM-settled (the presets' convention).
    """
    frame = complete_frame(chain.frame)
    roots = frame.get_column("contract").str.extract(r"^([A-Z]+)\s*\d{6}[CP]", 1)
    return roots.is_in(list(AM_ROOTS)).fill_null(False).to_numpy()


def _dates_text(days: NDArray[np.datetime64]) -> str:
    """Return the distinct dates in `days` as 'YYYY-MM-DD, ...'."""
    return ", ".join(str(d) for d in np.unique(days))


def _volatility(c: Contracts, years: FloatArray, spot: float, cfg: EngineConfig) -> FloatArray:
    """Return each contract's volatility: the input IV, else solved from the mid, else NaN."""
    given = np.where(np.isfinite(c.iv) & (c.iv > 0), c.iv, np.nan)
    if not cfg.solve_missing_iv:
        return given
    mid = 0.5 * (c.bid + c.ask)
    need = (
        np.isnan(given)
        & (c.open_interest > 0)
        & np.isfinite(years)
        & (c.bid > 0)
        & (c.ask >= c.bid)
    )
    if need.any():
        solved = implied_vol(
            mid[need],
            spot,
            c.strike[need],
            years[need],
            cfg.rate,
            cfg.dividend_yield,
            c.is_call[need],
        )
        given = given.copy()
        given[need] = solved
    return given


def build_book(chain: Chain, config: EngineConfig) -> DealerBook:
    """Return the dealer book of `chain` under `config`, with dropped contracts counted."""
    c = contracts_of(chain)
    am = am_settled(chain) if config.am_settlement else None
    clock = expiry_clock(c.expiration, chain.as_of, config, am)
    warnings: list[str] = []
    gone = clock.expired | clock.dropped_zero_dte
    if clock.expired.any():
        warnings.append(
            f"dropped {int(clock.expired.sum())} contracts of expired expiries "
            f"({_dates_text(c.expiration[clock.expired])})"
        )
    if clock.dropped_zero_dte.any():
        warnings.append(
            f"dropped {int(clock.dropped_zero_dte.sum())} contracts with zero business days "
            "to expiry (zero_dte=drop)"
        )
    c, years, same_day = c.take(~gone), clock.years[~gone], clock.same_day[~gone]
    sigma = _volatility(c, years, chain.spot, config)
    unusable = _unusable(c, sigma, config)
    if unusable.any():
        warnings.append(
            f"dropped {int(unusable.sum())} contracts with open interest but no usable IV "
            f"(open interest {int(c.open_interest[unusable].sum())})"
        )
        keep = ~unusable
        c, years, sigma, same_day = c.take(keep), years[keep], sigma[keep], same_day[keep]
    return _price_book(chain, config, c, years, sigma, same_day, warnings)


def _unusable(c: Contracts, sigma: FloatArray, cfg: EngineConfig) -> BoolArray:
    """Return contracts holding a position that the engine cannot value at all."""
    held = c.open_interest > 0
    if cfg.gamma_source == "vendor":
        # The vendor's gamma still gives GEX; only the model greeks are missing.
        return held & np.isnan(sigma) & np.isnan(c.vendor_gamma)
    return held & np.isnan(sigma)


def _positions(c: Contracts, cfg: EngineConfig, symbol: str) -> FloatArray:
    """Return dealer positions in units of the underlying, by the dealer model's rule."""
    d = cfg.dealer
    if d.rule == "positions":
        return np.nan_to_num(c.dealer_position) * d.dealer_share * d.multiplier
    call_sign, put_sign = d.call_sign, d.put_sign
    if d.rule == "index_long_calls" and symbol.upper() not in INDEX_UNDERLYINGS:
        call_sign, put_sign = -1.0, -1.0
    sign = np.where(c.is_call, call_sign, put_sign)
    return sign * d.dealer_share * c.open_interest * d.multiplier


def _price_book(
    chain: Chain,
    cfg: EngineConfig,
    c: Contracts,
    years: FloatArray,
    sigma: FloatArray,
    same_day: BoolArray,
    warnings: list[str],
) -> DealerBook:
    """Return the book with greeks and exposures for the kept contracts."""
    s = chain.spot
    position = _positions(c, cfg, chain.symbol)
    live = (position != 0) & np.isfinite(sigma)
    greeks = bsm_greeks(
        s, c.strike[live], years[live], sigma[live], cfg.rate, cfg.dividend_yield, c.is_call[live]
    )
    delta, gamma, vanna, charm = (np.zeros(len(position)) for _ in range(4))
    delta[live], gamma[live], vanna[live] = greeks.delta, greeks.gamma, greeks.vanna
    charm[live] = greeks.charm
    if cfg.gamma_source == "vendor":
        gamma = np.where(np.isfinite(c.vendor_gamma), c.vendor_gamma, gamma)
    no_model = (position != 0) & ~np.isfinite(sigma)
    if no_model.any():
        warnings.append(
            f"{int(no_model.sum())} contracts with open interest have no IV: "
            "their DEX, VEX, CHEX and profile contributions are zero"
        )
    return DealerBook(
        spot=s,
        as_of=chain.as_of,
        config=cfg,
        contracts=c,
        years=years,
        sigma=sigma,
        same_day=same_day,
        position=position,
        delta=delta,
        gex=position * gamma * s * s * 0.01,
        dex=position * delta * s,
        vex=position * vanna * s * 0.01,
        chex=position * charm * s / 365.0,
        warnings=warnings,
    )
