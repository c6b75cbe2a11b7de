"""`gammalake forget SYMBOL`: remove a history (a mistyped symbol's, say) from the home."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gammalake.cli.options import MethodOption, one_symbol

if TYPE_CHECKING:
    from warehouse.forget import Plan, Target

#: Exit code when the user answers no (nothing changed), as `quota --reset` does.
DECLINED_EXIT = 1
#: Exit code of Ctrl-C at the question (nothing changed), as everywhere in the CLI.
STOPPED_EXIT = 130


def forget(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="The symbol whose history goes, e.g. SPYY.")],
    source: Annotated[
        str | None, typer.Option(help="Only this source's history (e.g. synthetic).")
    ] = None,
    method: MethodOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Forget without asking.")] = False,
) -> None:
    """Remove a symbol's history from every dataset; move its raw files to attic/.

    Asks first (answer n, or Ctrl-C: nothing changes). The catalog's views are rebuilt after.
    """
    from warehouse.forget import forget, plan

    home = _existing_home(ctx.obj)
    target = _target(symbol, source, method)
    found = plan(home, target)
    if found.empty:
        _nothing(home, target)
        return
    print(describe(found, home))
    if not yes and not _ask("Forget this history?"):
        print("forget: nothing changed (pass --yes to forget without asking)")
        raise typer.Exit(DECLINED_EXIT)
    attic = forget(home, found)
    moved = f"; {len(found.raw)} raw file(s) moved to {attic}" if found.raw else ""
    print(f"forgot {_named(target)}: {_rows(found)}{moved}")


def _target(symbol: str, source: str | None, method: str | None) -> Target:
    """Return what to forget, each part checked (one line naming a bad one)."""
    from pipeline.engine.method import resolve_method
    from warehouse.forget import Target
    from warehouse.schema import validate_source

    return Target(
        one_symbol(symbol, "SYMBOL"),
        validate_source(source) if source is not None else None,
        resolve_method(method) if method is not None else None,
    )


def _existing_home(home: Path) -> Path:
    """Return the home folder; refuse one that does not exist (nothing to forget there)."""
    from pipeline.errors import InputError

    if not home.is_dir():
        raise InputError(f"--home {home}: no such folder")
    return home


def _nothing(home: Path, target: Target) -> None:
    """Say there is nothing to forget, or refuse a symbol (or part) this home never held."""
    from pipeline.errors import InputError
    from warehouse.forget import forgotten_before, stored_symbols

    symbols = stored_symbols(home)
    if target.symbol not in symbols:
        if forgotten_before(home, target.symbol):
            print(f"forget: nothing to forget of {target.symbol} (forgotten before)")
            return
        known = ", ".join(symbols) or "none"
        raise InputError(f"no history of {target.symbol} in {home} (stored symbols: {known})")
    raise InputError(f"no history of {_named(target)} in {home}")


def describe(found: Plan, home: Path) -> str:
    """Return the lines saying what a forget removes (rows per dataset, raw files)."""
    lines = [f"forget {_named(found.target)} from {home}:", f"  rows: {_rows(found)}"]
    if found.raw:
        lines.append(f"  raw files: {len(found.raw)}, moved to {home / 'attic'}")
    return "\n".join(lines)


def _named(target: Target) -> str:
    """Return the target as a user wrote it: 'SPY (source synthetic, method default@v1)'."""
    parts = [f"source {target.source}"] if target.source else []
    parts += [f"method {target.method}"] if target.method else []
    return target.symbol + (f" ({', '.join(parts)})" if parts else "")


def _rows(found: Plan) -> str:
    """Return '1,200 snapshots, 80,000 strikes, ...' (or 'no rows')."""
    counts = found.counts()
    return ", ".join(f"{n:,} {name}" for name, n in counts.items()) or "no rows"


def _ask(question: str) -> bool:
    """Return True when the user answers yes; Ctrl-C exits 130 (no answer: no)."""
    print(f"{question} [y/N]: ", end="", flush=True)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        print(file=sys.stderr)
        print("forget: stopped; nothing changed", file=sys.stderr)
        raise typer.Exit(STOPPED_EXIT) from None
    return answer.strip().lower() in ("y", "yes")
