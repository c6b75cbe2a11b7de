"""Engine v2 on real SPX chains re-dated to a half day and to an AM-settlement Friday.

Each v2 figure is checked against something independent of the v2 code path: hours counted by
hand, a Black-Scholes gamma written out here with scipy, or the v1 engine on the same chain with
exactly the contracts v2 must treat as expired taken out (every other expiry is a full-day
expiry, where v1 and v2 agree to the last bit).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from pipeline.chain import Chain
from pipeline.engine.book import build_book
from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.formats.quotedata import read_cboe

HOUR = 1 / (365 * 24)
V1, V2 = preset("default", 1), preset("default")
#: Engine v1 with AM settlement asked for: v2 differs from it only on half days and in what it
#: drops (a contract past its expiry moment).
V1_AM = V1.with_overrides(am_settlement=True)


def redated(chain: Chain, when: datetime, days: int = 0) -> Chain:
    """Return the chain stamped `when`, its expirations moved by `days`."""
    frame = chain.frame.with_columns(pl.col("expiration") + pl.duration(days=days))
    return Chain(chain.symbol, chain.spot, when, frame, origin=chain.origin)


def without(chain: Chain, keep: pl.Expr) -> Chain:
    """Return the chain with only the rows `keep` selects."""
    return Chain(chain.symbol, chain.spot, chain.as_of, chain.frame.filter(keep), chain.origin)


def headline(chain: Chain, config: object) -> dict[str, object]:
    """Return the figures a stored snapshot row keeps, rounded for comparison."""
    snap = ExposureSnapshot(chain, config)  # type: ignore[arg-type]
    levels = snap.levels()["levels"]
    exposures = snap.summary()["exposures"]
    return {
        "net_gex": exposures["net_gex"],
        "net_chex": exposures["net_chex"],
        "gamma_flip": levels["gamma_flip"],
        "call_wall": levels["call_wall"],
        "put_wall": levels["put_wall"],
        "zero_dte_magnet": levels["zero_dte_magnet"],
    }


@pytest.fixture
def half_day(refdata: Path) -> Chain:
    """SPX of Tue 2022-07-12 11:55 (with a same-day SPXW expiry) moved to Tue 2024-12-24.

    896 days is 128 weeks, so every expiration keeps its weekday. 2024-12-24 closes at 13:00.
    """
    chain = read_cboe(refdata / "nickkxsper-index-gamma/spx_quotedata.csv")
    assert chain.as_of == datetime(2022, 7, 12, 11, 55, tzinfo=NEW_YORK)
    return redated(chain, datetime(2024, 12, 24, 11, 55, tzinfo=NEW_YORK), 896)


@pytest.fixture
def expiry_thursday(refdata: Path) -> Chain:
    """SPX of Thu 2023-09-14 16:31: September's AM-settled SPX monthly expires Fri 09:30."""
    return read_cboe(refdata / "carlosjimenezdiaz-gex-python/spx_quotedata.csv")


TODAY = pl.col("expiration") == pl.date(2024, 12, 24)


def full_days(chain: Chain) -> pl.Expr:
    """Return a filter keeping contracts whose expiration is not an NYSE half day.

    Both chains list later expiries that fall on half days (2025-07-03, 2023-11-24): v2 values
    those to 13:00 as well, so comparisons with v1 leave them out.
    """
    from pipeline.sessions import close_times

    dates = sorted(set(chain.frame.get_column("expiration").to_list()))
    half = [d for d, c in zip(dates, close_times(dates), strict=True) if c.hour == 13]
    return ~pl.col("expiration").is_in(half)


#: September 2023's AM-settled SPX monthly (SPXW weeklies of the same day settle at the close).
SEPT_AM = pl.col("contract").str.starts_with("SPX2") & (
    pl.col("expiration") == pl.date(2023, 9, 15)
)


def test_a_half_day_expiry_runs_to_the_1300_close(half_day: Chain) -> None:
    same_day = half_day.frame.get_column("expiration").to_numpy() == np.datetime64("2024-12-24")
    assert same_day.any()
    for config, hours in ((V2, 65 / 60), (V1, 245 / 60)):
        book = build_book(half_day, config)
        expiring = book.contracts.expiration == np.datetime64("2024-12-24")
        np.testing.assert_allclose(book.years[expiring], hours * HOUR, rtol=1e-12)


