"""Trading rules over a point-in-time panel, each a small function in a registry.

A strategy sees only what was known at each decision (`Known`: the snapshot columns of the
panel, never the bar of the session it decides on) and returns a target position per session:
+1 long, -1 short, 0 flat, NaN for "keep what you hold". Parameters are plain numbers or
words so that grids can sweep them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from backtest.panel import Panel
from warehouse.errors import WarehouseInputError

Value = float | str
Params = Mapping[str, Value]


@dataclass(frozen=True)
class Known:
    """Numpy views of the panel's known columns ($ for exposures, price units for levels)."""

    spot: np.ndarray
    gamma_flip: np.ndarray
    call_wall: np.ndarray
    put_wall: np.ndarray
    net_gex: np.ndarray
    net_dex: np.ndarray
    net_vex: np.ndarray
    net_chex: np.ndarray

    @classmethod
    def of(cls, panel: Panel) -> Known:
        """Return the known columns of `panel` as float arrays (NaN where unknown)."""
        frame = panel.frame
        return cls(
            **{
                name: frame.get_column(name).cast(float).fill_null(np.nan).to_numpy()
                for name in cls.__dataclass_fields__
            }
        )


@dataclass(frozen=True)
class Accepts:
    """What one parameter takes: one of `words`, or a finite number in [low, high].

    `whole`: the number must be an integer (a count of sessions, a 0/1 switch).
    """

    words: tuple[str, ...] = ()
    low: float = -math.inf
    high: float = math.inf
    whole: bool = False

    def check(self, name: str, value: Value) -> Value:
        """Return `value` if the parameter `name` takes it; raise one line naming both if not."""
        if self.words:
            if str(value) not in self.words:
                raise WarehouseInputError(f"{name}={value} is not one of {', '.join(self.words)}")
            return str(value)
        number = _number(name, value)
        if number < self.low or number > self.high:
            raise WarehouseInputError(f"{name}={value} is outside {_bounds(self.low, self.high)}")
        if self.whole and not number.is_integer():
            raise WarehouseInputError(f"{name}={value} is not a whole number")
        return number


def _number(name: str, value: Value) -> float:
    """Return `value` as a finite float, or raise naming the parameter."""
    try:
        number = float(value)
    except ValueError:
        raise WarehouseInputError(f"{name}={value} is not a number") from None
    if not math.isfinite(number):
        raise WarehouseInputError(f"{name}={value} is not a finite number")
    return number


def _bounds(low: float, high: float) -> str:
    """Return an inclusive range as text, e.g. `0 .. 4` or `>= 0`."""
    if math.isinf(high):
        return f">= {low:g}"
    if math.isinf(low):
        return f"<= {high:g}"
    return f"{low:g} .. {high:g}"


#: A 0/1 switch such as `short`.
SWITCH = Accepts(low=0, high=1, whole=True)
#: A distance in % of spot (bands, nearness).
PERCENT = Accepts(low=0)


@dataclass(frozen=True)
class Strategy:
    """A named rule, its default parameters, the grid `--grid default` sweeps, and a summary.

    `accepts`: what each parameter takes (any finite number when not listed).
    """

    name: str
    rule: Callable[[Known, Params], np.ndarray]
    defaults: dict[str, Value]
    grid: dict[str, list[Value]] = field(default_factory=dict)
    summary: str = ""
    accepts: dict[str, Accepts] = field(default_factory=dict)

    def check(self, name: str, value: Value) -> Value:
        """Return `value` checked against what `name` takes (a float for numbers)."""
        return self.accepts.get(name, Accepts()).check(name, value)

    def positions(self, known: Known, params: Params | None = None) -> np.ndarray:
        """Return target positions (+1/-1/0, NaN = hold) for `params` over the defaults."""
        merged = {**self.defaults, **(params or {})}
        unknown = set(merged) - set(self.defaults)
        if unknown:
            raise WarehouseInputError(
                f"strategy {self.name} has no parameter {', '.join(sorted(unknown))} "
                f"(it takes {', '.join(self.defaults)})"
            )
        return self.rule(known, merged)


def _side(short: Value) -> float:
    """Return the position taken on a bearish signal: -1 when shorting, else 0 (flat)."""
    return -1.0 if float(short) else 0.0


def _pick(long: np.ndarray, bear: np.ndarray, short: Value, rest: float = np.nan) -> np.ndarray:
    """Return +1 where `long`, the bearish side where `bear`, `rest` elsewhere."""
    return np.where(long, 1.0, np.where(bear, _side(short), rest))


def _pct_from_flip(k: Known) -> np.ndarray:
    """Return spot's distance above the gamma flip, in % of spot (NaN when no flip)."""
    return 100.0 * (k.spot - k.gamma_flip) / k.spot


def _unknown_flat(pos: np.ndarray, *inputs: np.ndarray) -> np.ndarray:
    """Return `pos` with 0 wherever any input is unknown: no levels, no position."""
    missing = np.zeros(pos.shape, dtype=bool)
    for values in inputs:
        missing |= np.isnan(values)
    return np.where(missing, 0.0, pos)


