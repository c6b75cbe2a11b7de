"""Databento OPRA DBN files (definition + statistics + cbbo-1m), read with databento-dbn.

One day of OPRA is three DBN files (plain `.dbn` or zstd `.dbn.zst`) side by side in one folder:
- `definition`: the instruments (raw_symbol `SPXW  240105C04700000`, instrument_class C/P,
  strike_price in units of 1e-9, expiration, underlying `SPX`);
- `statistics`: OPEN_INTEREST records (stat_type 9) with the OI in `quantity`;
- a quote schema (`cbbo-1m`, also cbbo-1s, bbo-1m, bbo-1s, tcbbo, tbbo, mbp-1, cmbp-1): the
  best bid and offer.

`read(path)` takes either one day folder, or any one DBN file: a quote file is read together
with the definition and statistics files of the same dataset and day found beside it; a
definition or statistics file yields nothing (its day is read with its quote file). So a
caller may pass every file of a folder (as open_inputs expands it) and reads each day once.
The day is the UTC date of the quote file's metadata `start` (Databento's daily files).

Point in time: as_of = ReadOptions.at (default 15:45) New York on that day. Quotes: per
instrument the last record of the day with ts_recv at or before as_of. In the interval schemas
(cbbo-1m, bbo-1m) ts_recv is the end of the interval, clamped to the minute, and no record is
written for a minute without updates, so this is the book as of as_of itself, carried forward
from the last update. Open interest: per instrument the last OPEN_INTEREST record received by
as_of; OPRA sends it around 06:30 ET and it is the open interest at the previous session's
close, so oi_as_of = the previous NYSE session.
Instruments with no OI record have OI 0; with no quote, bid/ask are null (the engine counts
what it cannot price). Volume, IV and greeks are not in these schemas (IV is solved from the
mid when the preset allows).

Spot: OPRA carries no underlying price, so it is taken from put-call parity at as_of: in the
nearest expiry with two-sided quotes on both sides of some strike, spot = K + C_mid - P_mid,
the median over the (up to) 3 strikes where |C_mid - P_mid| is smallest. Rates and dividends
are ignored: K + C - P = S e^(-qT) + K (1 - e^(-rT)), off by about K (r - q) T, i.e. at 5%,
0.014% of the price per day to expiry (0.6 SPX points a day; nearly nothing for the 0DTE
expiry an index has every day). Underlyings with no such pair are left out and logged.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO

import polars as pl

from pipeline.engine.timing import NEW_YORK
from pipeline.errors import FileFormatError
from pipeline.roots import OSI_PATTERN
from pipeline.sessions import previous_session
from pipeline.sources.formats.base import (
    LINE,
    DayRules,
    ReadOptions,
    VendorChain,
    article,
    format_for,
    read_header,
    register,
    vendor_chains,
    where_of,
)

#: Quote minute (New York) when ReadOptions.at is not given.
DEFAULT_AT = time(15, 45)
#: Schemas whose records carry a best bid and offer (bid_px_00/ask_px_00).
QUOTE_SCHEMAS = frozenset(
    {"cbbo-1m", "cbbo-1s", "bbo-1m", "bbo-1s", "tcbbo", "tbbo", "mbp-1", "cmbp-1"}
)
#: DBN's "no price" sentinel (i64 max) and its fixed-point scale.
UNDEF_PRICE = 2**63 - 1
PRICE_SCALE = 1e-9
#: The statistics record type holding open interest (databento_dbn.StatType.OPEN_INTEREST).
OPEN_INTEREST = 9
_U64: pl.DataType = pl.UInt64()
_I64: pl.DataType = pl.Int64()
_TEXT: pl.DataType = pl.String()
#: The columns read from each schema's records (prices fixed-point 1e-9, times in ns).
_DEFINITION = {"ts_recv": _U64, "instrument_id": _U64, "raw_symbol": _TEXT}
_DEFINITION |= {"instrument_class": _TEXT, "strike_price": _I64, "underlying": _TEXT}
_STATISTICS = {"ts_recv": _U64, "instrument_id": _U64, "quantity": _I64, "stat_type": _I64}
_QUOTES = {"ts_recv": _U64, "instrument_id": _U64, "bid_px_00": _I64, "ask_px_00": _I64}
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: as_of is given per row (the quote minute); OI is the previous session's close.
RULES = DayRules(close_offset=timedelta(0), oi_previous=True, skip_unpriced=True)
_LABELS = {"open_interest": "quantity", "bid": "bid_px_00", "ask": "ask_px_00"}


@dataclass(frozen=True)
class DbnFile:
    """One DBN file's identity from its metadata: schema, dataset and the day it covers."""

    path: Path
    schema: str
    dataset: str
    day: date


