"""The synthetic market is deterministic and looks like a listed chain."""

from __future__ import annotations

from datetime import date, datetime

from pipeline.engine.timing import NEW_YORK
from pipeline.sources.synthetic import SyntheticMarket

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
