"""DIX.csv: snapshots known the next morning, SPX closes, and refusal of bad files."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from pipeline.errors import InputError
from pipeline.sources.dix import read_dix


@pytest.mark.refdata
def test_the_real_file(refdata):
    dix = read_dix(refdata / "squeezemetrics-dix-caribbel/DIX.csv")
    snaps = dix.snapshots
    assert snaps.height == dix.prices.height == 3840
    row = snaps.filter(pl.col("trade_date") == date(2024, 1, 5)).row(0, named=True)
    assert row["net_gex"] == pytest.approx(3.81e9, rel=1e-3)  # SOURCE.md: +3.81e9
    assert row["as_of"] == datetime(2024, 1, 8, 14, 0, tzinfo=UTC)  # Monday 09:00 New York
    assert row["gamma_flip_status"] == "no_strikes" and row["regime"] == "unknown"
    assert (snaps.get_column("net_gex") < 0).sum() == 347  # SOURCE.md: 347 negative days


def test_bad_rows_are_refused(tmp_path):
    path = tmp_path / "DIX.csv"
    path.write_text(
        "date,price,dix,gex\n2024-01-04,4688.68,0.45,1e9\n2024-01-04,4697.24,0.48,2e9\n"
        "2024-01-08,-1,0.4,1e9\n"
    )
    with pytest.raises(InputError, match=r"3 bad row\(s\).*lines 2, 3, 4"):
        read_dix(path)
