"""Strategies: the public extension point of backtests (built-in and your own).

A strategy is a `Strategy` object: a name, a rule, its default parameters, the grid that
`--grid default` sweeps, a one-line summary, and what each parameter accepts. The rule is a
plain function `rule(known, params) -> positions`:

- `known` (`Known`) is the point-in-time panel of one symbol, one numpy array per column
  (floats; `dates` datetime64) and one row per NYSE session (oldest first). Row t holds only
  what was known at the decision taken on session t (default 16:30 New York, after the 16:15
  snapshot; see `backtest.panel.Timing`): the levels of the last snapshot stamped before the
  decision (price units), its net exposures ($), and the last bar completed before the
  decision. NaN marks what was not known (no snapshot yet, a stale one, a level the snapshot
  lacks). The arrays are read-only: every configuration of a sweep shares them.
- `params` maps each parameter name to its value: the defaults overlaid with `--params` or one
  grid combination. Numbers arrive as floats (`int(p["lookback"])` for a count), words as
  strings (see `Accepts`).
- The rule returns one target position per session, decided on that session and filled
  `timing.lag` sessions later (default the next open): +1 long, -1 short, 0 flat, NaN for
  "keep what you hold". All-in sizing: +1 is the whole account long.

Row t must depend on rows 0..t only. Causal numpy (`np.cumsum`, `lag(x, n)` below, pandas
`rolling`) is fine; anything that reads a later
row (`np.roll(x, -1)`, `bfill`, a statistic of the whole array) is a leak. `backtest.leak`
re-runs every strategy that is not built in on the panel cut short and refuses the run when
its positions move (see that module).

Write your own in a module and run it with `gammalake backtest --strategy module:name`, or
publish it under the `gammalake.strategies` entry-point group (`backtest.plugins`):

    import numpy as np
    from backtest.strategies import Known, Params, Strategy

    def above_flip(k: Known, p: Params) -> np.ndarray:
        gap = 100 * (k.spot - k.gamma_flip) / k.spot  # % of spot above the flip
        return np.where(np.isnan(gap), 0.0, np.where(gap > p["band"], 1.0, np.nan))

    flip_long = Strategy("flip_long", above_flip, {"band": 0.5}, {"band": [0, 0.5, 1]})
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import time

import numpy as np
import polars as pl

from backtest.panel import Panel
from warehouse.errors import WarehouseInputError

__all__ = [
    "PERCENT",
    "STRATEGIES",
    "SWITCH",
    "Accepts",
    "Known",
    "Params",
    "Strategy",
    "Value",
    "directions",
    "lag",
    "strategy",
]

#: A parameter value: a number (always a float once checked) or a word.
Value = float | str
#: The parameters a rule receives: every name of the strategy's defaults, each with its value.
Params = Mapping[str, Value]

#: The bar columns a strategy sees, as `last_<column>` (the last bar completed before the decision).
BAR_COLUMNS = ("open", "high", "low", "close", "volume")
#: The session close: a decision after it knows that session's bar.
_CLOSE = time(16, 0)


def _unknown() -> np.ndarray:
    """Return the default of a column left out of a hand-made `Known`: none (NaN throughout)."""
    return np.empty(0)


@dataclass(frozen=True)
class Known:
    """What each decision knew: one read-only float array per column, one row per session.

    Row t is the decision taken on session t (`dates[t]`); NaN where nothing was known.

    From the last snapshot stamped before the decision (price units for levels, $ for the
    exposures, as stored): `spot` (the snapshot's underlying price), `gamma_flip`,
    `call_wall`, `put_wall`, `max_positive_gamma`, `max_negative_gamma`, `highest_oi_strike`,
    `zero_dte_magnet`, `net_gex` ($ per 1% move), `net_dex` ($), `net_vex` ($ per vol point),
    `net_chex` ($ per day) and `dix` (a fraction, DIX imports only).

    From the bars: `last_open`, `last_high`, `last_low`, `last_close` (price units) and
    `last_volume` (shares) of the last session completed before the decision: session t's own
    bar when deciding after its close (the default 16:30), session t-1's when deciding before
    it or filling at that close (`--fill same_close`; NaN on the panel's first row, whose
    previous session it does not hold). `dates`: the session of each decision
    (numpy datetime64[D]).
    """

    spot: np.ndarray
    gamma_flip: np.ndarray
    call_wall: np.ndarray
    put_wall: np.ndarray
    net_gex: np.ndarray
    net_dex: np.ndarray
    net_vex: np.ndarray
    net_chex: np.ndarray
    max_positive_gamma: np.ndarray = field(default_factory=_unknown)
    max_negative_gamma: np.ndarray = field(default_factory=_unknown)
    highest_oi_strike: np.ndarray = field(default_factory=_unknown)
    zero_dte_magnet: np.ndarray = field(default_factory=_unknown)
    dix: np.ndarray = field(default_factory=_unknown)
    last_open: np.ndarray = field(default_factory=_unknown)
    last_high: np.ndarray = field(default_factory=_unknown)
    last_low: np.ndarray = field(default_factory=_unknown)
    last_close: np.ndarray = field(default_factory=_unknown)
    last_volume: np.ndarray = field(default_factory=_unknown)
    dates: np.ndarray = field(default_factory=_unknown)

    def __post_init__(self) -> None:
        # Columns left out (hand-made panels) are unknown: NaN, as long as `spot`.
        size = len(self.spot)
        for item in fields(self):
            values = np.asarray(getattr(self, item.name))
            if values.size == 0:  # not given: unknown throughout
                values = np.full(size, np.nan)
            if values.shape != (size,):
                raise WarehouseInputError(
                    f"Known.{item.name} has shape {values.shape}; spot has {size} sessions"
                )
            if values.flags.writeable:  # a copy: the caller's array stays theirs to change
                values = values.copy()
                values.setflags(write=False)  # one panel serves every configuration
            object.__setattr__(self, item.name, values)

    def __len__(self) -> int:
        """Return the number of sessions (rows)."""
        return len(self.spot)

    def head(self, sessions: int) -> Known:
        """Return the first `sessions` rows of every column (what a shorter history holds)."""
        return replace(self, **{f.name: getattr(self, f.name)[:sessions] for f in fields(self)})

    @classmethod
    def of(cls, panel: Panel) -> Known:
        """Return what each decision of `panel` knew (see the class doc; NaN where unknown)."""
        frame = panel.frame
        columns = {
            f.name: _floats(frame, f.name)
            for f in fields(cls)
            if f.name not in ("dates",) and not f.name.startswith("last_")
        }
        bars = _last_bars(panel)
        dates = frame.get_column("trade_date").cast(pl.Date).to_numpy().astype("datetime64[D]")
        return cls(**columns, **bars, dates=dates)


def _floats(frame: pl.DataFrame, name: str) -> np.ndarray:
    """Return column `name` of `frame` as floats, NaN for nulls (all NaN when absent)."""
    if name not in frame.columns:
        return np.full(frame.height, np.nan)
    return frame.get_column(name).cast(float).fill_null(np.nan).to_numpy()


def _last_bars(panel: Panel) -> dict[str, np.ndarray]:
    """Return `last_<column>` arrays: the last bar completed before each decision."""
    frame = panel.frame
    own = _own_bar_known(panel)
    out = {}
    for column in BAR_COLUMNS:
        values = _floats(frame, column)
        before = np.concatenate([[np.nan], values[:-1]])
        out[f"last_{column}"] = np.where(own, values, before)
    return out


def _own_bar_known(panel: Panel) -> np.ndarray:
    """Return, per session, whether its own bar had closed before the decision (bools)."""
    frame, timing = panel.frame, panel.timing
    if {"closed_at", "decided_at"} <= set(frame.columns):
        closed = (pl.col("closed_at") < pl.col("decided_at")).fill_null(False)
        return frame.select(closed).to_series().to_numpy().astype(bool)
    after = timing.fill != "same_close" and timing.decide > _CLOSE
    return np.full(frame.height, after)


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
    """A named trading rule with its parameters: what `gammalake backtest --strategy` runs.

    `name`: shown in reports and report file names. `rule(known, params)`: the target
    positions (see the module doc). `defaults`: every parameter with its default value (a
    number or a word); the rule receives exactly these names. `grid`: the values
    `--grid default` sweeps, per parameter (a subset of the defaults' names). `summary`: one
    line for `--list` and the report. `accepts`: what each parameter takes (`Accepts`; any
    finite number when not listed), so a typo in `--params` or `--grid` is one clear line.
    A malformed strategy (a grid naming no parameter, a default it does not accept) is
    refused when it is made.
    """

    name: str
    rule: Callable[[Known, Params], np.ndarray]
    defaults: dict[str, Value]
    grid: dict[str, list[Value]] = field(default_factory=dict)
    summary: str = ""
    accepts: dict[str, Accepts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise WarehouseInputError(
                f"a strategy's name must be a non-empty string, not {self.name!r}"
            )
        if not callable(self.rule):
            raise WarehouseInputError(f"strategy {self.name}: rule {self.rule!r} is not a function")
        extra = [*(set(self.grid) - set(self.defaults)), *(set(self.accepts) - set(self.defaults))]
        if extra:
            raise WarehouseInputError(
                f"strategy {self.name}: {', '.join(sorted(set(extra)))} in its grid or accepts "
                f"is not one of its parameters ({', '.join(self.defaults) or 'none'})"
            )
        for name, value in self.defaults.items():
            self._checked(name, value, "default")
        for name, values in self.grid.items():
            for value in values:
                self._checked(name, value, "grid")

    def _checked(self, name: str, value: Value, where: str) -> Value:
        """Return `value` checked for `name`, or raise naming the strategy and `where`."""
        try:
            return self.check(name, value)
        except WarehouseInputError as exc:
            raise WarehouseInputError(f"strategy {self.name}, {where}: {exc}") from None

    def check(self, name: str, value: Value) -> Value:
        """Return `value` checked against what `name` takes (a float for numbers)."""
        return self.accepts.get(name, Accepts()).check(name, value)

    def positions(self, known: Known, params: Params | None = None) -> np.ndarray:
        """Return target positions (+1/-1/0, NaN = hold) for `params` over the defaults.

        The rule receives every parameter checked (numbers as floats, words as strings); the
        result is one float per session of `known`, else one line says what came back.
        """
        merged = {**self.defaults, **(params or {})}
        unknown = set(merged) - set(self.defaults)
        if unknown:
            raise WarehouseInputError(
                f"strategy {self.name} has no parameter {', '.join(sorted(unknown))} "
                f"(it takes {', '.join(self.defaults)})"
            )
        checked = {name: self.check(name, value) for name, value in merged.items()}
        return self._valid(self.rule(known, checked), known)

    def _valid(self, result: object, known: Known) -> np.ndarray:
        """Return the rule's `result` as floats, or raise saying how it is not positions."""
        try:
            out = np.asarray(result, dtype=float)
        except (TypeError, ValueError):
            raise WarehouseInputError(
                f"strategy {self.name} returned {type(result).__name__}, not an array of positions"
            ) from None
        if out.shape != (len(known),):
            raise WarehouseInputError(
                f"strategy {self.name} returned shape {out.shape} for {len(known)} sessions; "
                "a rule returns one position per session"
            )
        return out


def directions(strategy: Strategy, known: Known, params: Params) -> np.ndarray:
    """Return `strategy`'s positions on the underlying, or raise one line on any other value.

    A trade of the underlying takes +1 (long), -1 (short), 0 (flat) or NaN (hold) only.
    """
    out = strategy.positions(known, params)
    bad = np.flatnonzero(~np.isnan(out) & ~np.isin(out, (-1.0, 0.0, 1.0)))
    if bad.size:
        raise WarehouseInputError(
            f"strategy {strategy.name} returned {out[bad[0]]:g} on {known.dates[bad[0]]}; "
            "positions are +1 (long), -1 (short), 0 (flat) or NaN (hold)"
        )
    return out


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


def lag(values: np.ndarray, sessions: int = 1) -> np.ndarray:
    """Return `values` as known `sessions` decisions earlier: row t holds row t - sessions.

    The first `sessions` rows are NaN (nothing known that far back); safe on any length, so a
    rule built on it runs on the short histories the leak check cuts.
    """
    values = np.asarray(values, dtype=float)
    steps = min(max(int(sessions), 0), values.size)
    return np.concatenate([np.full(steps, np.nan), values[: values.size - steps]])


def flip_cross(k: Known, p: Params) -> np.ndarray:
    """Enter long when spot crosses above flip (+ `band` %), leave on a cross below (- band)."""
    above, band = _pct_from_flip(k), float(p["band"])
    before = lag(above)
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
    up = negative & (k.spot > lag(k.call_wall))
    down = negative & (k.spot < lag(k.put_wall))
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
    """Return the built-in strategy `name` of this module, or raise naming the known ones.

    `backtest.plugins.resolve` finds any strategy: option strategies, `package.module:name`
    and entry points too.
    """
    if name not in STRATEGIES:
        raise WarehouseInputError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    return STRATEGIES[name]
