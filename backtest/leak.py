"""The leak check: a strategy's position on a session must not change when later sessions vanish.

A rule sees the whole point-in-time panel at once (numpy arrays, one row per session), so
nothing stops it from reading row t+1 while deciding row t (`np.roll(close, -1)`, a backward
fill, a statistic of the whole span). Such a rule would trade on tomorrow. The check runs the
rule again on the panel cut at a set of sessions (every column cut to rows 0..t) and compares:
an honest rule gives the same positions up to t; a leaky one changes a position at or before a
cut, and the run is refused with one line naming the strategy, its parameters and the first
session whose position changed.

Cost: `CUTS` extra runs of the rule per configuration checked (sessions spread over the span
plus the last few, where a one-session look-ahead shows), on at most `SAMPLE` configurations
of a grid: every configuration up to `SAMPLE`, else `SAMPLE` spread evenly over the grid from
the first to the last. The full-span positions are the sweep's own, so nothing is run twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backtest.strategies import Known, Params, Strategy
from warehouse.errors import WarehouseInputError

#: Cut sessions spread over the span (fractions of it), then the last sessions before the end.
SPREAD = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875)
TAIL = 4
#: At most this many cuts per configuration (len(SPREAD) + TAIL).
CUTS = len(SPREAD) + TAIL
#: The most configurations of one sweep the check runs (a larger grid: an even sample).
SAMPLE = 32


def cuts(sessions: int) -> list[int]:
    """Return the last row kept by each cut (0-based, ascending): spread, then the tail.

    A cut at the last session would change nothing, so none is made there.
    """
    spread = {int(sessions * f) for f in SPREAD}
    tail = set(range(max(sessions - 1 - TAIL, 0), sessions - 1))
    return sorted(t for t in spread | tail if 0 <= t < sessions - 1)


def sample(configurations: int) -> list[int]:
    """Return the configurations checked: all up to `SAMPLE`, else `SAMPLE` spread evenly."""
    if configurations <= SAMPLE:
        return list(range(configurations))
    return sorted({round(i) for i in np.linspace(0, configurations - 1, SAMPLE)})


def check(
    strategy: Strategy, known: Known, params: Sequence[Params], positions: Sequence[np.ndarray]
) -> None:
    """Refuse (raise one line) if a sampled configuration's positions reach the future.

    `params[i]` and `positions[i]`: one configuration and its positions on the full `known`.
    """
    for i in sample(len(params)):
        for t in cuts(len(known)):
            first = _first_change(strategy, known, params[i], positions[i], t)
            if first is not None:
                raise WarehouseInputError(_refusal(strategy, params[i], known, first, t))


def _first_change(
    strategy: Strategy, known: Known, params: Params, full: np.ndarray, t: int
) -> int | None:
    """Return the first row (<= t) whose position differs on the panel cut after row t."""
    try:
        cut = strategy.positions(known.head(t + 1), params)
    except WarehouseInputError:
        raise
    except Exception as exc:  # a rule that cannot run on a shorter history is refused too
        raise WarehouseInputError(
            f"leak check: strategy {strategy.name} ({_params(strategy, params)}) failed on "
            f"the sessions up to {known.dates[t]}: {type(exc).__name__}: {exc} (a rule must run "
            "on a history of any length; backtest.strategies.lag shifts safely)"
        ) from None
    same = (cut == full[: t + 1]) | (np.isnan(cut) & np.isnan(full[: t + 1]))
    changed = np.flatnonzero(~same)
    return int(changed[0]) if changed.size else None


def _refusal(strategy: Strategy, params: Params, known: Known, first: int, t: int) -> str:
    """Return the line refusing a leaky strategy."""
    return (
        f"strategy {strategy.name} ({_params(strategy, params)}) reads the future: its position on "
        f"{known.dates[first]} changed when the sessions after {known.dates[t]} were removed "
        "(a rule may use rows up to its own decision only, the same way on every run; the run "
        "is refused)"
    )


def _params(strategy: Strategy, params: Params) -> str:
    """Return every parameter in force as `a=1, b=x` (`no parameters` when it has none)."""
    merged = {**strategy.defaults, **params}
    text = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in merged.items()
    )
    return text or "no parameters"
