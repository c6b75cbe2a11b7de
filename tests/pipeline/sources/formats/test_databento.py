"""Databento OPRA DBN days (definition + statistics + cbbo-1m), written with databento-dbn."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, time
from pathlib import Path

import pytest

from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sources.formats.base import ReadOptions, VendorChain, open_inputs
from tests.pipeline.sources.formats.dbn_day import Option, osi, write_day
from tests.pipeline.sources.formats.support import (
    DATA,
    assert_same_as_chain_command,
    by_symbol,
    read_all,
)

DAY = date(2024, 1, 5)
SPOT = 4702.5
EARLY, AT, LATE = time(15, 44), time(15, 45), time(15, 46)


def _pair(root: str, expiry: date, strike: float, spot: float, oi: int | None) -> list[Option]:
    """Return a call and a put whose 15:45 mids satisfy C - P = spot - K (r = 0)."""
    call_mid = max(spot - strike, 0.0) + 6.0
    put_mid = call_mid - (spot - strike)
    call = {EARLY: (call_mid - 3, call_mid - 2), AT: (call_mid - 0.5, call_mid + 0.5), LATE: (1, 2)}
    put = {EARLY: (put_mid + 2, put_mid + 3), AT: (put_mid - 0.5, put_mid + 0.5), LATE: (1, 2)}
    underlying = "SPX" if root.startswith("SPX") else root
    return [
        Option(osi(root, expiry, "C", strike), underlying, oi, call),
        Option(osi(root, expiry, "P", strike), underlying, oi, put),
    ]


def _options() -> list[Option]:
    """Return a small OPRA day: SPX 0DTE weeklies around SPOT, an SPX monthly, and QQQ."""
    options = [o for k in (4690, 4700, 4705, 4710) for o in _pair("SPXW", DAY, k, SPOT, 1000)]
    # The monthly's quotes imply another price: parity must use the nearest expiry only.
    options += _pair("SPX", date(2024, 1, 19), 4700, 4800.0, 500)
    options += _pair("QQQ", date(2024, 1, 12), 400, 401.25, 2000)
    options.append(Option(osi("QQQ", date(2024, 1, 12), "C", 410), "QQQ", None, {AT: (1.0, 1.1)}))
    return options


@pytest.fixture
def day(tmp_path: Path) -> list[Path]:
    """Return the three DBN files of the test day (definition, statistics, cbbo-1m)."""
    return write_day(tmp_path / "opra", DAY, _options())


def _chains(path: Path, at: time | None = None) -> dict[str, VendorChain]:
    """Return the chains read from `path`, by symbol."""
    return by_symbol(read_all("databento", path, ReadOptions(at=at)))


def test_the_quote_file_reads_its_day_and_the_other_files_yield_nothing(day: list[Path]) -> None:
    definition, statistics, cbbo = day
    assert read_all("databento", definition) == [] and read_all("databento", statistics) == []
    chains = _chains(cbbo)
    assert list(chains) == ["QQQ", "SPX"]
    spx = chains["SPX"].chain.frame
    assert "SPXW240105C04700000" in spx.get_column("contract").to_list()
    assert "SPX240119P04700000" in spx.get_column("contract").to_list()
    assert set(spx.get_column("open_interest").to_list()) == {1000, 500}
    qqq = chains["QQQ"].chain.frame
    no_oi = qqq.filter(qqq["contract"] == "QQQ240112C00410000")
    assert no_oi.get_column("open_interest").to_list() == [0]  # no OPEN_INTEREST record


def test_a_day_folder_and_zstd_files_read_the_same(day: list[Path], tmp_path: Path) -> None:
    from_file = _chains(day[2])
    from_folder = _chains(day[2].parent)
    zstd = write_day(tmp_path / "zstd", DAY, _options(), zstd=True)
    from_zstd = _chains(zstd[2])
    for symbol in ("SPX", "QQQ"):
        frame = from_file[symbol].chain.frame
        assert from_folder[symbol].chain.frame.equals(frame)
        assert from_zstd[symbol].chain.frame.equals(frame)


def test_spot_from_put_call_parity_at_the_nearest_expiry(day: list[Path]) -> None:
    chains = _chains(day[2])
    assert chains["SPX"].chain.spot == pytest.approx(SPOT, rel=1e-12)
    assert chains["QQQ"].chain.spot == pytest.approx(401.25, rel=1e-12)


def test_quotes_are_the_last_at_or_before_the_minute(day: list[Path]) -> None:
    def bid(chains: dict[str, VendorChain]) -> float:
        frame = chains["SPX"].chain.frame
        return float(frame.filter(frame["contract"] == "SPXW240105C04700000")["bid"][0])

    call_mid = SPOT - 4700 + 6.0
    assert bid(_chains(day[2])) == pytest.approx(call_mid - 0.5)  # 15:45, not 15:46's
    assert bid(_chains(day[2], at=EARLY)) == pytest.approx(call_mid - 3)


def test_point_in_time_as_of_is_the_minute_and_oi_the_previous_session(day: list[Path]) -> None:
    spx = _chains(day[2])["SPX"]
    assert spx.chain.as_of == datetime(2024, 1, 5, 15, 45, tzinfo=NEW_YORK)
    assert (spx.session, spx.oi_as_of) == (DAY, date(2024, 1, 4))
    assert _chains(day[2], at=EARLY)["SPX"].chain.as_of.minute == 44


@pytest.mark.parametrize("symbol", ["SPX", "QQQ"])
def test_prices_exactly_as_the_chain_command(symbol: str, day: list[Path], tmp_path: Path) -> None:
    assert_same_as_chain_command(_chains(day[2])[symbol], tmp_path)


def test_a_quote_file_without_its_definition_is_refused(day: list[Path]) -> None:
    day[0].unlink()
    with pytest.raises(InputError, match=r"no definition DBN file of OPRA\.PILLAR 2024-01-05"):
        read_all("databento", day[2])


def test_a_csv_or_a_truncated_file_is_refused(day: list[Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"looks like a Cboe DataShop .* not Databento OPRA DBN"):
        read_all("databento", DATA / "datashop_calcs.csv")
    broken = tmp_path / "broken.dbn"
    broken.write_bytes(day[2].read_bytes()[:20])
    with pytest.raises(InputError, match="is not a DBN file"):
        read_all("databento", broken)


def test_a_zip_of_the_days_files_reads_the_day_once(day: list[Path], tmp_path: Path) -> None:
    archive = tmp_path / "opra.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in day:
            z.write(path, f"2024-01-05/{path.name}")
    read = []
    for path, label in open_inputs([archive]):
        chains = read_all("databento", path, ReadOptions(origin=label))
        read += [(label, vc.chain.symbol) for vc in chains]
    assert read == [
        (f"{archive}:2024-01-05/opra-pillar-20240105.cbbo-1m.dbn", "QQQ"),
        (f"{archive}:2024-01-05/opra-pillar-20240105.cbbo-1m.dbn", "SPX"),
    ]
