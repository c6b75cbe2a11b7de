"""Panels, backtests and studies of one method: two methods' histories live side by side."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from backtest.panel import load_panel, load_panels
from backtest.report import backtest_subtitle, study_subtitle
from backtest.run import Request, run_backtest
from backtest.study import run_study
from pipeline.sessions import sessions_between
from pipeline.sources.synthetic import SyntheticMarket
from tests.backtest.conftest import sessions, synthetic_history, write_history
from tests.conftest import METHOD
from warehouse.errors import WarehouseInputError

SPAN = (date(2000, 1, 1), date(2100, 1, 1))
OTHER = "perfiliev@v1"
SYNTHETIC = (date(2024, 1, 2), date(2024, 2, 20))


@pytest.fixture(scope="module")
def two_methods(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a lake where `synthetic` TEST holds default@v1 (net GEX +1) and perfiliev (-1)."""
    home = tmp_path_factory.mktemp("methods")
    days = sessions(80)
    close = (100 + np.sin(np.arange(80) / 5)).tolist()
    bars = {k: close for k in ("open", "high", "low", "close")}
    for method, sign in ((METHOD, 1.0), (OTHER, -1.0)):
        known = {
            "underlying_price": close,
            "net_gex": [sign * 1e9] * 80,
            "gamma_flip": [c - sign for c in close],
        }
        write_history(home, days, bars, known, source="synthetic", method=method)
    return home


def test_a_panel_reads_only_the_chosen_method(two_methods: Path) -> None:
    for method, sign in ((METHOD, 1.0), (OTHER, -1.0)):
        panel = load_panel(two_methods, "TEST", *SPAN, method=method)
        assert panel.method == method and panel.source == "synthetic"
        assert panel.frame.height == 80  # one row a session, not one per method
        assert (panel.column("net_gex") == sign * 1e9).all()


def test_a_missing_method_names_the_stored_ones(two_methods: Path) -> None:
    stored = rf"\(stored: synthetic: {METHOD}, perfiliev@v1\): choose one with --method"
    with pytest.raises(WarehouseInputError, match=rf"no all_short@v1 snapshots of TEST {stored}"):
        load_panel(two_methods, "TEST", *SPAN, method="all_short@v1")
    with pytest.raises(WarehouseInputError, match=r"of TEST from synthetic \(stored: synthetic"):
        load_panel(two_methods, "TEST", *SPAN, method="vendor", source="synthetic")


def test_vendor_rows_serve_any_method_and_sources_stay_apart(tmp_path: Path) -> None:
    days = sessions(30)
    close = [100.0 + i for i in range(30)]
    bars = {k: close for k in ("open", "high", "low", "close")}
    write_history(tmp_path, days, bars, {"net_gex": [1e9] * 30}, source="squeezemetrics")
    panel = load_panel(tmp_path, "TEST", *SPAN, method=METHOD)  # the vendor's, under any method
    assert (panel.source, panel.method) == ("squeezemetrics", "vendor")
    write_history(tmp_path, days, bars, {"net_gex": [-1e9] * 30}, source="synthetic", method=OTHER)
    assert load_panel(tmp_path, "TEST", *SPAN, method=METHOD).source == "squeezemetrics"
    chosen = load_panel(tmp_path, "TEST", *SPAN, method=OTHER, source="synthetic")
    assert (chosen.column("net_gex") == -1e9).all()
    with pytest.raises(WarehouseInputError, match="from squeezemetrics, synthetic: choose one"):
        load_panel(tmp_path, "TEST", *SPAN, method=OTHER)


def test_backtest_and_study_state_their_method(two_methods: Path) -> None:
    request = Request("regime", ["TEST"], *SPAN, OTHER, params={"basis": "gex", "short": 1})
    result = run_backtest(two_methods, request)
    figures = result["symbols"]["TEST"]
    assert result["method"] == OTHER and result["request"]["method"] == OTHER
    assert figures["method"] == OTHER
    assert figures["trades"][0]["side"] == "Short"  # perfiliev's net GEX is negative here
    assert "Method perfiliev@v1;" in backtest_subtitle(result)
    study = run_study(two_methods, ["TEST"], *SPAN, method=METHOD)
    assert study["method"] == METHOD and study["symbols"]["TEST"]["method"] == METHOD
    assert f"Method {METHOD};" in study_subtitle(study)


@pytest.fixture(scope="module")
def synthetic_two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return synthetic sessions of SPY priced under default@v1 and perfiliev@v1."""
    home = tmp_path_factory.mktemp("synthetic-two")
    market = SyntheticMarket()
    for method in (METHOD, OTHER):
        synthetic_history(home, market, ["SPY"], *SYNTHETIC, method=method)
    return home


def test_implied_vol_joins_chains_to_the_chosen_methods_snapshots(synthetic_two: Path) -> None:
    panels = {
        m: load_panels(synthetic_two, ["SPY"], *SPAN, method=m, implied_vol=True)["SPY"]
        for m in (METHOD, OTHER)
    }
    for panel in panels.values():
        assert panel.frame.height == len(sessions_between(*SYNTHETIC))
        assert panel.column("trade_date").is_unique().all()
        assert panel.column("atm_iv").is_not_null().all()
    # One chain per session, whatever method priced it: the same ATM IV under both.
    assert panels[METHOD].column("atm_iv").to_list() == panels[OTHER].column("atm_iv").to_list()
    assert panels[METHOD].column("net_gex").to_list() != panels[OTHER].column("net_gex").to_list()


def test_alignment_never_fires_on_the_synthetic_market(synthetic_two: Path) -> None:
    result = run_backtest(synthetic_two, Request("alignment", ["SPY"], *SPAN, METHOD))
    figures = result["symbols"]["SPY"]
    assert figures["no_trade"] == "alignment made no trade on SPY over 2024-01-02 .. 2024-02-20"
    assert figures["trades"] == []
