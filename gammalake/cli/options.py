"""What the command line gives, parsed and checked: symbols, dates, times, home, settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:  # imported inside the functions: Prefect and friends cost start-up time
    from flows.settings import Settings


def settings_of(ctx: typer.Context) -> Settings:
    """Return the settings for this invocation (file + environment), Prefect quietened."""
    from flows.settings import load_settings

    return load_settings(ctx.obj, ctx.meta.get("config"))


def writing(
    ctx: typer.Context, preset: str | None = None, am_settlement: bool | None = None
) -> Settings:
    """Return the settings of a command that stores data: the home writable, the method known.

    `preset` (else the settings') and `am_settlement` become one method string, the settings'
    `preset`: what the stored rows carry and what a rebuild re-makes.
    """
    from dataclasses import replace

    from warehouse.home import writable_home

    settings = settings_of(ctx)
    settings = replace(settings, preset=engine_method(preset or settings.preset, am_settlement))
    writable_home(settings.home)
    return settings


ServedMethodOption = Annotated[
    str | None,
    typer.Option(
        help="Default method of the figures: a preset (default, perfiliev, all_short, "
        "index_long_calls, open_close), a method like default@v1 or "
        "default+am_settlement=false@v2, or vendor. Default: the catalog's, else the settings' "
        "preset. Each request may choose another with method=."
    ),
]


def served_method(ctx: typer.Context, method: str | None, am_settlement: bool | None) -> str:
    """Return the method a server shows by default: --method, else the catalog's or settings'.

    `am_settlement` (--am-settlement/--no-am-settlement) is applied to that engine method.
    """
    from gammalake.lake import default_method

    chosen = method or default_method(ctx.obj, settings_of(ctx).preset)
    return chosen if am_settlement is None else engine_method(chosen, am_settlement)


def engine_method(text: str, am_settlement: bool | None = None) -> str:
    """Return the engine method `text` names (a preset, a recipe or a method) with the flag.

    `vendor` is refused: it names vendor payloads, not a way to price a chain.
    """
    from pipeline.engine.method import VENDOR, config_of, method_of, resolve_method
    from pipeline.errors import InputError

    method = resolve_method(text)
    if method == VENDOR:
        raise InputError("--preset vendor names vendor payloads; give an engine preset")
    if am_settlement is None:
        return method
    return method_of(config_of(method).with_overrides(am_settlement=am_settlement))


MethodOption = Annotated[
    str | None,
    typer.Option(
        help="Snapshots of this method: a preset (default, perfiliev, all_short, "
        "index_long_calls, open_close), a method like default@v1, or vendor. Default: the "
        "settings' preset."
    ),
]


PresetOption = Annotated[
    str | None,
    typer.Option(
        help="Engine preset that prices chains: default, perfiliev, all_short, "
        "index_long_calls, open_close; with overrides (default+am_settlement=false) or an "
        "engine version (default@v1). Default: settings `preset`."
    ),
]

AmSettlementOption = Annotated[
    bool | None,
    typer.Option(
        "--am-settlement/--no-am-settlement",
        help="AM-settled roots (SPX, NDX, RUT, VIX monthlies) expire at 09:30 of their date. "
        "Default: the preset's (on in default from engine v2). Kept in the stored method.",
        show_default=False,
    ),
]


def sessions(first: date, last: date) -> list[date]:
    """Return the NYSE sessions from `first` to `last`."""
    from pipeline.sessions import sessions_between

    return sessions_between(first, last)


def session_span(start: str, end: str) -> tuple[date, date]:
    """Return --start/--end as dates; refuse a reversed range or one with no NYSE session."""
    from pipeline.errors import InputError
    from pipeline.sessions import calendar_span

    first, last = date_of(start, "--start"), date_of(end, "--end")
    if first > last:
        raise InputError(f"--start {first} is after --end {last}")
    low, high = calendar_span()
    if first < low or last > high:
        raise InputError(
            f"--start {first} .. --end {last} leaves the NYSE calendar ({low} .. {high})"
        )
    if not sessions(first, last):
        raise InputError(f"--start {first} .. --end {last} holds no NYSE session")
    return first, last


def source_name(name: str, history: bool = False) -> str:
    """Return a registered source name, or raise naming the known ones (before any flow starts).

    `history`: the source must be able to give past sessions (a backfill): live feeds (Cboe's,
    the live FlashAlpha API) answer with the chain of now only.
    """
    from pipeline.errors import InputError
    from pipeline.sources.base import registered

    specs = registered()
    if name not in specs:
        raise InputError(f"--source {name!r} is unknown (known: {', '.join(specs)})")
    if history and not specs[name].history:
        with_history = ", ".join(n for n, s in specs.items() if s.history)
        raise InputError(
            f"--source {name!r} serves only the chain of now, so it cannot backfill past "
            f"sessions (sources with history: {with_history}); collect it "
            "going forward with `gammalake snapshot` or the daily schedule"
        )
    return name


def source_help(history: bool = False) -> str:
    """Return the help of `--source`: each registered source (with history only, if asked)."""
    from pipeline.sources.base import registered

    specs = [s for s in registered().values() if s.history or not history]
    return " ".join(f"{s.name}: {s.help}" for s in specs)


def check_synthetic_span(source: str, first: date) -> None:
    """Refuse a synthetic backfill that starts before the simulated history does."""
    from pipeline.errors import InputError
    from pipeline.sources.synthetic import SYNTHETIC_START

    if source == "synthetic" and first < SYNTHETIC_START:
        raise InputError(f"--start {first}: the synthetic market starts {SYNTHETIC_START}")


def parse_time(
    text: str | None, option: str = "--as-of", on_calendar: bool = False
) -> datetime | None:
    """Return an ISO 8601 time with offset, or raise a clear error naming the option.

    `on_calendar`: also refuse a time off the NYSE calendar (flows need its session; `chain`
    alone does not, and loading the calendar would slow its start-up).
    """
    from pipeline.errors import InputError

    if text is None:
        return None
    import re

    try:
        if not re.match(DATE_FORM + r"(?![0-9-])", text):  # no week date (see DATE_FORM)
            raise ValueError(text)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise InputError(f"{option} {text!r} needs a UTC offset, e.g. 2024-01-05T16:15-05:00")
    if not on_calendar:
        return when
    from pipeline.sessions import calendar_span

    low, high = calendar_span()
    if not low <= when.date() <= high:
        raise InputError(f"{option} {text!r} is outside the NYSE calendar ({low} .. {high})")
    return when


def span(start: str | None, end: str | None) -> tuple[date, date]:
    """Return the session span of --start/--end: all stored history when they are omitted."""
    first = date_of(start, "--start") if start else date(1900, 1, 1)
    last = date_of(end, "--end") if end else date(2999, 12, 31)
    return first, last


def one_symbol(text: str, option: str = "--symbol") -> str:
    """Return the one symbol an option names; refuse a list."""
    from pipeline.errors import InputError

    names = symbol_list(text, option)
    if len(names) != 1:
        raise InputError(f"{option} must name one symbol, got {', '.join(names)}")
    return names[0]


def symbol_list(text: str, option: str = "--symbols", chains: bool = False) -> list[str]:
    """Return a comma-separated symbol list, upper-cased and validated; refuse an empty one.

    `chains`: the symbols name option chains to collect, so each must also be a ticker the
    checks accept (pipeline.roots.CHAIN_SYMBOL: no `^`, at most 10 characters); refused here,
    in one line, rather than by every fetch of a run that then fails.
    """
    from pipeline.errors import InputError
    from pipeline.roots import CHAIN_SYMBOL
    from warehouse.schema import validate_symbol

    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise InputError(f"{option} {text!r} names no symbol; give e.g. SPY,QQQ")
    for name in names:
        # 'ıwm'.upper() is 'IWM' and 'ßPY'.upper() is 'SSPY': refuse rather than guess.
        if not name.isascii():
            raise InputError(f"{option}: symbol {name!r} has characters outside A-Z, 0-9, . ^ _ -")
    symbols = [validate_symbol(name.upper()) for name in names]
    for symbol in symbols:
        if chains and not CHAIN_SYMBOL.fullmatch(symbol):
            raise InputError(
                f"{option}: {symbol!r} is not an option chain's ticker (letters and digits, "
                "then '.' or '-', at most 10 characters; an index is e.g. SPX, not ^SPX)"
            )
    return symbols


#: The dates the CLI reads: 2024-03-15 or its compact form 20240315, both that very day.
#: Python would also read ISO week dates (2024W11 is that week's Monday) and other digits
#: than 0-9; refused: never what was meant.
DATE_FORM = r"([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8})"


def date_of(text: str, option: str) -> date:
    """Return a date written 2024-03-15 or 20240315, or raise naming the option."""
    import re

    from pipeline.errors import InputError

    try:
        if not re.fullmatch(DATE_FORM, text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date like 2024-03-15") from None


#: Options of the app itself that may also be written after the command name.
GLOBAL_OPTIONS = ("--home", "--config")


def hoist_global_options(args: list[str]) -> list[str]:
    """Return `args` with --home / --config written after the command moved before it.

    `gammalake sql --home X "SELECT 1"` becomes `gammalake --home X sql "SELECT 1"`; both
    `--home X` and `--home=X` spellings move, and nothing after a `--` separator does (that is
    an argument, not an option). Given both before and after the command with different values,
    the option is refused with one line: which one was meant cannot be guessed.
    """
    start = _command_index(args)
    if start is None:
        return list(args)
    before, hoisted, rest = list(args[:start]), [], []
    found: dict[str, list[str]] = {name: [] for name in GLOBAL_OPTIONS}
    _scan_before(before, found)
    placed = {name: len(values) for name, values in found.items()}
    index = start
    while index < len(args):
        token = args[index]
        if token == "--":
            rest.extend(args[index:])
            break
        name, sep, value = token.partition("=")
        if name not in GLOBAL_OPTIONS:
            rest.append(token)
            index += 1
            continue
        if not sep:
            if index + 1 >= len(args):
                _refuse(f"{name} needs a value, e.g. {name} ~/gammalake")
            value = args[index + 1]
            index += 1
        found[name].append(value)
        hoisted.extend([name, value])
        index += 1
    for name, values in found.items():
        if len({_same(name, v) for v in values}) > 1:
            where = "before and after the command" if placed[name] else "twice after the command"
            _refuse(
                f"{name} is given {where} with different values "
                f"({', '.join(repr(v) for v in values)}); give it once"
            )
    return [*before, *hoisted, *rest]


def _command_index(args: list[str]) -> int | None:
    """Return where the command name is in `args` (after the app's own options), or None."""
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            return None
        if not token.startswith("-"):
            return index
        # The app's options that take a value; its others (--version, -h, ...) are flags.
        index += 2 if token in GLOBAL_OPTIONS else 1
    return None


def _scan_before(before: list[str], found: dict[str, list[str]]) -> None:
    """Add the values of --home / --config written before the command to `found`."""
    for index, token in enumerate(before):
        name, sep, value = token.partition("=")
        if name in GLOBAL_OPTIONS:
            if sep:
                found[name].append(value)
            elif index + 1 < len(before):
                found[name].append(before[index + 1])


def _same(name: str, value: str) -> str:
    """Return `value` in a form where two spellings of one folder or file compare equal."""
    import os

    return os.path.abspath(os.path.expanduser(value)) if value.strip() else value


def _refuse(message: str) -> NoReturn:
    """Raise the one-line input error the CLI prints (exit code 2)."""
    from pipeline.errors import InputError

    raise InputError(message)
