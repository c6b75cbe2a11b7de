"""The `gammalake` command line.

Heavy modules (polars, numpy, rich) are imported inside the commands: `gammalake chain --json`
is meant to be usable in shell loops, and its start-up time is a benchmark target.
"""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from flows.choices import FlipChoice, OutputFormat, ZeroDteChoice

app = typer.Typer(
    name="gammalake",
    help="Dealer-exposure history: GEX/DEX/VEX/CHEX, gamma flip and walls from option chains.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option(
            help="Data folder (lake/, raw/, warehouse.duckdb). Default: $GAMMALAKE_HOME, "
            "else ~/.local/share/gammalake."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Settings file. Default: gammalake.toml in the data folder."),
    ] = None,
) -> None:
    """Dealer-exposure history: GEX/DEX/VEX/CHEX, gamma flip and walls from option chains."""
    from flows.home import resolve_home

    # Before any command imports Prefect: its log level and telemetry are read at import.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if home is not None and not home.strip():
        from pipeline.errors import InputError

        raise InputError("--home '' names no folder; give a path, e.g. --home ~/gammalake")
    ctx.obj = resolve_home(Path(home) if home is not None else None)
    ctx.meta["config"] = config


def _settings(ctx: typer.Context) -> object:
    """Return the settings for this invocation (file + environment), Prefect quietened."""
    from flows.settings import load_settings

    return load_settings(ctx.obj, ctx.meta.get("config"))


def _writing(ctx: typer.Context, preset: str | None = None) -> object:
    """Return the settings of a command that stores data: the home writable, the preset known."""
    from dataclasses import replace

    from flows.home import writable_home
    from pipeline.engine.presets import preset as named_preset

    settings = _settings(ctx)
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


@app.command()
def snapshot(
    ctx: typer.Context,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated; default watchlist.")] = None,
    source: Annotated[str | None, typer.Option(help="synthetic, chains, flashalpha.")] = None,
    at: Annotated[
        str | None, typer.Option(help="When (ISO 8601 with offset); default now.")
    ] = None,
    preset: PresetOption = None,
) -> None:
    """Snapshot every symbol of the watchlist now (or --at), store it and show the alerts."""
    from flows.runcmd import print_summary, task_runner
    from flows.snapshot import snapshot_flow
    from pipeline.engine.timing import NEW_YORK

    settings = _writing(ctx, preset)
    names = _symbols(symbols) if symbols is not None else list(settings.watchlist)
    moment = _as_of(at, "--at", on_calendar=True) or datetime.now(NEW_YORK)
    run = snapshot_flow.with_options(task_runner=task_runner(settings))
    summary = run(settings, names, _source(source or settings.source), moment)
    print_summary(summary)
    raise typer.Exit(1 if summary.failures else 0)


@app.command()
def backfill(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")],
    start: Annotated[str, typer.Option(help="First session, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last session, YYYY-MM-DD.")],
    source: Annotated[
        str | None, typer.Option(help="synthetic, chains, flashalpha-historical.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Recompute sessions already stored.")] = False,
    preset: PresetOption = None,
    strict: Annotated[
        bool, typer.Option(help="A session without input is an error, not a skipped day.")
    ] = False,
) -> None:
    """Fill the history over NYSE sessions; resumable (stored sessions are skipped)."""
    from flows.backfill import backfill_flow
    from flows.runcmd import backfill_progress, print_summary, task_runner

    settings = _writing(ctx, preset)
    names = _symbols(symbols)
    first, last = _span_of_sessions(start, end)
    bar, advance = backfill_progress(len(_sessions(first, last)) * len(names))
    run = backfill_flow.with_options(task_runner=task_runner(settings))
    hook = advance if settings.task_runner == "threads" else None
    source = _source(source or settings.source)
    _synthetic_span(source, first)
    with bar:
        summary = run(settings, names, source, first, last, force, hook, strict)
    print_summary(summary)
    raise typer.Exit(1 if summary.failures else 0)


