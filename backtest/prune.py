"""Pruning a reports folder: keep the newest reports of each kind, remove the older ones.

Reports written without `--out` are named KIND-YYYYMMDD-HHMMSS (.html and .json), e.g.
`backtest-regime-20260105-211500`: the kind is everything before the UTC time stamp. Files
named otherwise are never touched. The shared `plotly.min.js` goes only when no page left in
the folder loads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from backtest.report import PLOTLY_JS
from warehouse.errors import WarehouseInputError

#: A report written under its default name: KIND-<UTC time stamp>.
_NAME = re.compile(r"^(?P<kind>.+)-(?P<stamp>\d{8}-\d{6})$")
_SUFFIXES = (".html", ".json")


@dataclass(frozen=True)
class Report:
    """One report of a folder: its kind, UTC time stamp (sortable text) and files."""

    kind: str
    stamp: str
    files: tuple[Path, ...]


def reports_in(folder: Path) -> list[Report]:
    """Return the default-named reports of `folder` (an .html and/or .json each)."""
    found: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        named = _NAME.match(path.stem)
        if path.suffix in _SUFFIXES and path.is_file() and named:
            found.setdefault((named["kind"], named["stamp"]), []).append(path)
    return [Report(kind, stamp, tuple(files)) for (kind, stamp), files in found.items()]


def to_prune(folder: Path, keep: int) -> list[Path]:
    """Return the files of every report beyond the `keep` newest of its kind (oldest first).

    Refuses `keep` below 1.
    """
    if keep < 1:
        raise WarehouseInputError(f"--keep {keep}: keep at least 1 report of each kind")
    kinds: dict[str, list[Report]] = {}
    for report in reports_in(folder):
        kinds.setdefault(report.kind, []).append(report)
    old = [r for group in kinds.values() for r in sorted(group, key=lambda r: r.stamp)[:-keep]]
    return [path for r in sorted(old, key=lambda r: r.stamp) for path in r.files]


def plotly_needed(folder: Path, leaving: list[Path]) -> bool:
    """Return whether a page of `folder` other than `leaving` loads the shared plotly.min.js."""
    gone = set(leaving)
    return any(
        f'src="./{PLOTLY_JS}"' in page.read_text(encoding="utf-8", errors="replace")
        for page in folder.glob("*.html")
        if page not in gone
    )


def prune(folder: Path, keep: int, *, dry_run: bool = False) -> list[Path]:
    """Remove all but the `keep` newest reports of each kind in `folder`; return what went.

    `plotly.min.js` goes too once no remaining page loads it. With `dry_run`, nothing is
    removed and the list says what would be.
    """
    removed = to_prune(folder, keep)
    shared = folder / PLOTLY_JS
    if shared.exists() and not plotly_needed(folder, removed):
        removed.append(shared)
    if not dry_run:
        for path in removed:
            path.unlink(missing_ok=True)
    return removed
