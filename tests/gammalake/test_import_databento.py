"""`gammalake import databento PATH [--at HH:MM]` end to end, on a Databento OPRA day."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from datetime import date, time
from pathlib import Path

import polars as pl
import pytest

from tests.gammalake.test_import_cli import BIN, gammalake, sql, tree
from tests.pipeline.sources.formats.dbn_day import Option, osi, write_day

#: The Tuesday after Martin Luther King Day: its OI is the close of Friday 2024-01-12.
DAY = date(2024, 1, 16)
OI_AS_OF = "2024-01-12"
EXPIRIES = (date(2024, 1, 19), date(2024, 2, 16))
EARLY, AT, LATE = time(15, 44), time(15, 45), time(15, 46)
#: Each underlying's spot by minute; the quotes satisfy put-call parity (r = 0) at it.
SPOTS = {
    "SPY": {EARLY: 473.5, AT: 474.25, LATE: 476.0},
    "QQQ": {EARLY: 405.0, AT: 405.75, LATE: 403.5},
}
STRIKES = {"SPY": (470.0, 474.0, 475.0, 480.0), "QQQ": (400.0, 405.0, 406.0, 410.0)}
AS_OF_1545 = "2024-01-16T15:45:00-05:00"


def _mid(spot: float, strike: float, right: str, expiry: date) -> float:
    """Return a contract's mid: intrinsic value plus a time value that grows with the expiry."""
    extrinsic = 1.5 + 0.05 * (expiry - DAY).days - 0.02 * abs(spot - strike)
    intrinsic = max(spot - strike, 0.0) if right == "C" else max(strike - spot, 0.0)
    return round(intrinsic + extrinsic, 2)


def _quotes(
    symbol: str, expiry: date, strike: float, right: str
) -> dict[time, tuple[float, float]]:
    """Return a contract's (bid, ask) by minute, 10 cents wide around its mid at that spot."""
    mids = {minute: _mid(spot, strike, right, expiry) for minute, spot in SPOTS[symbol].items()}
    return {minute: (mid - 0.05, mid + 0.05) for minute, mid in mids.items()}


def _options() -> list[Option]:
    """Return the day's contracts: calls and puts of both underlyings, 4 strikes, 2 expiries."""
    options = []
    for symbol, strikes in STRIKES.items():
        contracts = [(e, k, r) for e in EXPIRIES for k in strikes for r in "CP"]
        for n, (expiry, strike, right) in enumerate(contracts, 1):
            oi = 100 * n + (7 if right == "C" else 3)  # distinct, so a mix-up shows
            quotes = _quotes(symbol, expiry, strike, right)
            options.append(Option(osi(symbol, expiry, right, strike), symbol, oi, quotes))
    return options


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder holding the day's definition, statistics and cbbo-1m DBN files."""
    folder = tmp_path_factory.mktemp("opra") / "2024-01-16"
    write_day(folder, DAY, _options())
    return folder


