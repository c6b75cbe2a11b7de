"""Payloads: FlashAlpha field names, hand-computed values, filters and invariants."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.chain import Chain
from pipeline.engine.presets import preset
from pipeline.engine.snapshot import PAYLOADS, ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.synthetic import SyntheticMarket
from tests.conftest import make_chain

# Field names of the public flashalpha SDK's response types (flashalpha/types.py, 1.3.0).
SDK_FIELDS = {
    "gex": {
        "symbol",
        "underlying_price",
        "as_of",
        "gamma_flip",
        "gamma_flip_status",
        "net_gex",
        "net_gex_label",
        "strikes",
    },
    "gex_strike": {
        "strike",
        "call_gex",
        "put_gex",
        "net_gex",
        "call_oi",
        "put_oi",
        "call_volume",
        "put_volume",
        "call_oi_change",
        "put_oi_change",
    },
    "dex": {"symbol", "underlying_price", "as_of", "net_dex", "strikes"},
    "vex": {"symbol", "underlying_price", "as_of", "net_vex", "vex_interpretation", "strikes"},
    "chex": {"symbol", "underlying_price", "as_of", "net_chex", "chex_interpretation", "strikes"},
    "levels": {
        "gamma_flip",
        "gamma_flip_status",
        "max_positive_gamma",
        "max_negative_gamma",
        "call_wall",
        "put_wall",
        "highest_oi_strike",
        "zero_dte_magnet",
    },
    "summary": {
        "symbol",
        "underlying_price",
        "as_of",
        "gamma_flip",
        "gamma_flip_status",
        "regime",
        "exposures",
        "interpretation",
        "hedging_estimate",
        "zero_dte",
    },
}
AS_OF = datetime(2024, 3, 1, 16, 15, tzinfo=NEW_YORK)


@pytest.fixture(scope="module")
def synthetic() -> ExposureSnapshot:
    chain = SyntheticMarket().chain("SPY", datetime(2024, 3, 1, 11, 0, tzinfo=NEW_YORK))
    return ExposureSnapshot(chain, preset("default"))


def test_payloads_carry_the_sdk_field_names(synthetic):
    p = synthetic.payloads()
    assert set(p) == set(PAYLOADS)
    assert SDK_FIELDS["gex"] <= set(p["gex"])
    assert SDK_FIELDS["gex_strike"] == set(p["gex"]["strikes"][0])
    for name in ("dex", "vex", "chex"):
        assert SDK_FIELDS[name] <= set(p[name])
        assert set(p[name]["strikes"][0]) == {
            "strike",
            f"call_{name}",
            f"put_{name}",
            f"net_{name}",
        }
    assert SDK_FIELDS["levels"] == set(p["levels"]["levels"])
    assert SDK_FIELDS["summary"] <= set(p["summary"])
    assert set(p["summary"]["exposures"]) == {"net_gex", "net_dex", "net_vex", "net_chex"}
    assert set(p["summary"]["hedging_estimate"]) == {
        "spot_up_half_pct",
        "spot_down_half_pct",
        "spot_up_1pct",
        "spot_down_1pct",
    }
    json.dumps(p, allow_nan=False)  # no NaN or inf anywhere


def test_strikes_are_sorted_and_sum_to_the_headline(synthetic):
    gex = synthetic.gex()
    strikes = [r["strike"] for r in gex["strikes"]]
    assert strikes == sorted(strikes)
    assert sum(r["net_gex"] for r in gex["strikes"]) == pytest.approx(gex["net_gex"], rel=1e-9)
    for r in gex["strikes"]:
        assert r["net_gex"] == pytest.approx(r["call_gex"] + r["put_gex"])


def test_one_contract_matches_a_hand_computation():
    # One call, S=100, K=105, 30 calendar days to the 16:00 close, sigma 20%, r=4%, q=0.
    chain = make_chain(
        [("2024-03-31", 105, "C", 1000, 0.2)],
        spot=100.0,
        as_of=datetime(2024, 3, 1, 16, 0, tzinfo=NEW_YORK),
    )
    t = 30 / 365 - 1 / (365 * 24)  # 2024-03-10 springs forward: 30 days less one hour
    d1 = (math.log(100 / 105) + (0.04 + 0.02) * t) / (0.2 * math.sqrt(t))
    gamma = math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) / (100 * 0.2 * math.sqrt(t))
    delta = 0.5 * math.erfc(-d1 / math.sqrt(2))
    pos = 1000 * 100
    snap = ExposureSnapshot(chain, preset("default"))
    assert snap.gex()["net_gex"] == pytest.approx(pos * gamma * 100**2 * 0.01, rel=1e-12)
    assert snap.dex()["net_dex"] == pytest.approx(pos * delta * 100, rel=1e-12)


def test_dealers_short_puts_give_negative_put_gex():
    snap = ExposureSnapshot(make_chain([("2024-04-19", 95, "P", 100, 0.2)]), preset("default"))
    row = snap.gex()["strikes"][0]
    assert row["put_gex"] < 0 and row["call_gex"] == 0
    short = ExposureSnapshot(make_chain([("2024-04-19", 95, "C", 100, 0.2)]), preset("all_short"))
    assert short.gex()["net_gex"] < 0


def test_oi_change_from_previous_open_interest():
    chain = make_chain(
        [("2024-04-19", 100, "C", 700, 0.2), ("2024-04-19", 100, "P", 300, 0.2)],
        prev_open_interest=[500, None],
    )
    row = ExposureSnapshot(chain, preset("default")).gex()["strikes"][0]
    assert row["call_oi_change"] == 200 and row["put_oi_change"] is None


def test_missing_iv_is_solved_from_the_mid_and_unusable_rows_are_counted():
    from pipeline.engine.greeks import bsm_price

    value = float(bsm_price(100.0, 100.0, 49 / 365, 0.3, 0.04, 0.0, True))
    chain = make_chain(
        [("2024-04-19", 100, "C", 100, None), ("2024-04-19", 90, "P", 50, None)],
        bid=[value - 0.01, None],
        ask=[value + 0.01, None],
    )
    snap = ExposureSnapshot(chain, preset("default"))
    assert snap.book.sigma[0] == pytest.approx(0.3, abs=2e-3)
    assert snap.book.contracts.strike.tolist() == [100.0]
    assert any("no usable IV" in w and "open interest 50" in w for w in snap.gex()["warnings"])


def test_expired_rows_are_dropped_and_counted():
    chain = make_chain([("2024-02-29", 100, "C", 10, 0.2), ("2024-04-19", 100, "C", 10, 0.2)])
    warnings = ExposureSnapshot(chain, preset("default")).gex()["warnings"]
    assert warnings == ["dropped 1 contracts of expired expiries (2024-02-29)"]


def test_hedging_is_symmetric_to_first_order_and_matches_gex():
    # Away from the flip, where the first-order (GEX) term dominates the second-order one:
    # QQQ sits 1.3% below its flip at that moment (SPY, 0.23% from its own, hedges one way
    # both up and down, as it should so near the flip).
    synthetic = ExposureSnapshot(
        SyntheticMarket().chain("QQQ", datetime(2024, 3, 1, 11, 0, tzinfo=NEW_YORK)),
        preset("default"),
    )
    flip, spot = synthetic.levels()["levels"]["gamma_flip"], synthetic.chain.spot
    assert abs(spot / flip - 1) > 0.01
    h = synthetic.summary()["hedging_estimate"]
    up, down = (
        h["spot_up_1pct"]["dealer_shares_to_trade"],
        h["spot_down_1pct"]["dealer_shares_to_trade"],
    )
    assert np.sign(up) == -np.sign(down)
    # GEX ($ per 1%) divided by spot is the linearised share count for a 1% move.
    linear = -synthetic.net["gex"] / synthetic.chain.spot
    assert (up - down) / 2 == pytest.approx(linear, rel=0.05)


def test_regime_follows_spot_against_the_flip(synthetic):
    s = synthetic.summary()
    if s["gamma_flip"] is None:
        expected = "unknown"
    elif s["underlying_price"] >= s["gamma_flip"]:
        expected = "positive_gamma"
    else:
        expected = "negative_gamma"
    assert s["regime"] == expected


def test_min_oi_filters_contracts_and_expiration_filters_rows(synthetic):
    day = synthetic.expiries()["expiries"][3]["expiration"]
    one = synthetic.gex(expiration=day)
    assert one["expiration"] == day
    assert one["net_gex"] == pytest.approx(synthetic.expiries()["expiries"][3]["net_gex"])
    filtered = synthetic.filtered(min_oi=500)
    assert (filtered.book.contracts.open_interest >= 500).all()


def test_every_expiration_sums_to_the_whole_chain(synthetic):
    total = {g: 0.0 for g in ("gex", "dex", "vex", "chex")}
    for row in synthetic.expiries()["expiries"]:
        sub = synthetic.filtered(expiration=row["expiration"])
        for g in total:
            total[g] += sub.net[g]
    for g, value in total.items():
        assert value == pytest.approx(synthetic.net[g], rel=1e-9)


chains = st.lists(
    st.tuples(
        st.sampled_from(["2024-03-08", "2024-03-15", "2024-04-19", "2024-06-21"]),
        st.integers(80, 120),
        st.sampled_from(["C", "P"]),
        st.integers(0, 5000),
        st.floats(0.08, 0.9),
    ),
    min_size=1,
    max_size=30,
)


def scaled(chain: Chain, factor: float, *, strikes: bool) -> Chain:
    frame = chain.frame.with_columns(pl.col("strike") * factor) if strikes else chain.frame
    return Chain(chain.symbol, chain.spot * factor, chain.as_of, frame)


@settings(max_examples=40, deadline=None)
@given(chains, st.floats(0.25, 4.0))
def test_scaling_spot_and_strikes_scales_dollar_exposures_and_levels(rows, factor):
    base = make_chain(rows, as_of=AS_OF)
    cfg = preset("default").with_overrides(rate=0.0)
    a, b = ExposureSnapshot(base, cfg), ExposureSnapshot(scaled(base, factor, strikes=True), cfg)
    for g in ("gex", "dex", "vex", "chex"):
        assert b.net[g] == pytest.approx(a.net[g] * factor, rel=1e-9, abs=1e-6)
    if a.flip.level is not None and b.flip.level is not None:
        assert b.flip.level == pytest.approx(a.flip.level * factor, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(chains, st.floats(0.25, 4.0))
def test_vendor_gamma_gex_scales_with_spot_squared(rows, factor):
    base = make_chain(rows, as_of=AS_OF, gamma=[0.01 + 0.001 * i for i in range(len(rows))])
    cfg = preset("perfiliev")
    a = ExposureSnapshot(base, cfg)
    b = ExposureSnapshot(scaled(base, factor, strikes=False), cfg)
    assert b.net["gex"] == pytest.approx(a.net["gex"] * factor**2, rel=1e-9, abs=1e-6)
