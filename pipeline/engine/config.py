"""Engine configuration: every convention the exposure engine follows, as one explicit object."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, TypedDict, Unpack, cast

FlipMethod = Literal["profile", "cumulative", "adjacent"]
FlipPick = Literal["nearest", "first"]
GammaSource = Literal["model", "vendor"]
ZeroDte = Literal["one_day", "drop"]
YearBasis = Literal["calendar", "business"]
DealerRule = Literal["fixed", "index_long_calls", "positions"]

#: The engine's version, the `@vN` of every method it makes. Bump it whenever a formula or a
#: convention changes, so rows of the older engine stay apart from the new ones. v2: expiries
#: at the NYSE session close (13:00 on half days), AM-settled roots at 09:30 by default.
ENGINE_VERSION = 2
#: The expiry moment `expiry_close` names when it is not a fixed HH:MM: the NYSE close of the
#: expiration date (13:00 on half days, 16:00 otherwise).
SESSION_CLOSE = "session"


@dataclass(frozen=True)
class DealerModel:
    """How open interest turns into a dealer position.

    pos = sign * dealer_share * open_interest * multiplier, in units of the underlying.
    `rule` says where the sign comes from: "fixed" (call_sign / put_sign for every symbol);
    "index_long_calls" (those signs on index and index-ETF underlyings, INDEX_UNDERLYINGS in
    pipeline.engine.book; short calls and puts on single stocks); "positions" (the chain's
    `dealer_position` column, signed contracts dealers hold, replaces sign * share * OI;
    contracts without one hold nothing).
    """

    call_sign: float = 1.0
    put_sign: float = -1.0
    dealer_share: float = 1.0
    multiplier: float = 100.0
    rule: DealerRule = "fixed"


@dataclass(frozen=True)
class FlipConfig:
    """How the gamma flip is found.

    `range_low`/`range_high` are fractions of spot bounding the profile search; `levels` is the
    number of evenly spaced hypothetical spots; `refine` polishes each bracketed root by
    bisection on the exact profile (otherwise linear interpolation between grid points);
    `pick` chooses among several crossings.
    """

    method: FlipMethod = "profile"
    range_low: float = 0.8
    range_high: float = 1.2
    levels: int = 81
    refine: bool = True
    pick: FlipPick = "nearest"


@dataclass(frozen=True)
class EngineConfig:
    """All engine settings.

    rate and dividend_yield are continuously compounded annual rates. Time to expiry is measured
    to `expiry_close` of the expiration date (SESSION_CLOSE: the NYSE close of that date, 13:00
    on half days; or a fixed HH:MM, America/New_York, 16:00 in engine v1): in calendar time over
    `days_per_year` days when `year_basis` is "calendar", or as NumPy business days (weekdays)
    from the snapshot date over `days_per_year` when "business". `zero_dte` says what a
    business-day count of zero becomes (one day, or dropped). `gamma_source` "vendor" takes
    the chain's own gamma column for per-strike GEX (falling back to the model where absent).
    `am_settlement`: contracts of AM-settled roots (SPX monthlies, NDX, RUT, VIX; told apart by
    the root of their OSI id, e.g. SPX vs SPXW) expire at the open (09:30 New York) of their
    expiration date instead of `expiry_close`; on from engine v2 except in presets that
    reproduce a published calculator (perfiliev). `version`: the engine version whose
    conventions the preset follows (see pipeline.engine.presets).
    """

    name: str = "default"
    version: int = ENGINE_VERSION
    rate: float = 0.04
    dividend_yield: float = 0.0
    year_basis: YearBasis = "calendar"
    days_per_year: float = 365.0
    expiry_close: str = SESSION_CLOSE
    zero_dte: ZeroDte = "one_day"
    gamma_source: GammaSource = "model"
    solve_missing_iv: bool = True
    am_settlement: bool = True
    dealer: DealerModel = field(default_factory=DealerModel)
    flip: FlipConfig = field(default_factory=FlipConfig)
    flat_gex_fraction: float = 0.01

    def with_overrides(self, **changes: Unpack[EngineOverrides]) -> EngineConfig:
        """Return a copy with top-level fields changed; `flip_*` keys change the flip config."""
        # The split only renames keys of a checked EngineOverrides, hence the casts.
        flip_changes = cast(
            FlipOverrides, {k[5:]: v for k, v in changes.items() if k.startswith("flip_")}
        )
        rest = cast(
            ConfigOverrides, {k: v for k, v in changes.items() if not k.startswith("flip_")}
        )
        flip = replace(self.flip, **flip_changes) if flip_changes else self.flip
        return replace(self, flip=flip, **rest)


class FlipOverrides(TypedDict, total=False):
    """Fields of FlipConfig, any of which `replace` may change."""

    method: FlipMethod
    range_low: float
    range_high: float
    levels: int
    refine: bool
    pick: FlipPick


class ConfigOverrides(TypedDict, total=False):
    """Top-level fields of EngineConfig other than `flip`, any of which may change."""

    name: str
    version: int
    rate: float
    dividend_yield: float
    year_basis: YearBasis
    days_per_year: float
    expiry_close: str
    zero_dte: ZeroDte
    gamma_source: GammaSource
    solve_missing_iv: bool
    am_settlement: bool
    dealer: DealerModel
    flat_gex_fraction: float


class EngineOverrides(ConfigOverrides, total=False):
    """What `EngineConfig.with_overrides` takes: top-level fields and `flip_*` keys."""

    flip_method: FlipMethod
    flip_range_low: float
    flip_range_high: float
    flip_levels: int
    flip_refine: bool
    flip_pick: FlipPick