@app.command()
def serve(ctx: typer.Context) -> None:
    """Register the scheduled deployments with a Prefect server and run them (see README)."""
    from flows.deploy import serve_deployments

    serve_deployments(_settings(ctx))


def _sessions(first: date, last: date) -> list[date]:
    """Return the NYSE sessions from `first` to `last`."""
    from pipeline.sessions import sessions_between

    return sessions_between(first, last)


def _span_of_sessions(start: str, end: str) -> tuple[date, date]:
    """Return --start/--end as dates; refuse a reversed range or one with no NYSE session."""
    from pipeline.errors import InputError
    from pipeline.sessions import calendar_span

    first, last = _date(start, "--start"), _date(end, "--end")
    if first > last:
        raise InputError(f"--start {first} is after --end {last}")
    low, high = calendar_span()
    if first < low or last > high:
        raise InputError(
            f"--start {first} .. --end {last} leaves the NYSE calendar ({low} .. {high})"
        )
    if not _sessions(first, last):
        raise InputError(f"--start {first} .. --end {last} holds no NYSE session")
    return first, last


def _source(name: str) -> str:
    """Return a known source name, or raise naming the known ones (before any flow starts)."""
    from flows.sources import SOURCES
    from pipeline.errors import InputError

    if name not in SOURCES:
        raise InputError(f"--source {name!r} is unknown (known: {', '.join(SOURCES)})")
    return name


def _synthetic_span(source: str, first: date) -> None:
    """Refuse a synthetic backfill that starts before the simulated history does."""
    from pipeline.errors import InputError
    from pipeline.sources.synthetic import SYNTHETIC_START

    if source == "synthetic" and first < SYNTHETIC_START:
        raise InputError(f"--start {first}: the synthetic market starts {SYNTHETIC_START}")


def _as_of(text: str | None, option: str = "--as-of", on_calendar: bool = False) -> datetime | None:
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


@app.command()
def chain(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CBOE quotedata.csv, or a generic CSV/Parquet.")],
    preset: Annotated[str, typer.Option(help="Conventions: default, perfiliev, all_short.")] = (
        "default"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every payload as one JSON object.")
    ] = False,
    year_basis: Annotated[
        float | None,
        typer.Option(help="Days per year: business days (perfiliev, 262) or calendar (365)."),
    ] = None,
    zero_dte: Annotated[
        ZeroDteChoice | None, typer.Option(help="Zero business days to expiry: one_day or drop.")
    ] = None,
    flip_method: Annotated[FlipChoice | None, typer.Option(help="Gamma flip method.")] = None,
    rate: Annotated[float | None, typer.Option(help="Risk-free rate, e.g. 0.04.")] = None,
    dividend_yield: Annotated[
        float | None, typer.Option("--yield", help="Dividend yield, e.g. 0.013.")
    ] = None,
    expiration: Annotated[
        str | None, typer.Option(help="Only this expiration (YYYY-MM-DD).")
    ] = None,
    min_oi: Annotated[int | None, typer.Option(help="Only contracts with this much OI.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Override the symbol.")] = None,
    spot: Annotated[float | None, typer.Option(help="Override / supply the spot.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Override / supply the time, ISO 8601 with offset.")
    ] = None,
    save: Annotated[
        bool, typer.Option(help="Also archive and store the snapshot in the lake.")
    ] = False,
) -> None:
    """Compute the exposures, flip and levels of one option chain file."""
    from flows.chaincmd import ChainOptions, run_chain

    options = ChainOptions(
        preset=preset,
        year_basis=year_basis,
        zero_dte=zero_dte.value if zero_dte else None,
        flip_method=flip_method.value if flip_method else None,
        rate=rate,
        dividend_yield=dividend_yield,
        expiration=expiration,
        min_oi=min_oi,
    )
    run_chain(
        file,
        options,
        as_json,
        save_to=ctx.obj if save else None,
        symbol=_one_symbol(symbol) if symbol is not None else None,
        spot=spot,
        as_of=_as_of(as_of),
    )
    _exit_now()


