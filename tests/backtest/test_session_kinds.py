"""Half days and monthly expiry Fridays, and a pair's disagreement on each kind of session."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from backtest.compare import pair_sessions
from backtest.session_kinds import by_kind, monthly_expiry, session_kinds


def test_kinds_of_known_sessions() -> None:
    days = [date(2024, 11, 29), date(2024, 11, 15), date(2024, 11, 14), date(2024, 12, 24)]
    assert session_kinds(days) == ["half day", "expiry Friday", "other", "half day"]


def test_a_holiday_third_friday_moves_the_expiry_to_thursday() -> None:
    assert monthly_expiry(2025, 4) == date(2025, 4, 17)  # Good Friday, 2025-04-18
    assert monthly_expiry(2024, 11) == date(2024, 11, 15)


def levels(rows: list[tuple[date, float, float, float, float]]) -> pl.DataFrame:
    """Return daily levels from (day, spot, flip, wall, net GEX) rows."""
    frame = pl.DataFrame(
        rows, schema=["trade_date", "spot", "gamma_flip", "call_wall", "net_gex"], orient="row"
    )
    gamma = pl.when(pl.col("spot") > pl.col("gamma_flip")).then(pl.lit("positive"))
    return frame.with_columns(
        pl.col("call_wall").alias("put_wall"), gamma.otherwise(pl.lit("negative")).alias("gamma")
    )


def test_by_kind_splits_the_gaps_by_hand() -> None:
    half, friday, plain = date(2024, 11, 29), date(2024, 11, 15), date(2024, 11, 14)
    a = levels([(half, 100, 99, 105, 10.0), (friday, 100, 98, 105, 20.0), (plain, 100, 97, 105, 5)])
    b = levels([(half, 100, 101, 110, 8.0), (friday, 100, 98, 105, 15.0), (plain, 100, 97, 105, 5)])
    rows = {r["kind"]: r for r in by_kind(pair_sessions(a, b))}
    assert rows["half day"]["net_gex_median_gap_pct"] == pytest.approx(20.0)
    assert rows["half day"]["flip_median_gap_points"] == pytest.approx(2.0)
    assert rows["half day"]["regime_agreement_pct"] == 0.0  # above vs below the flip
    assert rows["half day"]["call_wall_equal_pct"] == 0.0
    assert rows["expiry Friday"]["net_gex_median_gap_pct"] == pytest.approx(25.0)
    assert rows["expiry Friday"]["call_wall_equal_pct"] == 100.0
    assert rows["other"]["net_gex_median_gap_pct"] == 0.0
    assert [r["sessions"] for r in rows.values()] == [1, 1, 1]
