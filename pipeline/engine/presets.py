"""Named engine presets: conventions of published calculators and dealer models, as configurations.

Every preset is built for an engine version. Version 1 valued every expiry to 16:00 New York
with AM settlement off; version 2 values PM-settled expiries to the NYSE close of their date
(13:00 on half days) and AM-settled roots (SPX, NDX, RUT, VIX monthlies) to 09:30. Rows made
by a v1 method are re-priced exactly by `preset(name, 1)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pipeline.engine.config import ENGINE_VERSION, DealerModel, EngineConfig, FlipConfig
from pipeline.errors import InputError


def default_preset() -> EngineConfig:
    """Return gammalake's own conventions: dealers long calls, short puts (customers reverse)."""
    return EngineConfig()


def perfiliev_preset() -> EngineConfig:
    """Return the conventions of Sergei Perfiliev's widely copied gamma-exposure script.

    Per-strike and total GEX from the file's own (rounded) gamma column; the zero-gamma level
    from a 60-level BSM re-priced profile over [0.8 S, 1.2 S] with r = q = 0, T = weekdays to
    expiry / 262 (0DTE counted as one day), IV taken as given (a zero IV contributes nothing),
    first crossing by linear interpolation. No AM settlement: the script has none.
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
        am_settlement=False,
        dealer=DealerModel(),
        flip=FlipConfig(levels=60, refine=False, pick="first"),
    )


def all_short_preset() -> EngineConfig:
    """Return the default conventions with dealers short every option (calls and puts)."""
    return EngineConfig(name="all_short", dealer=DealerModel(call_sign=-1.0, put_sign=-1.0))


def index_long_calls_preset() -> EngineConfig:
    """Return SpotGamma's published sign rule on the default conventions.

    On index and index-ETF underlyings dealers are long calls and short puts; on single stocks
    they are short both.
    """
    return EngineConfig(name="index_long_calls", dealer=DealerModel(rule="index_long_calls"))


def open_close_preset() -> EngineConfig:
    """Return the default conventions with dealer positions from Cboe Open-Close volumes."""
    return EngineConfig(name="open_close", dealer=DealerModel(rule="positions"))


PRESETS: dict[str, Callable[[], EngineConfig]] = {
    "default": default_preset,
    "perfiliev": perfiliev_preset,
    "all_short": all_short_preset,
    "index_long_calls": index_long_calls_preset,
    "open_close": open_close_preset,
}
#: The first engine version each preset exists in (others: version 1).
SINCE = {"index_long_calls": 2, "open_close": 2}


def preset(name: str, version: int = ENGINE_VERSION) -> EngineConfig:
    """Return the preset called `name` as engine `version` made it; raise InputError otherwise."""
    try:
        config = PRESETS[name]()
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise InputError(f"unknown preset {name!r} (known: {known})") from None
    if not SINCE.get(name, 1) <= version <= ENGINE_VERSION:
        first = SINCE.get(name, 1)
        raise InputError(
            f"preset {name!r} has no engine v{version} (engine versions {first}..{ENGINE_VERSION})"
        )
    if version == 1:  # what engine v1 did differently: every expiry at 16:00, no AM settlement
        return replace(config, version=1, expiry_close="16:00", am_settlement=False)
    return replace(config, version=version)
