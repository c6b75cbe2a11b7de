"""`gammalake demo`: the whole product on the synthetic market, no key and no network.

A backfill of the symbols over the last `years` of NYSE sessions up to the day before the
latest completed one (the backfill flow, resumable), their daily bars, that latest session's
daily snapshot (the snapshot flow) with the run's alerts, intraday snapshots of the last
`INTRADAY_SESSIONS` sessions (so the dashboard's time picker and the 0DTE magnet have
something to show), example queries on the catalog, and where everything is.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from flows.imports import import_synthetic_prices
from flows.settings import Settings
from gammalake.cli.console import level, make_console, money
from gammalake.cli.running import CANCELLED_EXIT, TERMINATED_EXIT, Job, run_job
from gammalake.cli.sql import run_query, table_of
from pipeline.engine.timing import NEW_YORK
from pipeline.sessions import after_close, sessions_between
from warehouse.queries import EXAMPLES

#: The latest sessions given intraday snapshots, and their times of day (New York).
INTRADAY_SESSIONS = 2
INTRADAY_TIMES = ((10, 0), (11, 0), (12, 0), (13, 0), (14, 0), (15, 0))

SCAN = """
    SELECT symbol, underlying_price AS spot, net_gex, regime, gamma_flip, call_wall, put_wall,
           zero_dte_magnet
    FROM daily_levels WHERE source = 'synthetic'
    QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY as_of DESC) = 1
    ORDER BY symbol"""


def scanner_table(home: Path) -> Table:
    """Return the latest snapshot of each symbol: spot, net GEX, regime, flip, walls, magnet."""
    table = Table(title="latest synthetic snapshots (preset default)")
    for name in (
        "symbol",
        "spot",
        "net GEX",
        "regime",
        "gamma flip",
        "call wall",
        "put wall",
        "0DTE magnet",
    ):
        table.add_column(name, justify="left" if name in ("symbol", "regime") else "right")
    for row in run_query(home, SCAN).iter_rows(named=True):
        table.add_row(
            row["symbol"],
            level(row["spot"]),
            money(row["net_gex"]),
            row["regime"],
            level(row["gamma_flip"]),
            level(row["call_wall"]),
            level(row["put_wall"]),
            level(row["zero_dte_magnet"]),
        )
    return table


def research(
    home: Path, symbols: list[str], start: date, end: date, method: str
) -> tuple[Path, Path]:
    """Run the study and a regime backtest (default grid, walk-forward); return both reports."""
    from backtest.run import Request
    from gammalake.cli.research import backtest_command, study_command

    console = make_console()
    console.print("\n[bold]study[/]: next-day vol by regime and wall holds (planted effect 1.6x)")
    study_page, _ = study_command(home, symbols, (start, end), "synthetic", None, method=method)
    console.print("\n[bold]backtest[/]: regime strategy, default grid, walk-forward out-of-sample")
    request = Request("regime", symbols, start, end, method, grid="default", source="synthetic")
    backtest_page, _ = backtest_command(home, request, None)
    return study_page, backtest_page


def history_span(latest: date, years: float) -> tuple[date, list[date]]:
    """Return the first day and the NYSE sessions of `years` of history up to `latest`.

    Refuses (InputError naming --years) a value that is not a positive number, reaches before
    the synthetic market starts, or covers fewer than two sessions (the backfill takes every
    session but the last, which the daily snapshot takes).
    """
    from pipeline.errors import InputError
    from pipeline.sources.synthetic import SYNTHETIC_START

    most = (latest - SYNTHETIC_START).days / 365.25
    if not math.isfinite(years) or years <= 0:
        raise InputError(f"--years {years:g} is not a positive number of years, e.g. --years 2")
    if years > most:
        raise InputError(
            f"--years {years:g} reaches before the synthetic market starts ({SYNTHETIC_START}); "
            f"at most {math.floor(most * 10) / 10:g}"
        )
    start = latest - timedelta(days=round(365.25 * years))
    sessions = sessions_between(start, latest)
    if len(sessions) < 2:
        raise InputError(f"--years {years:g} covers fewer than two sessions; e.g. --years 0.1")
    return start, sessions


def run_demo(
    settings: Settings, symbols: list[str], *, years: float = 2.0, today: date | None = None
) -> None:
    """Backfill, snapshot, alert and query the synthetic market into `settings.home`."""
    settings = replace(settings, source="synthetic")
    home, console = settings.home, make_console()
    now = datetime.now(NEW_YORK)
    last = today or now.date()
    closed = [
        d
        for d in sessions_between(last - timedelta(days=10), last)
        if after_close(d, settings.snapshot_delay_minutes) <= now
    ]
    latest = closed[-1]  # the latest session whose snapshot time has passed
    start, sessions = history_span(latest, years)
    console.print(
        f"[bold]gammalake demo[/] - {', '.join(symbols)} over {len(sessions)} NYSE "
        f"sessions ({sessions[0]} .. {sessions[-1]}), synthetic market, into {home}"
    )
    history = Job("backfill", settings, symbols, "synthetic", start, sessions[-2])
    _go_on(run_job(history, bar=(len(sessions) - 1) * len(symbols), alerts=0))
    import_synthetic_prices(home, symbols, start, latest, settings.market())
    moment = after_close(latest, settings.snapshot_delay_minutes)
    console.print(f"\n[bold]daily snapshot[/] of {latest} at {moment:%H:%M} New York:")
    _go_on(run_job(Job("snapshot", settings, symbols, "synthetic", moment)))
    intraday(settings, symbols, sessions[-INTRADAY_SESSIONS:])
    console.print(scanner_table(home))
    for title, sql in EXAMPLES.items():
        console.print(f"\n[bold]{escape(title)}[/]")
        console.print(table_of(run_query(home, sql)))
    from gammalake.cli.research import backtest_method

    reports = research(home, symbols, start, latest, backtest_method(None, settings.preset))
    engine_versions(settings, symbols, start, latest)
    console.print(
        escape(
            f"\nData: {home}/lake (Parquet)  raw payloads: {home}/raw  "
            f"DuckDB catalog: {home}/warehouse.duckdb"
        )
    )
    console.print(escape(f"Reports (open in a browser): {reports[0]}\n  {reports[1]}"))
    print("Next (from this folder):")
    for line in next_commands(home, symbols):
        print(f"  {line}")


def intraday_moments(days: list[date]) -> list[datetime]:
    """Return the INTRADAY_TIMES of `days` (New York) before each session's close."""
    from pipeline.sessions import close_times

    moments = []
    for day, close in zip(days, close_times(days), strict=True):
        for hour, minute in INTRADAY_TIMES:
            moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)
            if moment < close:  # a half day closes at 13:00
                moments.append(moment)
    return moments


