"""Gamma flip methods on hand-made books."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.engine.config import FlipConfig
from pipeline.engine.exposures import StrikeTable
from pipeline.engine.flip import GammaProfile, strike_flip
from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from tests.conftest import make_chain


def table(strikes: list[float], net: list[float]) -> StrikeTable:
    zeros = np.zeros(len(strikes))
    return StrikeTable(
        strike=np.array(strikes),
        exposure={("call", "gex"): np.array(net), ("put", "gex"): zeros},
        oi={"call": zeros, "put": zeros},
        volume={"call": zeros, "put": zeros},
        oi_change={"call": zeros, "put": zeros},
    )


def test_cumulative_flip_interpolates_the_running_sum():
    # Running sum -1, -2, +1: zero two thirds of the way from 100 to 110.
    flip = strike_flip(table([90, 100, 110], [-1, -1, 3]), 100.0, FlipConfig(), "cumulative")
    assert flip.level == pytest.approx(100 + 10 * 2 / 3)
    assert flip.status == "available"


def test_adjacent_flip_interpolates_between_neighbouring_strikes():
    flip = strike_flip(table([90, 100, 110], [-1, -1, 3]), 100.0, FlipConfig(), "adjacent")
    assert flip.level == pytest.approx(102.5)


def test_cumulative_flip_far_in_the_wings_is_outside_the_range():
    # A running sum that only crosses zero at 30% of spot: no flip in [0.8 S, 1.2 S].
    flip = strike_flip(table([20, 40, 100], [-1, 2, 1]), 100.0, FlipConfig(), "cumulative")
    assert flip.level is None and flip.status == "no_boundary"


def test_nearest_and_first_crossings_differ():
    t = table([85, 95, 105, 115], [1, -1, 1, 1])
    nearest = strike_flip(t, 104.0, FlipConfig(), "adjacent")
    first = strike_flip(t, 104.0, FlipConfig(pick="first"), "adjacent")
    assert nearest.level == pytest.approx(100.0) and first.level == pytest.approx(90.0)
    assert nearest.crossings == first.crossings == [pytest.approx(90.0), pytest.approx(100.0)]


def two_sided_chain():
    # Puts below spot (negative GEX under dealers short puts), calls above: one flip between.
    return make_chain(
        [("2024-04-19", 90, "P", 5000, 0.25), ("2024-04-19", 110, "C", 5000, 0.18)], spot=100.0
    )


def test_profile_flip_is_a_root_of_the_repriced_profile():
    snap = ExposureSnapshot(two_sided_chain(), preset("default"))
    flip = snap.flip
    profile = GammaProfile(snap.book)
    assert flip.status == "available" and 90 < flip.level < 110
    scale = np.abs(profile(np.array([90.0, 110.0]))).max()
    assert abs(profile(np.array([flip.level]))[0]) < 1e-9 * scale


def test_no_flip_when_the_profile_never_crosses():
    chain = make_chain([("2024-04-19", 100, "C", 100, 0.2)])
    flip = ExposureSnapshot(chain, preset("default")).flip
    assert flip.level is None and flip.status == "no_boundary"


def test_profile_slope_matches_a_finite_difference():
    profile = GammaProfile(ExposureSnapshot(two_sided_chain(), preset("default")).book)
    x = np.array([97.0, 101.0, 104.0])
    h = 1e-4
    _, slope = profile.with_slope(x)
    fd = (profile(x + h) - profile(x - h)) / (2 * h)
    np.testing.assert_allclose(slope, fd, rtol=1e-6)
