"""`gammalake alerts`: the stored alerts, newest first, filtered by symbol, kind and time."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # imported inside the command: the CLI's start-up stays light
    from gammalake.lake import Lake


def alerts(
    ctx: typer.Context,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated kinds: flip_cross_up, flip_cross_down, gex_sign_flip, "
            "near_call_wall, near_put_wall, call_wall_moved, put_wall_moved. Default: all."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="From this moment: a date (00:00 New York) or ISO 8601 time."),
    ] = None,
    limit: Annotated[
        int, typer.Option(help="Show the newest N alerts (0: every one).", min=0)
    ] = 20,
    method: Annotated[
        str | None,
        typer.Option(help="Whose alerts: a preset or method (default: the catalog's)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the alerts as one JSON array.")
    ] = False,
) -> None:
    """List stored alerts, newest first (docs/alerts.md says what each kind means)."""
    import json

    from gammalake.lake import Lake

    kinds = kind_list(kind) if kind is not None else None
    lake = Lake(ctx.obj, method)
    if symbol is not None:
        stored_symbol(lake, symbol)
    found = lake.alerts(symbol, since=since_moment(since), limit=limit or None, kinds=kinds)
    if as_json:
        print(json.dumps(found))
        return
    for row in found:
        print(alert_line(row))
    print(footer(len(found), limit, lake.method))


def kind_list(text: str) -> list[str]:
    """Return the kinds `--kind` names, or raise InputError naming an unknown one."""
    from gammalake.lake import alert_kinds
    from pipeline.errors import InputError
    from warehouse.schema import ALERT_KINDS

    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise InputError(f"--kind {text!r} names no kind; kinds: {', '.join(ALERT_KINDS)}")
    try:
        return list(alert_kinds(names) or ())
    except InputError:  # the Lake's check, said as the option the user typed
        bad = next(n for n in names if n not in ALERT_KINDS)
        raise InputError(
            f"--kind {bad!r} is not an alert kind; kinds: {', '.join(ALERT_KINDS)}"
        ) from None


def stored_symbol(lake: Lake, symbol: str) -> None:
    """Raise InputError when `lake` holds no snapshot of `symbol` (a typo shows nothing)."""
    from pipeline.errors import InputError

    stored = lake.symbols()
    if symbol.strip().upper() not in stored:
        listing = ", ".join(stored) or "none"
        raise InputError(f"--symbol {symbol}: no snapshots in {lake.home} (stored: {listing})")


def since_moment(text: str | None) -> datetime | None:
    """Return `--since` as an aware moment (a date: 00:00 New York), InputError naming it."""
    from gammalake.lake import parse_moment
    from pipeline.errors import InputError

    try:
        return parse_moment(text, day_start=True)
    except InputError as exc:
        raise InputError(str(exc).replace(f"at={text!r}", f"--since {text!r}", 1)) from None


def alert_line(row: dict[str, Any]) -> str:
    """Return one alert as a line: New York time (minutes), kind, then its message."""
    stamp = row["as_of"][:16].replace("T", " ")
    return f"{stamp}  {row['kind']:<15}  {row['message']}"


def footer(shown: int, limit: int, method: str) -> str:
    """Return the closing line: how many alerts were listed, of which method, and the cap."""
    capped = f" (the newest {limit}; --limit 0 for all)" if limit and shown == limit else ""
    return f"{shown} alert(s) of {method}{capped}"
