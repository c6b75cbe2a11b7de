"""Alerts between two snapshots: flip crosses, GEX sign, entering a wall's band, walls moving."""

from __future__ import annotations

import itertools

import pytest

from flows.alerts import AlertRules, derive_alerts
from flows.settings import example_toml, load_settings
from pipeline.errors import InputError

BASE = {
    "symbol": "SPY",
    "source": "t",
    "method": "default@v1",
    "as_of": 1,
    "trade_date": 1,
    "underlying_price": 500.0,
    "gamma_flip": 495.0,
    "net_gex": 1e9,
    "call_wall": 520.0,
    "put_wall": 480.0,
}


#: The rules these cases were written for (not the defaults, which may be tuned).
RULES = AlertRules(wall_pct=0.5, wall_move_pct=1.0)


def kinds(previous, current, rules=RULES):
    return [a["kind"] for a in derive_alerts(previous, current, rules)]


def test_nothing_changed():
    assert kinds(BASE, BASE) == []


def test_flip_cross_and_gex_sign():
    down = {**BASE, "underlying_price": 490.0, "net_gex": -2e8}
    assert kinds(BASE, down) == ["flip_cross_down", "gex_sign_flip"]
    assert kinds(down, BASE) == ["flip_cross_up", "gex_sign_flip"]


def test_walls_near_and_moved():
    near = {**BASE, "underlying_price": 518.0, "gamma_flip": 495.0, "put_wall": 490.0}
    assert kinds(BASE, near) == ["near_call_wall", "put_wall_moved"]
    assert kinds(None, near) == ["near_call_wall"]  # first snapshot: nothing to compare


def test_missing_flip_raises_no_cross():
    assert kinds({**BASE, "gamma_flip": None}, {**BASE, "underlying_price": 490.0}) == []


def test_near_wall_fires_on_entering_the_band_not_while_inside_it():
    inside = {**BASE, "underlying_price": 518.0}  # 0.39% below the 520 call wall
    deeper = {**BASE, "underlying_price": 519.5}
    assert kinds(BASE, inside) == ["near_call_wall"]  # entered
    assert kinds(inside, deeper) == []  # stayed in: nothing new
    assert kinds(deeper, BASE) == []  # left
    assert kinds(BASE, deeper) == ["near_call_wall"]  # entered again


def test_near_wall_fires_when_the_previous_snapshot_had_no_wall():
    inside = {**BASE, "underlying_price": 481.0}  # 0.21% above the 480 put wall
    assert kinds({**BASE, "underlying_price": 481.0, "put_wall": None}, inside) == ["near_put_wall"]


def test_a_wall_that_moves_onto_spot_counts_as_entering():
    before = {**BASE, "underlying_price": 518.0, "call_wall": 530.0}  # 2.3% away
    after = {**BASE, "underlying_price": 518.0, "call_wall": 520.0}
    assert kinds(before, after, AlertRules(wall_pct=0.5, wall_move_pct=5.0)) == ["near_call_wall"]


@pytest.mark.parametrize(
    ("new_wall", "threshold", "expected"),
    [
        (521.0, 0.0, ["call_wall_moved"]),  # 0: any change of strike
        (521.0, 1.0, []),  # 0.19% of 520: noise under a 1% threshold
        (525.0, 1.0, []),  # 0.96%
        (530.0, 1.0, ["call_wall_moved"]),  # 1.92%
        (515.0, 1.0, []),  # down 0.96%
        (510.0, 1.0, ["call_wall_moved"]),  # down 1.92%
        (530.0, 2.0, []),
    ],
)
def test_wall_moved_needs_more_than_the_threshold(new_wall, threshold, expected):
    moved = {**BASE, "call_wall": new_wall}
    assert kinds(BASE, moved, AlertRules(wall_move_pct=threshold)) == expected


def test_wall_moved_message_says_by_how_much():
    moved = {**BASE, "put_wall": 470.0}
    (alert,) = derive_alerts(BASE, moved, AlertRules(wall_move_pct=1.0))
    assert alert["message"] == "SPY: put wall moved 480.00 -> 470.00 (-2.1%)"
    assert alert["level"] == 470.0


def test_rules_come_from_the_settings_file_then_the_environment(tmp_path):
    (tmp_path / "gammalake.toml").write_text("wall_alert_pct = 0.8\nwall_move_pct = 2.5\n")
    settings = load_settings(tmp_path, environ={})
    assert settings.alert_rules() == AlertRules(wall_pct=0.8, wall_move_pct=2.5)
    settings = load_settings(tmp_path, environ={"GAMMALAKE_WALL_MOVE_PCT": "0"})
    assert settings.alert_rules() == AlertRules(wall_pct=0.8, wall_move_pct=0.0)


def test_default_rules_and_the_example_file_show_every_threshold(tmp_path):
    assert load_settings(tmp_path, environ={}).alert_rules() == AlertRules(0.15, 2.5)
    assert "wall_alert_pct = 0.15\nwall_move_pct = 2.5\n" in example_toml()


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"GAMMALAKE_WALL_MOVE_PCT": "-1"}, "setting wall_move_pct: -1.0 must be a percent"),
        ({"GAMMALAKE_WALL_ALERT_PCT": "nan"}, "setting wall_alert_pct: nan must be a percent"),
        ({"GAMMALAKE_WALL_MOVE_PCT": "lots"}, "setting wall_move_pct: 'lots' is not a valid"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_setting(tmp_path, environ, match):
    with pytest.raises(InputError, match=match):
        load_settings(tmp_path, environ=environ)


def test_rebuild_re_derives_stored_alerts_under_the_rules_it_is_given(tmp_path):
    from flows.capture import Pricing
    from flows.rebuild import rebuild_from_raw
    from flows.store import store_chain
    from pipeline.engine.presets import preset
    from pipeline.sources.synthetic import SyntheticMarket
    from tests.conftest import session_close
    from warehouse.lake import Lake

    pricing = Pricing(preset("default"))
    for day in ("2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"):
        chain = SyntheticMarket().chain("SPY", session_close(day), expiries=4, strikes=15)
        store_chain(tmp_path, chain, pricing, source="synthetic")
    lake = Lake(tmp_path)
    rows = lake.read("snapshots").sort("as_of").to_dicts()
    counts = []
    for rules in (AlertRules(wall_pct=5.0, wall_move_pct=0.0), AlertRules(0.0, 50.0)):
        rebuild_from_raw(tmp_path, pricing, rules=rules)
        expected = [derive_alerts(None, rows[0], rules)]
        expected += [derive_alerts(a, b, rules) for a, b in itertools.pairwise(rows)]
        stored = lake.read("alerts") if "alerts" in lake.datasets() else None
        found = [] if stored is None else sorted(stored.get_column("kind").to_list())
        assert found == sorted(a["kind"] for alerts in expected for a in alerts)
        counts.append(len(found))
    # A wide band and any move alert; then no band and no move big enough: all of them go.
    assert counts[0] > 0 and counts[1] == 0
