"""The synthetic whole-market DataShop day (the benchmark input) reads back whole."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from pipeline.engine.presets import default_preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.sources.formats.synthesize import names, write_datashop_day
from tests.pipeline.sources.formats.support import by_symbol, read_all


def test_the_default_day_has_the_shape_of_a_whole_market() -> None:
    day = names(5_000, 1_500_000, np.random.default_rng(7))
    counts = dict(zip(day.symbol, day.count.tolist(), strict=True))
    assert len(counts) == 5_000 and 1_400_000 <= sum(counts.values()) <= 1_600_000
    assert (counts["^SPX"], counts["SPY"], counts["QQQ"]) == (20_000, 10_000, 8_000)
    ordinary = day.count[5:]
    assert np.mean((ordinary >= 50) & (ordinary <= 500)) > 0.7


def test_a_small_synthetic_day_reads_back_every_contract(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    rows = write_datashop_day(path, date(2024, 1, 5), underlyings=30, contracts=60_000, seed=3)
    chains = read_all("datashop", path)
    assert len(chains) == 30
    assert sum(vc.chain.frame.height for vc in chains) == rows
    spx = by_symbol(chains)["SPX"].chain
    assert set(spx.frame.get_column("root").unique()) == {"SPX", "SPXW"}
    assert spx.spot == 4_700.0
    payload = ExposureSnapshot(spx, default_preset()).gex()
    assert payload["net_gex"] != 0 and len(payload["strikes"]) > 100
