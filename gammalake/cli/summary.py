"""What a flow run did, on the terminal: the progress bar and the per-symbol summary."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from flows.runs import RunSummary
from gammalake.cli.console import make_console


class RateColumn(ProgressColumn):
    """Sessions per second."""

    def render(self, task: Task) -> Text:
        """Return e.g. '12.4 sessions/s'."""
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} sessions/s" if speed else "- sessions/s")


def backfill_progress(total: int) -> tuple[AbstractContextManager, Callable[[str, int], None]]:
    """Return a progress bar context and the callback tasks advance it with."""
    if total == 0:
        return nullcontext(), lambda symbol, n: None
    progress = Progress(
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=make_console(),
        transient=False,
    )
    bar = progress.add_task("backfill", total=total)
    return progress, lambda symbol, n: progress.update(bar, advance=n)


STATUS_STYLE = {"ok": "[green]ok[/]", "partial": "[yellow]partial[/]", "failed": "[red]failed[/]"}


def print_summary(summary: RunSummary, alerts_shown: int = 12) -> None:
    """Print per-symbol results, the run's alerts, its failures and what it skipped."""
    console = make_console()
    method = f", method {summary.method}" if summary.method else ""
    title = f"{summary.flow} via {summary.source}{method} (run {summary.run_id[:8]})"
    table = Table(title=title)
    for name in ("symbol", "sessions", "skipped", "rows", "alerts", "requests", "status"):
        table.add_column(name, justify="left" if name in ("symbol", "status") else "right")
    for o in summary.outcomes:
        counts = (o.sessions, o.skipped, sum(o.rows.values()), len(o.alerts), o.requests)
        table.add_row(o.symbol, *(str(c) for c in counts), STATUS_STYLE[o.status])
    console.print(table)
    shown = summary.alerts[-alerts_shown:] if alerts_shown > 0 else []
    for alert in shown:
        console.print(f"[yellow]alert[/] {alert['trade_date']} {alert['kind']}: {alert['message']}")
    if len(summary.alerts) > len(shown):
        console.print(f"{len(summary.alerts) - len(shown)} alert(s) in the alerts table")
    for outcome in summary.outcomes:
        for line in outcome.remarks():
            console.print(f"[cyan]note[/] {outcome.symbol}: {line}", highlight=False)
        for line in outcome.problems:
            console.print(f"[red]failed[/] {outcome.symbol}: {line}", highlight=False)
    for line in summary.notes:
        console.print(f"[cyan]note[/] {line}", highlight=False)
    console.print(f"run {summary.status}", highlight=False)
