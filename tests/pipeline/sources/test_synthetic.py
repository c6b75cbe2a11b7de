"""The synthetic market is deterministic, cheap to draw, and looks like a listed chain."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time

import numpy as np
import pytest

from pipeline.engine.config import EngineConfig
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sessions import after_close, sessions_between
from pipeline.sources.synthetic import (
    ANCHOR_DAY,
    KNOWN,
    LONG_GAMMA_TILT,
    SyntheticMarket,
    Track,
    _build_track,
    strike_grid,
    weekday_number,
)
from tests.conftest import REPO

WHEN = datetime(2024, 3, 1, 11, 0, tzinfo=NEW_YORK)


def test_same_inputs_same_chain():
    a, b = SyntheticMarket().chain("SPY", WHEN), SyntheticMarket().chain("SPY", WHEN)
    assert a.spot == b.spot and a.frame.equals(b.frame)
    assert not SyntheticMarket(seed=8).chain("SPY", WHEN).frame.equals(a.frame)


def test_chain_shape_and_expirations():
    chain = SyntheticMarket().chain("SPY", WHEN, expiries=10, strikes=21)
    assert chain.frame.height == 10 * 21 * 2
    days = sorted(set(chain.frame.get_column("expiration")))
    assert days[0] == date(2024, 3, 1) and len(days) == 10
    assert (chain.frame.get_column("iv") > 0).all()
    assert (chain.frame.get_column("ask") >= chain.frame.get_column("bid")).all()


def test_spot_path_moves_day_to_day():
    m = SyntheticMarket()
    assert m.spot("SPY", date(2024, 3, 1)) != m.spot("SPY", date(2024, 3, 4))


# -- the per-symbol history: cached, prefix-stable, the same in every process ----------------

_DIGEST = """
import hashlib
from datetime import date
from pipeline.sources.synthetic import SyntheticMarket
m = SyntheticMarket()
h = hashlib.sha256()
for symbol in ("SPY", "ZZZZ"):
    track, _ = m.track(symbol, date(2024, 3, 1))
    for name in ("log_spot", "vols", "positioning", "iv_level"):
        h.update(getattr(track, name).tobytes())