class Databento:
    """The Databento OPRA DBN format (definition + statistics + quotes of one day)."""

    name = "databento"
    title = "Databento OPRA DBN"
    help = "Databento OPRA DBN files: definition + statistics + cbbo-1m of a day, side by side"
    intraday = True  # quotes through the day: the import takes --at HH:MM (default 15:45)

    def matches(self, header: Sequence[str]) -> bool:
        """Return False: DBN files are binary, told apart by dbn_info, never by a CSV header."""
        return False

    def read(self, path: Path, options: ReadOptions) -> Iterator[VendorChain]:
        """Yield one VendorChain per underlying of each day that `path` (file/folder) holds."""
        if path.is_dir():
            days = [f for f in _dbn_files(path) if f.schema in QUOTE_SCHEMAS]
            for quotes in sorted(days, key=lambda f: f.day):
                yield from _read_day(quotes, options, str(quotes.path))
            return
        info = dbn_info(path)
        if info is None:
            _refuse_not_dbn(path, options)
        elif info.schema in QUOTE_SCHEMAS:
            yield from _read_day(info, options, where_of(path, options))
        elif info.schema not in ("definition", "statistics"):
            raise FileFormatError(
                where_of(path, options), f"DBN schema {info.schema!r} is not one gammalake reads"
            )


def _refuse_not_dbn(path: Path, options: ReadOptions) -> None:
    """Raise for a file that is not DBN, naming the vendor whose CSV it looks like."""
    other = format_for(read_header(path))
    found = f"looks like {article(other.title)} file" if other else "is not a DBN file"
    raise FileFormatError(where_of(path, options), f"{found}, not {Databento.title}")


def _stream(path: Path) -> BinaryIO:
    """Return the file opened for reading, decompressed when it is zstd."""
    raw = path.open("rb")
    if raw.read(4) != _ZSTD_MAGIC:
        raw.seek(0)
        return raw
    import zstandard

    raw.seek(0)
    reader: BinaryIO = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
    return reader


def dbn_info(path: Path) -> DbnFile | None:
    """Return a DBN file's schema, dataset and day (UTC date of `start`); None if not DBN."""
    import databento_dbn

    try:
        with _stream(path) as handle:
            head = handle.read(1 << 16)
        decoder = databento_dbn.DBNDecoder()
        decoder.write(head)
        metadata = decoder.decode()[0]
    except Exception:
        return None
    if not isinstance(metadata, databento_dbn.Metadata) or metadata.schema is None:
        return None
    day = datetime.fromtimestamp(metadata.start / 1e9, UTC).date()
    return DbnFile(path, str(metadata.schema), metadata.dataset, day)


def _dbn_files(folder: Path) -> list[DbnFile]:
    """Return the DBN files directly in `folder` (others are ignored), sorted by name."""
    found = (dbn_info(p) for p in sorted(folder.iterdir()) if p.is_file())
    return [f for f in found if f is not None]


def _companion(quotes: DbnFile, schema: str, where: str) -> DbnFile:
    """Return the `schema` file of the quote file's dataset and day beside it."""
    for other in _dbn_files(quotes.path.parent):
        if (other.schema, other.dataset, other.day) == (schema, quotes.dataset, quotes.day):
            return other
    raise FileFormatError(
        where, f"no {schema} DBN file of {quotes.dataset} {quotes.day} beside it (a day needs "
        "definition, statistics and quote files in one folder)",
    )  # fmt: skip


