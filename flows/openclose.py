"""Cboe Open-Close files into the lake, and the dealer positions they imply (no Prefect).

`import_open_close` reads every input (each file once, for all its underlyings) and checks it
before anything is written: a bad file is one InputError naming it, and the lake is
untouched. Then each file's rows go to the `open_close` dataset (source `cboe-openclose`),
replacing the rows stored for the same symbol, session and exchange, so a re-import leaves
one copy.

`dealer_positions` and `attach_positions` turn the stored volumes into the signed number of
contracts dealers hold, the input of the `open_close` preset. The rule (docs/openclose.md):

1. Point in time: a chain of session D uses the files of the sessions BEFORE D. Cboe
   publishes a session's end-of-day file after that session (overnight), so D's own file
   was not known while D traded.
2. Per contract, summed over those sessions and over every Cboe exchange imported:
   mm_net = sum(mm_buy_vol - mm_sell_vol), what market makers bought net on Cboe;
   open_long = sum over the other origins (firm, bd, customers, pro customers, every size)
   of (open_buy - close_sell), the long contracts they opened on Cboe and still hold;
   open_short = sum of (open_sell - close_buy), the short contracts likewise.
3. cboe_open = max(open_long, open_short, |mm_net|, 0): the contracts open from Cboe's
   trades. Every trade has a buyer and a seller, so mm_net = open_short - open_long when
   the file covers every origin; each open contract has one long and one short side, so at
   least max(open_long, open_short) contracts are open, the market makers holding the gap.
   |mm_net| keeps the bound when history starts after some positions were opened (closes of
   older positions make open_long or open_short negative).
4. share = mm_net / cboe_open (0 when cboe_open is 0), within [-1, 1]: the part of Cboe's open
   contracts dealers hold, + long.
5. dealer_position = share x the contract's open interest. The files count one Cboe
   exchange's trades; the open interest is the whole market's (OCC). Scaling assumes the
   contracts opened elsewhere, or before the first imported file, are held in the same
   proportion. |dealer_position| <= open interest by construction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from pipeline.chain import Chain
from pipeline.errors import InputError
from pipeline.sessions import close_times, session_of
from pipeline.sources.formats.base import open_inputs
from pipeline.sources.formats.openclose import (
    ACTIONS,
    BUCKETS,
    TITLE,
    OpenCloseFile,
    read_open_close,
)
from warehouse import catalog
from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake
from warehouse.locks import reading
from warehouse.schema import dataset, validate_symbol

SOURCE = "cboe-openclose"
DATASET = "open_close"
#: Rows the first pass keeps in memory for the writes (about 200 MB: 45 Int64 columns);
#: past this, every file is read again (a whole-market C1 day is 10^5-10^6 rows).
KEEP_ROWS = 500_000
#: One line for the import's output and the docs: what the files cover and how it is used.
SCALING_NOTE = (
    "Open-Close files count one Cboe exchange's trades; the open_close preset scales each "
    "contract's market-maker net to its whole open interest (docs/openclose.md)"
)


@dataclass
class FileRead:
    """One input read in the first pass: its label, exchange, sessions, symbols and rows."""

    label: str
    exchange: str
    days: list[date]
    symbols: list[str]
    rows: int
    nonstandard: int
    frame: pl.DataFrame | None


@dataclass
class OpenCloseImported:
    """What an import stored: files, sessions, symbols and rows.

    Also the rows of non-standard series left out, the exchanges the files cover and the
    sessions' span.
    """

    files: int = 0
    days: int = 0
    symbols: int = 0
    rows: int = 0
    nonstandard: int = 0
    exchanges: list[str] = field(default_factory=list)
    first: date | None = None
    last: date | None = None


def import_open_close(
    home: Path, paths: Sequence[Path], symbols: frozenset[str] | None = None
) -> OpenCloseImported:
    """Store every Open-Close file under `paths` (of `symbols` only when given); return counts.

    Everything is read and checked first; a bad input, or two inputs holding the same
    exchange and session, is an InputError and nothing is written.
    """
    files = read_inputs(paths, symbols)
    imported = _counted(files)
    if imported.rows == 0:
        wanted = f" of {', '.join(sorted(symbols))}" if symbols else ""
        raise InputError(f"{', '.join(map(str, paths))}: no rows{wanted} to import")
    fetched = datetime.now(UTC)
    lake = Lake(home)
    for read in _frames(paths, symbols, files):
        lake.write(DATASET, lake_rows(read, fetched))
    catalog.ensure(home)
    return imported


def read_inputs(paths: Sequence[Path], symbols: frozenset[str] | None) -> list[FileRead]:
    """Return every input file under `paths` read and checked (frames kept up to KEEP_ROWS)."""
    files: list[FileRead] = []
    kept = 0
    for path, label in open_inputs(paths):
        read = read_open_close(path, label, symbols)
        kept += read.frame.height
        frame = read.frame if kept <= KEEP_ROWS else None
        files.append(_summary(label, read, frame))
        _refuse_overlap(files)
    if not files:
        raise InputError(f"{', '.join(map(str, paths)) or 'no path'}: no input files")
    if kept > KEEP_ROWS:
        for done in files:
            done.frame = None  # all re-read in the second pass, in order
    return files


def _summary(label: str, read: OpenCloseFile, frame: pl.DataFrame | None) -> FileRead:
    """Return the first-pass record of one file read."""
    days = sorted(read.frame.get_column("trade_date").unique().to_list())
    symbols = sorted(read.frame.get_column("symbol").unique().to_list())
    for symbol in symbols:
        try:
            validate_symbol(symbol)
        except WarehouseInputError as exc:
            raise InputError(f"{label}: underlying_symbol {exc}") from None
    return FileRead(label, read.exchange, days, symbols, read.frame.height, read.nonstandard, frame)


def _refuse_overlap(files: list[FileRead]) -> None:
    """Refuse the last file read when it holds an exchange's session an earlier one holds."""
    last = files[-1]
    for other in files[:-1]:
        shared = set(other.days) & set(last.days)
        if other.exchange == last.exchange and shared and set(other.symbols) & set(last.symbols):
            raise InputError(
                f"{last.label}: holds {last.exchange} {min(shared)} like {other.label}; "
                "import one file per exchange and session"
            )


