"""`gammalake import datashop|orats|hod|databento|openclose PATH...`: vendor day files.

One sub-command per registered file format (pipeline.sources.formats): names and help come
from the registry, never from a list here. Every input is read and checked before anything is
written; a bad one is one line naming the file and exit code 2 (unless --skip-bad).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from gammalake.cli.commands.collect import DaskOption
from gammalake.cli.options import AmSettlementOption, PresetOption, date_of, writing

if TYPE_CHECKING:
    from flows.settings import Settings
    from flows.vendor_import import Imported, ImportRequest

PathsArgument = Annotated[
    list[Path],
    typer.Argument(help="Day files, folders (read recursively), .zip or .gz archives."),
]
SymbolsOption = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated underlyings as the files name them (SPX, not ^SPX). "
        "Default: every underlying in the files."
    ),
]
StartOption = Annotated[str | None, typer.Option(help="First session to import, YYYY-MM-DD.")]
EndOption = Annotated[str | None, typer.Option(help="Last session to import, YYYY-MM-DD.")]
ForceOption = Annotated[
    bool, typer.Option(help="Re-import (symbol, session) pairs already stored.")
]
SkipBadOption = Annotated[
    bool,
    typer.Option(help="Leave out a bad file (counted as refused) instead of refusing all."),
]
AtOption = Annotated[
    str | None, typer.Option(help="New York minute of the quotes, HH:MM (default 15:45).")
]
#: A symbol as vendor files write it: upper case, no index caret.
_VENDOR_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,19}")


def vendor_symbols(text: str | None) -> frozenset[str] | None:
    """Return --symbols as a set (None: every underlying); refuse '^SPX' and lower case."""
    from pipeline.errors import InputError

    if text is None:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise InputError(f"--symbols {text!r} names no symbol; give e.g. SPX,SPY")
    for name in names:
        if name.startswith("^"):
            raise InputError(f"--symbols: {name!r}: vendor files name it {name[1:]!r}, no '^'")
        if name != name.upper():
            raise InputError(f"--symbols: {name!r} is not upper case; give {name.upper()!r}")
        if not _VENDOR_SYMBOL.fullmatch(name):
            raise InputError(f"--symbols: {name!r} is not a ticker (A-Z, 0-9, . _ -)")
    return frozenset(names)


def minute_of(text: str | None) -> time | None:
    """Return --at HH:MM as a time, or None when not given; refuse anything else."""
    from pipeline.errors import InputError

    if text is None:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise InputError(f"--at {text!r} is not a minute like 15:45 (New York time)")
    return time(int(match[1]), int(match[2]))


def request_of(
    name: str,
    paths: list[Path],
    symbols: str | None,
    start: str | None,
    end: str | None,
    flags: tuple[bool, bool],
    at: str | None = None,
) -> ImportRequest:
    """Return the import asked for, every option checked; `flags` is (force, skip_bad)."""
    from flows.vendor_import import ImportRequest
    from pipeline.errors import InputError
    from pipeline.sources.formats.base import ReadOptions

    first = date_of(start, "--start") if start else None
    last = date_of(end, "--end") if end else None
    if first is not None and last is not None and first > last:
        raise InputError(f"--start {first} is after --end {last}")
    options = ReadOptions(vendor_symbols(symbols), first, last, minute_of(at))
    return ImportRequest(name, tuple(paths), options, force=flags[0], skip_bad=flags[1])


def run_import_command(settings: Settings, request: ImportRequest, dask: str | None) -> int:
    """Read every input (refusing bad ones), import them, print what was done; return exit code.

    Ctrl-C or SIGTERM while importing finishes the session in hand, records the run as
    cancelled and gives 130 or 143; while reading, nothing has been written yet.
    """
    from flows.vendor_import import expand, prepare, run_import
    from gammalake.cli.running import (
        Where,
        cancelled_line,
        exit_code,
        fanout_of,
        say,
        stop_on_signals,
    )
    from gammalake.cli.summary import run_progress

    files = len(expand(request.paths))
    context, advance, _ = run_progress(files if files > 1 else 0, "read", "files")
    with context:
        fmt, inputs = prepare(settings, request, advance)
    days = len({d for f in inputs.files for d in f.sessions})
    if dask is None and settings.task_runner == "dask":
        dask = settings.dask_address or "local"
    fanout = fanout_of(settings, Where(dask=dask))
    context, advance, _ = run_progress(days, f"import {fmt.name}", "days")
    try:
        with context, stop_on_signals(fanout.stop.set) as signals:
            imported = run_import(settings, request, inputs, fanout, advance)
    finally:
        fanout.close()
    if imported.summary.cancelled:
        say(cancelled_line(imported.summary, signals))
    else:
        print_imported(imported, request.force)
    return exit_code(imported.summary, signals)


def print_imported(imported: Imported, force: bool) -> None:
    """Print what an import read, stored, skipped and refused, and the symbols that failed."""
    from gammalake.cli.console import make_console

    summary, console = imported.summary, make_console()
    console.print(
        escape(f"import {summary.source}, method {summary.method} (run {summary.run_id[:8]})"),
        highlight=False,
    )
    console.print(escape(f"read: {_read_line(imported)}"), highlight=False)
    if imported.stored == 0 and imported.skipped and not imported.refused and not force:
        console.print(
            f"nothing new: all {imported.skipped} (symbol, session) pairs are already stored "
            f"under {summary.method} (--force re-imports them)",
            highlight=False,
        )
    else:
        console.print(
            f"stored {imported.stored} snapshot(s); skipped {imported.skipped} already stored",
            highlight=False,
        )
    for line in imported.refused:
        console.print(f"[yellow]refused[/] {escape(line)}", highlight=False)
    _print_problems(imported)
    alerts = len(summary.alerts)
    if alerts:
        console.print(f"{alerts} alert(s) in the alerts table", highlight=False)
    console.print(escape(f"run {summary.status}"), highlight=False)


def _read_line(imported: Imported) -> str:
    """Return e.g. '2 file(s), 2 day(s), 3 symbol(s), 1,234 contract(s), 0 refused'."""
    return (
        f"{imported.files} file(s), {imported.days} day(s), {imported.symbols} symbol(s), "
        f"{imported.contracts:,} contract(s), {len(imported.refused)} refused"
    )


#: Most notes, and most failed symbols, listed on the terminal (the `runs` row keeps them all).
SHOWN_LINES = 20


def _print_problems(imported: Imported) -> None:
    """Print the readers' notes and the symbols the checks refused (SHOWN_LINES of each)."""
    from gammalake.cli.console import make_console

    console, outcomes = make_console(), imported.summary.outcomes
    notes = [f"{o.symbol}: {line}" for o in outcomes for line in o.remarks()]
    failures = [f"{s}: {why}" for s, why in imported.summary.failures.items()]
    for label, lines in (("[cyan]note[/]", notes), ("[red]failed[/]", failures)):
        for line in lines[:SHOWN_LINES]:
            console.print(f"{label} {escape(line)}", highlight=False)
        if len(lines) > SHOWN_LINES:
            more = len(lines) - SHOWN_LINES
            console.print(f"{label} ... and {more} more (see the runs table)", highlight=False)