print(h.hexdigest())
"""


def _digest_here() -> str:
    """Return the digest _DIGEST prints, computed in this process."""
    h = hashlib.sha256()
    m = SyntheticMarket()
    for symbol in ("SPY", "ZZZZ"):
        track, _ = m.track(symbol, date(2024, 3, 1))
        for name in ("log_spot", "vols", "positioning", "iv_level"):
            h.update(getattr(track, name).tobytes())
    return h.hexdigest()


def test_history_is_the_same_in_another_process():
    out = subprocess.run(
        [sys.executable, "-c", _DIGEST], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == _digest_here()


def test_a_longer_draw_extends_a_shorter_one():
    market = SyntheticMarket(seed=11)
    short = _build_track(market, "QQQ", weekday_number(ANCHOR_DAY) + 300)
    long = _build_track(market, "QQQ", weekday_number(ANCHOR_DAY) + 5000)
    for name in ("log_spot", "vols", "positioning", "iv_level"):
        values = getattr(short, name)
        assert np.array_equal(values, getattr(long, name)[: values.size]), name


def test_far_future_days_grow_the_history_without_changing_it():
    market = SyntheticMarket(seed=12)
    before = [market.spot("IWM", d) for d in (date(2003, 5, 1), date(2024, 3, 1))]
    assert market.spot("IWM", date(2045, 1, 3)) > 0
    track, n = market.track("IWM", date(2045, 1, 3))
    assert track.size > n
    assert [market.spot("IWM", d) for d in (date(2003, 5, 1), date(2024, 3, 1))] == before


def test_threads_see_whole_histories():
    market = SyntheticMarket(seed=13)  # a fresh cache entry for every thread to race on
    days = sessions_between(date(2001, 1, 2), date(2026, 6, 30))[::97]
    symbols = ["SPY", "QQQ", "AAA", "BBB"]

    def read(symbol: str) -> list[tuple[float, float, float]]:
        return [
            (
                market.spot(symbol, d),
                market.positioning(symbol, d),
                market.step_volatility(symbol, d),
            )
            for d in days
        ]

    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(read, symbols * 4))
    assert all(seen[i] == seen[i % 4] for i in range(len(seen)))


def test_positioning_reads_the_cached_history():
    market = SyntheticMarket()
    day = date(2024, 3, 1)
    track, n = market.track("SPY", day)
    assert isinstance(track, Track) and not track.positioning.flags.writeable
    assert market.positioning("SPY", day) == track.positioning[n]
    assert track.positioning.min() >= -1.0 and track.positioning.max() <= 1.0


def test_weekends_are_the_friday_and_the_start_is_enforced():
    m = SyntheticMarket()
    assert m.spot("SPY", date(2024, 3, 2)) == m.spot("SPY", date(2024, 3, 1))  # Saturday
    assert weekday_number(date(2000, 1, 3)) == 0
    with pytest.raises(InputError, match="starts 2000-01-03"):
        m.spot("SPY", date(1999, 12, 31))


# -- the planted effect: unchanged semantics ---------------------------------------------------


def test_long_gamma_days_have_calmer_next_days():
    market = SyntheticMarket(gamma_vol_ratio=1.6)
    root = math.sqrt(1.6)
    for day in sessions_between(date(2023, 1, 3), date(2023, 3, 31)):
        before = np.busday_offset(np.datetime64(day, "D"), -1, roll="backward").astype(date)
        long_gamma = market.positioning("SPY", before) > LONG_GAMMA_TILT
        expected = 0.18 / root if long_gamma else 0.18 * root
        assert market.step_volatility("SPY", day) == pytest.approx(expected)


def test_ratio_one_switches_the_effect_off():
    market = SyntheticMarket(gamma_vol_ratio=1.0)
    track, _ = market.track("SPY", date(2024, 3, 1))
    assert np.all(track.vols == 0.18)


def test_engine_regime_follows_positioning():
    market = SyntheticMarket()
    days = sessions_between(date(2023, 1, 3), date(2024, 12, 31))[::9]
    agree = 0
    for day in days:
        chain = market.chain("SPY", after_close(day, 15), expiries=8, strikes=41)
        flip = ExposureSnapshot(chain, EngineConfig()).flip.level
        long_gamma = market.positioning("SPY", day) > LONG_GAMMA_TILT
        agree += flip is not None and (chain.spot > flip) == long_gamma
    assert agree >= 0.97 * len(days)


# -- realistic prices ---------------------------------------------------------------------------


def test_known_symbols_close_at_their_real_level_on_the_anchor_day():
    market = SyntheticMarket()
    for symbol, (level, _, _) in KNOWN.items():
        assert market.spot(symbol, ANCHOR_DAY) == pytest.approx(level, abs=0.011), symbol


@pytest.mark.parametrize("symbol", ["TSLA", "NVDA", "SPY", "ZZZZ", "QWERTY"])
def test_prices_stay_realistic_over_the_simulated_years(symbol: str):
    market = SyntheticMarket()
    track, n = market.track(symbol, date(2026, 12, 31))
    closes = np.exp(track.log_spot[: n + 1])
    level = market.spot(symbol, ANCHOR_DAY)
    # The trend grows at most 10% a year; the deviation from it stays within about e^+-0.8.
    assert closes.max() < level * math.exp(0.10 * 3 + 0.8), symbol
    assert closes.min() > level * math.exp(-0.10 * 24 - 0.8), symbol
    assert closes.max() < 50_000 and (symbol != "TSLA" or closes.max() < 1_000)


# -- chains: strikes, sessions, levels ----------------------------------------------------------


def test_strike_grid_is_listed_like():
    ks = strike_grid(472.65, 81)
    assert ks.size == 81 and np.all(np.diff(ks) > 0)
    steps = set(np.round(np.diff(ks), 6))
    assert steps == {1.0, 5.0}  # SPY: $1 near spot, $5 in the wings
    assert ks[0] < 0.85 * 472.65 and ks[-1] > 1.15 * 472.65
    assert strike_grid(0.9, 21)[0] > 0  # a tiny price keeps every strike positive


def test_an_expired_series_is_not_listed():
    market = SyntheticMarket()
    after = market.chain("SPY", datetime(2024, 3, 1, 16, 15, tzinfo=NEW_YORK), expiries=6)
    assert min(after.frame.get_column("expiration")) > date(2024, 3, 1)
    assert after.frame.get_column("expiration").n_unique() == 6


def test_half_day_snapshot_has_no_same_day_expiry_and_no_magnet():
    market = SyntheticMarket()
    day = date(2024, 11, 29)  # closes at 13:00
    chain = market.chain("SPY", after_close(day, 15))
    assert min(chain.frame.get_column("expiration")) > day
    levels = ExposureSnapshot(chain, EngineConfig()).levels()["levels"]
    assert levels["zero_dte_magnet"] is None
    assert levels["gamma_flip"] is not None
    assert abs(levels["gamma_flip"] / chain.spot - 1) < 0.08


def test_intraday_chain_lists_the_day_and_has_a_magnet():
    chain = SyntheticMarket().chain("SPY", datetime(2024, 11, 29, 11, 0, tzinfo=NEW_YORK))
    assert min(chain.frame.get_column("expiration")) == date(2024, 11, 29)
    assert ExposureSnapshot(chain, EngineConfig()).levels()["levels"]["zero_dte_magnet"]


def test_gex_sign_varies_and_dex_is_positive_by_construction():
    market = SyntheticMarket()
    signs = {"gex": set(), "dex": set()}
    for day in sessions_between(date(2022, 1, 3), date(2024, 12, 31))[::23]:
        net = ExposureSnapshot(
            market.chain("QQQ", datetime.combine(day, time(16, 15), NEW_YORK), strikes=41),
            EngineConfig(),
        ).net
        for greek in signs:
            signs[greek].add(int(np.sign(net[greek])))
    assert signs == {"gex": {-1, 1}, "dex": {1}}