@pytest.fixture(scope="module")
def imported(day: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a home into which the day folder was imported once (default minute 15:45)."""
    home = tmp_path_factory.mktemp("home") / "home"
    result = gammalake(home, "import", "databento", str(day))
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "stored 2 snapshot(s)" in result.stdout, result.stdout
    return home


def _zipped(day: Path, folder: Path) -> Path:
    """Return a .zip of the day folder (its files under the folder's name)."""
    archive = folder / "opra-day.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(day.iterdir()):
            z.write(path, f"{day.name}/{path.name}")
    return archive


def _bid_ask(home: Path, contract: str) -> tuple[float, float]:
    """Return the stored bid and ask of one contract in the `chains` dataset."""
    rows = sql(home, f"SELECT bid, ask FROM chains WHERE contract = '{contract}'")
    assert len(rows) == 1, rows
    return float(str(rows[0]["bid"])), float(str(rows[0]["ask"]))


def test_a_day_folder_stores_both_symbols_at_1545_with_the_previous_sessions_oi(
    imported: Path,
) -> None:
    rows = sql(
        imported,
        "SELECT symbol, source, strftime(timezone('America/New_York', as_of), '%Y-%m-%d %H:%M')"
        " AS at FROM snapshots ORDER BY symbol",
    )
    assert rows == [
        {"symbol": "QQQ", "source": "databento", "at": "2024-01-16 15:45"},
        {"symbol": "SPY", "source": "databento", "at": "2024-01-16 15:45"},
    ]
    stamps = sql(
        imported,
        "SELECT symbol, count(*) AS n, min(oi_as_of)::VARCHAR AS lo, max(oi_as_of)::VARCHAR AS hi"
        " FROM chains GROUP BY symbol ORDER BY symbol",
    )
    contracts = 2 * len(EXPIRIES) * len(STRIKES["SPY"])
    assert stamps == [
        {"symbol": s, "n": contracts, "lo": OI_AS_OF, "hi": OI_AS_OF} for s in ("QQQ", "SPY")
    ]


def test_the_spot_is_put_call_parity_at_1545(imported: Path) -> None:
    rows = sql(imported, "SELECT symbol, underlying_price AS spot FROM snapshots ORDER BY symbol")
    assert [r["symbol"] for r in rows] == ["QQQ", "SPY"]
    for row in rows:
        assert row["spot"] == pytest.approx(SPOTS[str(row["symbol"])][AT], rel=1e-12)


def test_at_1546_on_a_fresh_home_prices_the_1546_quotes(
    imported: Path, day: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    result = gammalake(home, "import", "databento", str(day), "--at", "15:46")
    assert result.returncode == 0, (result.stdout, result.stderr)
    rows = sql(
        home,
        "SELECT strftime(timezone('America/New_York', as_of), '%H:%M') AS at,"
        " underlying_price AS spot FROM snapshots WHERE symbol = 'SPY'",
    )
    assert rows[0]["at"] == "15:46"
    assert rows[0]["spot"] == pytest.approx(SPOTS["SPY"][LATE], rel=1e-12)
    contract = osi("SPY", EXPIRIES[0], "C", 474.0).replace(" ", "")
    late, at = _bid_ask(home, contract), _bid_ask(imported, contract)
    assert late != at
    mid = _mid(SPOTS["SPY"][LATE], 474.0, "C", EXPIRIES[0])
    assert late == pytest.approx((mid - 0.05, mid + 0.05), rel=1e-12)


def test_a_second_run_stores_nothing_new(imported: Path, day: Path) -> None:
    before = sql(imported, "SELECT count(*) AS n FROM snapshots")
    again = gammalake(imported, "import", "databento", str(day))
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert "nothing new: all 2 (symbol, session) pairs are already stored" in again.stdout
    assert sql(imported, "SELECT count(*) AS n FROM snapshots") == before == [{"n": 2}]


def test_a_zip_of_the_folder_imports_like_the_folder(
    imported: Path, day: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    archive = _zipped(day, tmp_path)
    result = gammalake(home, "import", "databento", str(archive))
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "stored 2 snapshot(s)" in result.stdout
    query = "SELECT symbol, source, as_of, underlying_price, net_gex FROM snapshots ORDER BY symbol"
    assert sql(home, query) == sql(imported, query)


def test_symbols_spy_stores_only_spy(day: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = gammalake(home, "import", "databento", str(day), "--symbols", "SPY")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert sql(home, "SELECT symbol FROM snapshots") == [{"symbol": "SPY"}]
    assert sql(home, "SELECT DISTINCT symbol FROM chains") == [{"symbol": "SPY"}]


def test_a_folder_without_its_definition_file_is_refused_whole(
    imported: Path, day: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "no-definition"
    shutil.copytree(day, folder)
    (folder / "opra-pillar-20240116.definition.dbn").unlink()
    before = tree(imported)
    result = gammalake(imported, "import", "databento", str(folder), "--force")
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert str(folder) in lines[0] and "no definition DBN file" in lines[0], lines
    assert tree(imported) == before


@pytest.mark.parametrize("symbol", ["SPY", "QQQ"])
def test_stored_exposures_equal_gammalake_chain_on_the_same_contracts(
    imported: Path, tmp_path: Path, symbol: str
) -> None:
    mine = [o for o in _options() if o.underlying == symbol]
    generic = pl.DataFrame(
        {
            "expiration": [o.expiration.isoformat() for o in mine],
            "strike": [o.strike for o in mine],
            "right": [o.right for o in mine],
            "open_interest": [o.oi for o in mine],
            "bid": [o.quotes[AT][0] for o in mine],
            "ask": [o.quotes[AT][1] for o in mine],
        }
    )
    path = tmp_path / f"{symbol}.csv"
    generic.write_csv(path)
    stored = sql(imported, f"SELECT * FROM snapshots WHERE symbol = '{symbol}'")[0]
    flags = [
        "--json",
        "--symbol",
        symbol,
        "--spot",
        repr(stored["underlying_price"]),
        "--as-of",
        AS_OF_1545,
    ]
    result = subprocess.run(
        [str(BIN), "chain", str(path), *flags], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr
    payloads = json.loads(result.stdout)
    expected = {**payloads["summary"]["exposures"], "gamma_flip": payloads["gex"]["gamma_flip"]}
    assert stored["net_gex"] == pytest.approx(expected["net_gex"], rel=1e-9)
    for name, value in expected.items():
        assert stored[name] == pytest.approx(value, rel=1e-9), name
