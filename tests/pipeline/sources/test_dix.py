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
    assert snaps.get_column("method").unique().to_list() == ["vendor"]
    labels = dict(snaps.group_by("net_gex_label").len().iter_rows())
    assert labels == {"short_gamma": 347, "flat": 1, "long_gamma": 3840 - 348}
    zero = snaps.filter(pl.col("net_gex") == 0).row(0, named=True)
    assert zero["trade_date"] == date(2012, 7, 23) and zero["net_gex_label"] == "flat"


def test_bad_rows_are_refused(tmp_path):
    path = tmp_path / "DIX.csv"
    path.write_text(
        "date,price,dix,gex\n2024-01-04,4688.68,0.45,1e9\n2024-01-04,4697.24,0.48,2e9\n"
        "2024-01-08,-1,0.4,1e9\n"
    )
    with pytest.raises(InputError) as err:
        read_dix(path)
    assert "3 bad row(s), nothing imported" in str(err.value)
    for expected in ("line 2: duplicate date", "line 3: duplicate date", "line 4: price <= 0"):
        assert expected in str(err.value)


def write(tmp_path, *rows: str):
    path = tmp_path / "DIX.csv"
    path.write_text("\n".join(["date,price,dix,gex", *rows]) + "\n")
    return path


def test_zero_gex_is_flat_neither_long_nor_short(tmp_path):
    path = write(
        tmp_path,
        "2024-01-03,4704.81,0.44,-1e9",
        "2024-01-04,4688.68,0.45,0",
        "2024-01-05,4697.24,0.46,2e9",
    )
    snaps = read_dix(path).snapshots
    assert snaps.get_column("net_gex_label").to_list() == ["short_gamma", "flat", "long_gamma"]
    assert snaps.get_column("regime").unique().to_list() == ["unknown"]
    assert snaps.get_column("method").unique().to_list() == ["vendor"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2024-01-04,nan,0.45,1e9", "non-finite value"),
        ("2024-01-04,4688.68,0.45,inf", "non-finite value"),
        ("2024-01-06,4688.68,0.45,1e9", "dated on a weekend"),
        ("2099-01-02,4688.68,0.45,1e9", r"dated after the latest close \(in the future\)"),
        ("2024-01-04,4688.68,1.5,1e9", "dix outside 0..1"),
    ],
)
def test_bad_values_and_days_are_refused(tmp_path, row, reason):
    with pytest.raises(InputError, match=rf"line 2: {reason}"):
        read_dix(write(tmp_path, row))


def test_a_row_that_does_not_fit_the_header_is_refused(tmp_path):
    with pytest.raises(InputError, match="line 2: has 3 fields, expected 4"):
        read_dix(write(tmp_path, "2024-01-04,4688.68,1e9"))
