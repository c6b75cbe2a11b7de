"""Open-Close files into the lake, and the dealer positions they give, checked by hand.

The fixtures (tests/pipeline/sources/formats/data/C1OpenClose_2023-11-2{2,4}.csv) hold, per
contract (mm = market makers; L/S = what the other origins opened and still hold long/short):
  SPX 2023-12-15 4500 C   11-22: mm sells 100, customers open-buy 60 + 40   N=-100 L=100 S=0
                          11-24: mm buys 30, customers close-sell 30; a firm
                                 open-sells 50 to a customer open-buying 50 N=+30  L=+20 S=50
  SPXW 2023-12-15 4500 C  11-22: mm buys 20, a customer open-sells 20        N=+20  L=0   S=20
  SPXW 2023-11-24 4550 P  11-22: mm buys 50, firm open-buys 250,
                                 customers open-sell 300                     N=+50  L=250 S=300
  SPY 2023-12-15 450 P    11-22: mm sells 30, a broker-dealer open-buys 30   N=-30  L=30  S=0
                          11-24: mm buys 20 sells 10, pro customer open-buys
                                 10, the broker-dealer close-sells 20        N=+10  L=-10 S=0
share = N / max(L, S, |N|, 0); dealer_position = share x open interest.
"""

from __future__ import annotations

import gzip
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from flows.openclose import (
    attach_positions,
    dealer_positions,
    import_open_close,
    require_positions,
    stored_volumes,
)
from pipeline.chain import Chain
from pipeline.engine.book import build_book
from pipeline.engine.presets import preset
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from tests.pipeline.sources.formats.support import DATA
from warehouse.lake import Lake

