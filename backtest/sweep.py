"""Parameter grids run as vectorbt columns in one pass, and walk-forward selection.

A grid is written `name=v1,v2;other=a:b:step` (ranges include both ends); `sl` and `tp` are
stop-loss and take-profit in % of the entry price (0 = none). Every value is checked against
what its parameter takes, and a grid holds at most MAX_CONFIGURATIONS combinations, so a typo
is one line naming the option, parameter and value, never a traceback mid-run. Walk-forward
picks the best in-sample Sharpe on each training window and keeps only the following test
window's returns.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from backtest import leak
from backtest.panel import Panel
from backtest.portfolio import Costs, Stops, holdings, returns, simulate
from backtest.stats import YEAR, summary
from backtest.strategies import Accepts, Known, Strategy, Value, directions
from warehouse.errors import WarehouseInputError

STOP_KEYS = ("sl", "tp")
#: Stop-loss and take-profit levels, % of the entry price (0 = none).
STOPS = Accepts(low=0)
#: The most configurations one request may sweep (each is a vectorbt column per symbol).
MAX_CONFIGURATIONS = 5000
#: An optional hook long work calls as it goes: (task, steps done, steps in all), e.g.
#: ("SPY grid", 3, 11). The same task is reported again with a growing count; the interface
#: layer draws it (a progress bar), this layer never prints.
Progress = Callable[[str, int, int], None]


def _range(option: str, name: str, text: str) -> list[float]:
    """Return the values of an inclusive `start:stop:step` range, or raise naming it."""
    parts = text.split(":")
    try:
        start, stop, step = (float(x) for x in parts)
    except ValueError:
        raise WarehouseInputError(
            f"{option} {name}={text}: a range is start:stop:step, three numbers"
        ) from None
    if not all(math.isfinite(x) for x in (start, stop, step)) or step <= 0 or stop < start:
        raise WarehouseInputError(
            f"{option} {name}={text}: a range needs start <= stop and a step > 0"
        )
    count = math.floor((stop - start) / step + 0.5) + 1
    if count > MAX_CONFIGURATIONS:
        raise WarehouseInputError(
            f"{option} {name}={text} makes {count:,} values; the most is {MAX_CONFIGURATIONS:,}"
        )
    return [round(v, 10) for v in np.arange(start, stop + step / 2, step)]


def _values(option: str, name: str, text: str) -> list[Value]:
    """Return the values of one entry: a comma list (as written) or an inclusive range.

    The strategy checks and converts them afterwards (`check_value`).
    """
    if ":" in text:
        return [*_range(option, name, text)]
    items: list[Value] = [x.strip() for x in text.split(",")]
    if not all(items):
        raise WarehouseInputError(f"{option} {name}={text}: an empty value")
    return items


def check_value(strategy: Strategy, name: str, value: Value, option: str = "--params") -> Value:
    """Return `value` as the parameter `name` of `strategy` takes it, or raise one line.

    Stops `sl` / `tp` take % of the entry price >= 0; the line names the option, the
    parameter and the value.
    """
    if name not in strategy.defaults and name not in STOP_KEYS:
        known = ", ".join([*strategy.defaults, *STOP_KEYS])
        raise WarehouseInputError(f"{option}: {strategy.name} has no {name!r} (it takes {known})")
    try:
        return STOPS.check(name, value) if name in STOP_KEYS else strategy.check(name, value)
    except WarehouseInputError as exc:
        raise WarehouseInputError(f"{option} {exc}") from None


def parse_params(spec: str | None, strategy: Strategy) -> dict[str, Value]:
    """Return fixed parameters written `name=value;other=value` (stops `sl`/`tp` in %)."""
    if not spec or spec == "default":
        return {}
    combos = parse_grid(spec, strategy, option="--params")
    if len(combos) != 1:
        raise WarehouseInputError(f"--params takes one value per name; got {spec!r}")
    return combos[0]


def parse_grid(
    spec: str | None, strategy: Strategy, *, option: str = "--grid"
) -> list[dict[str, Value]]:
    """Return every combination of the grid (the defaults alone when `spec` is None).

    `spec` "default" sweeps the strategy's own grid. Bad entries, values the strategy does
    not take and grids over MAX_CONFIGURATIONS raise one line naming `option` and the entry.
    """
    if not spec:
        return [{}]
    axes = dict(strategy.grid) if spec == "default" else _axes(spec, strategy, option)
    sizes = [len(v) for v in axes.values()]
    if math.prod(sizes) > MAX_CONFIGURATIONS:
        shape = " x ".join(f"{n} {k}" for k, n in zip(axes, sizes, strict=True))
        raise WarehouseInputError(
            f"{option} {spec!r} makes {math.prod(sizes):,} configurations ({shape}); "
            f"the most is {MAX_CONFIGURATIONS:,}"
        )
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def _axes(spec: str, strategy: Strategy, option: str) -> dict[str, list[Value]]:
    """Return each parameter of a `name=values;...` spec with its checked values."""
    axes: dict[str, list[Value]] = {}
    for entry in filter(None, (e.strip() for e in spec.split(";"))):
        name, sep, text = (part.strip() for part in entry.partition("="))
        if not sep or not name or not text:
            raise WarehouseInputError(f"{option} entry {entry!r} is not name=values")
        if name in axes:
            raise WarehouseInputError(f"{option} gives {name} twice")
        checked = [check_value(strategy, name, v, option) for v in _values(option, name, text)]
        axes[name] = list(dict.fromkeys(checked))  # a repeated value would count as a trial
    if not axes:
        raise WarehouseInputError(f"{option} {spec!r} names no parameter")
    return axes


@dataclass(frozen=True)
class Sweep:
    """Every configuration of one symbol: params and stats table, daily returns, portfolio."""

    panel: Panel
    combos: list[dict[str, Value]]
    table: pl.DataFrame
    returns: np.ndarray
    portfolio: Any


def stops_of(combos: list[dict[str, Value]]) -> Stops:
    """Return per-column stop arrays (fractions; NaN = none) from the combos' sl/tp in %."""
    found = {}
    for key in STOP_KEYS:
        if any(key in c for c in combos):
            levels = np.array([float(c.get(key, 0.0)) for c in combos]) / 100.0
            found[key] = np.where(levels > 0, levels, np.nan)
    return Stops(**found)


