"""Key levels on hand-made chains: walls, ties, max gamma strikes, highest OI, 0DTE magnet."""

from __future__ import annotations

from datetime import datetime

from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from tests.conftest import make_chain


def levels(chain):
    return ExposureSnapshot(chain, preset("default")).levels()["levels"]


def test_walls_are_the_largest_call_and_put_gex_strikes():
    lv = levels(
        make_chain(
            [
                ("2024-04-19", 95, "P", 9000, 0.2),
                ("2024-04-19", 90, "P", 1000, 0.2),
                ("2024-04-19", 105, "C", 8000, 0.2),
                ("2024-04-19", 110, "C", 1000, 0.2),
            ]
        )
    )
    assert lv["call_wall"] == 105.0 and lv["put_wall"] == 95.0
    assert lv["max_positive_gamma"] == 105.0 and lv["max_negative_gamma"] == 95.0
    assert lv["highest_oi_strike"] == 95.0


def test_ties_go_to_the_strike_nearest_spot():
    # Same OI and vol at 96 and 104 around spot 100 give equal |GEX|... up to strike effects,
    # so compare highest OI, whose scores tie exactly.
    lv = levels(
        make_chain(
            [
                ("2024-04-19", 90, "C", 500, 0.2),
                ("2024-04-19", 101, "C", 500, 0.2),
                ("2024-04-19", 120, "P", 500, 0.2),
            ],
            spot=100.0,
        )
    )
    assert lv["highest_oi_strike"] == 101.0


def test_zero_dte_magnet_only_with_a_same_day_expiry():
    morning = datetime(2024, 3, 1, 10, 0, tzinfo=NEW_YORK)
    rows = [("2024-03-01", k, "C", 2000, 0.15) for k in (95, 100, 101, 110)]
    rows += [("2024-03-15", 100, "C", 50000, 0.2)]
    lv = levels(make_chain(rows, as_of=morning, spot=100.4))
    assert lv["zero_dte_magnet"] in (100.0, 101.0)
    assert lv["highest_oi_strike"] == 100.0
    no_same_day = levels(make_chain(rows[-1:], as_of=morning))
    assert no_same_day["zero_dte_magnet"] is None


def test_magnet_prefers_a_big_near_strike_to_a_bigger_far_one():
    morning = datetime(2024, 3, 1, 10, 0, tzinfo=NEW_YORK)
    rows = [("2024-03-01", 100, "C", 3000, 0.15), ("2024-03-01", 108, "C", 9000, 0.15)]
    assert levels(make_chain(rows, as_of=morning))["zero_dte_magnet"] == 100.0


def test_empty_sides_give_no_levels():
    lv = levels(make_chain([("2024-04-19", 100, "C", 0, 0.2)]))
    assert lv["call_wall"] is None and lv["put_wall"] is None
    assert lv["max_positive_gamma"] is None and lv["gamma_flip"] is None
    assert lv["gamma_flip_status"] == "no_exposure"
