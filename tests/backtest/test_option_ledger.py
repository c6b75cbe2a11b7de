"""Option legs against hand-computed ledgers on tiny hand-made lakes (always run).

The lake `wall_home` holds five sessions of TEST (2024-01-02 .. 01-08) with a snapshot at
16:15 each day and the chains below; `wall_premium` (dte 2) sells the call at the call wall
and the put at the put wall while spot is above the flip (every session but the third). The
index lakes hold a long straddle on SPX (AM-settled) or SPXW (PM-settled). Sizing 0.25 of
the account per leg: 2 contracts at spot ~100 and $100,000 (0.25 x 100,000 / (100 x 100) =
2.5, rounded down). Fee $0.65 per contract per fill.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from backtest.option_book import OptionCosts, am_settled, intrinsic, load_quotes, settlement
from backtest.option_run import Context, OptionRun, leg_ledger, simulate
from backtest.option_strategies import OPTION_STRATEGIES
from backtest.panel import load_panel
from backtest.report import backtest_sections, backtest_subtitle, write_report
from backtest.run import Request, run_backtest
from tests.backtest.conftest import stamp, write_history
from warehouse import catalog
from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake

DAYS = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5), date(2024, 1, 8)]
SPAN = (DAYS[0], DAYS[-1])
#: (session index, expiry, right, strike, bid, ask); None bid/ask: listed without a quote.
QUOTES = [
    # D1: a 1-day expiry the dte-2 rule skips, and its expiry 01-05 (01-04 is not listed).
    (0, date(2024, 1, 3), "C", 105.0, 0.50, 0.60),
    (0, date(2024, 1, 3), "P", 95.0, 0.40, 0.50),
    (0, date(2024, 1, 5), "C", 100.0, 1.90, 2.10),
    (0, date(2024, 1, 5), "C", 105.0, 1.00, 1.20),
    (0, date(2024, 1, 5), "C", 110.0, 0.10, 0.20),
    (0, date(2024, 1, 5), "P", 90.0, 0.10, 0.20),
    (0, date(2024, 1, 5), "P", 95.0, 0.80, 1.00),
    (0, date(2024, 1, 5), "P", 100.0, 2.00, 2.20),
    # D2: the call is not stored (a stale mark), the put is.
    (1, date(2024, 1, 5), "P", 95.0, 0.30, 0.40),
    # D3: negative gamma: both are bought back here, a day before their expiry.
    (2, date(2024, 1, 5), "C", 105.0, 0.05, 0.15),
    (2, date(2024, 1, 5), "P", 95.0, 0.60, 0.80),
    # D4: positive again; the expiry at least 2 days out is 01-08 (a weekend between).
    (3, date(2024, 1, 8), "C", 105.0, 0.40, 0.60),
    (3, date(2024, 1, 8), "P", 95.0, 0.90, 1.10),
    # D5: 01-08 settles at the close (98); the next package's put has no quote: a miss.
    (4, date(2024, 1, 10), "C", 105.0, 0.20, 0.30),
    (4, date(2024, 1, 10), "P", 95.0, None, None),
]
CLOSES = [100.0, 103.0, 99.0, 97.0, 98.0]
#: Snapshot columns of hand-made lakes (None: unknown).
Levels = dict[str, list[float | None]]


def write_chains(home: Path, symbol: str, root: str, quotes: list[tuple], days: list[date]) -> None:
    """Store chain rows of `symbol` (source `hand`) at each session's 16:15 snapshot."""
    rows = [
        {
            "symbol": symbol,
            "source": "hand",
            "as_of": stamp(days[i], time(16, 15)),
            "trade_date": days[i],
            "contract": f"{root}{expiry:%y%m%d}{right}{round(strike * 1000):08d}",
            "expiration": expiry,
            "strike": strike,
            "right": right,
            "bid": bid,
            "ask": ask,
            "open_interest": 100,
        }
        for i, expiry, right, strike, bid, ask in quotes
    ]
    frame = pl.DataFrame(rows).with_columns(pl.col("as_of").dt.convert_time_zone("UTC"))
    Lake(home).write_all({"chains": frame})
    catalog.ensure(home)


