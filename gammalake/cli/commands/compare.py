"""`gammalake compare`: how the stored histories of two or more methods disagree."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gammalake.cli.commands.research import SelfContainedOption

if TYPE_CHECKING:  # imported inside the command: the CLI's start-up stays light
    from rich.table import Table


def compare(
    ctx: typer.Context,
    methods: Annotated[
        str,
        typer.Option(
            help="Comma-separated methods, at least two: presets (default, all_short, ...), "
            "methods like default@v1, or vendor."
        ),
    ],
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")],
    start: Annotated[str | None, typer.Option(help="First session; default all.")] = None,
    end: Annotated[str | None, typer.Option(help="Last session; default all.")] = None,
    out: Annotated[Path | None, typer.Option(help="Report path without suffix.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as one JSON object.")
    ] = False,
    self_contained: SelfContainedOption = False,
) -> None:
    """Compare methods' stored levels: regime, flip, walls, net GEX, and what each one tells."""
    import json

    from backtest.compare import compare_methods, write_compare_report
    from gammalake.cli.console import make_console
    from gammalake.cli.options import span, symbol_list
    from gammalake.cli.research import progress_bar, report_path
    from pipeline.errors import InputError
    from warehouse.catalog import recipe

    chosen, names = method_list(methods), symbol_list(symbols)
    first, last = span(start, end)
    if first > last:
        raise InputError(f"--start {first} is after --end {last}")
    with progress_bar("compare", len(names)) as progress:
        result = compare_methods(ctx.obj, names, chosen, first, last, progress)
    path = report_path(ctx.obj, "compare", out)
    page, numbers = write_compare_report(path, result, self_contained=self_contained)
    if as_json:
        print(json.dumps({**result, "report": str(page)}, default=str))
        return
    console = make_console()
    for symbol, figures in result["symbols"].items():
        console.print(disagreement_table(symbol, figures))
        for pair in figures["pairs"]:
            # Engine versions part on half days and expiry Fridays: show where, per kind.
            if recipe(pair["a"]) == recipe(pair["b"]):
                console.print(kind_table(symbol, pair))
        console.print(information_table(symbol, figures))
    console.print(f"report: {page}\nfigures: {numbers}")


def method_list(text: str) -> list[str]:
    """Return the methods `--methods` names (resolved), or raise: fewer than 2, a repeat."""
    from pipeline.engine.method import resolve_method
    from pipeline.errors import InputError

    names = [t.strip() for t in text.split(",") if t.strip()]
    methods = [resolve_method(name) for name in names]
    if len(methods) < 2:
        raise InputError(f"--methods {text!r} names {len(methods)} method(s); compare needs two")
    repeated = sorted({m for m in methods if methods.count(m) > 1})
    if repeated:
        raise InputError(f"--methods {text!r} names {', '.join(repeated)} more than once")
    return methods


def _cell(value: float | None, form: str = ".2f", suffix: str = "") -> str:
    """Return a number in `form` with `suffix`, a dash for none."""
    return "-" if value is None else f"{value:{form}}{suffix}"


def disagreement_table(symbol: str, figures: dict[str, Any]) -> Table:
    """Return one symbol's pairwise figures: a column per pair of methods, a line per figure."""
    from rich.table import Table

    from backtest.compare import pair_lines

    table = Table(title=f"{symbol}: how the methods disagree", title_justify="left")
    lines, columns = pair_lines(figures["pairs"])
    table.add_column("")
    for column in columns[1:]:
        table.add_column(column.header.replace(" vs ", "\nvs "), justify="right")
    for line in lines:
        table.add_row(*(line[column.key] for column in columns))
    return table


def kind_table(symbol: str, pair: dict[str, Any]) -> Table:
    """Return a pair's disagreement on half days, expiry Fridays and other sessions."""
    from rich.table import Table

    title = f"{symbol}: {pair['a']} vs {pair['b']} by kind of session"
    table = Table(title=title, title_justify="left")
    headers = ["session", "sessions", "net GEX gap, median", "flip gap, median (points)"]
    headers += ["regime agreement", "call wall equal", "put wall equal"]
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in pair["by_kind"]:
        table.add_row(
            row["kind"],
            str(row["sessions"]),
            _cell(row["net_gex_median_gap_pct"], suffix="%"),
            _cell(row["flip_median_gap_points"]),
            *(_cell(row[k], suffix="%") for k in ("regime_agreement_pct", "call_wall_equal_pct")),
            _cell(row["put_wall_equal_pct"], suffix="%"),
        )
    return table


def _interval(value: float | None, low: float | None, high: float | None, form: str) -> str:
    """Return `value (low .. high)`, a dash for no value."""
    if value is None:
        return "-"
    return f"{value:{form}} ({_cell(low, form)} .. {_cell(high, form)})"


def information_table(symbol: str, figures: dict[str, Any]) -> Table:
    """Return one symbol's per-method table: vol ratio and partial correlation with 95% CIs."""
    from rich.table import Table

    from backtest.compare import information_row

    table = Table(
        title=f"{symbol}: next-day moves after each method's levels (95% bootstrap CIs)",
        title_justify="left",
        caption_justify="left",
    )
    headers = (
        "method",
        "regime by",
        "neg/pos sessions",
        "vol ratio neg/pos",
        "GEX vs |move| given IV",
    )
    for header in headers:
        table.add_column(header, justify="left" if header in headers[:2] else "right")
    notes = []
    for method, info in figures["information"].items():
        row = information_row(method, info)
        if row["note"]:
            notes.append(f"{method}: {row['note']}")
        if not info["available"]:
            table.add_row(method, "-", "-", "-", "-")
            continue
        table.add_row(
            method,
            "gamma flip" if row["regime_basis"].startswith("spot") else "net GEX sign",
            f"{row['negative']}/{row['positive']}",
            _interval(row["vol_ratio"], row["vol_ratio_ci_low"], row["vol_ratio_ci_high"], ".2f"),
            _interval(
                row["partial_gex_move_given_iv"],
                row["partial_ci_low"],
                row["partial_ci_high"],
                ".3f",
            ),
        )
    table.caption = "\n".join(notes) or None
    return table