def intraday(settings: Settings, symbols: list[str], days: list[date]) -> None:
    """Store snapshots of `symbols` at INTRADAY_TIMES of `days` (the snapshot flow, quietly).

    Says how many were stored, and which symbol failed at which moment if any did.
    """
    from flows.snapshot import run_snapshot

    moments = intraday_moments(days)
    failed: list[str] = []
    for moment in moments:
        summary = run_snapshot(settings, symbols, "synthetic", moment)
        failed += [f"{s} at {moment:%Y-%m-%d %H:%M}" for s in summary.failures]
    make_console().print(
        f"\n[bold]intraday snapshots[/]: {len(moments) * len(symbols) - len(failed)} of "
        f"{', '.join(symbols)} at {len(moments)} moments of {days[0]} .. {days[-1]} "
        "(the dashboard's Time picker)" + (f"; failed: {', '.join(failed)}" if failed else "")
    )


def engine_versions(settings: Settings, symbols: list[str], start: date, end: date) -> None:
    """Store engine v1's figures beside v2's on half days and expiry Fridays; show the gaps.

    v1 valued every expiry to 16:00 and AM-settled roots to the close; v2 values each expiry
    to its session's close (13:00 on half days) and AM roots to 09:30. The v1 rows are
    re-made from raw/ (no request) for the sessions where the conventions can differ.
    """
    from flows.capture import Pricing
    from flows.rebuild import rederive_many
    from flows.snapshot import pricing_of
    from pipeline.engine.method import config_of
    from pipeline.errors import InputError

    current, console = pricing_of(settings), make_console()
    try:
        old = Pricing(config_of(current.method.replace(f"@v{current.config.version}", "@v1")))
    except InputError:  # a preset engine v1 did not have: nothing to compare
        return
    keys = _special_sessions(settings.home, symbols, current.method, start, end)
    made = rederive_many(settings.home, "synthetic", old.method, keys)
    console.print(
        f"\n[bold]engine v1 beside v2[/]: {made} snapshots of half days and expiry Fridays "
        f"re-made from raw/ as {old.method} (no request)"
    )
    for table in _version_tables(settings.home, symbols, (old.method, current.method), start, end):
        console.print(table)
    console.print(
        "The synthetic market stops listing a series at its close and has no AM-settled "
        "roots, so the engines nearly agree here; on real chains v1 overstated net GEX by up "
        "to 26% (docs/methodology.md, Engine v1 -> v2)."
    )


