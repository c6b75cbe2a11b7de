"""`gammalake compare` as users run it, on a synthetic home holding two methods.

The home is made with the CLI: two months of SPY and QQQ backfilled under the default preset,
their bars, and the last month again under `all_short` (so the default method has sessions
the other lacks). Expected figures are worked out here from the stored daily rows, apart
from `backtest.compare`'s code. Method names come from `resolve_method`, never a version.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import spearmanr

from pipeline.engine.method import resolve_method
from warehouse.history import History

BIN = Path(sys.executable).with_name("gammalake")
START, END, SECOND_START = "2024-01-29", "2024-03-28", "2024-02-26"
DEFAULT, ALL_SHORT = resolve_method("default"), resolve_method("all_short")


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "--home", str(home), *args], capture_output=True, text=True, timeout=600
    )


def cli(home: Path, *args: str) -> str:
    done = run(home, *args)
    assert done.returncode == 0, f"gammalake {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("compare") / "home"
    symbols = ("--symbols", "SPY,QQQ")
    cli(home, "backfill", *symbols, "--start", START, "--end", END)
    cli(home, "prices", "synthetic", *symbols, "--start", START, "--end", END)
    second = ("--start", SECOND_START, "--end", END, "--preset", "all_short")
    cli(home, "backfill", *symbols, *second)
    return home


def expected(home: Path, symbol: str) -> dict[str, float | int]:
    """Return the figures of default vs all_short worked out from the stored daily rows."""
    history = History(home)
    try:
        a, b = (history.daily(symbol, m, None, None) for m in (DEFAULT, ALL_SHORT))
    finally:
        history.close()
    assert a.get_column("gamma_flip").is_not_null().any()
    assert b.get_column("gamma_flip").is_null().all()  # dealers short everything: no flip
    both = a.join(b, on="trade_date", suffix="_b")
    # default by spot against its flip; all_short by its net GEX sign (it stores no flip)
    above = (both["underlying_price"] - both["gamma_flip"]).sign()
    agree = int((above == both["net_gex_b"].sign()).sum())
    rho = spearmanr(both["net_gex"].to_numpy(), both["net_gex_b"].to_numpy()).statistic
    return {
        "both": both.height,
        "only_a": a.height - both.height,
        "agreement_pct": 100 * agree / both.height,
        "call_equal_pct": 100 * int((both["call_wall"] == both["call_wall_b"]).sum()) / both.height,
        "spearman": float(rho),
    }


def test_table_and_report_hold_the_figures(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    text = cli(
        home, "compare", "--methods", "default,all_short", "--symbols", "SPY,QQQ", "--out", str(out)
    )
    page = out.with_suffix(".html").read_text()
    for symbol in ("SPY", "QQQ"):
        want = expected(home, symbol)
        assert want["only_a"] > 0  # sessions of one method only are counted, not dropped
        first = text.index(f"{symbol}: how the methods disagree")
        table = text[first : text.index("└", first)]
        lines = {line.split("│")[1].strip(): line for line in table.splitlines() if "│" in line}
        assert f" {want['both']} " in lines["Sessions in both"]
        assert f" {want['only_a']} " in lines["Sessions only in the first"]
        assert f"{want['agreement_pct']:.2f}%" in lines["Regime agreement"]
        assert f"{want['call_equal_pct']:.2f}%" in lines["Call wall equal"]
        assert f"{want['spearman']:.3f}" in lines["Net GEX rank correlation"]
        assert f"{want['agreement_pct']:.2f}%" in page and f"{want['spearman']:.3f}" in page
    assert f"flip {DEFAULT}" in page and f"flip {ALL_SHORT}" in page
    assert f"report: {out}.html" in text.replace("\n", "")


def test_json_carries_the_figures_and_the_default_report_path(home: Path) -> None:
    before = set((home / "reports").glob("compare-*.html"))
    done = cli(home, "compare", "--methods", f"{DEFAULT},all_short", "--symbols", "SPY", "--json")
    result = json.loads(done)
    want = expected(home, "SPY")
    (pair,) = result["symbols"]["SPY"]["pairs"]
    assert (pair["a"], pair["b"]) == (DEFAULT, ALL_SHORT)
    assert pair["coverage"]["both"] == want["both"]
    assert pair["coverage"]["only_a"] == want["only_a"] and pair["coverage"]["only_b"] == 0
    assert pair["regime"]["agreement_pct"] == pytest.approx(want["agreement_pct"])
    assert pair["net_gex"]["spearman"] == pytest.approx(want["spearman"])
    assert pair["flip"]["sessions"] == 0 and pair["flip"]["one_flip_only"] == want["both"]
    info = result["symbols"]["SPY"]["information"][DEFAULT]
    assert info["vol_ratio"]["ratio"] is not None and info["gex_beyond_iv"]["available"]
    low, high = info["gex_beyond_iv"]["boot_ci_low"], info["gex_beyond_iv"]["boot_ci_high"]
    assert low <= info["gex_beyond_iv"]["partial_gex_move_given_iv"] <= high
    made = set((home / "reports").glob("compare-*.html")) - before
    assert [str(p) for p in made] == [result["report"]]


def test_the_span_limits_the_sessions(home: Path) -> None:
    args = ("--methods", "default,all_short", "--symbols", "QQQ", "--json")
    result = json.loads(cli(home, "compare", *args, "--start", SECOND_START, "--end", END))
    cover = result["symbols"]["QQQ"]["pairs"][0]["coverage"]
    assert cover["only_a"] == 0 and cover["only_b"] == 0 and cover["both"] > 0
    assert result["covered"][0] >= SECOND_START


@pytest.mark.parametrize(
    ("methods", "says"),
    [
        ("default", "--methods 'default' names 1 method(s); compare needs two"),
        ("default,nope", "unknown method 'nope'"),
        ("default,default", "names " + DEFAULT + " more than once"),
        (
            "default,perfiliev",
            f"method {resolve_method('perfiliev')} has no stored snapshot of SPY "
            f"(stored for SPY: {', '.join(sorted([ALL_SHORT, DEFAULT]))})",
        ),
    ],
)
def test_bad_methods_are_one_line_and_exit_2(home: Path, methods: str, says: str) -> None:
    before = sorted((home / "reports").glob("*")) if (home / "reports").exists() else []
    done = run(home, "compare", "--methods", methods, "--symbols", "SPY")
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr
    assert done.stdout == ""
    after = sorted((home / "reports").glob("*")) if (home / "reports").exists() else []
    assert after == before  # nothing written


def test_a_symbol_not_stored_is_one_line(home: Path) -> None:
    done = run(home, "compare", "--methods", "default,all_short", "--symbols", "IWM")
    assert done.returncode == 2 and done.stderr.strip() == f"error: no snapshots of IWM in {home}"


def test_self_contained_report_embeds_plotly(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "alone" / "cmp"
    args = ("--methods", "default,all_short", "--symbols", "SPY", "--out", str(out))
    cli(home, "compare", *args, "--self-contained")
    page = out.with_suffix(".html").read_text()
    assert "plotly.min.js" not in page and len(page) > 3_000_000
    assert not (out.parent / "plotly.min.js").exists()
