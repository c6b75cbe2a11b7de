"""The `gammalake` command line, run as users run it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.engine.method import ENGINE_VERSION
from tests.flows.conftest import import_dix_and_sp500

BIN = Path(sys.executable).with_name("gammalake")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.refdata
def test_chain_json_holds_the_seven_payloads(refdata):
    result = run(
        "chain", str(refdata / "phammings-spx500-gamma/modules/spx_quotedata.csv"), "--json"
    )
    assert result.returncode == 0, result.stderr
    payloads = json.loads(result.stdout)
    assert list(payloads) == ["gex", "dex", "vex", "chex", "levels", "summary", "expiries"]
    assert payloads["levels"]["symbol"] == "SPX"


@pytest.mark.refdata
@pytest.mark.parametrize(
    ("name", "flags", "flip"),
    [
        ("nickkxsper-index-gamma/spx_quotedata.csv", ["--year-basis", "252"], 3984.2495),
        ("luca-castelli-index-gamma/ndx_quotedata.csv", ["--zero-dte", "drop"], 14686.3297),
    ],
)
def test_perfiliev_flags(refdata, name, flags, flip):
    result = run("chain", str(refdata / name), "--preset", "perfiliev", "--json", *flags)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gex"]["gamma_flip"] == pytest.approx(flip, abs=5e-5)


def test_bad_file_is_one_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "quotedata.csv"
    bad.write_text(
        '\nSPY,Last: 470\n"Date: January 5, 2024 at 4:15 PM EST"\n'
        "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,"
        "Open Interest,Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,"
        "Open Interest\nFri Jan 19 2024,X,1,0,1,1,0,0.1,0.5,0.01,10,abc,Y,1,0,1,1,0,"
        "0.1,-0.5,0.01,10\n"
    )
    result = run("chain", str(bad), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ") and "line 5" in lines[0] and "'Strike'" in lines[0]


def test_unknown_preset_and_missing_file_exit_2(tmp_path):
    assert run("chain", str(tmp_path / "none.csv")).returncode == 2
    result = run("chain", str(tmp_path / "none.csv"), "--preset", "nope")
    assert result.returncode == 2 and "unknown method 'nope'" in result.stderr


def run_home(home: Path, *args: str, stdin: str | None = None):
    return subprocess.run(
        [str(BIN), "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=600,
        input=stdin,
    )


REPO = Path(__file__).resolve().parents[2]
#: How a shell in the repository runs this gammalake when it is not on PATH (after `make demo`).
FROM_REPO = str(BIN.relative_to(REPO)) if BIN.is_relative_to(REPO) else str(BIN)


def without_venv_on_path() -> dict[str, str]:
    """Return the environment of a shell after `make demo`: the venv's bin/ not on PATH."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    kept = [f for f in folders if f and Path(f).resolve() != BIN.parent.resolve()]
    return {**os.environ, "PATH": os.pathsep.join(kept)}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """Return the home and stdout of a short demo run from the repository folder."""
    home = tmp_path_factory.mktemp("home")
    result = subprocess.run(
        [str(BIN), "--home", str(home), "demo", "--symbols", "SPY,QQQ", "--years", "0.02"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env=without_venv_on_path(),
    )
    assert result.returncode == 0, result.stderr
    return home, result.stdout


@pytest.fixture(scope="module")
def demo_home(demo_run):
    home, stdout = demo_run
    for part in (
        "backfill via synthetic",
        "snapshot via synthetic",
        "regime by day",
        "GEX by expiry",
        "engine v1 beside v2",
        "by kind of session",
        "warehouse.duckdb",
        "Next (from this folder):",
    ):
        assert part in stdout
    return home


def printed_commands(stdout: str) -> list[list[str]]:
    """Return the commands a demo printed under "Next", as a shell splits them."""
    import shlex

    lines = stdout.split("Next (from this folder):\n", 1)[1].splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.startswith("  ")]


def test_the_demos_next_commands_work_as_printed(demo_run):
    home, stdout = demo_run
    commands = printed_commands(stdout)
    assert commands and all(c[:3] == [FROM_REPO, "--home", str(home)] for c in commands)
    for words in commands:
        if words[3] == "api":  # a server: it runs until stopped (tested in test_api.py)
            continue
        done = subprocess.run(
            words, capture_output=True, text=True, timeout=600, cwd=REPO, env=without_venv_on_path()
        )
        assert done.returncode == 0, (words, done.stdout[-2000:], done.stderr)


def test_the_demo_says_gammalake_when_it_is_on_path(tmp_path, monkeypatch):
    from gammalake.cli.demo import gammalake_command, next_commands
    from warehouse.home import default_home

    monkeypatch.setenv("PATH", without_venv_on_path()["PATH"])
    assert gammalake_command(REPO) == FROM_REPO
    assert gammalake_command(tmp_path) == str(BIN)
    monkeypatch.setenv("PATH", f"{BIN.parent}{os.pathsep}{os.environ['PATH']}")
    assert gammalake_command(tmp_path) == "gammalake"
    first = next_commands(default_home(), ["SPY"], tmp_path)[1]
    assert first.startswith("gammalake backtest --list")  # the default home needs no --home


def count(home: Path, sql: str) -> int:
    return int(run_home(home, "sql", sql, "--format", "csv").stdout.splitlines()[1])