def run_sweep(
    panel: Panel,
    strategy: Strategy,
    combos: list[dict[str, Value]],
    costs: Costs,
    progress: Progress | None = None,
) -> Sweep:
    """Return the sweep of `combos` over `panel`, every configuration a vectorbt column.

    `progress` ("<symbol> grid"): one step per configuration's signals, one for the vectorbt
    pass over all of them.
    """
    known = Known.of(panel)
    steps, label = len(combos) + 1, f"{panel.symbol} grid"
    columns, chosen = [], [{k: v for k, v in c.items() if k not in STOP_KEYS} for c in combos]
    for done, params in enumerate(chosen, start=1):
        columns.append(directions(strategy, known, params))
        if progress is not None:
            progress(label, done, steps)
    check_leaks(strategy, known, chosen, columns)
    targets = np.column_stack(columns)
    portfolio = simulate(panel, targets, costs, stops_of(combos))
    if progress is not None:
        progress(label, steps, steps)
    units = holdings(portfolio)
    daily = returns(portfolio, units)
    trades = portfolio.trades
    table = pl.concat(
        [
            _params_table(strategy, combos),
            summary(daily),
            pl.DataFrame(
                {
                    "trades": np.atleast_1d(trades.count().to_numpy()).astype(np.int64),
                    "win_rate": np.atleast_1d(trades.win_rate().to_numpy()),
                    "exposure": (units != 0).mean(axis=0),
                }
            ),
        ],
        how="horizontal",
    )
    return Sweep(panel, combos, table, daily, portfolio)


def check_leaks(
    strategy: Strategy, known: Known, params: list[dict[str, Value]], columns: list[np.ndarray]
) -> None:
    """Refuse a strategy that is not built in when its positions reach the future.

    See `backtest.leak` (what it runs and costs); built-in strategies are checked by the tests.
    """
    from backtest.plugins import is_built_in  # plugins may grow imports of this layer

    if not is_built_in(strategy):
        leak.check(strategy, known, params, columns)


def _params_table(strategy: Strategy, combos: list[dict[str, Value]]) -> pl.DataFrame:
    """Return one row per combination with every parameter (defaults filled in) as a string."""
    names = [*strategy.defaults, *(k for k in STOP_KEYS if any(k in c for c in combos))]
    rows = {n: [str(c.get(n, strategy.defaults.get(n, 0))) for c in combos] for n in names}
    return pl.DataFrame({"config": list(range(len(combos))), **rows})


@dataclass(frozen=True)
class Split:
    """One walk-forward window: session index ranges and the configuration chosen in-sample."""

    train: tuple[int, int]
    test: tuple[int, int]
    chosen: int
    train_sharpe: float
    test_sharpe: float


def splits(
    sessions: int, train: int, test: int, mode: str = "expanding"
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Return (train, test) half-open index ranges: rolling or expanding training windows.

    Test windows follow each other to the last session, the last one possibly shorter.
    """
    if mode not in ("rolling", "expanding"):
        raise WarehouseInputError(f"walk-forward mode {mode!r} unknown (rolling or expanding)")
    if train < 20 or test < 1 or sessions < train + test:
        raise WarehouseInputError(
            f"walk-forward needs train >= 20 and train + test <= {sessions} sessions "
            f"(got train {train}, test {test})"
        )
    out = []
    for start in range(train, sessions, test):  # the last test window may be shorter
        first = 0 if mode == "expanding" else start - train
        out.append(((first, start), (start, min(start + test, sessions))))
    return out


def walk_forward(
    daily: np.ndarray,
    train: int,
    test: int,
    mode: str = "expanding",
    progress: Progress | None = None,
) -> tuple[list[Split], np.ndarray]:
    """Return the splits with their chosen configs and the stitched out-of-sample returns.

    Those returns are each configuration's own over its window (positions handed between
    configurations for free); reports trade the windows as one account instead
    (`backtest.ledger.replay`). `progress` ("walk-forward"): one step per window.
    """
    chosen: list[Split] = []
    pieces = []
    sums = np.vstack([np.zeros((1, daily.shape[1])), np.cumsum(daily, axis=0)])
    squares = np.vstack([np.zeros((1, daily.shape[1])), np.cumsum(daily**2, axis=0)])
    windows = splits(daily.shape[0], train, test, mode)
    for done, ((a, b), (c, d)) in enumerate(windows, start=1):
        in_sample = _window_sharpe(sums, squares, a, b)
        best = int(np.argmax(in_sample))
        oos = float(_window_sharpe(sums, squares, c, d)[best])
        chosen.append(Split((a, b), (c, d), best, float(in_sample[best]), oos))
        pieces.append(daily[c:d, best])
        if progress is not None:
            progress("walk-forward", done, len(windows))
    return chosen, np.concatenate(pieces)


def _window_sharpe(sums: np.ndarray, squares: np.ndarray, a: int, b: int) -> np.ndarray:
    """Return every column's annualised Sharpe over sessions [a, b) from running sums."""
    n = b - a
    mean = (sums[b] - sums[a]) / n
    var = np.maximum((squares[b] - squares[a] - n * mean**2) / (n - 1), 0.0)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 1e-12, mean / sd * math.sqrt(YEAR), 0.0)