@pytest.fixture(scope="module")
def wall_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the five-session TEST lake of the module doc."""
    home = tmp_path_factory.mktemp("option_walls")
    bars = {"open": [c - 0.5 for c in CLOSES], "high": CLOSES, "low": CLOSES, "close": CLOSES}
    bars["high"] = [c + 1 for c in CLOSES]
    bars["low"] = [c - 1 for c in CLOSES]
    known: Levels = {
        "underlying_price": [100.0, 103.0, 99.0, 97.0, 98.0],
        "gamma_flip": [95.0, 95.0, 101.0, 95.0, 95.0],
        "call_wall": [105.0] * 5,
        "put_wall": [95.0] * 5,
    }
    write_history(home, DAYS, bars, known)
    write_chains(home, "TEST", "TEST", QUOTES, DAYS)
    return home


def account(
    home: Path, fill: str, dte: int = 2, symbol: str = "TEST", name: str = "wall_premium"
) -> tuple[OptionRun, Context]:
    """Return the one-configuration run of `name` (fee 0.65, size 0.25) and its context."""
    panel = load_panel(home, symbol, *SPAN, method="vendor")
    costs = OptionCosts(fill=fill, fee=0.65, size=0.25)
    ctx = Context(panel, load_quotes(home, panel), costs, 100_000.0)
    configs = np.zeros(panel.frame.height, dtype=np.int64)
    return simulate(ctx, OPTION_STRATEGIES[name], [{"dte": dte}], configs), ctx


def test_mid_fills_marks_and_pm_settlement_match_the_hand_ledger(wall_home):
    run, ctx = account(wall_home, "mid")
    # D1: sell C105 @1.10 and P95 @0.90 (mids), 2 contracts: +400 - 2.60 fees; marked at the
    # mids: 99,997.40. D2: C105 unquoted keeps 1.10, P95 0.35: 100,397.40 - 220 - 70.
    # D3: buy back at the mids 0.10 and 0.70 (+2.60 fees): 100,234.80.
    # D4: sell C105 @0.50, P95 @1.00 expiring 01-08: +300 - 2.60, marked -300: 100,232.20.
    # D5: both settle at the 98 close worthless: 100,532.20; the next package misses.
    expected = [99_997.40, 100_107.40, 100_234.80, 100_232.20, 100_532.20]
    np.testing.assert_allclose(run.equity, expected, atol=1e-9)
    legs = leg_ledger(run, ctx, DAYS[-1])
    assert legs.get_column("contract").to_list() == [
        "TEST240105C00105000",
        "TEST240105P00095000",
        "TEST240108C00105000",
        "TEST240108P00095000",
    ]
    assert legs.get_column("contracts").to_list() == [2, 2, 2, 2]
    assert legs.get_column("entry_price").to_list() == [1.10, 0.90, 0.50, 1.00]
    assert legs.get_column("exit_price").to_list() == [0.10, 0.70, 0.0, 0.0]
    assert legs.get_column("fees").to_list() == [2.60, 2.60, 1.30, 1.30]
    assert legs.get_column("pnl").to_list() == [197.40, 37.40, 98.70, 198.70]
    assert legs.get_column("exit_at").to_list()[2:] == ["PM settlement at 2024-01-08 close"] * 2
    assert legs.get_column("entry_at").to_list()[0] == "2024-01-02 16:15"
    assert run.stale_marks == 1


def test_crossing_the_spread_sells_at_the_bid_and_buys_at_the_ask(wall_home):
    run, ctx = account(wall_home, "cross")
    # D1: sell at the bids 1.00 and 0.80: +360 - 2.60, marked at the mids (-400).
    # D3: buy back at the asks 0.15 and 0.80. D4: sell at the bids 0.40 and 0.90.
    expected = [99_957.40, 100_067.40, 100_164.80, 100_122.20, 100_422.20]
    np.testing.assert_allclose(run.equity, expected, atol=1e-9)
    legs = leg_ledger(run, ctx, DAYS[-1])
    assert legs.get_column("entry_price").to_list() == [1.00, 0.80, 0.40, 0.90]
    assert legs.get_column("exit_price").to_list() == [0.15, 0.80, 0.0, 0.0]
    total = float(np.prod(1.0 + run.returns) - 1.0)
    compounded = float((legs.get_column("return") + 1.0).product() - 1.0)
    assert abs(compounded - total) < 1e-9
    assert abs(total - 0.004222) < 1e-9


def test_a_contract_without_a_quote_is_not_filled_and_is_counted(wall_home):
    run, _ = account(wall_home, "mid")
    # D5's package: the put is listed without a bid/ask: neither leg opens, one miss.
    assert [(m.session, m.kind, m.contract) for m in run.misses] == [
        (DAYS[4], "entry", "TEST240110P00095000")
    ]
    assert not run.held[4] and len(run.legs) == 4


def test_a_dte_with_no_listed_expiry_misses_every_leg(wall_home):
    run, _ = account(wall_home, "mid", dte=30)
    assert run.legs == [] and np.all(run.equity == 100_000.0)
    # Every session in positive gamma wanted the package; no expiry 30 days out was listed.
    assert len(run.misses) == 2 * 4
    assert {m.reason for m in run.misses} == {"no listed contract for the rule"}


#: Straddle on an index: D1 and D2 negative gamma, bought on D1 expiring on D3 (01-04).
STRADDLE = [
    (0, date(2024, 1, 4), "C", 100.0, 1.50, 1.70),
    (0, date(2024, 1, 4), "P", 100.0, 1.20, 1.40),
    (1, date(2024, 1, 4), "C", 100.0, 0.90, 1.10),
    (1, date(2024, 1, 4), "P", 100.0, 1.90, 2.10),
]


@pytest.fixture(scope="module", params=["SPX   ", "SPXW"])
def index_home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Return (home, root): SPX contracts settle at the open (AM), SPXW at the close (PM)."""
    home = tmp_path_factory.mktemp("option_index")
    days = DAYS[:3]
    bars = {
        "open": [100.0, 99.0, 96.0],
        "high": [101.0, 100.0, 100.0],
        "low": [99.0, 98.0, 95.0],
        "close": [100.0, 98.5, 99.0],
    }
    known: Levels = {"underlying_price": [100.0, 98.5, 99.0], "gamma_flip": [102.0, 102.0, 98.0]}
    write_history(home, days, bars, known, symbol="SPX")
    write_chains(home, "SPX", request.param, STRADDLE, days)
    return home, request.param