def _counted(files: list[FileRead]) -> OpenCloseImported:
    """Return the counts of what the first pass read."""
    days = sorted({d for f in files for d in f.days})
    return OpenCloseImported(
        files=len(files),
        days=len(days),
        symbols=len({s for f in files for s in f.symbols}),
        rows=sum(f.rows for f in files),
        nonstandard=sum(f.nonstandard for f in files),
        exchanges=sorted({f.exchange for f in files}),
        first=days[0] if days else None,
        last=days[-1] if days else None,
    )


def _frames(
    paths: Sequence[Path], symbols: frozenset[str] | None, files: list[FileRead]
) -> Iterator[tuple[str, pl.DataFrame]]:
    """Yield (exchange, rows) of every file: kept frames, else each file read again."""
    if all(f.frame is not None for f in files):
        for f in files:
            assert f.frame is not None
            yield f.exchange, f.frame
        return
    for path, label in open_inputs(paths):
        read = read_open_close(path, label, symbols)
        yield read.exchange, read.frame


def lake_rows(read: tuple[str, pl.DataFrame], fetched: datetime) -> pl.DataFrame:
    """Return one file's rows as `open_close` rows: source, exchange, as_of, fetched_at added.

    as_of is the session's close (13:00 on half days), the moment the day's volumes describe.
    """
    exchange, frame = read
    days = sorted(frame.get_column("trade_date").unique().to_list())
    closes = pl.DataFrame(
        {"trade_date": days, "as_of": [c.astimezone(UTC) for c in close_times(days)]},
        schema={"trade_date": pl.Date, "as_of": pl.Datetime("us", "UTC")},
    )
    columns = [c for c in dataset(DATASET).columns if c in frame.columns]
    return (
        frame.join(closes, on="trade_date", how="left", maintain_order="left")
        .with_columns(
            pl.lit(SOURCE).alias("source"),
            pl.lit(exchange).alias("exchange"),
            pl.lit(fetched).cast(pl.Datetime("us", "UTC")).alias("fetched_at"),
        )
        .select(*columns, "source", "as_of", "exchange", "fetched_at")
    )


def stored_volumes(home: Path, symbol: str, day: date) -> pl.DataFrame:
    """Return the stored `open_close` rows of `symbol` from the sessions before `day`.

    Only contracts expiring on or after `day`, of every exchange, sorted by session.
    """
    spec = dataset(DATASET)
    with reading(home):
        files = [f for f in Lake(home).files(DATASET) if _placed_before(f, day)]
        if not files:
            return pl.DataFrame(schema=spec.schema)
        wanted = (
            (pl.col("symbol") == symbol)
            & (pl.col("trade_date") < day)
            & (pl.col("expiration") >= day)
        )
        scan = pl.scan_parquet(files, hive_partitioning=False).filter(wanted)
        frame = scan.select(list(spec.columns)).collect()
    return frame.sort("trade_date", "exchange", "contract")


def _placed_before(path: Path, day: date) -> bool:
    """Return False for a file of a day partition on or after `day` (it cannot hold a row)."""
    folder = path.parent.name
    if not folder.startswith("day="):
        return True  # another grain: the filter on trade_date decides
    try:
        return date.fromisoformat(folder[len("day=") :]) < day
    except ValueError:
        return True


def _sides() -> list[pl.Expr]:
    """Return mm_net, open_long and open_short of each row (contracts, see the module doc)."""

    def total(action: str) -> pl.Expr:
        return pl.sum_horizontal(pl.col(f"{b}_{action}_vol") for b in BUCKETS)

    assert set(ACTIONS) == {"open_buy", "open_sell", "close_buy", "close_sell"}
    return [
        (pl.col("mm_buy_vol") - pl.col("mm_sell_vol")).alias("mm_net"),
        (total("open_buy") - total("close_sell")).alias("open_long"),
        (total("open_sell") - total("close_buy")).alias("open_short"),
    ]


