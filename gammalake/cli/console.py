"""Terminal rendering of exposure payloads (rich tables)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

#: Width used when output is not a terminal (pipes, CI logs), where rich would assume 80.
PIPE_WIDTH = 110


def make_console() -> Console:
    """Return a console: the terminal's width, or PIPE_WIDTH when writing to a pipe or file."""
    console = Console()
    return console if console.is_terminal else Console(width=PIPE_WIDTH)


def money(value: float | None) -> str:
    """Return dollars with a B/M/K suffix, e.g. -10.999B."""
    if value is None:
        return "-"
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.3f}{unit}"
    return f"{value:,.0f}"


def level(value: float | None) -> str:
    """Return a price level with two decimals, or '-' when missing."""
    return "-" if value is None else f"{value:,.2f}"


def headline_table(payloads: dict[str, Any], preset: str) -> Table:
    """Return the headline figures and key levels of one snapshot."""
    summary, lv = payloads["summary"], payloads["levels"]["levels"]
    ex = summary["exposures"]
    table = Table(title=f"{summary['symbol']} @ {summary['as_of']}  (preset {preset})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("spot", level(summary["underlying_price"])),
        ("net GEX ($ per 1%)", money(ex["net_gex"])),
        ("net DEX ($)", money(ex["net_dex"])),
        ("net VEX ($ per vol pt)", money(ex["net_vex"])),
        ("net CHEX ($ per day)", money(ex["net_chex"])),
        ("regime", summary["regime"]),
        ("gamma flip", f"{level(lv['gamma_flip'])} ({lv['gamma_flip_status']})"),
        ("call wall", level(lv["call_wall"])),
        ("put wall", level(lv["put_wall"])),
        ("max + gamma", level(lv["max_positive_gamma"])),
        ("max - gamma", level(lv["max_negative_gamma"])),
        ("highest OI", level(lv["highest_oi_strike"])),
        ("0DTE magnet", level(lv["zero_dte_magnet"])),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def top_strikes_table(gex: dict[str, Any], count: int = 8) -> Table:
    """Return the strikes with the largest |net GEX|."""
    table = Table(title=f"top {count} strikes by |net GEX|")
    for name in ("strike", "call GEX", "put GEX", "net GEX", "call OI", "put OI"):
        table.add_column(name, justify="right")
    top = sorted(gex["strikes"], key=lambda r: abs(r["net_gex"]), reverse=True)[:count]
    for r in top:
        table.add_row(
            level(r["strike"]),
            money(r["call_gex"]),
            money(r["put_gex"]),
            money(r["net_gex"]),
            f"{r['call_oi']:,}",
            f"{r['put_oi']:,}",
        )
    return table


def print_snapshot(payloads: dict[str, Any], preset: str) -> None:
    """Print headline, levels, top strikes, interpretation and warnings."""
    console = make_console()
    console.print(headline_table(payloads, preset))
    console.print(top_strikes_table(payloads["gex"]))
    for line in payloads["summary"]["interpretation"].values():
        console.print(escape(f"• {line}"))
    for warning in payloads["gex"].get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(str(warning))}")
