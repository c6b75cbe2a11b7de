"""Bringing an older lake to the current schema and layout (`gammalake rebuild` runs this).

Layout: lakes written before the layout by source and date kept a folder per symbol
(lake/<dataset>/symbol=<SYM>/month=<YYYY-MM>/...), about 4.4 files per symbol and month.
Their files are read a group at a time (the same period of every symbol), written through the
lake into the current partitions, and only then moved under attic/: a rebuild stopped half
way leaves every row readable (some twice until it is run again, never none), and running it
again finishes the move (writes are idempotent by key).

Schema: version 1 had no `method` column, and stored engine figures under the preset's own source
(`chains-perfiliev`). Engine rows become method `<preset>@v0` under their plain source (v0:
made before the engine was versioned; their inputs were not kept, so they can't be re-priced),
vendor rows become `vendor`; other datasets gain their new columns empty. Each old file is
rewritten through the lake (atomic, merged) and the original kept under attic/. Version 2 had
no `fetched_at` (when gammalake received the data): its rows gain it empty (unknown).

Once every file is rewritten, each dataset is marked as holding this schema only
(`Lake.mark`), so readers bind its files by position again instead of by name.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from warehouse.home import Layout
from warehouse.lake import META_VERSION, Lake, file_metadata
from warehouse.schema import DATASETS, SCHEMA_VERSION

#: Sources whose figures gammalake's engine computed under schema version 1.
ENGINE_SOURCES = ("synthetic", "chains")


def old_files(home: Path, names: Iterable[str] = DATASETS) -> list[tuple[str, Path]]:
    """Return (dataset, file) for every lake file written under another schema version.

    `names`: the datasets to look in (default: all).
    """
    found = []
    for name in names:
        for path in Lake(home).files(name):
            try:
                version = file_metadata(path).get(META_VERSION, b"?")
            except Exception:  # unreadable files are doctor's to report, not ours to move
                continue
            if version.decode() != str(SCHEMA_VERSION):
                found.append((name, path))
    return found


def upgrade_rows(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Return version-1 rows of a dataset in the current layout."""
    if "method" not in DATASETS[name].columns or "method" in frame.columns:
        return frame.select([c for c in frame.columns if c in DATASETS[name].columns])
    source = pl.col("source")
    engine = source.is_in(ENGINE_SOURCES) | source.str.starts_with("chains-")
    preset = pl.when(source.str.starts_with("chains-")).then(source.str.slice(7))
    method = pl.when(engine).then(pl.format("{}@v0", preset.otherwise(pl.lit("default"))))
    return frame.with_columns(
        method=method.otherwise(pl.lit("vendor")),
        source=pl.when(source.str.starts_with("chains-")).then(pl.lit("chains")).otherwise(source),
    ).select([c for c in [*frame.columns, "method"] if c in DATASETS[name].columns])


def migrate(home: Path) -> list[Path]:
    """Bring old-version and old-layout files to the current ones; return the files moved.

    The originals go under attic/<time>/, as they were.
    """
    attic = Layout(home).attic / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    for name, path in old_files(home):
        rows = upgrade_rows(name, pl.read_parquet(path, hive_partitioning=False))
        target = _to_attic(home, attic, path)  # first, so the write does not merge with it
        Lake(home).write(name, rows)
        moved.append(target)
    for name, group in layout_groups(home):
        frames = [pl.read_parquet(p, hive_partitioning=False) for p in group]
        Lake(home).write(name, pl.concat(frames, how="diagonal_relaxed"))
        moved += [_to_attic(home, attic, p) for p in group]
    if moved:
        Lake(home).compact()
    mark_current(home)
    return moved


def mark_current(home: Path) -> list[str]:
    """Mark every dataset whose files all carry this schema and layout; return those marked.

    Called once the rewrite is done. Only unmarked datasets are looked at (their files' footers
    read); a file still in the older layout keeps its dataset unmarked, read by name.
    """
    lake = Lake(home)
    unmarked = [name for name in lake.datasets() if not lake.marked(name)]
    if not unmarked:
        return []
    left = {name for name, _path in old_files(home, unmarked)}
    left |= {name for name, _path in old_layout_files(home)}
    marked = [name for name in unmarked if name not in left]
    for name in marked:
        lake.mark(name)
    return marked


#: Old-layout files read and written together: the same period of this many symbols.
GROUP_FILES = 200


def old_layout_files(home: Path) -> list[tuple[str, Path]]:
    """Return (dataset, file) for every lake file outside the layout by source and date."""
    lake = Lake(home)
    return [
        (name, path)
        for name in DATASETS
        for path in lake.files(name)
        if not path.relative_to(lake.root / name).parts[0].startswith("source=")
    ]


def layout_groups(home: Path) -> list[tuple[str, list[Path]]]:
    """Return old-layout files grouped by dataset and period (at most GROUP_FILES a group)."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for name, path in old_layout_files(home):
        groups.setdefault((name, path.parent.name), []).append(path)
    return [
        (name, paths[i : i + GROUP_FILES])
        for (name, _period), paths in sorted(groups.items())
        for i in range(0, len(paths), GROUP_FILES)
    ]


def _to_attic(home: Path, attic: Path, path: Path) -> Path:
    """Move a lake file under `attic`, keeping its path relative to the home; return it."""
    target = attic / path.relative_to(home)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, target)
    return target