def test_expiry_settles_at_intrinsic_at_the_open_am_or_the_close_pm(index_home):
    home, root = index_home
    run, ctx = account(home, "mid", symbol="SPX", name="long_gamma")
    legs = leg_ledger(run, ctx, DAYS[2])
    am = root.startswith("SPX ")
    # Bought C100 @1.60 and P100 @1.30, 2 contracts each (0.25 x 100,000 / 10,000), $5.20 fees.
    # AM: the 01-04 open is 96 (put worth 4); PM: the 01-04 close is 99 (put worth 1).
    put = 4.0 if am else 1.0
    assert legs.get_column("exit_price").to_list() == [0.0, put]
    what = "AM settlement at 2024-01-04 open" if am else "PM settlement at 2024-01-04 close"
    assert legs.get_column("exit_at").to_list() == [what, what]
    settled = 100_000.0 - (1.60 + 1.30) * 200 - 2.60 + put * 200
    assert run.equity[2] == pytest.approx(settled, abs=1e-9)
    # D2 marks at the mids 1.00 and 2.00.
    assert run.equity[1] == pytest.approx(100_000.0 - 2.60 - 2.90 * 200 + 3.00 * 200, abs=1e-9)


def test_settlement_rules_directly():
    assert am_settled("SPX   240119C04700000") and am_settled("NDX240119P15000000")
    assert not am_settled("SPXW240119C04700000") and not am_settled("SPY240119C00470000")
    assert intrinsic("C", 100.0, 103.5) == 3.5 and intrinsic("P", 100.0, 103.5) == 0.0


