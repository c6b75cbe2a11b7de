"""Shared checks of the vendor-format tests: the same exposures as `gammalake chain`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.engine.config import EngineConfig
from pipeline.engine.presets import default_preset, perfiliev_preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.sources.chains import read_chain
from pipeline.sources.formats.base import ReadOptions, VendorChain, load_all

DATA = Path(__file__).parent / "data"
#: The presets every equality test runs: gammalake's own (IV solved from the mid where
#: missing), AM settlement by root, and perfiliev (the file's gamma, business days).
CONFIGS: tuple[EngineConfig, ...] = (
    default_preset(),
    default_preset().with_overrides(am_settlement=True),
    perfiliev_preset(),
)


def read_all(name: str, path: Path, options: ReadOptions | None = None) -> list[VendorChain]:
    """Return every VendorChain the format `name` reads from `path`."""
    return list(load_all()[name].read(path, options or ReadOptions()))


def by_symbol(chains: list[VendorChain]) -> dict[str, VendorChain]:
    """Return the chains keyed by symbol."""
    return {vc.chain.symbol: vc for vc in chains}


def as_generic_csv(vc: VendorChain, path: Path) -> Path:
    """Write the chain's contracts as a generic chain CSV (what `gammalake chain` reads)."""
    frame = vc.chain.frame.drop("root").with_columns(
        pl.lit(vc.chain.symbol).alias("symbol"),
        pl.lit(repr(vc.chain.spot)).alias("underlying_price"),
        pl.lit(vc.chain.as_of.isoformat()).alias("as_of"),
    )
    frame.write_csv(path)
    return path


def assert_close(left: Any, right: Any, where: str = "") -> None:
    """Assert two payload trees are equal, numbers to 1e-9 relative (NaN equals NaN)."""
    if isinstance(left, dict):
        assert isinstance(right, dict) and left.keys() == right.keys(), where
        for key in left:
            assert_close(left[key], right[key], f"{where}.{key}")
    elif isinstance(left, list | tuple):
        assert isinstance(right, list | tuple) and len(left) == len(right), where
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_close(a, b, f"{where}[{i}]")
    elif isinstance(left, float) and not isinstance(left, bool):
        assert isinstance(right, int | float), where
        same = math.isnan(left) and math.isnan(right)
        assert same or math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12), (where, left, right)
    else:
        assert left == right, (where, left, right)


def assert_same_as_chain_command(vc: VendorChain, tmp_path: Path) -> None:
    """Assert the imported chain prices exactly as the same contracts read as a chain file."""
    generic = read_chain(as_generic_csv(vc, tmp_path / f"{vc.chain.symbol}.csv"))
    assert generic.as_of == vc.chain.as_of and generic.spot == vc.chain.spot
    assert generic.frame.height == vc.chain.frame.height > 0
    for config in CONFIGS:
        imported = ExposureSnapshot(vc.chain, config).payloads()
        reread = ExposureSnapshot(generic, config).payloads()
        assert_close(imported, reread, f"{vc.chain.symbol}/{config.name}")
