"""The `gammalake` command line: the app, its global options, and the one way errors end.

Heavy modules (polars, numpy, rich, Prefect) are imported inside the commands: `gammalake chain
--json` is meant to be usable in shell loops, and its start-up time is a benchmark target.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from gammalake.cli.commands import (
    alerts,
    api,
    chain,
    collect,
    compare,
    data,
    demo,
    forget,
    maintain,
    mcp,
    reports,
    research,
    schedule,
    sql,
)
from gammalake.cli.options import hoist_global_options

#: `-h` works wherever `--help` does (sub-commands and groups inherit it from the app).
HELP = {"help_option_names": ["-h", "--help"]}


class _Group(TyperGroup):
    """The app's group: `--home` and `--config` are also accepted after the command name.

    Click binds an option to the command it follows, and typer has no "global option" of its
    own; declaring --home/--config on every command would repeat them in each signature. So the
    group moves them in front of the command name before it parses (`hoist_global_options`):
    one place, the same meaning whichever side they are written on, and it works for every way
    the app is called (the `gammalake` script, `CliRunner`, shell completion). Sub-commands
    must not declare a --home or --config of their own.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse `args` with the app's options moved before the command (see the class)."""
        if not ctx.resilient_parsing:  # completion parses half-typed lines: never refuse them
            args = hoist_global_options(args)
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="gammalake",
    cls=_Group,
    help="Dealer-exposure history: GEX/DEX/VEX/CHEX, gamma flip and walls from option chains.",
    no_args_is_help=True,
    context_settings=HELP,
    # --install-completion / --show-completion: no measurable start-up cost (`chain --json`,
    # interleaved runs with and without); completing a word runs the app, no command's modules.
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    """Print `gammalake <version>` and stop (eager: before any command or home is resolved)."""
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("gammalake")
    except PackageNotFoundError:  # run from a source tree that was never installed
        number = "unknown (not installed)"
    print(f"gammalake {number}")
    raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option(
            help="Data folder (lake/, raw/, warehouse.duckdb). Default: $GAMMALAKE_HOME, "
            "else ~/.local/share/gammalake. Also accepted after the command name."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Settings file. Default: gammalake.toml in the data folder. Also accepted "
            "after the command name."
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Dealer-exposure history: GEX/DEX/VEX/CHEX, gamma flip and walls from option chains."""
    from warehouse.home import resolve_home

    # Before any command imports Prefect: its log level and telemetry are read at import.
    # The terminal stays quiet (the CLI prints its own summary) while runs that report to a
    # Prefect API log there at INFO.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if home is not None and not home.strip():
        from pipeline.errors import InputError

        raise InputError("--home '' names no folder; give a path, e.g. --home ~/gammalake")
    ctx.obj = resolve_home(Path(home) if home is not None else None)
    ctx.meta["config"] = config


for command in (
    collect.snapshot,
    collect.backfill,
    schedule.serve,
    schedule.deploy,
    chain.chain,
    demo.demo,
    research.backtest,
    research.study,
    compare.compare,
    sql.sql,
    alerts.alerts,
    maintain.doctor,
    maintain.quota,
    maintain.rebuild,
    forget.forget,
    mcp.mcp,
    api.api,
):
    app.command()(command)
app.add_typer(data.prices_app, name="prices", context_settings=HELP)
app.add_typer(data.import_app, name="import", context_settings=HELP)
app.add_typer(reports.reports_app, name="reports", context_settings=HELP)


#: System errors that a path given on the command line causes (exit 2, bad input); others
#: (a full disk, an I/O error) are the machine's (exit 1), one line all the same.
INPUT_ERRNOS = frozenset(
    {
        errno.ENOENT,
        errno.ENAMETOOLONG,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EACCES,
        errno.EPERM,
        errno.ELOOP,
        errno.EROFS,
        errno.EEXIST,
        errno.EINVAL,
    }
)


def os_error_line(exc: OSError) -> str:
    """Return a system error as one line: the path (shortened) and the reason."""
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return reason
    name = str(exc.filename)
    shown = name if len(name) <= 120 else f"{name[:60]}...{name[-40:]} ({len(name)} characters)"
    return f"{shown}: {reason}"


def main() -> None:
    """Run the CLI; bad input prints one line (and a hint) to stderr and exits with 2."""
    from pipeline.errors import InputError
    from warehouse.errors import WarehouseInputError

    try:
        code = app(standalone_mode=False)
    except (InputError, WarehouseInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        hint = getattr(exc, "hint", "")
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.exceptions.UsageError) else exc.exit_code)
    except BrokenPipeError:  # `gammalake sql ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as exc:  # a path the system refuses: too long, missing, not a folder, ...
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        sys.exit(2 if exc.errno in INPUT_ERRNOS else 1)
    # Without standalone mode click returns the code of typer.Exit instead of exiting with it.
    if isinstance(code, int) and code:
        sys.exit(code)