DAY1 = DATA / "C1OpenClose_2023-11-22.csv"
DAY2 = DATA / "C1OpenClose_2023-11-24.csv"
MONDAY = date(2023, 11, 27)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Return a home holding both fixture days."""
    folder = tmp_path / "home"
    import_open_close(folder, [DAY1, DAY2])
    return folder


def stored(home: Path) -> pl.DataFrame:
    """Return the stored open_close rows without the import time, in a stable order."""
    return Lake(home).read("open_close").drop("fetched_at").sort("trade_date", "contract")


def by_contract(frame: pl.DataFrame) -> dict[str, dict[str, object]]:
    """Return the rows of `frame` by contract id."""
    return {row["contract"]: row for row in frame.iter_rows(named=True)}


def test_an_import_counts_and_stores_every_row_stamped_at_the_close(tmp_path):
    home = tmp_path / "home"
    imported = import_open_close(home, [DAY1, DAY2])
    assert (imported.files, imported.days, imported.symbols) == (2, 2, 2)
    assert (imported.rows, imported.nonstandard, imported.exchanges) == (7, 1, ["C1"])
    assert (imported.first, imported.last) == (date(2023, 11, 22), date(2023, 11, 24))
    rows = stored(home)
    assert rows.height == 7
    assert set(rows.get_column("source")) == {"cboe-openclose"}
    closes = dict(zip(rows.get_column("trade_date"), rows.get_column("as_of"), strict=True))
    # 16:00 New York, and 13:00 on the half day after Thanksgiving.
    assert closes[date(2023, 11, 22)] == datetime(2023, 11, 22, 21, 0, tzinfo=UTC)
    assert closes[date(2023, 11, 24)] == datetime(2023, 11, 24, 18, 0, tzinfo=UTC)


def test_re_importing_leaves_one_copy_whatever_the_packaging(home, tmp_path):
    before = stored(home)
    import_open_close(home, [DAY1, DAY2])
    archive = tmp_path / "days.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(DAY1, DAY1.name)
    packed = tmp_path / f"{DAY2.name}.gz"
    packed.write_bytes(gzip.compress(DAY2.read_bytes()))
    again = import_open_close(home, [archive, packed])
    assert again.rows == 7
    assert stored(home).equals(before)


def test_files_past_the_memory_budget_are_read_again_to_the_same_rows(home, tmp_path, monkeypatch):
    monkeypatch.setattr("flows.openclose.KEEP_ROWS", 2)
    archive = tmp_path / "days.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(DAY1, DAY1.name)
        z.write(DAY2, DAY2.name)
    other = tmp_path / "other"
    assert import_open_close(other, [archive]).rows == 7
    assert stored(other).equals(stored(home))


def test_a_bad_file_among_good_ones_writes_nothing(tmp_path):
    bad = tmp_path / "C1OpenClose_2023-11-27.csv"
    bad.write_text(DAY2.read_text().replace("2023-11-24,^SPX", "2023-11-27,^SPX", 1) + "x,y\n")
    home = tmp_path / "home"
    with pytest.raises(InputError, match=r"C1OpenClose_2023-11-27.csv, line 5"):
        import_open_close(home, [DAY1, bad])
    assert not Lake(home).has_files("open_close")


def test_two_inputs_of_one_exchange_and_session_are_refused(tmp_path):
    copy = tmp_path / DAY1.name
    copy.write_bytes(DAY1.read_bytes())
    with pytest.raises(InputError, match=r"holds C1 2023-11-22 like .*one file per exchange"):
        import_open_close(tmp_path / "home", [DAY1, copy])


def test_symbols_that_match_no_row_are_refused(tmp_path):
    with pytest.raises(InputError, match="no rows of QQQ to import"):
        import_open_close(tmp_path / "home", [DAY1], frozenset({"QQQ"}))


def test_positions_cumulate_the_sessions_before_the_day(home):
    spx = by_contract(dealer_positions(home, "SPX", MONDAY))
    assert set(spx) == {"SPX231215C04500000", "SPXW231215C04500000"}  # 11-24 expiry gone
    monthly = spx["SPX231215C04500000"]
    assert (monthly["mm_net"], monthly["open_long"], monthly["open_short"]) == (-70, 120, 50)
    assert monthly["cboe_open"] == 120 and monthly["open_interest"] == 2400
    assert monthly["share"] == pytest.approx(-70 / 120)
    assert monthly["dealer_position"] == pytest.approx(-1400.0)
    assert spx["SPXW231215C04500000"]["dealer_position"] == pytest.approx(500.0)
    spy = by_contract(dealer_positions(home, "SPY", MONDAY))["SPY231215P00450000"]
    # Closes of a position opened before the files (L = -10 on 11-24) do not lift |share| > 1.
    assert (spy["mm_net"], spy["open_long"], spy["cboe_open"]) == (-20, 20, 20)
    assert spy["dealer_position"] == pytest.approx(-6000.0)  # the last file's OI, 6000


def test_a_days_own_file_is_not_used(home):
    """Point in time: on 11-24 only the 11-22 file was published."""
    spx = by_contract(dealer_positions(home, "SPX", date(2023, 11, 24)))
    assert spx["SPX231215C04500000"]["mm_net"] == -100
    assert spx["SPX231215C04500000"]["dealer_position"] == pytest.approx(-2400.0)
    assert spx["SPXW231124P04550000"]["share"] == pytest.approx(50 / 300)
    assert spx["SPXW231124P04550000"]["dealer_position"] == pytest.approx(200.0)
    spy = by_contract(dealer_positions(home, "SPY", date(2023, 11, 24)))
    assert spy["SPY231215P00450000"]["dealer_position"] == pytest.approx(-6100.0)
    assert dealer_positions(home, "SPX", date(2023, 11, 22)).height == 0
    assert stored_volumes(home, "SPX", date(2023, 11, 23)).height == 3


def test_a_net_beyond_the_files_open_contracts_is_capped_at_the_open_interest(tmp_path):
    """Only closing trades in the files (history starts late): |position| stays <= OI."""
    frame = pl.read_csv(DAY1, infer_schema=False).head(1)
    volumes = [c for c in frame.columns if c.endswith("_vol") and c != "total_exchange_vol"]
    frame = frame.with_columns(pl.lit("0").alias(c) for c in volumes).with_columns(
        pl.lit("40").alias("mm_buy_vol"), pl.lit("40").alias("cust_lt_100_close_sell_vol")
    )
    path = tmp_path / "C1OpenClose_2023-11-22.csv"
    frame.write_csv(path)
    import_open_close(tmp_path / "home", [path])
    row = dealer_positions(tmp_path / "home", "SPX", MONDAY).row(0, named=True)
    assert (row["mm_net"], row["open_long"], row["cboe_open"]) == (40, -40, 40)
    assert row["dealer_position"] == pytest.approx(2400.0)


def chain(frame: pl.DataFrame) -> Chain:
    """Return an SPX chain on Monday 2023-11-27 at 10:00 New York."""
    return Chain("SPX", 4550.0, datetime(2023, 11, 27, 10, 0, tzinfo=NEW_YORK), frame)


def test_attach_positions_scales_each_contracts_share_to_the_chains_open_interest(home):
    frame = pl.DataFrame(
        {
            "expiration": [date(2023, 12, 15)] * 3,
            "strike": [4500.0, 4500.0, 4600.0],
            "right": ["C", "C", "C"],
            "open_interest": [3000, 800, 900],
            "iv": [0.15, 0.15, 0.14],
            "contract": ["SPX231215C04500000", "SPXW231215C04500000", "SPX231215C04600000"],
        }
    )
    out = attach_positions(home, chain(frame)).frame
    assert out.schema["dealer_position"] == pl.Float64
    assert out.get_column("contract").to_list() == frame.get_column("contract").to_list()
    positions = out.get_column("dealer_position").to_list()
    assert positions[0] == pytest.approx(-70 / 120 * 3000)  # -1750
    assert positions[1] == pytest.approx(800.0)
    assert positions[2] is None  # not in the files: no position


def test_without_contract_ids_the_roots_of_a_strike_are_summed(home):
    frame = pl.DataFrame(
        {
            "expiration": [date(2023, 12, 15)],
            "strike": [4500.0],
            "right": ["C"],
            "open_interest": [1200],
        }
    )
    out = attach_positions(home, chain(frame)).frame
    # N = -70 + 20, L = 120 + 0, S = 50 + 20: share = -50 / 120.
    assert out.get_column("dealer_position").to_list() == [pytest.approx(-500.0)]


def test_the_open_close_preset_prices_the_attached_positions(home):
    frame = pl.DataFrame(
        {
            "expiration": [date(2023, 12, 15)] * 2,
            "strike": [4500.0, 4600.0],
            "right": ["C", "C"],
            "open_interest": [3000, 900],
            "iv": [0.15, 0.14],
            "contract": ["SPX231215C04500000", "SPX231215C04600000"],
        }
    )
    book = build_book(attach_positions(home, chain(frame)), preset("open_close"))
    # Contracts x 100: dealers short 1,750 calls of 4500, nothing of 4600.
    assert book.position.tolist() == [pytest.approx(-175_000.0), 0.0]


def test_pricing_a_chain_the_files_say_nothing_of_is_refused(home, tmp_path):
    frame = pl.DataFrame(
        {
            "expiration": [date(2023, 12, 15)],
            "strike": [4700.0],
            "right": ["P"],
            "open_interest": [10],
        }
    )
    with pytest.raises(InputError, match=r"SPX: no Cboe Open-Close data .* before 2023-11-27"):
        require_positions(home, chain(frame))
    with pytest.raises(InputError, match="SPX: no Cboe Open-Close data"):
        require_positions(tmp_path / "empty", chain(frame))
    kept = frame.with_columns(pl.lit(4500.0).alias("strike"), pl.lit("C").alias("right"))
    assert require_positions(home, chain(kept)).frame.get_column("dealer_position").to_list() == [
        pytest.approx(-50 / 120 * 10)
    ]
