"""Named engine presets: conventions of published calculators, as configurations."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.engine.config import DealerModel, EngineConfig, FlipConfig
from pipeline.errors import InputError


def default_preset() -> EngineConfig:
    """Return gammalake's own conventions (see docs/methodology.md)."""
    return EngineConfig()


def perfiliev_preset() -> EngineConfig:
    """Return the conventions of Sergei Perfiliev's widely copied gamma-exposure script.

    Per-strike and total GEX from the file's own (rounded) gamma column; the zero-gamma level
    from a 60-level BSM re-priced profile over [0.8 S, 1.2 S] with r = q = 0, T = weekdays to
    expiry / 262 (0DTE counted as one day), IV taken as given (a zero IV contributes nothing),
    first crossing by linear interpolation.
    """
    return EngineConfig(
        name="perfiliev",
        rate=0.0,
        dividend_yield=0.0,
        year_basis="business",
        days_per_year=262.0,
        zero_dte="one_day",
        gamma_source="vendor",
        solve_missing_iv=False,
        dealer=DealerModel(),
        flip=FlipConfig(levels=60, refine=False, pick="first"),
    )


def all_short_preset() -> EngineConfig:
    """Return the default conventions with dealers short every option (calls and puts)."""
    return EngineConfig(name="all_short", dealer=DealerModel(call_sign=-1.0, put_sign=-1.0))


PRESETS: dict[str, Callable[[], EngineConfig]] = {
    "default": default_preset,
    "perfiliev": perfiliev_preset,
    "all_short": all_short_preset,
}


def preset(name: str) -> EngineConfig:
    """Return the preset called `name`; raise InputError naming the known ones otherwise."""
    try:
        return PRESETS[name]()
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise InputError(f"unknown preset {name!r} (known: {known})") from None