def test_settlement_without_the_expiry_bar_uses_the_close_before_and_says_so(wall_home):
    panel = load_panel(wall_home, "TEST", *SPAN, method="vendor")
    assert settlement(panel, date(2024, 1, 8), am=True) == (97.5, "2024-01-08 open", True)
    assert settlement(panel, date(2024, 1, 6), am=False) == (97.0, "2024-01-05 close", False)


def test_a_package_is_carried_into_the_next_configuration_holding_the_same_package(wall_home):
    panel = load_panel(wall_home, "TEST", *SPAN, method="vendor")
    ctx = Context(panel, load_quotes(wall_home, panel), OptionCosts(fill="mid", size=0.25), 1e5)
    configs = np.array([0, 1, 1, 1, 1])  # a dte-2 window, then a dte-1 one from D2
    run = simulate(ctx, OPTION_STRATEGIES["wall_premium"], [{"dte": 2}, {"dte": 1}], configs)
    legs = leg_ledger(run, ctx, DAYS[-1])
    # The D1 strangle (expiring 01-05) is kept on D2 under the dte-1 configuration (no roll),
    # bought back on D3; D4's package is the dte-1 configuration's own (01-08).
    assert legs.get_column("config").to_list() == [0, 0, 1, 1]
    assert legs.get_column("exit").to_list()[:2] == [str(DAYS[2])] * 2
    assert legs.get_column("entry").to_list() == [str(DAYS[0])] * 2 + [str(DAYS[3])] * 2


def test_the_account_is_flat_before_its_first_configuration(wall_home):
    panel = load_panel(wall_home, "TEST", *SPAN, method="vendor")
    ctx = Context(panel, load_quotes(wall_home, panel), OptionCosts(fill="mid", size=0.25), 1e5)
    run = simulate(
        ctx, OPTION_STRATEGIES["wall_premium"], [{"dte": 2}], np.array([-1, -1, 0, 0, 0])
    )
    assert run.returns[:2].tolist() == [0.0, 0.0]
    assert [leg.entry for leg in run.legs] == [DAYS[3], DAYS[3]]


@pytest.fixture(scope="module")
def reported(wall_home: Path) -> dict:
    """Return `run_backtest` of wall_premium (dte 2, mid, $0.65, size 0.25) on the TEST lake."""
    request = Request(
        "wall_premium",
        ["TEST"],
        *SPAN,
        "vendor",
        params={"dte": 2},
        options=OptionCosts(fill="mid", fee=0.65, size=0.25),
    )
    return run_backtest(wall_home, request)


def test_the_report_lists_legs_the_fill_setting_and_the_misses(reported, tmp_path):
    sections, _ = backtest_sections(reported)
    page, _ = write_report(
        tmp_path / "options", "t", backtest_subtitle(reported), sections, reported
    )
    text = page.read_text()
    assert "Option legs" in text and "TEST240105C00105000" in text
    assert "Fill setting: mid" in text and "Fills without a stored quote: 1" in text
    assert "fee $0.65 per contract" in text
    assert "TEST240110P00095000" in text  # the missed contract, listed


def test_run_backtest_reports_the_fill_setting_misses_and_a_ledger_that_adds_up(reported):
    result = reported
    figures = result["symbols"]["TEST"]
    assert figures["options"]["fill"] == "mid" and figures["options"]["misses"] == 1
    assert figures["options"]["entry_misses"] == 1 and figures["options"]["stale_marks"] == 1
    assert figures["ledger"]["trades"] == 4
    assert abs(figures["ledger"]["difference"]) < 1e-9
    assert figures["stats"][0]["total_return"] == pytest.approx(0.005322, abs=1e-12)
    assert result["request"]["options"]["fee"] == 0.65


