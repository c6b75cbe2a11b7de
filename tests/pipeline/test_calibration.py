"""Calibration statistics: checked by hand on small chains, then the synthetic market measured
against the 18 real CBOE chains in ../shared/refdata (docs/methodology.md has the table)."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, time, timedelta

import numpy as np
import pytest

from pipeline.engine.calibration import (
    SIGNED,
    STATISTICS,
    ChainStats,
    calibration_table,
    measure,
    ranges,
    sign_mix,
)
from pipeline.engine.config import EngineConfig
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.sessions import sessions_between
from pipeline.sources.chains import read_chain
from pipeline.sources.synthetic import SyntheticMarket
from tests.conftest import REFDATA, make_chain

AS_OF = datetime(2024, 3, 1, 16, 15, tzinfo=NEW_YORK)


def _expiry(days: int) -> str:
    """Return the ISO date `days` calendar days after AS_OF."""
    return (AS_OF.date() + timedelta(days=days)).isoformat()


def _otm_rows(days: int, iv_at: dict[float, float]) -> list[tuple[str, float, str, int, float]]:
    """Return out-of-the-money rows (puts below 100, calls from 100) with the given IVs."""
    return [(_expiry(days), k, "P" if k < 100 else "C", 100, iv) for k, iv in sorted(iv_at.items())]


# -- by hand ------------------------------------------------------------------------------------


def test_walls_and_flip_are_percent_of_spot():
    chain = make_chain([(_expiry(30), 105.0, "C", 1000, 0.2), (_expiry(30), 95.0, "P", 1000, 0.2)])
    stats = measure(chain)
    assert stats.call_wall_distance == pytest.approx(5.0)
    assert stats.put_wall_distance == pytest.approx(-5.0)
    flip = ExposureSnapshot(chain, EngineConfig()).flip.level
    assert stats.flip_distance == pytest.approx(flip - 100.0)  # spot 100: points are percent


def test_net_gex_is_scaled_by_spot_squared_and_open_interest_times_spot():
    chain = make_chain(
        [(_expiry(30), 100.0, "C", 300, 0.2), (_expiry(30), 100.0, "P", 100, 0.2)], spot=100.0
    )
    net = ExposureSnapshot(chain, EngineConfig()).net["gex"]
    assert measure(chain).net_gex_scaled == pytest.approx(net / (100.0**2 * 400) * 100.0)


def test_zero_dte_and_front_week_shares_of_gross_gamma():
    intraday = datetime(2024, 3, 1, 11, 0, tzinfo=NEW_YORK)
    rows = [
        ("2024-03-01", 100.0, "C", 100, 0.2),
        ("2024-03-05", 100.0, "C", 100, 0.2),
        ("2024-06-21", 100.0, "P", 100, 0.2),
    ]
    book = ExposureSnapshot(make_chain(rows, as_of=intraday), EngineConfig()).book
    gross = np.abs(book.gex)
    stats = measure(make_chain(rows, as_of=intraday))
    assert stats.zero_dte_share == pytest.approx(100 * gross[0] / gross.sum())
    assert stats.front_week_share == pytest.approx(100 * gross[:2].sum() / gross.sum())
    assert measure(make_chain(rows[1:])).zero_dte_share == 0.0  # no same-day expiry


def test_smile_and_term_shape_from_out_of_the_money_ivs():
    smile = {k: 0.20 - 0.5 * (k / 100.0 - 1.0) for k in np.arange(80.0, 121.0, 1.0)}
    rows = _otm_rows(30, smile) + _otm_rows(7, dict.fromkeys(smile, 0.15))
    rows += _otm_rows(91, dict.fromkeys(smile, 0.20))
    stats = measure(make_chain(rows))
    assert stats.atm_iv == pytest.approx(20.0)
    assert (stats.skew_90, stats.skew_95) == pytest.approx((5.0, 2.5))
    assert (stats.skew_105, stats.skew_110) == pytest.approx((-2.5, -5.0))
    assert stats.term_ratio == pytest.approx(0.75)


def test_statistics_outside_the_quoted_strikes_are_missing():
    stats = measure(make_chain(_otm_rows(30, {98.0: 0.2, 100.0: 0.2, 102.0: 0.2})))
    assert stats.skew_90 is None and stats.skew_110 is None
    assert stats.atm_iv == pytest.approx(20.0)


def test_dex_is_positive_whatever_the_open_interest():
    # Dealers long calls (delta > 0) and short puts (delta < 0): every contract adds DEX > 0.
    rng = np.random.default_rng(3)
    for _ in range(20):
        rows = [
            (_expiry(int(d)), float(k), right, int(oi), float(iv))
            for d, k, right, oi, iv in zip(
                rng.integers(1, 400, 12),
                rng.uniform(50, 150, 12),
                rng.choice(["C", "P"], 12),
                rng.integers(1, 10_000, 12),
                rng.uniform(0.1, 0.6, 12),
                strict=True,
            )
        ]
        assert measure(make_chain(rows)).signs["dex"] == 1


def _stats(symbol: str, **values: float | None) -> ChainStats:
    """Return ChainStats with the given statistics (others None) and signs all positive."""
    fields = dict.fromkeys(STATISTICS) | values
    return ChainStats(symbol=symbol, spot=100.0, signs=dict.fromkeys(SIGNED, 1), **fields)


def test_ranges_mix_and_table():
    a, b = _stats("A", flip_distance=-1.0), _stats("B", flip_distance=3.0)
    b.signs["chex"] = -1
    assert ranges([a, b])["flip_distance"] == (-1.0, 3.0)
    assert ranges([a, b])["atm_iv"] is None
    assert sign_mix([a, b]) == {"gex": 1.0, "dex": 1.0, "vex": 1.0, "chex": 0.5}
    table = calibration_table([a, b], [a])
    assert "| gamma flip - spot, % of spot | -1 .. 3 | -1 / -1 / -1 / -1 / -1 |" in table
    assert "| net CHEX > 0, share of chains | 50% (2 chains) | 100% (1 chains) |" in table


# -- the synthetic market against the real chains -----------------------------------------------

#: Allowed excess beyond the real chains' [min, max], per statistic, in its own unit (percent
#: points of spot, vol points, or a ratio). Eighteen chains, mostly SPX in 2022-2024, do not
#: span every market a simulation spends twenty years in; at least SHARE_INSIDE of the
#: synthetic chains must fall within these widened ranges, and every synthetic median within
#: the real range itself.
TOLERANCE = {
    "flip_distance": 1.0,
    "net_gex_scaled": 0.3,
    "zero_dte_share": 10.0,
    "front_week_share": 5.0,
    "call_wall_distance": 1.0,
    "put_wall_distance": 1.0,
    "skew_90": 1.5,
    "skew_95": 1.5,
    "skew_105": 1.5,
    "skew_110": 1.5,
    "atm_iv": 3.0,
    "term_ratio": 0.1,
}
SHARE_INSIDE = 0.9
SYMBOLS = ("SPY", "QQQ", "IWM", "SPX")


@pytest.fixture(scope="module")
def real() -> list[ChainStats]:
    """Return the statistics of the 18 CBOE chains in ../shared/refdata (skip when absent)."""
    if not REFDATA.is_dir():
        pytest.skip(f"reference data not found at {REFDATA} (needs ../shared beside the repo)")
    files = sorted(REFDATA.rglob("*quotedata.csv"))
    assert len(files) == 18
    return [measure(read_chain(path)) for path in files]


@pytest.fixture(scope="module")
def synthetic() -> list[ChainStats]:
    """Return statistics of full-size synthetic chains: after the close and at noon."""
    market = SyntheticMarket()
    days = sessions_between(date(2008, 1, 2), date(2025, 12, 31))
    moments = [datetime.combine(d, time(16, 15), NEW_YORK) for d in days[::331]]
    moments += [datetime.combine(d, time(12, 0), NEW_YORK) for d in days[150::1100]]
    return [measure(market.chain(s, m)) for s in SYMBOLS for m in moments]


def _values(stats: list[ChainStats], name: str) -> list[float]:
    """Return the measured values of one statistic."""
    return [v for s in stats if (v := s.values()[name]) is not None]


@pytest.mark.refdata
@pytest.mark.parametrize("name", list(STATISTICS))
def test_synthetic_statistics_fall_in_the_real_range(
    real: list[ChainStats], synthetic: list[ChainStats], name: str
) -> None:
    span = ranges(real)[name]
    assert span is not None
    low, high = span
    found = _values(synthetic, name)
    assert len(found) >= 0.9 * len(synthetic), f"{name} missing on too many synthetic chains"
    assert low <= statistics.median(found) <= high, (name, span, statistics.median(found))
    tol = TOLERANCE[name]
    inside = sum(low - tol <= v <= high + tol for v in found) / len(found)
    assert inside >= SHARE_INSIDE, (name, span, sorted(found))


@pytest.mark.refdata
def test_every_chain_has_a_flip(real: list[ChainStats], synthetic: list[ChainStats]) -> None:
    assert all(s.flip_distance is not None for s in real)
    assert all(s.flip_distance is not None for s in synthetic)


def _wilson(hits: int, n: int) -> tuple[float, float]:
    """Return the 95% Wilson interval of a share hits / n."""
    z, p = 1.96, hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.refdata
def test_sign_mix_matches_the_real_chains(
    real: list[ChainStats], synthetic: list[ChainStats]
) -> None:
    # Real: net GEX > 0 on 10 of 18, DEX and VEX > 0 on all, CHEX > 0 on none. The synthetic
    # share of each must lie in the 95% interval of the real one.
    mix_real, mix_synthetic = sign_mix(real), sign_mix(synthetic)
    for greek in SIGNED:
        low, high = _wilson(round(mix_real[greek] * len(real)), len(real))
        assert low <= mix_synthetic[greek] <= high, (greek, mix_real, mix_synthetic)
