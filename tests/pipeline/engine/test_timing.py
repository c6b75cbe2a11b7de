"""Time to expiry: calendar and business-day bases, DST, expired and same-day expiries."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from pipeline.engine.presets import preset
from pipeline.engine.timing import NEW_YORK, expiry_clock


def days(*isos: str) -> np.ndarray:
    return np.array(isos, dtype="datetime64[D]")


def test_calendar_years_run_to_the_new_york_close_across_dst():
    # 2024-03-08 16:00 EST to 2024-03-11 16:00 EDT is 71 hours, not 72 (clocks spring forward).
    as_of = datetime(2024, 3, 8, 16, 0, tzinfo=NEW_YORK)
    clock = expiry_clock(days("2024-03-11"), as_of, preset("default"))
    assert clock.years[0] == pytest.approx(71 / (365 * 24), rel=1e-12)


def test_expired_and_same_day_expiries():
    as_of = datetime(2024, 1, 5, 15, 0, tzinfo=NEW_YORK)
    clock = expiry_clock(days("2024-01-04", "2024-01-05", "2024-01-08"), as_of, preset("default"))
    assert clock.expired.tolist() == [True, False, False]
    assert clock.same_day.tolist() == [False, True, False]
    assert np.isnan(clock.years[0])
    assert clock.years[1] == pytest.approx(1 / (365 * 24))


def test_after_the_close_the_same_day_expiry_is_expired():
    as_of = datetime(2024, 1, 5, 16, 15, tzinfo=NEW_YORK)
    clock = expiry_clock(days("2024-01-05"), as_of, preset("default"))
    assert clock.expired.tolist() == [True]
    assert not clock.same_day.any()


def test_business_days_count_weekdays_and_zero_becomes_one_day():
    cfg = preset("perfiliev")
    sunday = datetime(2024, 1, 7, 10, 52, tzinfo=NEW_YORK)
    clock = expiry_clock(days("2024-01-05", "2024-01-08", "2024-01-12"), sunday, cfg)
    # Friday before a Sunday is expired (numpy's busday_count alone would say 0 days).
    assert clock.expired.tolist() == [True, False, False]
    # End-exclusive weekday counts, as the script: Sun -> Mon is 0 (one day), Sun -> Fri is 4.
    np.testing.assert_allclose(clock.years[1:], [1 / 262, 4 / 262])


def test_zero_dte_drop_removes_zero_business_day_expiries():
    cfg = preset("perfiliev").with_overrides(zero_dte="drop")
    saturday = datetime(2022, 2, 5, 20, 26, tzinfo=NEW_YORK)
    clock = expiry_clock(days("2022-02-07", "2022-02-08"), saturday, cfg)
    assert clock.dropped_zero_dte.tolist() == [True, False]
    assert np.isnan(clock.years[0]) and clock.years[1] == pytest.approx(1 / 262)


def test_am_settled_roots_expire_at_the_open_from_engine_v2():
    from pipeline.engine.book import build_book
    from pipeline.engine.method import config_of, method_of
    from tests.conftest import make_chain

    thursday = datetime(2024, 3, 14, 16, 15, tzinfo=NEW_YORK)  # the day before March's SPX AM
    chain = make_chain(
        [("2024-03-15", 5000.0, "C", 100, 0.15), ("2024-03-15", 5000.0, "C", 100, 0.15)],
        spot=5000.0,
        as_of=thursday,
        symbol="SPX",
        contract=["SPX   240315C05000000", "SPXW240315C05000000"],
    )
    am = preset("default")
    years = build_book(chain, am).years
    year = 365.0 * 86400.0
    opening = datetime(2024, 3, 15, 9, 30, tzinfo=NEW_YORK).timestamp()
    closing = datetime(2024, 3, 15, 16, 0, tzinfo=NEW_YORK).timestamp()
    assert years[0] == (opening - thursday.timestamp()) / year  # SPX monthly: to the open
    assert years[1] == (closing - thursday.timestamp()) / year  # SPXW weekly: to the close
    off = preset("default").with_overrides(am_settlement=False)
    plain = build_book(chain, off).years
    assert plain[0] == plain[1] == years[1]  # off: every contract to the close
    assert method_of(am) == "default@v2"
    assert method_of(off) == "default+am_settlement=false@v2"
    assert config_of(method_of(off)) == off
    v1 = build_book(chain, preset("default", 1)).years
    assert v1[0] == v1[1] == years[1]  # engine v1 had no AM settlement
    assert method_of(preset("default", 1)) == "default@v1"
    assert config_of("default+am_settlement=true@v1") == preset("default", 1).with_overrides(
        am_settlement=True
    )


def test_v2_values_a_half_day_expiry_to_the_1300_close():
    # Fri 2023-11-24, the day after Thanksgiving: NYSE closes at 13:00.
    day = days("2023-11-24")
    noon = datetime(2023, 11, 24, 12, 0, tzinfo=NEW_YORK)
    v2 = expiry_clock(day, noon, preset("default"))
    assert v2.years[0] == pytest.approx(1 / (365 * 24), rel=1e-12)  # one hour to 13:00
    v1 = expiry_clock(day, noon, preset("default", 1))
    assert v1.years[0] == pytest.approx(4 / (365 * 24), rel=1e-12)  # v1: four hours to 16:00
    after = datetime(2023, 11, 24, 13, 30, tzinfo=NEW_YORK)
    assert expiry_clock(day, after, preset("default")).expired.tolist() == [True]
    assert expiry_clock(day, after, preset("default", 1)).expired.tolist() == [False]


def test_a_full_day_expiry_still_runs_to_1600_in_v2():
    monday = datetime(2023, 11, 27, 10, 0, tzinfo=NEW_YORK)
    v2 = expiry_clock(days("2023-11-27"), monday, preset("default"))
    assert v2.years[0] == pytest.approx(6 / (365 * 24), rel=1e-12)


def test_an_am_settled_contract_is_gone_after_the_open_of_its_day_by_business_days():
    config = preset("perfiliev").with_overrides(am_settlement=True)
    days = np.array(["2024-03-15", "2024-03-15"], dtype="datetime64[D]")
    friday_noon = datetime(2024, 3, 15, 12, 0, tzinfo=NEW_YORK)
    clock = expiry_clock(days, friday_noon, config, np.array([True, False]))
    assert clock.expired.tolist() == [True, False]
    before_open = datetime(2024, 3, 15, 9, 0, tzinfo=NEW_YORK)
    assert expiry_clock(days, before_open, config, np.array([True, False])).expired.tolist() == [
        False,
        False,
    ]
