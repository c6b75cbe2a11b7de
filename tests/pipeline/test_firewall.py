"""The firewall's defences of gammalake issue 20, one by one (the corpus in
tests/pipeline/sources/fuzz/ covers them file by file).
"""

from __future__ import annotations

import math
import os
import threading
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from flows.capture import Pricing
from flows.store import store_chain
from gammalake.cli.chain import chain_symbol
from pipeline.chain import Chain, duplicate_contracts
from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import ChainFormatError, InputError
from pipeline.firewall import (
    GAMMA_RANGE,
    IV_RANGE,
    SPOT_RANGE,
    STRIKE_SPOT_FACTOR,
    RejectedError,
    check_chain,
    check_contents,
)
from pipeline.normalize import PayloadError, snapshot_rows
from pipeline.roots import ROOTS, canonical_id, roots_of, symbol_of_root
from pipeline.sources.chains import has_own_time, read_chain, regular_file
from pipeline.sources.files import ChainFolderSource
from pipeline.sources.tabular import read_capped
from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake

FUZZ = Path(__file__).parent / "sources" / "fuzz"
AS_OF = datetime(2024, 1, 5, 16, 15, tzinfo=NEW_YORK)


def chain(spot: float = 470.5, symbol: str = "SPY", **columns: list) -> Chain:
    """Return a two-contract chain, `columns` replacing or adding whole columns."""
    frame = {
        "expiration": [date(2024, 1, 19)] * 2,
        "strike": [465.0, 470.0],
        "right": ["C", "P"],
        "open_interest": [100, 50],
        "iv": [0.14, 0.15],
    } | columns
    return Chain(symbol, spot, AS_OF, pl.DataFrame(frame), origin="test.csv")


# --- non-finite outputs ------------------------------------------------------------------


def test_an_overflowing_spot_is_refused_before_the_engine_runs():
    with pytest.raises(RejectedError, match=r"test.csv: spot 1e\+300 is outside"):
        check_contents(chain(spot=1e300))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_rows_the_engine_overflowed_are_never_handed_to_the_writer():
    """The guard behind the firewall: what the engine makes of 1e300 is inf, and refused."""
    huge = chain(spot=1e300, open_interest=[10**7, 10**7])  # DEX = OI x 100 x delta x spot
    payloads = ExposureSnapshot(huge, preset("default")).payloads()
    assert not math.isfinite(payloads["dex"]["net_dex"])  # what used to be stored
    with pytest.raises(PayloadError, match=r"SPY .*net_dex is inf"):
        snapshot_rows(payloads, source="chains", method="default@test")


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        ({"strike": [465.0, 1e12]}, "strike is outside"),
        ({"strike": [465.0, 1e-300]}, "strike is below spot"),
        ({"strike": [465.0, 470.5 * STRIKE_SPOT_FACTOR * 1.01]}, "more than 100 times spot"),
        ({"iv": [0.14, IV_RANGE[1] + 0.01]}, "iv is outside [0, 20]"),
        ({"iv": [0.14, 1e-300]}, "iv is above 0 but below 0.0001"),
        ({"gamma": [0.01, GAMMA_RANGE[1] * 2]}, "gamma is outside"),
        ({"gamma": [0.01, -0.01]}, "gamma is outside"),
        ({"delta": [0.5, -1.5]}, "delta is outside [-1, 1]"),
        ({"open_interest": [100, 2_000_000_000]}, "open_interest is outside"),
        ({"bid": [1.0, 1e9]}, "bid is outside"),
        ({"expiration": [date(2024, 1, 19), date(2099, 1, 16)]}, "expiration 2099-01-16"),
    ],
)
def test_implausible_numbers_are_refused_naming_the_field_and_row(columns, field):
    with pytest.raises(RejectedError) as err:
        check_contents(chain(**columns))
    assert field in str(err.value) and "test.csv: contract row 2" in str(err.value)


