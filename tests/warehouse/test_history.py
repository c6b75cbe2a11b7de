"""warehouse.history: the read queries of the Python entry point and the local API."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from pipeline.normalize import snapshot_rows
from tests.conftest import METHOD, session_close, synthetic_payloads, synthetic_rows
from warehouse.errors import WarehouseInputError
from warehouse.history import DAILY_COLUMNS, History, Key
from warehouse.lake import Lake
from warehouse.schema import dataset

DAYS = ("2024-03-04", "2024-03-05", "2024-03-06")


def alert_rows(symbol: str, when: datetime, method: str = METHOD) -> pl.DataFrame:
    """Return one alert of `symbol` at `when`."""
    return pl.DataFrame(
        {
            "symbol": [symbol],
            "source": ["synthetic"],
            "as_of": [when],
            "trade_date": [when.date()],
            "method": [method],
            "kind": ["near_call_wall"],
            "message": [f"{symbol}: near the call wall"],
            "level": [100.0],
        }
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """SPY and QQQ (METHOD) on three sessions, SPY also intraday on the last one and under
    perfiliev@v1 on the first; SPX vendor rows only; alerts on every SPY snapshot."""
    lake = Lake(tmp_path_factory.mktemp("history") / "home")
    moments = [session_close(day) for day in DAYS]
    intraday = moments[-1] - timedelta(hours=4)
    for when in [*moments, intraday]:
        for symbol in ("SPY", "QQQ") if when != intraday else ("SPY",):
            lake.write_all(synthetic_rows(symbol, when))
        lake.write("alerts", alert_rows("SPY", when))
    other = synthetic_rows("SPY", moments[0])
    lake.write_all(
        {k: v.with_columns(pl.lit("perfiliev@v1").alias("method")) for k, v in other.items()}
    )
    payloads = synthetic_payloads("SPX", moments[1])
    vendor = snapshot_rows(
        {"gex": payloads["gex"], "levels": payloads["levels"]},
        source="flashalpha",
        method="vendor",
        raw_ref="raw/flashalpha/gex/symbol=SPX/20240305/x.json.gz",
    )
    lake.write_all(vendor)
    return lake.home


@pytest.fixture(scope="module")
def history(home):
    reader = History(home)
    yield reader
    reader.close()


def test_symbols_of_a_method_include_vendor_only_symbols(history):
    assert history.symbols(METHOD) == ["QQQ", "SPX", "SPY"]
    assert history.symbols("perfiliev@v1") == ["SPX", "SPY"]
    assert history.symbols("vendor") == ["SPX"]
    assert history.methods("SPY") == sorted([METHOD, "perfiliev@v1"])
    assert history.methods("AAPL") == []


def test_latest_is_the_last_snapshot_known_at_a_moment(history):
    last = session_close(DAYS[-1])
    found = history.latest("SPY", METHOD, None)
    assert found.row["as_of"] == last and found.row["method"] == METHOD
    assert found.span.first == session_close(DAYS[0]) and found.span.last == last
    assert found.span.snapshots == 4
    intraday = history.latest("SPY", METHOD, last - timedelta(minutes=1)).row
    assert intraday["as_of"] == last - timedelta(hours=4)
    exactly = history.latest("SPY", METHOD, session_close(DAYS[1])).row
    assert exactly["as_of"] == session_close(DAYS[1])
    assert history.latest("SPY", METHOD, session_close(DAYS[0]) - timedelta(seconds=1)) is None
    assert history.latest("AAPL", METHOD, None) is None


def test_the_other_method_and_vendor_fallback(history):
    found = history.latest("SPY", "perfiliev@v1", None)
    assert found.row["method"] == "perfiliev@v1" and found.span.snapshots == 1
    vendor = history.latest("SPX", METHOD, None).row
    assert vendor["method"] == "vendor" and vendor["source"] == "flashalpha"
    assert history.span("SPX", METHOD).snapshots == 1


def test_rows_carry_the_dataset_columns_only(history):
    row = history.latest("SPY", METHOD, None).row
    assert set(row) == set(dataset("snapshots").columns)  # no hive `month` column
    strikes = history.strikes(Key.of(row))
    assert strikes.columns == list(dataset("strikes").columns)


def test_strikes_and_expiries_of_one_snapshot_in_order(history):
    key = Key.of(history.latest("SPY", METHOD, session_close(DAYS[1])).row)
    strikes = history.strikes(key)
    assert strikes.height == 21 and strikes.get_column("strike").is_sorted()
    assert strikes.get_column("as_of").unique().to_list() == [key.as_of]
    expiries = history.expiries(key)
    assert expiries.height == 6 and expiries.get_column("expiration").is_sorted()
    later = Key("SPY", "synthetic", METHOD, key.as_of + timedelta(minutes=1))
    assert history.strikes(later).height == 0


def test_daily_keeps_each_sessions_last_snapshot(history):
    daily = history.daily("SPY", METHOD, None, None)
    assert daily.columns == list(DAILY_COLUMNS)
    assert daily.get_column("trade_date").to_list() == [date.fromisoformat(d) for d in DAYS]
    assert daily.get_column("as_of").to_list()[-1] == session_close(DAYS[-1])
    window = history.daily("SPY", METHOD, date(2024, 3, 5), date(2024, 3, 5))
    assert window.height == 1
    empty = history.daily("SPY", METHOD, date(2030, 1, 1), None)
    assert empty.height == 0 and empty.columns == list(DAILY_COLUMNS)
    assert history.sessions("SPY", METHOD) == [date.fromisoformat(d) for d in DAYS]


def test_alerts_newest_first_filtered(history):
    every = history.alerts(None, METHOD)
    assert every.height == 4 and every.get_column("as_of").is_sorted(descending=True)
    assert history.alerts("SPY", METHOD, limit=1).height == 1
    last = date.fromisoformat(DAYS[-1])
    of_day = history.alerts("SPY", METHOD, day=last)
    assert of_day.height == 2
    known = history.alerts("SPY", METHOD, day=last, until=session_close(DAYS[-1]) - timedelta(1))
    assert known.height == 0
    since = history.alerts("SPY", METHOD, since=session_close(DAYS[1]))
    assert since.height == 3
    assert history.alerts("QQQ", METHOD).height == 0


def test_raw_input_says_why_there_is_none(history, home):
    vendor = history.latest("SPX", METHOD, None).row
    with pytest.raises(WarehouseInputError, match=r"raw/ holds payloads .*, no chain"):
        history.raw_input_path(vendor)
    engine = history.latest("SPY", METHOD, None).row  # written without an archive
    with pytest.raises(WarehouseInputError, match="no raw reference"):
        history.raw_input_path(engine)
    missing = {**engine, "raw_ref": "raw/synthetic/chain/symbol=SPY/20240306/x.parquet"}
    with pytest.raises(WarehouseInputError, match="is missing"):
        history.raw_input_path(missing)


def test_an_empty_home_has_nothing(tmp_path):
    empty = History(tmp_path)
    assert empty.symbols(METHOD) == [] and empty.latest("SPY", METHOD, None) is None
    assert empty.span("SPY", METHOD) is None and empty.sessions("SPY", METHOD) == []
    assert empty.alerts(None, METHOD).height == 0


def test_threads_share_one_history(history):
    expected = history.latest("SPY", METHOD, None).row
    results: list[object] = []

    def read() -> None:
        for _ in range(10):
            row = history.latest("SPY", METHOD, None).row
            results.append(history.strikes(Key.of(row)).height if row == expected else row)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [21] * 60


def test_one_snapshots_strikes_are_read_from_its_day_only(tmp_path):
    lake = Lake(tmp_path)
    for day in DAYS[:2]:
        lake.write_all(synthetic_rows("SPY", session_close(day)))
    [other] = [p for p in lake.files("strikes") if f"day={DAYS[1]}" in str(p)]
    other.write_bytes(b"not parquet")  # read, it would fail the query
    reader = History(tmp_path)
    try:
        found = reader.latest("SPY", METHOD, session_close(DAYS[0]))
        assert found is not None
        strikes = reader.strikes(Key.of(found.row))
        assert strikes.height > 0 and set(strikes.get_column("trade_date")) == {date(2024, 3, 4)}
        assert reader.files("strikes", "SPY", date(2024, 3, 4)) == [
            str(p) for p in lake.files("strikes") if p != other
        ]
    finally:
        reader.close()


def test_files_of_the_older_layout_are_read_by_symbol_folder(tmp_path):
    old = Lake(tmp_path, grains={"snapshots": "symbol_month", "strikes": "symbol_month"})
    for symbol in ("SPY", "QQQ"):
        old.write_all(synthetic_rows(symbol, session_close(DAYS[0])))
    reader = History(tmp_path)
    try:
        assert [f.split("/lake/")[1].split("/")[1] for f in reader.files("strikes", "SPY")] == [
            "symbol=SPY"
        ]
        found = reader.latest("SPY", METHOD, None)
        assert found is not None and reader.strikes(Key.of(found.row)).height > 0
        assert reader.symbols(METHOD) == ["QQQ", "SPY"]
    finally:
        reader.close()
