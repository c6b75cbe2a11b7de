"""The method_* views keep, per symbol, source and session, the newest engine version's rows.

Engine v2 stamps a daily snapshot at the close (16:00) where v1 stamped its fetch (16:15): the
two versions of one session have different `as_of`, and both must not show.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.engine.timing import NEW_YORK
from tests.conftest import synthetic_rows
from warehouse import catalog
from warehouse.lake import Lake

DAYS = ("2024-03-04", "2024-03-05")


def rows_at(day: str, hhmm: str, method: str, source: str = "synthetic") -> dict:
    """Return SPY's synthetic rows of `day` stamped at `hhmm` New York under `method`."""
    when = datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=NEW_YORK)
    stamp = {"method": pl.lit(method), "source": pl.lit(source)}
    return {k: f.with_columns(**stamp) for k, f in synthetic_rows("SPY", when).items()}


def versions_home(home):
    """v1 on both days at 16:15, v2 on the first day only at 16:00, vendor on another source."""
    lake = Lake(home)
    for day in DAYS:
        lake.write_all(rows_at(day, "16:15", "default@v1"))
    lake.write_all(rows_at(DAYS[0], "16:00", "default@v2"))
    lake.write_all(rows_at(DAYS[0], "16:20", "vendor", source="flashalpha"))
    return home


def test_a_session_shows_only_its_newest_engine_version(tmp_path):
    home = versions_home(tmp_path)
    catalog.rebuild(home, "default@v2")
    sql = "SELECT source, trade_date::VARCHAR, method FROM daily_levels ORDER BY ALL"
    assert catalog.query(home, sql).rows() == [
        ("flashalpha", DAYS[0], "vendor"),
        ("synthetic", DAYS[0], "default@v2"),
        ("synthetic", DAYS[1], "default@v1"),  # no v2 that day: v1 still shows
    ]
    for view in ("method_snapshots", "method_strikes", "method_expiries"):
        sql = f"SELECT DISTINCT trade_date::VARCHAR, method FROM {view} WHERE source = 'synthetic'"
        assert sorted(catalog.query(home, sql).rows()) == [
            (DAYS[0], "default@v2"),
            (DAYS[1], "default@v1"),
        ], view


def test_a_filtered_session_reads_the_same_rows(tmp_path):
    home = versions_home(tmp_path)
    catalog.rebuild(home, "default@v2")
    sql = "SELECT method, as_of FROM method_snapshots WHERE symbol = 'SPY' AND trade_date = ?"
    [(method, as_of)] = (
        catalog.query(home, sql, [DAYS[0]]).filter(pl.col("method") != "vendor").rows()
    )
    assert method == "default@v2" and as_of.astimezone(NEW_YORK).hour == 16


def test_doctor_counts_a_restamped_v2_row_as_the_sessions_re_derivation(tmp_path):
    from warehouse.doctor import diagnose

    home = versions_home(tmp_path)
    catalog.rebuild(home, "default@v2")
    messages = [f.message for f in diagnose(home, engine_version=2).findings]
    assert any(m.startswith("snapshots: 1 made by an older engine (default@v1)") for m in messages)
