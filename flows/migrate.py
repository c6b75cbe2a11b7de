"""Bringing a lake written under schema version 1 (before methods) to the current layout.

Version 1 had no `method` column, and stored engine figures under the preset's own source
(`chains-perfiliev`). Engine rows become method `<preset>@v0` under their plain source (v0:
made before the engine was versioned; their inputs were not kept, so they can't be re-priced),
vendor rows become `vendor`; other datasets gain their new columns empty. Each old file is
rewritten through the lake (atomic, merged) and the original kept under attic/.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from warehouse.home import Layout
from warehouse.lake import META_VERSION, Lake, file_metadata
from warehouse.schema import DATASETS, SCHEMA_VERSION

#: Sources whose figures gammalake's engine computed under schema version 1.
ENGINE_SOURCES = ("synthetic", "chains")


def old_files(home: Path) -> list[tuple[str, Path]]:
    """Return (dataset, file) for every lake file written under another schema version."""
    found = []
    for name in DATASETS:
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
    """Rewrite every old-version file in the current layout; return the files moved to attic/."""
    found = old_files(home)
    if not found:
        return []
    attic = Layout(home).attic / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    for name, path in found:
        rows = upgrade_rows(name, pl.read_parquet(path, hive_partitioning=False))
        target = attic / path.relative_to(home)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)  # first, so the write below does not merge with old rows
        Lake(home).write(name, rows)
        moved.append(target)
    return moved