def test_a_source_without_chains_is_one_clear_line(tmp_path):
    write_history(tmp_path, DAYS, {"close": CLOSES}, {"underlying_price": [*CLOSES]})
    request = Request("long_gamma", ["TEST"], *SPAN, "vendor")
    with pytest.raises(WarehouseInputError, match="no stored chains of TEST from hand"):
        run_backtest(tmp_path, request)


#: A straddle bought on D1 (negative gamma) expiring 01-05; D2 (positive) closes it, but the
#: put has no stored quote on D2: it stays open and closes on D3.
RETRY = [
    (0, date(2024, 1, 5), "C", 100.0, 1.50, 1.70),
    (0, date(2024, 1, 5), "P", 100.0, 1.20, 1.40),
    (1, date(2024, 1, 5), "C", 100.0, 2.90, 3.10),
    (1, date(2024, 1, 5), "P", 100.0, None, None),
    (2, date(2024, 1, 5), "C", 100.0, 0.90, 1.10),
    (2, date(2024, 1, 5), "P", 100.0, 0.40, 0.60),
]


def test_a_leg_without_a_quote_to_close_stays_open_and_closes_at_the_next_quote(tmp_path):
    days = DAYS[:3]
    bars = {"open": [100.0, 102.0, 101.0], "close": [100.0, 102.0, 101.0]}
    known: Levels = {"underlying_price": [100.0, 102.0, 101.0], "gamma_flip": [102.0, 99.0, 99.0]}
    write_history(tmp_path, days, bars, known)
    write_chains(tmp_path, "TEST", "TEST", RETRY, days)
    panel = load_panel(tmp_path, "TEST", days[0], days[-1], method="vendor")
    ctx = Context(panel, load_quotes(tmp_path, panel), OptionCosts(fill="mid", size=0.25), 1e5)
    run = simulate(ctx, OPTION_STRATEGIES["long_gamma"], [{"dte": 2}], np.zeros(3, np.int64))
    legs = leg_ledger(run, ctx, days[-1])
    assert legs.get_column("exit").to_list() == [str(days[1]), str(days[2])]
    assert legs.get_column("exit_price").to_list() == [3.0, 0.5]
    assert [(m.session, m.kind) for m in run.misses] == [(days[1], "exit")]
    # D2 marks the put it could not sell at its last mark (1.30): one stale mark.
    assert run.stale_marks == 1
    assert run.equity[-1] == pytest.approx(1e5 + (3.0 - 1.6 + 0.5 - 1.3) * 200 - 4 * 1.30)


def test_a_rule_naming_a_package_it_lacks_is_refused_in_one_line(wall_home):
    strategy = OPTION_STRATEGIES["wall_premium"]
    broken = replace(strategy, rule=lambda k, p: np.full(len(k.spot), 2.0))
    panel = load_panel(wall_home, "TEST", *SPAN, method="vendor")
    ctx = Context(panel, load_quotes(wall_home, panel), OptionCosts(), 1e5)
    with pytest.raises(WarehouseInputError, match=r"returned package 2; .* 1\.\.1 "):
        simulate(ctx, broken, [{}], np.zeros(5, np.int64))


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"fill": "last"}, "--option-fill 'last' unknown"),
        ({"fee": -1.0}, "--option-fee -1 must be"),
        ({"fee": float("nan")}, "--option-fee nan must be"),
        ({"size": 0.0}, "--option-size 0 must be"),
        ({"size": float("inf")}, "--option-size inf must be"),
    ],
)
def test_bad_option_terms_are_one_line_naming_the_setting(terms, message):
    with pytest.raises(WarehouseInputError, match=message):
        OptionCosts(**terms)