def test_the_bounds_let_real_extremes_through():
    """BRK.A's price, a 2000 % IV (just under), a 0DTE gamma, the widest real strikes."""
    check_contents(chain(spot=SPOT_RANGE[1] * 0.07, strike=[600_000.0, 700_000.0]))
    check_contents(chain(iv=[19.99, 0.0], gamma=[5_000.0, 0.0], delta=[1.0, -1.0]))
    check_contents(chain(spot=4.0, strike=[0.5, 40.0]))
    # NDX lists a 1.0 strike at spot 14,694 (refdata), and a crashed stock keeps strikes far up.
    check_contents(chain(spot=14_694.4, strike=[1.0, 15_000.0]))
    check_contents(chain(spot=0.5, strike=[0.5, 45.0]))


# --- duplicates and roots ----------------------------------------------------------------


def test_a_contract_listed_again_with_a_padded_root_is_a_duplicate():
    ids = ["SPY230915C00450000", "SPY   230915C00450000", "spy230915c00450000"]
    frame = pl.DataFrame({"contract": ids, "expiration": [date(2023, 9, 15)] * 3})
    frame = frame.with_columns(strike=pl.lit(450.0), right=pl.lit("C"))
    [(key, rows)] = duplicate_contracts(frame).iter_rows()
    assert key == "SPY230915C00450000" and rows == [0, 1, 2]
    assert canonical_id(" SPXW  240105C04700000 ") == "SPXW240105C04700000"


def test_padded_duplicates_no_longer_double_net_gex():
    with pytest.raises(RejectedError, match="SPY230915C00450000 listed 2 times"):
        check_contents(chain(contract=["SPY230915C00450000", "SPY   230915C00450000"]))


def test_every_root_belongs_to_its_symbol_and_no_other():
    assert roots_of("spx") == {"SPX", "SPXW"} and roots_of("QQQ") == {"QQQ"}
    for symbol, roots in ROOTS.items():
        assert all(symbol_of_root(root) == symbol for root in roots)
    assert roots_of("XSP") == {"XSP"}


@pytest.mark.parametrize(
    ("symbol", "ids", "refused"),
    [
        ("SPY", ["QQQ240119C00465000", "QQQ240119P00470000"], "'QQQ'"),
        ("SPX", ["SPXW240119C00465000", "NDXP240119P00470000"], "'NDXP'"),
        ("SPX", ["SPXW240119C00465000", "SPX240119P00470000"], None),
        ("NDX", ["NDXP240119C00465000", "NDX240119P00470000"], None),
        ("VIX", ["VIXW240119C00465000", "VIX240119P00470000"], None),
        ("RUT", ["RUTW240119C00465000", "RUT240119P00470000"], None),
        ("XSP", ["XSPW240119C00465000", "XSP240119P00470000"], "'XSPW'"),
        ("SPY", ["SPY1240119C00465000", "SPY240119P00470000"], "'SPY1'"),
        ("SPY", ["row-1", "row-2"], None),  # ids that are not OSI say nothing of roots
    ],
)
def test_a_chain_holds_only_its_symbol_s_roots(symbol, ids, refused):
    subject = chain(symbol=symbol, contract=ids)
    if refused is None:
        check_contents(subject)
        return
    with pytest.raises(RejectedError, match=rf"root {refused} does not belong to {symbol}"):
        check_contents(subject)


def test_a_feed_chain_s_root_column_is_checked_too():
    subject = chain(root=["QQQ", "QQQ"], contract=["QQQ240119C00465000", "QQQ240119P00470000"])
    with pytest.raises(RejectedError, match="root 'QQQ' does not belong to SPY"):
        check_chain(subject, "SPY", None, datetime.now(NEW_YORK))


def test_a_refused_chain_stores_nothing(tmp_path):
    bad = chain(contract=["SPY230915C00450000", "SPY   230915C00450000"])
    with pytest.raises(RejectedError, match="listed 2 times"):
        store_chain(tmp_path, bad, Pricing(preset("default")))
    assert not list(tmp_path.glob("lake/**/*.parquet"))