def _special_sessions(
    home: Path, symbols: list[str], method: str, start: date, end: date
) -> list[tuple[str, datetime]]:
    """Return (symbol, as_of) of the stored daily snapshots on half days and expiry Fridays."""
    from backtest.session_kinds import session_kinds
    from warehouse.history import History

    history, keys = History(home), []
    try:
        for symbol in symbols:
            daily = history.daily(symbol, method, start, end)
            days, moments = daily.get_column("trade_date"), daily.get_column("as_of")
            kinds = session_kinds(days.to_list())
            keys += [(symbol, m) for m, k in zip(moments, kinds, strict=True) if k != "other"]
    finally:
        history.close()
    return keys


def _version_tables(
    home: Path, symbols: list[str], methods: tuple[str, str], start: date, end: date
) -> list[Table]:
    """Return per symbol the two methods' gaps by kind of session (see backtest.session_kinds)."""
    from backtest.compare import compare_pair, daily_levels
    from gammalake.cli.commands.compare import kind_table
    from warehouse.history import History

    history, tables = History(home), []
    try:
        for symbol in symbols:
            a, b = (daily_levels(history, symbol, m, start, end)[0] for m in methods)
            pair = {"a": methods[0], "b": methods[1], **compare_pair(a, b)}
            tables.append(kind_table(symbol, pair))
    finally:
        history.close()
    return tables


def gammalake_command(cwd: Path | None = None) -> str:
    """Return how a shell in `cwd` runs this installation's `gammalake`, quoted for it.

    `gammalake` when that name on PATH is this interpreter's script; else the script's path,
    relative to `cwd` when under it (`.venv/bin/gammalake` from the repository folder, as
    after `make demo`, which puts nothing on PATH).
    """
    import shlex
    import shutil
    import sys

    script = Path(sys.executable).with_name("gammalake")
    found = shutil.which("gammalake")
    if found and Path(found).resolve() == script.resolve():
        return "gammalake"
    here = Path(os.path.abspath(cwd or Path.cwd()))
    try:
        return shlex.quote(str(script.relative_to(here)))
    except ValueError:
        return shlex.quote(str(script))


def next_commands(home: Path, symbols: list[str], cwd: Path | None = None) -> list[str]:
    """Return the commands the demo suggests, each runnable as printed from `cwd`.

    `--home` is given unless `home` is the default one (which needs no option).
    """
    import shlex

    from warehouse.home import default_home

    where = "" if home == default_home() else f" --home {shlex.quote(str(home))}"
    run = f"{gammalake_command(cwd)}{where}"
    sql = "SELECT * FROM regime_daily ORDER BY trade_date DESC LIMIT 20"
    return [
        f"{run} api   # the dashboard at http://127.0.0.1:8787/ (Ctrl-C stops it)",
        f"{run} backtest --list   # strategies and their grids",
        f"{run} backtest --strategy wall_fade --symbols {symbols[0]} --grid default",
        f"{run} sql {shlex.quote(sql)}",
        f"{run} doctor   # check the lake and the catalog",
    ]


def _go_on(code: int) -> None:
    """Stop the demo when a step was stopped by a signal (its line is already printed)."""
    if code in (CANCELLED_EXIT, TERMINATED_EXIT):
        raise SystemExit(code)
