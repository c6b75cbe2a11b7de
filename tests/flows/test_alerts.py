"""Alerts between two snapshots."""

from __future__ import annotations

from flows.alerts import derive_alerts

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


def kinds(previous, current, pct=0.5):
    return [a["kind"] for a in derive_alerts(previous, current, pct)]


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
