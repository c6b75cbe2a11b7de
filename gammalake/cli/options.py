"""What the command line gives, parsed and checked: symbols, dates, times, home, settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer


def settings_of(ctx: typer.Context) -> object:
    """Return the settings for this invocation (file + environment), Prefect quietened."""
    from flows.settings import load_settings

    return load_settings(ctx.obj, ctx.meta.get("config"))


def writing(ctx: typer.Context, preset: str | None = None) -> object:
    """Return the settings of a command that stores data: the home writable, the preset known."""
    from dataclasses import replace

    from pipeline.engine.presets import preset as named_preset
    from warehouse.home import writable_home

    settings = settings_of(ctx)
    if preset is not None:
        named_preset(preset)  # an unknown name is refused here, naming the known ones
        settings = replace(settings, preset=preset)
    writable_home(settings.home)
    return settings


MethodOption = Annotated[
    str | None,
    typer.Option(
        help="Snapshots of this method: a preset (default, perfiliev, all_short), a method "
        "like default@v1, or vendor. Default: the settings' preset."
    ),
]


PresetOption = Annotated[
    str | None,
    typer.Option(help="Engine preset that prices chains (default: settings `preset`)."),
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


def source_name(name: str) -> str:
    """Return a known source name, or raise naming the known ones (before any flow starts)."""
    from flows.sources import SOURCES
    from pipeline.errors import InputError

    if name not in SOURCES:
        raise InputError(f"--source {name!r} is unknown (known: {', '.join(SOURCES)})")
    return name


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
    try:
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


def symbol_list(text: str, option: str = "--symbols") -> list[str]:
    """Return a comma-separated symbol list, upper-cased and validated; refuse an empty one."""
    from pipeline.errors import InputError
    from warehouse.schema import validate_symbol

    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise InputError(f"{option} {text!r} names no symbol; give e.g. SPY,QQQ")
    for name in names:
        # 'ıwm'.upper() is 'IWM' and 'ßPY'.upper() is 'SSPY': refuse rather than guess.
        if not name.isascii():
            raise InputError(f"{option}: symbol {name!r} has characters outside A-Z, 0-9, . ^ _ -")
    return [validate_symbol(name.upper()) for name in names]


def date_of(text: str, option: str) -> date:
    """Return an ISO date, or raise naming the option."""
    from pipeline.errors import InputError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date like 2024-03-15") from None