def _exit_now() -> None:
    """End the process after flushing output, skipping interpreter teardown.

    Freeing polars' and NumPy's state at exit takes 40-100 ms, a third of the `chain` budget;
    the command holds no files, locks or atexit work, so there is nothing to lose.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def demo(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")] = "SPY,QQQ,IWM",
    years: Annotated[float, typer.Option(help="Years of history to backfill.")] = 2.0,
) -> None:
    """Run the whole product on the synthetic market: backfill, snapshot, alerts, queries."""
    from flows.demo import run_demo

    run_demo(_settings(ctx), _symbols(symbols), years=years)


def _span(start: str | None, end: str | None) -> tuple[date, date]:
    """Return the session span of --start/--end: all stored history when they are omitted."""
    first = _date(start, "--start") if start else date(1900, 1, 1)
    last = _date(end, "--end") if end else date(2999, 12, 31)
    return first, last


@app.command()
def backtest(
    ctx: typer.Context,
    strategy: Annotated[
        str | None, typer.Option(help="regime, flip_cross, wall_fade, wall_break, alignment.")
    ] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols.")] = None,
    start: Annotated[str | None, typer.Option(help="First session; default all.")] = None,
    end: Annotated[str | None, typer.Option(help="Last session; default all.")] = None,
    grid: Annotated[
        str | None,
        typer.Option(help="Sweep, e.g. 'band=0,0.5,1;short=0,1;sl=0,2' or 'default'."),
    ] = None,
    params: Annotated[
        str | None, typer.Option(help="Fixed parameters, e.g. 'band=0.5;short=1;tp=3'.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Snapshot source when several.")] = None,
    method: MethodOption = None,
    fill: Annotated[str, typer.Option(help="next_open, next_close or same_close.")] = "next_open",
    decide: Annotated[str, typer.Option(help="Decision time, New York.")] = "16:30",
    fees_bps: Annotated[float, typer.Option(help="Fees per fill, basis points.")] = 5.0,
    slippage_bps: Annotated[float, typer.Option(help="Slippage per fill, bps.")] = 5.0,
    walk_forward: Annotated[
        str, typer.Option(help="With --grid: expanding, rolling or none.")
    ] = "expanding",
    train: Annotated[int, typer.Option(help="Walk-forward training sessions.")] = 252,
    test: Annotated[int, typer.Option(help="Walk-forward test sessions.")] = 63,
    out: Annotated[Path | None, typer.Option(help="Report path without suffix.")] = None,
    list_strategies: Annotated[
        bool, typer.Option("--list", help="List the strategies and exit.")
    ] = False,
) -> None:
    """Backtest a strategy on the stored history; write an HTML report and its JSON."""
    from flows.backtestcmd import backtest_command, make_request, strategy_list
    from flows.console import make_console
    from pipeline.errors import InputError

    if list_strategies or not strategy or not symbols:
        make_console().print(strategy_list())
        if not list_strategies:
            raise InputError("backtest needs --strategy and --symbols (strategies listed above)")
        return
    options = {
        "grid": grid,
        "params": params,
        "source": source,
        "method": method,
        "preset": _settings(ctx).preset,
        "fill": fill,
        "decide": decide,
        "fees": fees_bps,
        "slippage": slippage_bps,
        "walk_forward": walk_forward,
        "train": train,
        "test": test,
    }
    request = make_request(strategy, _symbols(symbols), _span(start, end), options)
    page, numbers = backtest_command(ctx.obj, request, out)
    make_console().print(f"report: {page}\nfigures: {numbers}")


@app.command()
def study(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")],
    start: Annotated[str | None, typer.Option(help="First session; default all.")] = None,
    end: Annotated[str | None, typer.Option(help="Last session; default all.")] = None,
    source: Annotated[str | None, typer.Option(help="Snapshot source when several.")] = None,
    method: MethodOption = None,
    out: Annotated[Path | None, typer.Option(help="Report path without suffix.")] = None,
) -> None:
    """Facts of the history: vol by regime and net-GEX quantile, wall holds, breaches."""
    from flows.backtestcmd import study_command
    from flows.console import make_console

    page, numbers = study_command(
        ctx.obj,
        _symbols(symbols),
        _span(start, end),
        source,
        out,
        method=method,
        preset=_settings(ctx).preset,
    )
    make_console().print(f"report: {page}\nfigures: {numbers}")


def _one_symbol(text: str, option: str = "--symbol") -> str:
    """Return the one symbol an option names; refuse a list."""
    from pipeline.errors import InputError

    names = _symbols(text, option)
    if len(names) != 1:
        raise InputError(f"{option} must name one symbol, got {', '.join(names)}")
    return names[0]


def _symbols(text: str, option: str = "--symbols") -> list[str]:
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


@app.command()
def sql(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="SQL; omit for a prompt.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
    output: Annotated[Path | None, typer.Option(help="Write to this file.")] = None,
) -> None:
    """Query the lake's views (snapshots, strikes, regime_daily, gex_profile, ...); read only."""
    from flows.sqlcmd import sql_command

    sql_command(ctx.obj, query, fmt, output)


