"""Where strategies come from: built in, `package.module:name`, or an entry point.

`resolve(name)` returns the `Strategy` a `--strategy` value names:

- a built-in name (`BUILT_IN`);
- `package.module:name`: the module is imported with the current working directory first on
  `sys.path` (so `my_strategies.py` next to you is found, as uvicorn finds `main:app`), and
  `name` (dots allowed: `module:holder.attr`) is a `Strategy` or a function of no arguments
  returning one;
- the name of an entry point in the group `gammalake.strategies` of an installed
  distribution, whose value is `package.module:name` as above.

`available()` lists the built-ins and every entry point. Every failure (no such module, an
error while importing it, no such attribute, not a Strategy, a broken entry point, two
strategies claiming one name) is one `WarehouseInputError` line naming the module, attribute
or entry point, which the CLI prints and exits 2 on.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import traceback
from importlib.metadata import EntryPoint, entry_points

from backtest.option_strategies import OPTION_STRATEGIES
from backtest.strategies import STRATEGIES, Strategy
from warehouse.errors import WarehouseInputError

#: The entry-point group installed packages publish strategies under.
GROUP = "gammalake.strategies"
#: The strategies shipped with gammalake, by name (more kinds join with one line each).
BUILT_IN: dict[str, Strategy] = {**STRATEGIES, **OPTION_STRATEGIES}
_SPEC = re.compile(
    r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<attr>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)$"
)


def resolve(name: str) -> Strategy:
    """Return the strategy `name` names (see the module doc), or raise one line saying why not."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    if ":" in name:
        return _not_built_in(load_spec(name), name)
    points = _entry_points(name)
    if len(points) > 1:
        raise WarehouseInputError(
            f"strategy {name!r} is published by {len(points)} entry points "
            f"({'; '.join(describe(p) for p in points)}): uninstall one"
        )
    if points:
        return load_entry_point(points[0])
    known = [*BUILT_IN, *sorted({p.name for p in _entry_points()})]
    raise WarehouseInputError(
        f"unknown strategy {name!r} (known: {', '.join(known)}; or give package.module:name, "
        "e.g. my_strategies:momentum)"
    )


def available() -> dict[str, Strategy]:
    """Return every strategy `--strategy` takes by name: the built-ins, then entry points.

    Raise one line when an entry point cannot be loaded or claims a name already taken.
    """
    found = dict(BUILT_IN)
    for point in _entry_points():
        if point.name in found:
            raise WarehouseInputError(
                f"entry point {describe(point)} clashes with the strategy {point.name!r} "
                f"({origin(point.name)}): rename the entry point"
            )
        found[point.name] = load_entry_point(point)
    return found


def origin(name: str) -> str:
    """Return where the strategy `name` comes from, for `--list`: `built in` or its entry point."""
    if name in BUILT_IN:
        return "built in"
    if ":" in name:
        return name
    points = _entry_points(name)
    return f"entry point {describe(points[0])}" if points else "unknown"


def is_built_in(strategy: Strategy) -> bool:
    """Return whether `strategy` is one shipped with gammalake (the very object)."""
    return BUILT_IN.get(strategy.name) is strategy


def describe(point: EntryPoint) -> str:
    """Return an entry point as `name = value (distribution version)`."""
    dist = point.dist
    where = f" ({dist.name} {dist.version})" if dist is not None else ""
    return f"{point.name} = {point.value}{where}"


def _entry_points(name: str | None = None) -> list[EntryPoint]:
    """Return the installed entry points of `GROUP` (only those called `name`, if given)."""
    points = entry_points(group=GROUP)
    return [p for p in points if name is None or p.name == name]


def load_entry_point(point: EntryPoint) -> Strategy:
    """Return the strategy an entry point publishes, or raise one line naming the entry point."""
    try:
        return _not_built_in(load_spec(point.value), point.value)
    except WarehouseInputError as exc:
        raise WarehouseInputError(f"entry point {describe(point)}: {exc}") from None


def load_spec(spec: str) -> Strategy:
    """Return the strategy of a `package.module:name` spec, or raise one line saying why not."""
    match = _SPEC.match(spec.strip())
    if match is None:
        raise WarehouseInputError(
            f"strategy {spec!r} is not package.module:name (e.g. my_strategies:momentum)"
        )
    module = _import(match["module"])
    found: object = module
    for part in match["attr"].split("."):
        if not hasattr(found, part):
            raise WarehouseInputError(
                f"module {match['module']} ({_file_of(module)}) has no attribute {match['attr']!r}"
            )
        found = getattr(found, part)
    return _as_strategy(found, spec)


def _import(name: str) -> object:
    """Return module `name` imported with the working directory first on sys.path."""
    here = os.getcwd()
    if here not in sys.path:  # kept: a strategy may import its helpers later, lazily
        sys.path.insert(0, here)
    importlib.invalidate_caches()  # a module written since the last import must be seen
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(f"{exc.name}.")):
            raise WarehouseInputError(
                f"no module {name} (looked in {here} and on the Python path)"
            ) from None
        raise WarehouseInputError(f"importing {name} failed: {_where(exc)}") from None
    except Exception as exc:  # any error of the user's module is one line naming it
        raise WarehouseInputError(f"importing {name} failed: {_where(exc)}") from None


def _where(exc: BaseException) -> str:
    """Return an exception as `Type: message (file, line N)` at its deepest frame."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__}: {exc.msg} ({exc.filename}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename]
    if user:
        return f"{text} ({user[-1].filename}, line {user[-1].lineno})"
    return text


def _file_of(module: object) -> str:
    """Return the file a module was loaded from, or its name when it has none."""
    return str(getattr(module, "__file__", None) or getattr(module, "__name__", "?"))


def _as_strategy(found: object, spec: str) -> Strategy:
    """Return `found` if it is a Strategy, else what its zero-argument call returns."""
    if isinstance(found, Strategy):
        return found
    if not callable(found) or isinstance(found, type):
        raise WarehouseInputError(
            f"{spec} is a {type(found).__name__}, not a Strategy "
            "(or a function of no arguments returning one)"
        )
    try:
        inspect.signature(found).bind()
    except TypeError:
        raise WarehouseInputError(
            f"{spec} is a function that needs arguments; give a Strategy or a function of no "
            "arguments returning one"
        ) from None
    except ValueError:  # no signature to read (a builtin): just call it
        pass
    try:
        made = found()
    except Exception as exc:
        raise WarehouseInputError(f"calling {spec}() failed: {_where(exc)}") from None
    if not isinstance(made, Strategy):
        raise WarehouseInputError(f"{spec}() returned a {type(made).__name__}, not a Strategy")
    return made


def _not_built_in(found: Strategy, spec: str) -> Strategy:
    """Return `found` unless it takes a built-in strategy's name (its reports would pass as it)."""
    if found.name in BUILT_IN and BUILT_IN[found.name] is not found:
        raise WarehouseInputError(
            f"{spec} is named {found.name!r}, the name of a built-in strategy: give it another"
        )
    return found
