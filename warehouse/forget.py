"""Forgetting a history: a symbol's rows leave every dataset, its raw files go to the attic.

A mistyped symbol on the synthetic source makes a history of a market that does not exist;
this is the way to take it out. Rows are removed through `Lake.write(name, empty, clear=keys)`
(each partition merged and replaced atomically, under its lock), snapshots first so a reader
never sees a snapshot without its strikes. Raw files move to attic/ under the path they had
in the home (attic/raw/<source>/<endpoint>/symbol=<SYM>/...), never deleted, so a mistake can
be undone by moving them back and running `gammalake rebuild`. The catalog's views are
rebuilt at the end.

With `method`, only that method's figures go (snapshots, strikes, expiries, alerts); the
contract rows, bars and raw files of a source stay while another method still uses them, and
the raw inputs' method sidecars forget the method, so `rebuild` does not make it again.
Run rows (`runs`) are a log of what ran, not history of a symbol, and are kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from warehouse.home import Layout
from warehouse.lake import Lake, scan_files
from warehouse.locks import reading
from warehouse.raw import METHODS_SUFFIX, methods_of
from warehouse.schema import dataset

#: Removal order: the snapshot row first, so a reader that sees a snapshot also sees its parts.
FORGET_ORDER = ("snapshots", "alerts", "expiries", "strikes", "chains", "prices")
#: Datasets holding one method's figures (the others are inputs every method shares).
BY_METHOD = ("snapshots", "alerts", "expiries", "strikes")


@dataclass(frozen=True)
class Target:
    """What to forget: one symbol, optionally only one source and/or one method."""

    symbol: str
    source: str | None = None
    method: str | None = None


@dataclass
class Plan:
    """The rows (per dataset) and raw files (paths in the home) a forget removes."""

    target: Target
    rows: dict[str, pl.DataFrame] = field(default_factory=dict)
    raw: list[Path] = field(default_factory=list)
    #: Sources whose inputs stay: another method still has snapshots of them (with `method`).
    shared: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        """Return the number of rows to remove per dataset (datasets with none left out)."""
        return {name: rows.height for name, rows in self.rows.items() if rows.height}

    @property
    def empty(self) -> bool:
        """Return True when there is nothing to remove."""
        return not self.counts() and not self.raw


def symbol_rows(home: Path, name: str, symbol: str) -> pl.DataFrame:
    """Return every stored row of `symbol` in dataset `name`, whatever the partition layout.

    A filtered scan: files and row groups of other symbols are skipped by their statistics.
    """
    spec = dataset(name)
    # Listed under the read lock: a merge deletes the files it replaced.
    with reading(home):
        files = Lake(home).files(name)
        if not files:
            return pl.DataFrame(schema=spec.schema)
        scan = scan_files(name, files)
        frame = scan.filter(pl.col("symbol") == symbol).collect()
    return frame.select(list(spec.columns))


def stored_symbols(home: Path) -> list[str]:
    """Return the symbols with snapshots or bars in the lake, sorted."""
    lake, names = Lake(home), set()
    for name in ("snapshots", "prices"):
        with reading(home):
            files = lake.files(name)
            if files:
                found = scan_files(name, files).select("symbol").unique()
                names |= set(found.collect().get_column("symbol").to_list())
    return sorted(names)


def plan(home: Path, target: Target) -> Plan:
    """Return what forgetting `target` removes from `home` (nothing is changed)."""
    found = Plan(target)
    for name in FORGET_ORDER:
        rows = symbol_rows(home, name, target.symbol)
        if target.source is not None:
            rows = rows.filter(pl.col("source") == target.source)
        if target.method is not None and name in BY_METHOD:
            rows = rows.filter(pl.col("method") == target.method)
        found.rows[name] = rows
    if target.method is not None:
        _keep_shared(home, found)
    raw = raw_files(home, target.symbol, target.source)
    found.raw = [p for p in raw if p.parts[-5] not in found.shared]
    return found


def _keep_shared(home: Path, found: Plan) -> None:
    """Keep the bars, and the inputs of sources another method still has snapshots of."""
    target = found.target
    left = symbol_rows(home, "snapshots", target.symbol).filter(pl.col("method") != target.method)
    found.shared = set(left.get_column("source").unique().to_list())
    chains = found.rows["chains"]
    found.rows["chains"] = chains.filter(~pl.col("source").is_in(sorted(found.shared)))
    found.rows["prices"] = found.rows["prices"].clear()  # bars belong to no method


def raw_files(home: Path, symbol: str, source: str | None = None) -> list[Path]:
    """Return the archived files of `symbol` (one source's, when given), sorted."""
    root = Layout(home).raw
    folders = root.glob(f"{source or '*'}/*/symbol={symbol}")
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())


def forget(home: Path, found: Plan) -> Path:
    """Remove the plan's rows, move its raw files to the attic; return the attic folder.

    Rows go through `Lake.write` with the rows' keys to clear, dataset by dataset in
    FORGET_ORDER; the catalog's views are rebuilt afterwards.
    """
    from warehouse import catalog

    lake = Lake(home)
    for name, rows in found.rows.items():
        if rows.height:
            lake.write(name, pl.DataFrame(schema=dataset(name).schema), clear=rows)
    attic = Layout(home).attic
    for path in found.raw:
        to_attic(home, path)
    if found.target.method is not None:
        _drop_method(home, found.target)
    _prune_folders(Layout(home).raw, found.target.symbol)
    catalog.rebuild(home)
    return attic


def to_attic(home: Path, path: Path) -> Path:
    """Move one file of the home to attic/<its path in the home>; return where it went.

    An earlier forget's file of the same name is kept: the newcomer gets a numbered name.
    """
    target = Layout(home).attic / path.relative_to(home)
    target.parent.mkdir(parents=True, exist_ok=True)
    number = 1
    while target.exists():
        target = target.with_name(f"{path.name}.{number}")
        number += 1
    os.replace(path, target)
    return target


def _drop_method(home: Path, target: Target) -> None:
    """Remove `target.method` from the method sidecars of the symbol's kept raw inputs."""
    for path in raw_files(home, target.symbol, target.source):
        if not path.name.endswith(METHODS_SUFFIX):
            continue
        data = path.with_name(path.name.removesuffix(METHODS_SUFFIX))
        kept = sorted(methods_of(data) - {target.method or ""})
        if kept:
            path.write_text("".join(f"{m}\n" for m in kept))
        else:
            path.unlink()


def _prune_folders(root: Path, symbol: str) -> None:
    """Remove the empty folders left under `root`'s symbol=<SYM> folders (the raw archive's)."""
    for folder in sorted(root.rglob(f"symbol={symbol}"), reverse=True):
        for inner in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if inner.is_dir() and not any(inner.iterdir()):
                inner.rmdir()
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def forgotten_before(home: Path, symbol: str) -> bool:
    """Return True when the attic holds raw files of `symbol` (an earlier forget)."""
    attic_raw = Layout(home).attic / "raw"
    return any(attic_raw.glob(f"*/*/symbol={symbol}"))