def shares(volumes: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Return, per `keys`, mm_net, open_long, open_short, cboe_open (contracts) and share.

    share = mm_net / cboe_open in [-1, 1] (0 when cboe_open is 0); `open_interest` is the
    last one the files give (null when none does). Rows are summed over sessions and
    exchanges first.
    """
    summed = (
        volumes.with_columns(_sides())
        .group_by(list(keys), maintain_order=True)
        .agg(
            pl.col("mm_net", "open_long", "open_short").sum(),
            pl.col("open_interest").drop_nulls().last(),
        )
    )
    cboe_open = pl.max_horizontal(
        pl.col("open_long"), pl.col("open_short"), pl.col("mm_net").abs(), pl.lit(0)
    )
    share = pl.when(cboe_open > 0).then(pl.col("mm_net") / cboe_open).otherwise(0.0)
    return summed.with_columns(cboe_open.alias("cboe_open"), share.alias("share"))


def dealer_positions(home: Path, symbol: str, day: date) -> pl.DataFrame:
    """Return the dealer position of every contract of `symbol` the files gave before `day`.

    Columns: contract, root, expiration, strike, right, mm_net, open_long, open_short,
    cboe_open (contracts), share (-1..1), open_interest (the files' last), dealer_position
    (Float64, signed contracts, + = dealers long: share x open_interest; null where the
    files give no open interest). Only sessions before `day` count (point in time); see
    the module doc for the rule. Empty when nothing is stored.
    """
    keys = ("contract", "root", "expiration", "strike", "right")
    table = shares(stored_volumes(home, symbol, day), keys)
    position = (pl.col("share") * pl.col("open_interest")).cast(pl.Float64)
    columns = (*keys, "mm_net", "open_long", "open_short", "cboe_open", "share")
    return (
        table.with_columns(position.alias("dealer_position"))
        .select(*columns, "open_interest", "dealer_position")
        .sort("expiration", "strike", "right", "root")
    )


def attach_positions(home: Path, chain: Chain) -> Chain:
    """Return `chain` with a Float64 column `dealer_position` (signed contracts, + long).

    Each contract's share (dealer_positions, from the sessions before the chain's session)
    times the chain's own open interest; null where the files say nothing of the contract
    (the open_close preset then gives it no position). Contracts are matched by their OSI
    id when the chain has one for every row, else by expiration, strike and right (the
    roots of one expiry summed: SPX and SPXW of a third Friday become one line).
    """
    volumes = stored_volumes(home, chain.symbol, session_of(chain.as_of))
    frame = chain.frame.drop("dealer_position", strict=False)
    ids = "contract" in frame.columns and frame.get_column("contract").null_count() == 0
    if ids:
        keys: tuple[str, ...] = ("contract",)
        joined = frame.with_columns(pl.col("contract").str.replace_all(" ", "").alias("_id"))
        table = shares(volumes, keys).rename({"contract": "_id"})
        joined = joined.join(
            table.select("_id", "share"), on="_id", how="left", maintain_order="left"
        )
        joined = joined.drop("_id")
    else:
        keys = ("expiration", "strike", "right")
        table = shares(volumes, keys).select(*keys, "share")
        joined = frame.join(table, on=list(keys), how="left", maintain_order="left")
    position = (pl.col("share") * pl.col("open_interest")).cast(pl.Float64)
    out = joined.with_columns(position.alias("dealer_position")).drop("share")
    return replace(chain, frame=out)


def require_positions(home: Path, chain: Chain) -> Chain:
    """Return attach_positions(home, chain); raise InputError when no contract got one.

    Pricing under the open_close preset without any Open-Close data would store a snapshot
    of zero exposures that looks like a quiet day; this refuses it, naming the symbol.
    """
    out = attach_positions(home, chain)
    if (
        out.frame.height
        and out.frame.get_column("dealer_position").null_count() == out.frame.height
    ):
        day = session_of(chain.as_of)
        raise InputError(
            f"{chain.symbol}: no Cboe Open-Close data for its contracts before {day}; "
            "import the files first (gammalake import openclose PATH)"
        )
    return out


def describe(imported: OpenCloseImported) -> list[str]:
    """Return the lines the CLI prints for an import (counts, span, what the files cover)."""
    span = f"{imported.first} .. {imported.last}"
    lines = [
        f"import openclose ({TITLE}), source {SOURCE}",
        f"read: {imported.files} file(s), {imported.days} day(s), {imported.symbols} "
        f"symbol(s), {imported.rows:,} contract row(s), exchange(s) "
        f"{', '.join(imported.exchanges)}",
        f"stored {imported.rows:,} row(s) in {DATASET} covering {span} "
        "(a re-imported session replaces its rows)",
    ]
    if imported.nonstandard:
        lines.append(
            f"note: left out {imported.nonstandard} row(s) of non-standard series "
            "(adjusted deliverables)"
        )
    return [*lines, f"note: {SCALING_NOTE}"]
