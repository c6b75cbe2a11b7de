"""Method names: how a stored figure was made, as a short string kept in every exposure row.

A method is a preset name, the overrides applied to it, and the engine version:
`default@v2`, `perfiliev+days_per_year=252@v2`. Vendor payloads (the FlashAlpha API, DIX.csv)
carry `vendor`. The string is the whole recipe: `config_of` turns it back into the engine
configuration, so any stored history can be re-priced from its raw inputs.

Bump ENGINE_VERSION whenever a formula or convention of the engine changes, so rows made by the
older engine stay apart from the new ones (and `gammalake doctor` reports them).
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from pipeline.engine.config import ENGINE_VERSION, DealerModel, EngineConfig, FlipConfig
from pipeline.engine.presets import PRESETS, preset
from pipeline.errors import InputError

__all__ = ["ENGINE_VERSION", "VENDOR", "config_of", "engine_version", "method_of", "resolve_method"]
VENDOR = "vendor"
_RECIPE = re.compile(r"^[a-z][a-z0-9_]*(?:\+[a-z_]+=[^+@]+)*$")
_METHOD = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)(?P<overrides>(?:\+[a-z_]+=[^+@]+)*)@v(?P<v>\d+)$")


def _flat(config: EngineConfig) -> dict[str, Any]:
    """Return every setting of a configuration as flat keys (flip_*, dealer_* for the parts)."""
    out: dict[str, Any] = {}
    for f in fields(EngineConfig):
        value = getattr(config, f.name)
        if isinstance(value, FlipConfig | DealerModel):
            prefix = "flip" if isinstance(value, FlipConfig) else "dealer"
            out |= {f"{prefix}_{g.name}": getattr(value, g.name) for g in fields(value)}
        elif f.name not in ("name", "version"):
            out[f.name] = value
    return out


def method_of(config: EngineConfig) -> str:
    """Return the method string of an engine configuration (its preset plus what differs).

    The differences are taken against the preset as the configuration's engine version made
    it: `default@v1` and `default@v2` are each their version's own default.
    """
    base = _flat(preset(config.name, config.version))
    changed = {k: v for k, v in _flat(config).items() if base[k] != v}
    extra = "".join(f"+{k}={_text(v)}" for k, v in sorted(changed.items()))
    return f"{config.name}{extra}@v{config.version}"


def _text(value: Any) -> str:
    """Return a setting as method text (floats without a needless .0)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def engine_version(method: str) -> int | None:
    """Return the engine version of a method string, None for `vendor` or another form."""
    match = _METHOD.fullmatch(method)
    return int(match["v"]) if match else None


def config_of(method: str) -> EngineConfig:
    """Return the engine configuration a method string names; raise InputError if it can't."""
    match = _METHOD.fullmatch(method)
    if match is None:
        raise InputError(f"method {method!r} is not a preset method like default@v{ENGINE_VERSION}")
    config = preset(match["name"], int(match["v"]))
    types = _flat(config)
    changes: dict[str, Any] = {}
    for item in filter(None, match["overrides"].split("+")):
        key, _, text = item.partition("=")
        if key not in types:
            raise InputError(f"method {method!r}: unknown setting {key!r}")
        changes[key] = _parse(text, types[key], method)
        _check_choice(key, changes[key], method)
    return _apply(config, changes)


#: Text settings and the values they take (anything else would fail deep inside the engine).
CHOICES: dict[str, tuple[str, str]] = {
    "year_basis": ("calendar|business", "calendar or business"),
    "expiry_close": (r"session|([01]\d|2[0-3]):[0-5]\d", "session or a time like 16:00"),
    "zero_dte": ("one_day|drop", "one_day or drop"),
    "gamma_source": ("model|vendor", "model or vendor"),
    "flip_method": ("profile|cumulative|adjacent", "profile, cumulative or adjacent"),
    "flip_pick": ("nearest|first", "nearest or first"),
    "dealer_rule": ("fixed|index_long_calls|positions", "fixed, index_long_calls or positions"),
}


def _check_choice(key: str, value: Any, method: str) -> None:
    """Refuse a text setting outside the values the engine knows, naming them."""
    if key in CHOICES and not re.fullmatch(CHOICES[key][0], str(value)):
        raise InputError(f"method {method!r}: {key} must be {CHOICES[key][1]}, not {value!r}")


def _parse(text: str, like: Any, method: str) -> Any:
    """Return `text` converted to the type of the preset's value `like`."""
    if isinstance(like, bool):
        if text not in ("true", "false"):
            raise InputError(f"method {method!r}: {text!r} is not true or false")
        return text == "true"
    try:
        if isinstance(like, int | float):
            return float(text) if isinstance(like, float) else int(text)
    except ValueError:
        raise InputError(f"method {method!r}: {text!r} is not a number") from None
    return text


def _apply(config: EngineConfig, changes: dict[str, Any]) -> EngineConfig:
    """Return `config` with flat changes applied (flip_*, dealer_* reach the parts)."""
    from dataclasses import replace

    dealer = {k[7:]: v for k, v in changes.items() if k.startswith("dealer_")}
    rest = {k: v for k, v in changes.items() if not k.startswith("dealer_")}
    if dealer:
        rest["dealer"] = replace(config.dealer, **dealer)
    return config.with_overrides(**rest)


def resolve_method(text: str) -> str:
    """Return the method a user named: a preset name or recipe means its current-engine method.

    A recipe is a preset with overrides and no version: `default+am_settlement=false`.
    """
    if text == VENDOR:
        return text
    if _METHOD.fullmatch(text):  # written as method_of writes it, whatever order was typed
        return method_of(config_of(text))
    if _RECIPE.fullmatch(text) and text.split("+", 1)[0] in PRESETS:
        return method_of(config_of(f"{text}@v{ENGINE_VERSION}"))
    known = ", ".join(sorted(PRESETS))
    raise InputError(
        f"unknown method {text!r}: give a preset ({known}), a method like "
        f"default@v{ENGINE_VERSION}, or vendor"
    )