def regime(k: Known, p: Params) -> np.ndarray:
    """Long above the flip (basis=flip, beyond `band` %) or when net GEX > `threshold` $.

    Bearish below the flip (beyond `band`) or below the threshold; exactly at it, neither:
    the position held is kept (net GEX of exactly 0 is not negative gamma).
    """
    if p["basis"] == "gex":
        threshold = float(p["threshold"])
        pos = _pick(k.net_gex > threshold, k.net_gex < threshold, p["short"])
        return _unknown_flat(pos, k.net_gex)
    if p["basis"] != "flip":
        raise WarehouseInputError(f"regime basis {p['basis']!r} unknown (use flip or gex)")
    above, band = _pct_from_flip(k), float(p["band"])
    return _unknown_flat(_pick(above > band, above < -band, p["short"]), above)


def _lag(values: np.ndarray) -> np.ndarray:
    """Return `values` one decision earlier (NaN first)."""
    return np.concatenate([[np.nan], values[:-1]])


def flip_cross(k: Known, p: Params) -> np.ndarray:
    """Enter long when spot crosses above flip (+ `band` %), leave on a cross below (- band)."""
    above, band = _pct_from_flip(k), float(p["band"])
    before = _lag(above)
    up = (above > band) & (before <= band)
    down = (above < -band) & (before >= -band)
    return _unknown_flat(_pick(up, down, p["short"]), above)


def wall_fade(k: Known, p: Params) -> np.ndarray:
    """In positive gamma buy within `near` % of the put wall, sell within `near` % of the call wall.

    Leaves the market when gamma turns negative (spot below the flip).
    """
    positive = _pct_from_flip(k) > 0
    near = float(p["near"])
    at_put = positive & (100.0 * (k.spot - k.put_wall) / k.spot <= near)
    at_call = positive & (100.0 * (k.call_wall - k.spot) / k.spot <= near)
    pos = np.where(positive, _pick(at_put, at_call, p["short"]), 0.0)
    return _unknown_flat(pos, k.gamma_flip, k.put_wall, k.call_wall)


def _held(events: np.ndarray, sessions: int) -> np.ndarray:
    """Return each event's position kept for `sessions` decisions, 0 once it runs out."""
    index = np.arange(events.size)
    last = np.maximum.accumulate(np.where(np.isnan(events), -1, index))
    age = index - last
    signal = events[np.maximum(last, 0)]
    return np.where((last >= 0) & (age < sessions), signal, 0.0)


def wall_break(k: Known, p: Params) -> np.ndarray:
    """In negative gamma follow spot through the last known call (long) or put wall (short).

    Holds `hold` sessions after the last break (a stop can end it sooner).
    """
    negative = _pct_from_flip(k) < 0
    up = negative & (k.spot > _lag(k.call_wall))
    down = negative & (k.spot < _lag(k.put_wall))
    events = _pick(up, down, p["short"])
    return _held(events, int(float(p["hold"])))


def alignment(k: Known, p: Params) -> np.ndarray:
    """Long when `agree` of GEX, DEX, VEX, CHEX are positive; short (or flat) when negative."""
    signs = np.sign(np.stack([k.net_gex, k.net_dex, k.net_vex, k.net_chex]))
    need = int(float(p["agree"]))
    up = (signs > 0).sum(axis=0) >= need
    down = (signs < 0).sum(axis=0) >= need
    pos = _pick(up, down, p["short"], rest=0.0)
    return _unknown_flat(pos, k.net_gex, k.net_dex, k.net_vex, k.net_chex)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "regime",
            regime,
            {"basis": "flip", "band": 0.0, "threshold": 0.0, "short": 0},
            {"band": [0.0, 0.25, 0.5, 1.0, 2.0], "short": [0, 1]},
            "long in positive gamma (spot above flip, or net GEX above a threshold)",
            {"basis": Accepts(words=("flip", "gex")), "band": PERCENT, "short": SWITCH},
        ),
        Strategy(
            "flip_cross",
            flip_cross,
            {"band": 0.0, "short": 0},
            {"band": [0.0, 0.25, 0.5, 1.0], "short": [0, 1]},
            "enter on a cross above the flip, exit on a cross below",
            {"band": PERCENT, "short": SWITCH},
        ),
        Strategy(
            "wall_fade",
            wall_fade,
            {"near": 1.0, "short": 0},
            {"near": [0.25, 0.5, 1.0, 1.5, 2.0, 3.0], "short": [0, 1]},
            "positive gamma: buy near the put wall, sell near the call wall",
            {"near": PERCENT, "short": SWITCH},
        ),
        Strategy(
            "wall_break",
            wall_break,
            {"hold": 5, "short": 1},
            {"hold": [1, 2, 3, 5, 10, 20], "short": [0, 1]},
            "negative gamma: follow spot through a wall for a holding period",
            {"hold": Accepts(low=1, whole=True), "short": SWITCH},
        ),
        Strategy(
            "alignment",
            alignment,
            {"agree": 4, "short": 1},
            {"agree": [3, 4], "short": [0, 1]},
            "trade only when GEX, DEX, VEX and CHEX agree in sign",
            {"agree": Accepts(low=1, high=4, whole=True), "short": SWITCH},
        ),
    )
}


def strategy(name: str) -> Strategy:
    """Return the registered strategy `name`, or raise naming the known ones."""
    if name not in STRATEGIES:
        raise WarehouseInputError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    return STRATEGIES[name]
