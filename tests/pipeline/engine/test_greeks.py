"""BSM greeks against finite differences, put-call parity and the standard library."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.engine.greeks import bsm_greeks, bsm_price, bsm_vega, implied_vol, norm_cdf

R, Q = 0.035, 0.012

cases = st.tuples(
    st.floats(0.8, 1.25),  # strike / spot
    st.floats(0.05, 2.0),  # years
    st.floats(0.1, 0.7),  # vol
    st.booleans(),
)


def price(s: float, k: float, t: float, v: float, call: bool) -> float:
    return float(bsm_price(s, k, t, v, R, Q, call))


def greeks(s: float, k: float, t: float, v: float, call: bool):
    return bsm_greeks(s, k, t, v, R, Q, call)


def close(a: float, b: float, rel: float = 1e-6, floor: float = 1e-9) -> bool:
    """Relative agreement, or absolute agreement within `floor` for immaterial values.

    Floors are far below any material greek (ATM gamma of a $100 stock is ~1e-2), where a
    finite difference of the price has only roundoff left.
    """
    return math.isclose(a, b, rel_tol=rel, abs_tol=floor)


def first(f, x: float, h: float) -> float:
    """Richardson-extrapolated central first derivative (error O(h^4))."""
    d = lambda step: (f(x + step) - f(x - step)) / (2 * step)  # noqa: E731
    return (4 * d(h / 2) - d(h)) / 3


def second(f, x: float, h: float) -> float:
    """Richardson-extrapolated central second derivative (error O(h^4))."""
    d = lambda step: (f(x + step) - 2 * f(x) + f(x - step)) / step**2  # noqa: E731
    return (4 * d(h / 2) - d(h)) / 3


@settings(max_examples=200, deadline=None)
@given(cases)
def test_delta_and_gamma_match_price_differences(case):
    m, t, v, call = case
    s, k = 100.0, 100.0 * m
    g = greeks(s, k, t, v, call)
    h = 0.02 * width(s, t, v)
    assert close(float(g.delta), first(lambda x: price(x, k, t, v, call), s, h))
    # Floor: 1e-9 of this option's at-the-money gamma, its natural scale.
    atm_gamma = 1 / (s * v * math.sqrt(2 * math.pi * t))
    fd_gamma = second(lambda x: price(x, k, t, v, call), s, h)
    assert close(float(g.gamma), fd_gamma, floor=1e-9 * atm_gamma)


def width(s: float, t: float, v: float) -> float:
    """The option's natural spot scale, S sigma sqrt(T): finite-difference steps follow it."""
    return s * v * math.sqrt(t)


def delta_fd(s: float, k: float, t: float, v: float, call: bool) -> float:
    """Delta as a finite difference of the price."""
    return first(lambda x: price(x, k, t, v, call), s, 0.02 * width(s, t, v))


@settings(max_examples=200, deadline=None)
@given(cases)
def test_vanna_and_charm_match_price_differences(case):
    m, t, v, call = case
    s, k = 100.0, 100.0 * m
    g = greeks(s, k, t, v, call)
    vanna = first(lambda vol: delta_fd(s, k, t, vol, call), v, 0.01 * v)
    charm = -first(lambda years: delta_fd(s, k, years, v, call), t, 0.01 * t)
    assert close(float(g.vanna), vanna, floor=1e-8)
    assert close(float(g.charm), charm, floor=1e-8)


@settings(max_examples=200, deadline=None)
@given(cases)
def test_put_call_parity(case):
    m, t, v, _ = case
    s, k = 100.0, 100.0 * m
    call, put = greeks(s, k, t, v, True), greeks(s, k, t, v, False)
    assert close(float(call.delta - put.delta), math.exp(-Q * t), rel=1e-12)
    assert close(float(call.gamma), float(put.gamma), rel=1e-12)
    parity = s * math.exp(-Q * t) - k * math.exp(-R * t)
    assert close(price(s, k, t, v, True) - price(s, k, t, v, False), parity, rel=1e-10)


def test_hand_computed_call():
    # S=100, K=105, T=0.5, sigma=0.2, r=0.035, q=0.012 computed with the math module only.
    s, k, t, v = 100.0, 105.0, 0.5, 0.2
    d1 = (math.log(s / k) + (R - Q + 0.5 * v * v) * t) / (v * math.sqrt(t))
    pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
    cdf = 0.5 * math.erfc(-d1 / math.sqrt(2))
    g = greeks(s, k, t, v, True)
    assert math.isclose(float(g.delta), math.exp(-Q * t) * cdf, rel_tol=1e-14)
    assert math.isclose(
        float(g.gamma), math.exp(-Q * t) * pdf / (s * v * math.sqrt(t)), rel_tol=1e-14
    )


def test_norm_cdf_matches_math_erfc_everywhere():
    x = np.linspace(-37.0, 37.0, 40001)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])
    ours = norm_cdf(x)
    assert np.max(np.abs(ours - exact)) < 3e-16
    tiny = exact > 1e-300
    assert np.max(np.abs(ours[tiny] - exact[tiny]) / exact[tiny]) < 1e-12


@settings(max_examples=100, deadline=None)
@given(cases)
def test_implied_vol_recovers_the_volatility(case):
    m, t, v, call = case
    s, k = 100.0, 100.0 * m
    solved = float(implied_vol(price(s, k, t, v, call), s, k, t, R, Q, call))
    if float(bsm_vega(s, k, t, v, R, Q)) > 1e-2:
        assert math.isclose(solved, v, rel_tol=1e-7)


def test_implied_vol_is_nan_when_no_volatility_fits():
    # Below intrinsic value: no volatility reprices it.
    assert np.isnan(implied_vol(1.0, 100.0, 80.0, 0.5, 0.0, 0.0, True))