def _table(info: DbnFile, folder: Path, columns: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    """Return a DBN file's records as a lazy table of `columns` (via a CSV in `folder`)."""
    import databento_dbn

    target = folder / f"{info.path.name}.csv"
    try:
        with _stream(info.path) as source, target.open("wb") as sink:
            csv = databento_dbn.Encoding.from_str("csv")
            plain = databento_dbn.Compression.from_str("none")
            # Prices and times stay integers (fixed-point 1e-9, ns): exact, and fast to parse.
            coder = databento_dbn.Transcoder(
                sink, csv, plain, pretty_px=False, pretty_ts=False, map_symbols=False
            )
            while chunk := source.read(1 << 24):
                coder.write(chunk)
            coder.flush()
    except Exception as exc:
        raise FileFormatError(info.path, f"cannot be decoded as DBN ({exc})") from None
    return pl.scan_csv(target, schema_overrides=columns).select(list(columns))


def _read_day(quotes: DbnFile, options: ReadOptions, where: str) -> Iterator[VendorChain]:
    """Yield the chains of the day of `quotes` (with its definition and statistics files)."""
    if not options.wants_session(quotes.day):
        return
    definition = _companion(quotes, "definition", where)
    statistics = _companion(quotes, "statistics", where)
    as_of = datetime.combine(quotes.day, options.at or DEFAULT_AT, NEW_YORK)
    with tempfile.TemporaryDirectory(prefix="gammalake-dbn-") as name:
        frame = _contracts(definition, statistics, quotes, Path(name), as_of)
    frame = with_parity_spots(frame).with_columns(
        pl.lit(as_of).alias("as_of"), pl.lit(previous_session(quotes.day)).alias("oi_as_of")
    )
    yield from vendor_chains(frame, where, options, RULES, _LABELS)


def _last_by(frame: pl.LazyFrame, upto: int) -> pl.LazyFrame:
    """Return each instrument's last record (by ts_recv) received at or before `upto` (ns)."""
    kept = frame.filter(pl.col("ts_recv") <= upto).sort("ts_recv")
    return kept.group_by("instrument_id").last()


def _contracts(
    definition: DbnFile, statistics: DbnFile, quotes: DbnFile, folder: Path, as_of: datetime
) -> pl.DataFrame:
    """Return the day's contracts: definitions with their OI and the quote at as_of."""
    upto = int(as_of.timestamp()) * 10**9
    day_start = int(datetime.combine(quotes.day, time(0), NEW_YORK).timestamp()) * 10**9
    defs = _last_by(_table(definition, folder, _DEFINITION), upto)
    stats = _table(statistics, folder, _STATISTICS)
    oi = _last_by(stats.filter(pl.col("stat_type") == OPEN_INTEREST), upto)
    today = _table(quotes, folder, _QUOTES).filter(pl.col("ts_recv") >= day_start)
    bbo = _last_by(today, upto).select("instrument_id", "bid_px_00", "ask_px_00")
    joined = defs.join(oi.select("instrument_id", "quantity"), on="instrument_id", how="left")
    joined = joined.join(bbo, on="instrument_id", how="left")
    return normalise(joined.collect(), quotes.day)


def _price(column: str) -> pl.Expr:
    """Return a fixed-point price column in currency units (null where undefined)."""
    raw = pl.col(column)
    return pl.when(raw != UNDEF_PRICE).then(raw * PRICE_SCALE).alias(column)


def normalise(frame: pl.DataFrame, day: date) -> pl.DataFrame:
    """Return OPRA instruments (with quantity, bid_px_00, ask_px_00) as a normalised frame."""
    osi = pl.col("raw_symbol").str.replace_all(r"\s+", "").str.to_uppercase()
    parts = osi.str.extract_groups(OSI_PATTERN)
    frame = frame.sort("instrument_id").with_row_index(LINE, offset=1)
    return frame.select(
        pl.col("underlying").str.strip_chars().str.to_uppercase().str.strip_chars_start("^")
        .alias("symbol"),
        pl.lit(day).alias("session"),
        parts.struct.field("root").alias("root"),
        parts.struct.field("day").str.to_date("%y%m%d", strict=False).alias("expiration"),
        (pl.col("strike_price") * PRICE_SCALE).round(6).alias("strike"),
        pl.col("instrument_class").str.strip_chars().alias("right"),
        pl.col("quantity").fill_null(0).cast(pl.Float64).alias("open_interest"),
        pl.lit(None, dtype=pl.Float64).alias("volume"),
        *(pl.lit(None, dtype=pl.Float64).alias(c) for c in ("iv", "gamma", "delta")),
        _price("bid_px_00").alias("bid"),
        _price("ask_px_00").alias("ask"),
        pl.col(LINE),
    ).filter(pl.col("right").is_in(["C", "P"]))  # fmt: skip


def with_parity_spots(frame: pl.DataFrame) -> pl.DataFrame:
    """Return `frame` with `spot` per underlying from put-call parity at the quoted mids.

    In each underlying's nearest expiry with a strike quoted two-sided on both sides, spot is
    the median of K + C_mid - P_mid over the (up to) 3 strikes with the smallest |C - P|.
    """
    quoted = (pl.col("bid") > 0) & (pl.col("ask") >= pl.col("bid"))
    mids = frame.filter(quoted).with_columns(((pl.col("bid") + pl.col("ask")) / 2).alias("mid"))
    key = ["symbol", "root", "expiration", "strike"]
    calls = mids.filter(pl.col("right") == "C").select(*key, pl.col("mid").alias("c"))
    puts = mids.filter(pl.col("right") == "P").select(*key, pl.col("mid").alias("p"))
    pairs = calls.join(puts, on=key).filter(
        pl.col("expiration") == pl.col("expiration").min().over("symbol")
    )
    pairs = pairs.with_columns((pl.col("c") - pl.col("p")).abs().alias("gap")).sort("symbol", "gap")
    spots = pairs.group_by("symbol").agg(
        (pl.col("strike") + pl.col("c") - pl.col("p")).head(3).median().alias("spot")
    )
    return frame.join(spots, on="symbol", how="left")


FORMAT = register(Databento())