def test_a_valid_odd_chain_is_stored_with_finite_figures(tmp_path):
    odd = read_chain(FUZZ / "ok_cboe_crlf.csv")
    store_chain(tmp_path, odd, Pricing(preset("default")))
    row = Lake(tmp_path).read("snapshots").row(0, named=True)
    assert row["symbol"] == "SPY" and math.isfinite(row["net_gex"]) and row["net_gex"] > 0


# --- files the readers choke on ------------------------------------------------------------


def _within(seconds: float, work) -> object:
    """Return work()'s result; fail (rather than hang the suite) if it never ends."""
    out: list[object] = []
    worker = threading.Thread(target=lambda: out.append(work()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the reader blocked"
    return out[0] if out else None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_a_chains_folder_is_skipped_and_refused_without_blocking(tmp_path, caplog):
    fifo = tmp_path / "SPY_2024-01-05.csv"
    os.mkfifo(fifo)
    assert _within(600, lambda: regular_file(fifo)) is False
    assert "is not a regular file (a FIFO): skipped" in caplog.text
    assert (
        _within(600, lambda: ChainFolderSource(tmp_path).file_for("SPY", date(2024, 1, 5))) is None
    )

    def read() -> str:
        with pytest.raises(ChainFormatError) as err:
            read_chain(fifo)
        return str(err.value)

    assert "is not a regular file (a FIFO)" in str(_within(600, read))


def test_a_link_to_dev_zero_is_refused_not_read(tmp_path):
    link = tmp_path / "SPY_2024-01-05.csv"
    link.symlink_to("/dev/zero")
    assert not regular_file(link)
    with pytest.raises(ChainFormatError, match="is not a regular file \\(a device\\)"):
        read_chain(link)
    with pytest.raises(ChainFormatError, match="a device"):
        read_capped(link, ChainFormatError)


def test_bytes_read_from_a_file_are_capped(tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(ChainFormatError, match="is larger than 1,024 bytes"):
        read_capped(big, ChainFormatError, limit=1024)
    assert read_capped(big, ChainFormatError, limit=2048) == b"x" * 2048


def test_a_link_to_a_regular_file_is_read(tmp_path):
    link = tmp_path / "SPY_2024-01-05.csv"
    link.symlink_to(FUZZ / "ok_cboe_plain.csv")
    assert regular_file(link) and read_chain(link).symbol == "SPY"


# --- the symbol `gammalake chain` is given --------------------------------------------------


@pytest.mark.parametrize("text", ["sp y", "^SPX", "_SPX", "", "A" * 40, "SPY,QQQ", "ß"])
def test_chain_refuses_a_symbol_no_chain_can_have(text):
    with pytest.raises((InputError, WarehouseInputError)) as err:
        chain_symbol(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("text", "symbol"), [("spy", "SPY"), (" SPX ", "SPX"), ("BRK.B", "BRK.B")])
def test_chain_accepts_a_ticker_in_any_case(text, symbol):
    assert chain_symbol(text) == symbol


def test_a_file_s_own_symbol_must_be_a_ticker_too():
    with pytest.raises(RejectedError, match="symbol '\\^SPX' is not a ticker"):
        check_contents(chain(symbol="^SPX"))


def test_telling_a_file_s_own_time_never_raises_on_garbage(tmp_path):
    """A garbage Parquet in a chains folder is refused by read_chain, not by a polars error."""
    garbage = tmp_path / "SPY_2024-01-05.parquet"
    garbage.write_bytes(b"PAR1 garbage PAR1")
    assert has_own_time(garbage) is False
    with pytest.raises(ChainFormatError, match="cannot be read as Parquet"):
        read_chain(garbage)
    assert has_own_time(FUZZ / "ok_cboe_plain.csv") and has_own_time(
        FUZZ / "ok_parquet_typed.parquet"
    )
    assert not has_own_time(FUZZ / "generic_no_spot.csv")