prices_app = typer.Typer(help="Daily price bars.", no_args_is_help=True)
import_app = typer.Typer(help="History from other publishers.", no_args_is_help=True)
app.add_typer(prices_app, name="prices")
app.add_typer(import_app, name="import")


def _print_import(what: str, result: object) -> None:
    """Print what an import stored."""
    print(f"imported {what}: {result.rows} covering {result.first} .. {result.last}")
    for note in result.notes:
        print(f"note: {note}")


@prices_app.command("import")
def prices_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Yahoo-style or generic OHLCV CSV/Parquet.")],
    symbol: Annotated[str, typer.Option(help="Symbol the bars belong to.")],
    source: Annotated[str, typer.Option(help="Source name to store them under.")] = "import",
) -> None:
    """Import daily bars; every bad row is reported and nothing is written unless all are good."""
    from flows.imports import import_prices

    name = _one_symbol(symbol)
    _print_import(f"{name} bars", import_prices(ctx.obj, file, name, source))


@prices_app.command("update")
def prices_update(
    ctx: typer.Context,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated; default watchlist.")] = None,
    start: Annotated[str, typer.Option(help="From this session when none is stored.")] = (
        "2018-01-02"
    ),
) -> None:
    """Bring the watchlist's bars up to the latest session (synthetic source)."""
    from flows.imports import check_update
    from flows.prices import prices_flow

    settings = _writing(ctx)
    names = _symbols(symbols) if symbols is not None else list(settings.watchlist)
    first = _date(start, "--start")
    check_update(settings, names, first)  # one line before Prefect starts, not a failed run
    _print_import("bars", prices_flow(settings, names, first))


@prices_app.command("synthetic")
def prices_synthetic(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")],
    start: Annotated[str, typer.Option(help="First session, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last session, YYYY-MM-DD.")],
) -> None:
    """Store the synthetic market's daily bars."""
    from flows.imports import import_synthetic_prices

    first, last = _date(start, "--start"), _date(end, "--end")
    _print_import(
        "synthetic bars",
        import_synthetic_prices(ctx.obj, _symbols(symbols), first, last, _settings(ctx).market()),
    )


@import_app.command("dix")
def import_dix_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="SqueezeMetrics DIX.csv (date,price,dix,gex).")],
) -> None:
    """Import DIX.csv: one SPX snapshot per day (source squeezemetrics) and SPX closes."""
    from flows.imports import import_dix

    _print_import("DIX.csv", import_dix(ctx.obj, file))


