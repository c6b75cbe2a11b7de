"""What a flow run did, on the terminal: the progress bar and the per-symbol summary."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
)
from rich.table import Table
from rich.text import Text

from flows.runs import RunSummary
from gammalake.cli.console import make_console


def _worked(task: Task) -> tuple[float, float] | None:
    """Return (sessions taken, seconds) of a task, leaving out sessions already stored."""
    done = task.completed - task.fields.get("stored", 0)
    elapsed = task.elapsed or 0.0
    return (done, elapsed) if done > 0 and elapsed > 0 else None


class RateColumn(ProgressColumn):
    """Sessions taken per second (sessions already stored are not work and do not count)."""

    def render(self, task: Task) -> Text:
        """Return e.g. '12.4 sessions/s'."""
        worked = _worked(task)
        unit = task.fields.get("unit", "sessions")
        return Text(f"{worked[0] / worked[1]:.1f} {unit}/s" if worked else f"- {unit}/s")


class LeftColumn(ProgressColumn):
    """Time left at the rate of RateColumn."""

    def render(self, task: Task) -> Text:
        """Return e.g. '0:01:05 left', or '-' before the first session is taken."""
        worked = _worked(task)
        if task.total is None or not worked:
            return Text("-:--:-- left")
        seconds = int((task.total - task.completed) / (worked[0] / worked[1]))
        return Text(f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d} left")


#: Advance the bar: (symbol, sessions).
Advance = Callable[[str, int], None]


def run_progress(
    total: int, label: str = "backfill", unit: str = "sessions"
) -> tuple[AbstractContextManager, Advance, Advance]:
    """Return the bar's context, the hook for sessions taken, and the one for stored ones.

    Sessions found already stored fill the bar without counting as work in the rate.
    """
    if total == 0:
        return nullcontext(), lambda symbol, n: None, lambda symbol, n: None
    progress = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        LeftColumn(),
        console=make_console(),
        transient=False,
    )
    bar = progress.add_task(label, total=total, stored=0, unit=unit)
    lock = threading.Lock()

    def advance(symbol: str, n: int) -> None:
        progress.update(bar, advance=n)

    def stored(symbol: str, n: int) -> None:
        with lock:
            already = progress.tasks[0].fields["stored"]
            progress.update(bar, advance=n, stored=already + n)

    return progress, advance, stored


STATUS_STYLE = {
    "ok": "[green]ok[/]",
    "partial": "[yellow]partial[/]",
    "failed": "[red]failed[/]",
    "cancelled": "[yellow]cancelled[/]",
}


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
        text = f"{alert['trade_date']} {alert['kind']}: {alert['message']}"
        console.print(f"[yellow]alert[/] {escape(text)}")
    if len(summary.alerts) > len(shown):
        more = "more " if shown else ""
        console.print(f"{len(summary.alerts) - len(shown)} {more}alert(s) in the alerts table")
    for outcome in summary.outcomes:
        for line in outcome.remarks():
            console.print(f"[cyan]note[/] {escape(f'{outcome.symbol}: {line}')}", highlight=False)
        for line in outcome.problems:
            console.print(f"[red]failed[/] {escape(f'{outcome.symbol}: {line}')}", highlight=False)
    for line in summary.notes:
        console.print(f"[cyan]note[/] {escape(line)}", highlight=False)
    console.print(escape(f"run {summary.status}"), highlight=False)