def _command(name: str, intraday: bool) -> Callable[..., None]:
    """Return the sub-command of one format (with --at when its quotes are intraday)."""

    def command(
        ctx: typer.Context,
        paths: PathsArgument,
        symbols: SymbolsOption = None,
        start: StartOption = None,
        end: EndOption = None,
        preset: PresetOption = None,
        am_settlement: AmSettlementOption = None,
        dask: DaskOption = None,
        force: ForceOption = False,
        skip_bad: SkipBadOption = False,
    ) -> None:
        """Import the format's day files (the help comes from the format registry)."""
        settings = writing(ctx, preset, am_settlement)
        request = request_of(name, paths, symbols, start, end, (force, skip_bad))
        raise typer.Exit(run_import_command(settings, request, dask))

    def command_at(
        ctx: typer.Context,
        paths: PathsArgument,
        symbols: SymbolsOption = None,
        start: StartOption = None,
        end: EndOption = None,
        at: AtOption = None,
        preset: PresetOption = None,
        am_settlement: AmSettlementOption = None,
        dask: DaskOption = None,
        force: ForceOption = False,
        skip_bad: SkipBadOption = False,
    ) -> None:
        """Import the format's files, quotes of the minute --at (help: the registry)."""
        settings = writing(ctx, preset, am_settlement)
        request = request_of(name, paths, symbols, start, end, (force, skip_bad), at)
        raise typer.Exit(run_import_command(settings, request, dask))

    return command_at if intraday else command


class VendorGroup(TyperGroup):
    """The `import` group: one sub-command per registered vendor format, made when asked for.

    The formats are loaded only when an `import` command runs or its help is shown, so the
    other commands (`chain --json` in shell loops) do not pay for importing them.
    """

    def _load(self) -> None:
        """Add the sub-command of every registered format not added yet."""
        from typer.core import DEFAULT_MARKUP_MODE
        from typer.main import get_command_from_info
        from typer.models import CommandInfo

        from pipeline.sources.formats.base import load_all

        for fmt in load_all().values():
            if fmt.name in self.commands:
                continue
            intraday = bool(getattr(fmt, "intraday", False))
            info = CommandInfo(
                name=fmt.name,
                help=f"{fmt.help} {_MORE_HELP}",
                short_help=fmt.help,
                callback=_command(fmt.name, intraday),
            )
            command = get_command_from_info(
                info, pretty_exceptions_short=True, rich_markup_mode=DEFAULT_MARKUP_MODE
            )
            self.add_command(command, fmt.name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return every sub-command's name, the vendor formats' included."""
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the sub-command called `cmd_name` (loading the formats if it is not known)."""
        if cmd_name not in self.commands:
            self._load()
        return super().get_command(ctx, cmd_name)


_MORE_HELP = (
    "Every input is read and checked before anything is written; (symbol, session) pairs "
    "already stored are skipped."
)


OpenClosePaths = Annotated[
    list[Path],
    typer.Argument(
        help="Cboe Open-Close end-of-day files (C1OpenClose_YYYY-MM-DD.csv), folders "
        "(read recursively), .zip or .gz archives."
    ),
]


def openclose_command(
    ctx: typer.Context, paths: OpenClosePaths, symbols: SymbolsOption = None
) -> None:
    """Import Cboe Open-Close volume files: dealer positions for the open_close preset.

    Every input is checked before anything is written; a re-imported session replaces its rows.

    One Cboe exchange's trades, scaled to each contract's open interest (docs/openclose.md).
    """
    from flows.openclose import describe, import_open_close
    from gammalake.cli.console import make_console

    settings = writing(ctx)
    imported = import_open_close(settings.home, paths, vendor_symbols(symbols))
    console = make_console()
    for line in describe(imported):
        console.print(escape(line), highlight=False, soft_wrap=True)


def register(import_app: typer.Typer) -> None:
    """Make `import_app` offer `import FORMAT` for every registered vendor file format.

    And `import openclose` (Cboe Open-Close volumes: not a chain format, so not in the
    format registry).
    """
    import_app.info.cls = VendorGroup
    import_app.command("openclose")(openclose_command)