def _date(text: str, option: str) -> date:
    """Return an ISO date, or raise naming the option."""
    from pipeline.errors import InputError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date like 2024-03-15") from None


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check the lake: files, schema and engine versions, duplicate keys, views, the catalog."""
    from flows.console import make_console
    from flows.snapshot import pricing_of
    from pipeline.engine.method import ENGINE_VERSION
    from pipeline.errors import InputError
    from warehouse.doctor import diagnose

    if ctx.obj.exists() and not ctx.obj.is_dir():
        raise InputError(f"--home {ctx.obj}: exists and is not a folder")
    method = pricing_of(_settings(ctx)).method
    report = diagnose(ctx.obj, engine_version=ENGINE_VERSION, method=method)
    console = make_console()
    colours = {"ok": "green", "fixed": "cyan", "warning": "yellow", "error": "red"}
    console.print(f"gammalake doctor: {ctx.obj}")
    for finding in report.findings:
        line = f"[{colours[finding.level]}]{finding.level:>7}[/] {finding.message}"
        console.print(line, highlight=False)
    raise typer.Exit(0 if report.healthy else 1)


@app.command()
def quota(
    ctx: typer.Context,
    reset: Annotated[
        bool, typer.Option("--reset", help="Clear today's request count (asks first).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Reset without asking.")] = False,
) -> None:
    """Show FlashAlpha requests counted per day and plan; --reset clears today's count."""
    from flows.console import make_console
    from flows.quota import quota_table, reset_today, today, today_used

    home = ctx.obj
    if not reset:
        make_console().print(quota_table(home))
        return
    day, used = today(), today_used(home)
    question = (
        f"Clear today's FlashAlpha request count ({used} used on {day}, New York)? "
        "The API keeps its own count."
    )
    import click

    try:
        answer = yes or typer.confirm(question, default=False)
    except click.exceptions.Abort:  # no answer (stdin closed): change nothing
        answer = False
    if not answer:
        print("quota: nothing changed (pass --yes to reset without asking)")
        raise typer.Exit(1)
    print(f"quota: today's count cleared ({reset_today(home)} request(s) on {day})")


@app.command()
def rebuild(
    ctx: typer.Context,
    catalog_only: Annotated[
        bool, typer.Option(help="Only recreate warehouse.duckdb's views.")
    ] = False,
    preset: Annotated[
        str | None,
        typer.Option(help="Re-price every stored input under this preset, beside what exists."),
    ] = None,
) -> None:
    """Re-derive snapshots, strikes, expiries and alerts from raw/, then the catalog.

    Without --preset: the settings' method, from raw inputs and vendor payloads. With --preset:
    a second history under that preset's method, from the same inputs, with no request.
    """
    from flows.rebuild import rebuild_from_raw
    from flows.snapshot import pricing_of
    from warehouse import catalog

    if catalog_only:
        build = catalog.rebuild(ctx.obj, pricing_of(_settings(ctx)).method)
        print(f"catalog of {ctx.obj}: {build.summary()}")
        raise typer.Exit(1 if build.deferred else 0)

    settings = _writing(ctx, preset)
    pricing = pricing_of(settings)
    done = rebuild_from_raw(
        settings.home,
        pricing,
        vendor=preset is None,
        wall_pct=settings.wall_alert_pct,
        view_method=pricing_of(_settings(ctx)).method,
    )
    print(f"rebuilt {settings.home} from raw/ as {pricing.method}: {done.rows or 'nothing'}")
    if done.migrated:
        print(
            f"migrated {len(done.migrated)} file(s) of an older schema version; "
            f"originals kept under {settings.home / 'attic'}"
        )
    for line in done.refused:
        print(f"refused by the checks (rows removed): {line}")
    if done.others:
        print(
            f"note: the inputs were also priced under {', '.join(done.others)}; re-make those "
            "with `gammalake rebuild --preset NAME`"
        )
    if done.legacy:
        print(
            f"note: {done.legacy} engine-output bundle(s) from before raw kept inputs cannot be "
            "re-priced; backfill their sessions again to keep them"
        )


def main() -> None:
    """Run the CLI; bad input prints one line (and a hint) to stderr and exits with 2."""
    import click

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
    # Without standalone mode click returns the code of typer.Exit instead of exiting with it.
    if isinstance(code, int) and code:
        sys.exit(code)
