"""`gammalake doctor`, `gammalake quota` and `gammalake rebuild`: keeping the home healthy."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from gammalake.cli.options import AmSettlementOption, settings_of, writing


def doctor(ctx: typer.Context) -> None:
    """Check the lake: files, schema and engine versions, duplicate keys, views, the catalog."""
    from flows.snapshot import pricing_of
    from gammalake.cli.console import make_console
    from pipeline.engine.method import ENGINE_VERSION
    from pipeline.errors import InputError
    from warehouse.doctor import diagnose

    if ctx.obj.exists() and not ctx.obj.is_dir():
        raise InputError(f"--home {ctx.obj}: exists and is not a folder")
    method = pricing_of(settings_of(ctx)).method
    report = diagnose(ctx.obj, engine_version=ENGINE_VERSION, method=method)
    console = make_console()
    colours = {"ok": "green", "fixed": "cyan", "warning": "yellow", "error": "red"}
    console.print(escape(f"gammalake doctor: {ctx.obj}"))
    for finding in report.findings:
        line = f"[{colours[finding.level]}]{finding.level:>7}[/] {escape(finding.message)}"
        console.print(line, highlight=False)
    raise typer.Exit(0 if report.healthy else 1)


def quota(
    ctx: typer.Context,
    reset: Annotated[
        bool, typer.Option("--reset", help="Clear today's request count (asks first).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Reset without asking.")] = False,
) -> None:
    """Show FlashAlpha requests counted per day and plan; --reset clears today's count."""
    from flows.quota import quota_table, reset_today, today, today_used
    from gammalake.cli.console import make_console

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


def rebuild(
    ctx: typer.Context,
    catalog_only: Annotated[
        bool, typer.Option(help="Only recreate warehouse.duckdb's views.")
    ] = False,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Re-price every stored input under this preset (or method, e.g. default@v1), "
            "beside what exists."
        ),
    ] = None,
    am_settlement: AmSettlementOption = None,
) -> None:
    """Re-derive snapshots, strikes, expiries and alerts from raw/, then the catalog.

    Without --preset: the settings' method at the current engine version, from raw inputs and
    vendor payloads; rows of older engine versions stay beside it. With --preset (or
    --am-settlement): a second history under that method, from the same inputs, no request.
    """
    from flows.rebuild import rebuild_from_raw
    from flows.snapshot import pricing_of
    from warehouse import catalog

    if catalog_only:
        build = catalog.rebuild(ctx.obj, pricing_of(settings_of(ctx)).method)
        print(f"catalog of {ctx.obj}: {build.summary()}")
        raise typer.Exit(1 if build.deferred else 0)

    settings = writing(ctx, preset, am_settlement)
    pricing = pricing_of(settings)
    done = rebuild_from_raw(
        settings.home,
        pricing,
        vendor=preset is None and am_settlement is None,
        rules=settings.alert_rules(),
        view_method=pricing_of(settings_of(ctx)).method,
    )
    print(f"rebuilt {settings.home} from raw/ as {pricing.method}: {done.rows or 'nothing'}")
    if done.restamped:
        print(
            f"restamped {done.restamped} input(s) archived before schema 3 at the moment they "
            "describe; the old stamp is kept as fetched_at"
        )
    if done.migrated:
        print(
            f"migrated {len(done.migrated)} file(s) of an older schema version or layout; "
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