def test_sql_formats(demo_home, tmp_path):
    query = "SELECT symbol, count(*) AS n FROM snapshots GROUP BY symbol ORDER BY symbol"
    table = run_home(demo_home, "sql", query)
    assert table.returncode == 0 and "SPY" in table.stdout
    per_symbol = count(demo_home, "SELECT count(*) FROM snapshots WHERE symbol = 'SPY'")
    csv = run_home(demo_home, "sql", query, "--format", "csv")
    assert csv.stdout.splitlines() == ["symbol,n", f"QQQ,{per_symbol}", f"SPY,{per_symbol}"]
    rows = json.loads(run_home(demo_home, "sql", query, "--format", "json").stdout)
    assert rows == [{"symbol": "QQQ", "n": per_symbol}, {"symbol": "SPY", "n": per_symbol}]
    out = tmp_path / "out.parquet"
    assert (
        run_home(demo_home, "sql", query, "--format", "parquet", "--output", str(out)).returncode
        == 0
    )
    import polars as pl

    assert pl.read_parquet(out).height == 2


def test_sql_errors_exit_2(demo_home):
    result = run_home(demo_home, "sql", "SELECT nope FROM snapshots")
    assert result.returncode == 2 and result.stderr.startswith("error: SQL error:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert run_home(demo_home, "sql", "SELECT 1", "--format", "parquet").returncode == 2


def test_sql_prompt(demo_home):
    sessions = count(demo_home, "SELECT count(DISTINCT trade_date) FROM snapshots")
    result = run_home(demo_home, "sql", stdin="SELECT count(*) AS n\nFROM daily_levels;\n.quit\n")
    assert result.returncode == 0
    assert "regime_daily" in result.stdout and f" {2 * sessions} " in result.stdout


def test_doctor_and_rebuild(demo_home):
    doctor = run_home(demo_home, "doctor")
    assert doctor.returncode == 0 and "keys unique" in doctor.stdout
    # The demo also stores engine v1's half days and expiry Fridays; a rebuild re-makes v2's.
    method = f"default@v{ENGINE_VERSION}"
    total = count(demo_home, f"SELECT count(*) FROM snapshots WHERE method = '{method}'")
    rebuilt = run_home(demo_home, "rebuild")
    assert rebuilt.returncode == 0 and f"'snapshots': {total}" in rebuilt.stdout


def test_home_from_the_environment(demo_home):
    env = {**os.environ, "GAMMALAKE_HOME": str(demo_home)}
    result = subprocess.run(
        [str(BIN), "sql", "SELECT count(*) FROM strikes", "--format", "csv"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert int(result.stdout.splitlines()[1]) > 0


def test_hostile_symbols_exit_2(tmp_path):
    result = run_home(tmp_path, "demo", "--symbols", "../../x")
    assert result.returncode == 2 and "invalid symbol '../../X'" in result.stderr


@pytest.mark.refdata
def test_chain_save_stores_the_snapshot_and_the_chain(refdata, tmp_path):
    name = "nickkxsper-index-gamma/spx_quotedata.csv"
    result = run_home(
        tmp_path,
        "chain",
        str(refdata / name),
        "--preset",
        "perfiliev",
        "--year-basis",
        "252",
        "--save",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    snap = run_home(
        tmp_path,
        "sql",
        "SELECT source, method, net_gex, gamma_flip, trade_date FROM snapshots",
        "--format",
        "json",
    )
    [row] = json.loads(snap.stdout)
    assert row["source"] == "chains" and row["trade_date"] == "2022-07-12"
    assert row["method"] == f"perfiliev+days_per_year=252@v{ENGINE_VERSION}"
    assert row["net_gex"] / 1e9 == pytest.approx(-17.4866, abs=5e-5)
    chains = run_home(tmp_path, "sql", "SELECT count(*) AS n FROM chains", "--format", "csv")
    assert chains.stdout.splitlines()[1] == str(2 * 9689)


@pytest.mark.refdata
def test_imports_then_regime_daily_joins_them(refdata, tmp_path):
    dix, bars = import_dix_and_sp500(run_home, tmp_path, refdata)
    assert dix.returncode == 0 and "covering 2011-05-02 .. 2026-08-07" in dix.stdout
    assert bars.returncode == 0 and "note: 5075 bars have open 0" in bars.stdout
    out = run_home(
        tmp_path,
        "sql",
        "SELECT price_source, count(*) AS n, max(abs(spot - close) / spot) AS gap, "
        "max(trade_date) AS last FROM regime_daily GROUP BY ALL ORDER BY 1",
        "--format",
        "json",
    )
    rows = {r["price_source"]: r for r in json.loads(out.stdout)}
    # Full Yahoo bars win over DIX.csv's close-only ones, up to the Yahoo file's last day.
    assert rows["yahoo"]["n"] + rows["squeezemetrics"]["n"] == 3840
    assert rows["yahoo"]["last"] == "2023-12-28" and rows["yahoo"]["gap"] < 0.01
    assert rows["squeezemetrics"]["gap"] < 1e-9


def test_bad_bars_write_nothing(tmp_path):
    bad = tmp_path / "bars.csv"
    bad.write_text("date,open,high,low,close\n2024-03-01,10,9,11,10\n")
    result = run_home(tmp_path, "prices", "import", str(bad), "--symbol", "SPY")
    assert result.returncode == 2 and "line 2: high below low" in result.stderr
    assert not (tmp_path / "lake").exists()


def test_failures_reach_the_exit_code(tmp_path):
    bad = tmp_path / "lake" / "snapshots" / "symbol=SPY" / "month=2024-03"
    bad.mkdir(parents=True)
    (bad / "SPY_2024-03.parquet").write_bytes(b"not parquet at all")
    result = run_home(tmp_path, "doctor")
    assert result.returncode == 1 and "unreadable Parquet" in result.stdout
