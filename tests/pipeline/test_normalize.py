"""Payloads to rows: the round trip through the lake and the views, and rejected payloads."""

from __future__ import annotations

import copy

import pytest

from pipeline.normalize import PayloadError, snapshot_rows
from tests.conftest import session_close, synthetic_payloads
from warehouse import catalog
from warehouse.lake import Lake

WHEN = session_close("2024-03-05")


@pytest.fixture(scope="module")
def payloads():
    return synthetic_payloads("SPY", WHEN.replace(hour=14))


def test_round_trip_through_lake_and_views(tmp_path, payloads):
    Lake(tmp_path).write_all(snapshot_rows(payloads, source="synthetic", method="default@v1"))
    row = catalog.query(tmp_path, "SELECT * FROM daily_levels").row(0, named=True)
    summary, levels = payloads["summary"], payloads["levels"]["levels"]
    assert row["net_gex"] == summary["exposures"]["net_gex"]
    assert row["net_dex"] == summary["exposures"]["net_dex"]
    assert row["regime"] == summary["regime"]
    for name, value in levels.items():
        assert row[name] == value, name
    assert row["trade_date"].isoformat() == "2024-03-05"
    assert row["zero_dte_expiration"].isoformat() == "2024-03-05"
    strikes = catalog.query(tmp_path, "SELECT * FROM gex_profile ORDER BY strike")
    assert strikes.get_column("net_gex").to_list() == [
        s["net_gex"] for s in payloads["gex"]["strikes"]
    ]
    assert strikes.get_column("net_vex").to_list() == [
        s["net_vex"] for s in payloads["vex"]["strikes"]
    ]


def test_api_shaped_payloads_with_extra_fields(payloads):
    api = {k: copy.deepcopy(payloads[k]) for k in ("gex", "levels")}
    api["gex"]["as_of"] = "2024-03-05T14:00:00"  # the API sends New York wall time
    api["gex"]["endpoint_version"] = "v1"
    api["gex"]["strikes"][0]["brand_new_field"] = 1
    rows = snapshot_rows(api, source="flashalpha", method="vendor")
    snap = rows["snapshots"].row(0, named=True)
    assert snap["as_of"].isoformat() == "2024-03-05T19:00:00+00:00"
    assert (
        snap["net_dex"] is None and snap["call_wall"] == payloads["levels"]["levels"]["call_wall"]
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("gex", "net_gex"), "gex.net_gex"),
        (("gex", "strikes", 3, "call_gex"), r"gex.strikes\[3\].call_gex"),
        (("levels", "levels", "put_wall"), "levels.levels.put_wall"),
        (("gex", "underlying_price"), "gex.underlying_price"),
    ],
)
def test_a_missing_required_field_rejects_the_snapshot(payloads, path, message):
    broken = copy.deepcopy(dict(payloads))
    target = broken
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    with pytest.raises(PayloadError, match=f"missing required field {message}"):
        snapshot_rows(broken, source="synthetic", method="default@v1")


def test_payloads_of_different_symbols_are_refused(payloads):
    mixed = {**payloads, "levels": {**payloads["levels"], "symbol": "QQQ"}}
    with pytest.raises(PayloadError, match=r"levels\.symbol 'QQQ' is not 'SPY'"):
        snapshot_rows(mixed, source="synthetic", method="default@v1")