def test_same_day_gex_matches_black_scholes_written_out(half_day: Chain) -> None:
    priced = without(half_day, TODAY & (pl.col("iv") > 0) & (pl.col("open_interest") > 0))
    frame = priced.frame
    s, t = priced.spot, 65 / 60 * HOUR  # 11:55 to the 13:00 close, r = 0.04, q = 0
    k, iv = frame.get_column("strike").to_numpy(), frame.get_column("iv").to_numpy()
    d1 = (np.log(s / k) + (0.04 + iv**2 / 2) * t) / (iv * np.sqrt(t))
    gamma = norm.pdf(d1) / (s * iv * np.sqrt(t))
    sign = np.where(frame.get_column("right").to_numpy() == "C", 1.0, -1.0)
    oi = frame.get_column("open_interest").to_numpy()
    expected = float(np.sum(sign * oi * 100 * gamma * s * s * 0.01))
    got = ExposureSnapshot(priced, V2).summary()["exposures"]["net_gex"]
    assert got == pytest.approx(expected, rel=1e-9)
    v1 = ExposureSnapshot(priced, V1).summary()["exposures"]["net_gex"]
    assert abs(v1) < 0.8 * abs(got)  # v1 left 4 h 05 min, not 1 h 05: gamma understated


def test_after_a_half_day_close_its_expiry_is_gone(half_day: Chain) -> None:
    late = redated(half_day, datetime(2024, 12, 24, 13, 30, tzinfo=NEW_YORK))
    v2 = headline(late, V2)
    assert v2["zero_dte_magnet"] is None  # no magnet from a series that stopped trading
    assert headline(late, V1)["zero_dte_magnet"] == 3855.0  # v1: still live until 16:00
    book = build_book(late, V2)
    assert any("2024-12-24" in w for w in book.warnings)
    late = without(late, full_days(late) | TODAY)
    v2 = headline(late, V2)
    assert v2 == headline(without(late, ~TODAY), V1_AM)  # only the expired series differ


def test_am_settled_monthly_runs_to_0930_of_its_friday(expiry_thursday: Chain) -> None:
    usable = (pl.col("expiration") == pl.date(2023, 9, 15)) & (pl.col("iv") > 0)
    chain = without(expiry_thursday, usable)
    book = build_book(chain, V2)
    am = np.array([c.startswith("SPX2") for c in chain.frame.get_column("contract").to_list()])
    assert len(am) == len(book.years)  # nothing dropped: ids and book rows line up
    friday = book.contracts.expiration == np.datetime64("2023-09-15")
    assert (am & friday).sum() > 100 and (~am & friday).sum() > 100  # SPX and SPXW both listed
    open_ = datetime(2023, 9, 15, 9, 30, tzinfo=NEW_YORK) - expiry_thursday.as_of
    close = datetime(2023, 9, 15, 16, 0, tzinfo=NEW_YORK) - expiry_thursday.as_of
    np.testing.assert_allclose(book.years[am & friday], _years(open_), rtol=1e-12)
    np.testing.assert_allclose(book.years[~am & friday], _years(close), rtol=1e-12)
    v1 = build_book(chain, V1)
    np.testing.assert_allclose(v1.years[friday], _years(close), rtol=1e-12)


def test_on_expiry_friday_the_am_series_is_gone_after_the_open(expiry_thursday: Chain) -> None:
    friday = redated(expiry_thursday, datetime(2023, 9, 15, 10, 0, tzinfo=NEW_YORK))
    v2, v1 = headline(friday, V2), headline(friday, V1)
    assert v2 == headline(without(friday, ~SEPT_AM), V1_AM)
    assert abs(v2["net_gex"] / v1["net_gex"] - 1) > 0.15  # type: ignore[operator]
    gone = friday.frame.filter(SEPT_AM | (pl.col("expiration") < pl.date(2023, 9, 15))).height
    expired = [w for w in build_book(friday, V2).warnings if "expired expiries" in w]
    assert expired == [f"dropped {gone} contracts of expired expiries (2023-09-14, 2023-09-15)"]


def _ids(chain: Chain, book: object) -> list[str]:
    """Return the contract ids of the book's contracts (all kept: nothing is expired here)."""
    ids = chain.frame.get_column("contract").to_list()
    assert len(ids) == len(book.years)  # type: ignore[attr-defined]
    return ids


def _years(span: timedelta) -> float:
    """Return a time span in calendar years of 365 days."""
    return span.total_seconds() / (365 * 86400)
