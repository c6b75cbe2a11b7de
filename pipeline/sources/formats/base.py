"""The vendor day-file contract: VendorChain, ReadOptions, the FileFormat protocol, the registry.

A vendor day file (Cboe DataShop, ORATS, historicaloptiondata.com, Databento OPRA) holds every
underlying of one session. A format reads such a file ONCE for all its symbols and yields one
`VendorChain` per (symbol, session), in symbol order. Each format module registers its format
at import; `load_all()` imports every module of this package except the helpers in HELPERS,
so adding a format is adding its module (no list to edit), and the CLI's choices and help
come from the registry.
"""

from __future__ import annotations

import gzip
import importlib
import logging
import pkgutil
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn, Protocol

import polars as pl

from pipeline.chain import Chain
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import FileFormatError, InputError
from pipeline.roots import ROOTS
from pipeline.sessions import close_times, previous_session

_log = logging.getLogger(__name__)
#: Modules of this package that are not chain formats (load_all imports every other module;
#: `openclose` reads volumes, imported by its own command).
HELPERS: frozenset[str] = frozenset({"base", "synthesize", "openclose"})


@dataclass(frozen=True)
class VendorChain:
    """One underlying's chain for one session, as one vendor day file gives it.

    `chain`: symbol (no '^', upper case), spot (float, the underlying's price at as_of),
    as_of (tz-aware America/New_York: the vendor's snapshot moment), frame with the columns
    of pipeline.chain plus `root` (String) and `contract` (OSI-like id, SPXW240105C04700000);
    origin "file.csv[:member]". `session`: the quote date. `oi_as_of`: the session whose
    close the open interest describes (vendor rule), None when unknown. `notes`: what the
    reader left out of the chain and why (one line each, e.g. adjusted roots), for the log.
    """

    chain: Chain
    session: date
    oi_as_of: date | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadOptions:
    """What to read from a day file: which underlyings and sessions, and the quote minute.

    `symbols` None reads every underlying; `start`/`end` bound the sessions (inclusive);
    `at` is the New York minute of the quotes for formats with intraday quotes (databento,
    default 15:45); `origin` is how errors and Chain.origin name the input (open_inputs'
    label, e.g. "day.zip:member.csv"), None: the path.
    """

    symbols: frozenset[str] | None = None
    start: date | None = None
    end: date | None = None
    at: time | None = None
    origin: str | None = None

    def wants_symbol(self, symbol: str) -> bool:
        """Return True when `symbol` (upper case, no '^') is to be read."""
        return self.symbols is None or symbol in self.symbols

    def wants_session(self, day: date) -> bool:
        """Return True when the session `day` lies within start..end."""
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


class FileFormat(Protocol):
    """A vendor file format: how to recognise its files and read them into VendorChains."""

    name: str  # 'datashop', 'orats', 'hod', 'databento' (stored as the `source`)
    title: str  # human name, e.g. 'Cboe DataShop Option EOD Summary'
    help: str  # one line for the CLI help
    # Formats may also set `intraday = True` (quotes through the day, so the import takes
    # --at HH:MM); the CLI reads it with getattr, so end-of-day formats need not declare it.

    def matches(self, header: Sequence[str]) -> bool:
        """Return True when a CSV header (column names as in the file) is this format's."""
        ...

    def read(self, path: Path, options: ReadOptions) -> Iterator[VendorChain]:
        """Yield one VendorChain per (symbol, session) of the file, in symbol order.

        Reads the file ONCE for all its symbols. Raises InputError (one line naming the file,
        and line or column) on bad input: another vendor's header, a missing column, two
        quote dates in one day file, duplicate contracts, negative OI, non-finite numbers,
        expiries before the quote date.
        """
        ...


#: The registry: format name -> format. Filled by register() when a module is imported.
FORMATS: dict[str, FileFormat] = {}


def register(fmt: FileFormat) -> FileFormat:
    """Add `fmt` to FORMATS under its name and return it (a second registration replaces)."""
    FORMATS[fmt.name] = fmt
    return fmt


def format_modules() -> list[str]:
    """Return the names of this package's format modules (all but HELPERS and _private)."""
    folder = Path(__file__).parent
    found = (m.name for m in pkgutil.iter_modules([str(folder)]))
    return sorted(n for n in found if n not in HELPERS and not n.startswith("_"))


def load_all() -> dict[str, FileFormat]:
    """Import every format module (format_modules) and return the registry (name -> format)."""
    for module in format_modules():
        importlib.import_module(f"{__package__}.{module}")
    return FORMATS


def read_header(path: Path) -> list[str]:
    """Return the column names of a CSV file's first line (trimmed; [] for an empty file).

    Reads gzip files transparently; a binary (DBN) file gives [].
    """
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline(1 << 16)
    except (OSError, EOFError) as exc:
        raise FileFormatError(path, f"cannot read: {exc}") from exc
    if first.startswith(b"DBN") or b"\x00" in first:
        return []
    text = first.decode("utf-8-sig", errors="replace").strip()
    return [c.strip().strip('"') for c in text.split(",")] if text else []


def format_for(header: Sequence[str]) -> FileFormat | None:
    """Return the registered format whose `matches` accepts `header`, else None."""
    for fmt in load_all().values():
        if fmt.matches(header):
            return fmt
    return None


def refuse_foreign(fmt: FileFormat, path: Path, header: Sequence[str]) -> None:
    """Raise an InputError when `header` is not `fmt`'s, naming the vendor it looks like."""
    if fmt.matches(header):
        return
    other = format_for(header)
    if other is not None:
        raise FileFormatError(
            path, f"looks like {article(other.title)} file, not {fmt.title}", line=1
        )
    raise FileFormatError(path, f"header is not {article(fmt.title)} header", line=1)


def article(name: str) -> str:
    """Return `name` with its indefinite article: 'an ORATS strikes', 'a Cboe DataShop ...'."""
    return f"{'an' if name[:1].upper() in 'AEIOU' else 'a'} {name}"


def open_inputs(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """Yield (readable local path, origin label) for every input file under `paths`.

    Files as they are; folders recursively, sorted; `.zip` archives member by member
    (extracted together to a temporary folder, so the members of one archive sit side by
    side, as databento's day files need; label "archive.zip:member"); `.gz` files
    decompressed to a temporary file (label: the .gz path). A temporary file lives until the
    next item is asked for, so read each path before advancing. A missing path, a corrupt
    zip member or a corrupt gzip file is an InputError naming it.
    """
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            yield from open_inputs(files)
        elif not path.exists():
            raise InputError(f"{path}: no such file or folder")
        elif path.suffix.lower() == ".zip":
            yield from _zip_members(path)
        elif path.suffix.lower() == ".gz":
            yield from _gunzipped(path)
        else:
            yield path, str(path)


def _zip_members(path: Path) -> Iterator[tuple[Path, str]]:
    """Extract every member of a zip archive to one temporary folder and yield each."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable zip archive ({exc})") from exc
    with archive, tempfile.TemporaryDirectory(prefix="gammalake-zip-") as folder:
        members = sorted(
            (m for m in archive.infolist() if not m.is_dir()), key=lambda m: m.filename
        )
        extracted = [(_extract(archive, path, m, Path(folder)), m.filename) for m in members]
        for target, name in extracted:
            yield target, f"{path}:{name}"


def _extract(archive: zipfile.ZipFile, path: Path, member: zipfile.ZipInfo, folder: Path) -> Path:
    """Return the extracted member's path; a corrupt member is an InputError naming it.

    Members keep their folders (names that climb out of `folder` are refused), so the files
    of one day sit side by side as in the archive.
    """
    target = (folder / member.filename).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise InputError(f"{path}: member {member.filename} points outside the archive")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with archive.open(member) as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise InputError(f"{path}: member {member.filename} is corrupt ({exc})") from exc
    return target


def _gunzipped(path: Path) -> Iterator[tuple[Path, str]]:
    """Decompress a .gz file to a temporary file (its name without .gz) and yield it."""
    with tempfile.TemporaryDirectory(prefix="gammalake-gz-") as folder:
        target = Path(folder) / path.name[: -len(".gz")]
        try:
            with gzip.open(path, "rb") as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: corrupt gzip file ({exc})") from exc
        yield target, str(path)


# --- Machinery the formats share: loading named columns, checks, ids, one chain per group ---

#: Column of the frames below holding each row's file line (records: position from 1).
LINE = "__line"
#: Weekly (PM-settled) roots of index options whose monthlies (third Friday) are AM-settled;
#: used when a vendor gives no root (ORATS, pre-2010 historicaloptiondata files).
WEEKLY_ROOTS: Mapping[str, str] = {"SPX": "SPXW", "NDX": "NDXP", "RUT": "RUTW"}
#: Columns of a normalised vendor frame that go into the Chain (with `root` and `contract`).
CHAIN_COLUMNS: tuple[str, ...] = (
    *("expiration", "strike", "right", "open_interest", "volume", "iv", "bid", "ask"),
    *("gamma", "delta", "root", "contract"),
)


@dataclass(frozen=True)
class Layout:
    """A CSV layout: which file columns a format reads and under which internal names.

    `columns` maps a file column name (as the vendor spells it; matched in any case) to an
    internal name (several spellings may map to one); `types` gives each internal name's
    polars type (dates as String, parsed after); `required` the internal names a file must
    have.
    """

    columns: Mapping[str, str]
    types: Mapping[str, pl.DataType]
    required: frozenset[str]


def where_of(path: Path, options: ReadOptions) -> str:
    """Return how errors and chains name the input: the caller's origin label, else the path."""
    return options.origin or str(path)


def load_layout(fmt: FileFormat, path: Path, layout: Layout, where: str) -> pl.DataFrame:
    """Return the file's columns of `layout` under internal names, typed, plus LINE.

    One polars pass over the file. Another vendor's header, a missing column or a cell that
    does not parse is an InputError naming the file, and the line and column where known.
    """
    try:
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(where, f"cannot be read as CSV ({_first_line(exc)})") from None
    refuse_foreign(fmt, Path(where), header)
    lookup = {name.lower(): internal for name, internal in layout.columns.items()}
    chosen: dict[str, str] = {}
    for name in header:
        internal = lookup.get(name.strip().lower())
        if internal is not None and internal not in chosen.values():
            chosen[name] = internal
    missing = sorted(layout.required - set(chosen.values()))
    if missing:
        labels = [_file_name(layout, m) for m in missing]
        raise FileFormatError(where, f"missing column(s) {', '.join(labels)}", line=1)
    schema = {name: layout.types[internal] for name, internal in chosen.items()}
    try:
        frame = pl.read_csv(path, columns=list(chosen), schema_overrides=schema, infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        _locate_bad_cell(path, where, schema, exc)
    return frame.rename(chosen).with_row_index(LINE, offset=2)


def _file_name(layout: Layout, internal: str) -> str:
    """Return the first file column name that maps to `internal` (for messages)."""
    return next((k for k, v in layout.columns.items() if v == internal), internal)


def _first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _locate_bad_cell(
    path: Path, where: str, schema: Mapping[str, pl.DataType], exc: BaseException
) -> NoReturn:
    """Raise an InputError naming the first cell that is not of its column's type."""
    try:
        text = pl.read_csv(path, columns=list(schema), infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError):
        raise FileFormatError(where, f"cannot be read as CSV ({_first_line(exc)})") from None
    text = text.with_row_index(LINE, offset=2)
    for name, dtype in schema.items():
        cell = pl.col(name).str.strip_chars()
        bad = cell.is_not_null() & (cell != "") & cell.cast(dtype, strict=False).is_null()
        hit = text.filter(bad)
        if hit.height:
            value, line = hit.row(0, named=True)[name], hit.row(0, named=True)[LINE]
            raise FileFormatError(where, f"{value!r} is not a number", line=line, column=name)
    raise FileFormatError(where, f"cannot be read as CSV ({_first_line(exc)})")


def parse_dates(column: str) -> pl.Expr:
    """Return a String column of dates (YYYY-MM-DD, MM/DD/YYYY or YYYYMMDD) as Date (or null)."""
    text = pl.col(column).str.strip_chars().str.slice(0, 10)
    return pl.coalesce(
        text.str.to_date("%Y-%m-%d", strict=False),
        text.str.to_date("%m/%d/%Y", strict=False),
        text.str.to_date("%Y%m%d", strict=False),
    ).alias(column)


def with_dates(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Return `frame` with the text date `columns` parsed by parse_dates (null: not a date).

    A day file holds a few hundred distinct dates in over a million rows, so each distinct
    text is parsed once and mapped back (a third of the parse time of a whole-market file).
    """
    for column in columns:
        distinct = frame.select(pl.col(column).unique()).filter(pl.col(column).is_not_null())
        parsed = distinct.with_columns(parse_dates(column).alias("_date"))
        mapped = pl.col(column).replace_strict(
            parsed.get_column(column),
            parsed.get_column("_date"),
            default=None,
            return_dtype=pl.Date,
        )
        frame = frame.with_columns(mapped)
    return frame


def clean_symbol(column: str) -> pl.Expr:
    """Return an underlying name as stored: trimmed, upper case, without a leading '^'."""
    return pl.col(column).str.strip_chars().str.to_uppercase().str.strip_chars_start("^")


def rights(column: str) -> pl.Expr:
    """Return an option type column (C/P/call/put, any case) as "C"/"P" (null otherwise)."""
    mapping = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}
    text = pl.col(column).str.strip_chars().str.to_uppercase()
    return text.replace_strict(mapping, default=None, return_dtype=pl.String)


def default_roots(symbol: pl.Expr, expiration: pl.Expr) -> pl.Expr:
    """Return the root a vendor without roots implies: the symbol, or the index's weekly root.

    SPX, NDX and RUT list AM-settled monthlies (third Friday; before 2015 dated the Saturday
    after) under their own root and PM-settled other expiries under SPXW, NDXP, RUTW; every
    other symbol is its own root.
    """
    day, weekday = expiration.dt.day(), expiration.dt.weekday()
    monthly = ((weekday == 5) & day.is_between(15, 21)) | ((weekday == 6) & day.is_between(16, 22))
    weekly = symbol.replace_strict(WEEKLY_ROOTS, default=None, return_dtype=pl.String)
    return pl.when(weekly.is_not_null() & ~monthly).then(weekly).otherwise(symbol)


def osi_ids() -> pl.Expr:
    """Return each row's OSI-like id from root, expiration, right and strike.

    E.g. SPXW240105C04700000: unpadded root, YYMMDD, C/P, strike x 1000 in 8 digits.
    """
    milli = (pl.col("strike") * 1000).round(0).cast(pl.Int64).cast(pl.String).str.zfill(8)
    return pl.concat_str(
        pl.col("root"), pl.col("expiration").dt.strftime("%y%m%d"), pl.col("right"), milli
    ).alias("contract")


def refuse_two_sessions(frame: pl.DataFrame, where: str, label: str) -> None:
    """Raise when a day file's rows carry more than one quote date (naming the first odd line)."""
    if frame.height == 0 or frame.get_column("session").n_unique() == 1:
        return
    first = frame.get_column("session")[0]
    row = frame.filter(pl.col("session") != first).row(0, named=True)
    raise FileFormatError(
        where,
        f"a day file holds one quote date: {row['session']} here, {first} on line 2",
        line=row[LINE],
        column=label,
    )


@dataclass(frozen=True)
class DayRules:
    """A vendor's point-in-time rules: when its snapshot is taken, what its OI describes.

    `close_offset`: as_of = the session's NYSE close (13:00 on half days) plus this, unless
    the rows carry their own `as_of`; `oi_previous`: the open interest is the previous
    session's close (else the quote date's own close); `one_session`: the file is a day file
    and must hold one quote date; `skip_unpriced`: an underlying without any spot is left out
    and logged rather than refused (for vendors whose spot is derived, not given).
    """

    close_offset: timedelta
    oi_previous: bool
    one_session: bool = True
    skip_unpriced: bool = False


def vendor_chains(
    frame: pl.DataFrame,
    where: str,
    options: ReadOptions,
    rules: DayRules,
    labels: Mapping[str, str],
) -> Iterator[VendorChain]:
    """Yield one VendorChain per (symbol, session) of a normalised vendor frame, symbol order.

    `frame` columns: symbol, session, root, expiration, strike, right, open_interest, volume,
    iv, bid, ask, gamma, delta, spot (the row's underlying price), LINE, and optionally
    as_of (Datetime, New York). `labels` maps internal names to the vendor's column names
    for error messages. Rows are checked (see check_rows), contracts of roots that do not
    belong to the symbol (adjusted deliverables such as AAPL1) are dropped and noted.
    """
    if rules.one_session:
        refuse_two_sessions(frame, where, labels.get("session", "session"))
    frame = frame.filter(_wanted(options))
    check_rows(frame, where, labels)
    frame, dropped = _drop_foreign_roots(frame)
    frame = frame.with_columns(osi_ids())
    refuse_duplicates(frame, where)
    spots = _spots(frame, where, rules.skip_unpriced)
    stamps = _stamps(frame, rules)
    parts = _chain_frames(frame)
    for key in sorted(parts):
        symbol, session = str(key[0]), key[1]
        assert isinstance(session, date)
        if (symbol, session) not in spots:
            continue  # skip_unpriced: _spots logged it
        as_of, oi_as_of = stamps[(symbol, session)]
        chain = Chain(symbol, spots[(symbol, session)], as_of, parts[key], where)
        note = dropped.get((symbol, session))
        yield VendorChain(chain, session, oi_as_of, (note,) if note else ())


def _wanted(options: ReadOptions) -> pl.Expr:
    """Return the filter keeping the symbols and sessions `options` asks for."""
    keep = pl.lit(True)
    if options.symbols is not None:
        keep &= pl.col("symbol").is_in(sorted(options.symbols))
    if options.start is not None:
        keep &= pl.col("session") >= options.start
    if options.end is not None:
        keep &= pl.col("session") <= options.end
    return keep


def row_checks() -> list[tuple[pl.Expr, str, str]]:
    """Return (bad-row expression, internal column, message) of every row check, in order."""
    checks: list[tuple[pl.Expr, str, str]] = [
        (pl.col("symbol").is_null() | (pl.col("symbol") == ""), "symbol", "is empty"),
        (pl.col("session").is_null(), "session", "is not a date"),
        (pl.col("expiration").is_null(), "expiration", "is not a date"),
        (pl.col("right").is_null(), "right", "is not an option type (C/P, call/put)"),
        (~(pl.col("strike") > 0), "strike", "is not a positive strike"),
        (pl.col("open_interest").is_null(), "open_interest", "is empty"),
        (pl.col("open_interest") < 0, "open_interest", "is negative open interest"),
        (pl.col("volume") < 0, "volume", "is negative volume"),
    ]
    numbers = ("strike", "open_interest", "volume", "iv", "bid", "ask", "gamma", "delta", "spot")
    checks += [(~pl.col(n).is_finite(), n, "is not a finite number") for n in numbers]
    checks.append((pl.col("open_interest") % 1 != 0, "open_interest", "is not a whole number"))
    late = pl.col("expiration") < pl.col("session")
    return [*checks, (late, "expiration", "is before the quote date")]


def check_rows(frame: pl.DataFrame, where: str, labels: Mapping[str, str]) -> None:
    """Raise an InputError naming the first bad row (line and vendor column), in one pass.

    Bad (row_checks): no symbol, date or option type; a strike that is not positive; an
    empty, negative or fractional open interest; negative volume; a non-finite number; an
    expiry before the quote date. The failing row is looked up only when a check fails.
    """
    checks = row_checks()
    flags = frame.select(
        bad.fill_null(False).any().alias(str(i)) for i, (bad, _, _) in enumerate(checks)
    )
    for hit, (bad, name, message) in zip(flags.row(0), checks, strict=True):
        if hit:
            row = frame.filter(bad.fill_null(False)).row(0, named=True)
            raise FileFormatError(
                where,
                f"{_shown(row[name])} {message}",
                line=row[LINE],
                column=labels.get(name, name),
            )


def _shown(value: object) -> str:
    """Return a cell for a message: text quoted, dates and numbers as they read."""
    return repr(value) if isinstance(value, str) or value is None else str(value)


def _drop_foreign_roots(
    frame: pl.DataFrame,
) -> tuple[pl.DataFrame, dict[tuple[str, date], str]]:
    """Return the rows whose root belongs to their symbol (pipeline.roots), and notes on the rest.

    Other roots are adjusted options (a split or merger: AAPL1) whose deliverable is not 100
    shares, which the engine cannot price as such and the firewall refuses.
    """
    listed = sorted(f"{s}|{r}" for s, roots in ROOTS.items() for r in roots)
    own = pl.when(pl.col("symbol").is_in(list(ROOTS)))
    belongs = own.then(pl.concat_str("symbol", "root", separator="|").is_in(listed)).otherwise(
        pl.col("root") == pl.col("symbol")
    )
    foreign = frame.filter(~belongs)
    if foreign.height == 0:
        return frame, {}
    summary = foreign.group_by("symbol", "session").agg(
        pl.len().alias("n"), pl.col("root").unique().sort().str.join(", ").alias("roots")
    )
    notes = {
        (s, d): f"left out {n} contract(s) of root(s) {roots} (not {s}'s standard roots)"
        for s, d, n, roots in summary.iter_rows()
    }
    return frame.filter(belongs), notes


def first_duplicate(frame: pl.DataFrame, key: tuple[str, ...]) -> tuple[dict[str, Any], str] | None:
    """Return the first row whose `key` repeats and the file lines (up to 3) that share it.

    None when every key is unique. Format readers word their own refusal around it.
    """
    struct = pl.struct(*key)
    if frame.height == 0 or frame.select(struct.n_unique()).item() == frame.height:
        return None
    twice = frame.filter(struct.is_duplicated())
    first = twice.row(0, named=True)
    same = twice.filter(pl.all_horizontal(pl.col(k) == first[k] for k in key))
    return first, ", ".join(str(n) for n in same.get_column(LINE).head(3).to_list())


def refuse_duplicates(frame: pl.DataFrame, where: str) -> None:
    """Raise naming the first contract a file lists twice for one symbol and session (lines)."""
    found = first_duplicate(frame, ("symbol", "session", "contract"))
    if found is not None:
        first, lines = found
        raise FileFormatError(
            where, f"duplicate contract {first['contract']} ({first['symbol']}) on lines {lines}"
        )


def _spots(frame: pl.DataFrame, where: str, skip: bool) -> dict[tuple[str, date], float]:
    """Return each (symbol, session)'s spot: the median positive row spot of its nearest expiry.

    Rows of later expiries count only when the nearest one gives no positive price. A group
    with no positive spot at all is refused, or with `skip` left out and logged.
    """
    group = ("symbol", "session")
    nearest = pl.col("expiration") == pl.col("expiration").min().over(group)
    priced = frame.filter(pl.col("spot") > 0).with_columns(nearest.alias("_near"))
    spots = priced.group_by(group).agg(
        pl.col("spot").filter(pl.col("_near")).median().alias("near"),
        pl.col("spot").median().alias("any"),
    )
    found = {(s, d): float(a if n is None else n) for s, d, n, a in spots.iter_rows()}
    missing = frame.join(spots, on=group, how="anti")
    if missing.height and skip:
        names = missing.get_column("symbol").unique().sort()
        shown = ", ".join(names.head(5).to_list())
        _log.warning("%s: left out %d underlying(s) with no price (%s)", where, names.len(), shown)
    elif missing.height:
        row = missing.row(0, named=True)
        raise FileFormatError(
            where, f"no underlying price for {row['symbol']} on {row['session']}", line=row[LINE]
        )
    return found


def _stamps(frame: pl.DataFrame, rules: DayRules) -> dict[tuple[str, date], tuple[datetime, date]]:
    """Return each (symbol, session)'s as_of and oi_as_of.

    as_of: the group's first `as_of` when its rows carry one, else the session's close plus
    `rules.close_offset`; oi_as_of: the latest `oi_as_of` of its rows, else the rule.
    """
    given = [pl.col(c).drop_nulls().first() for c in ("as_of",) if c in frame.columns]
    given += [pl.col(c).drop_nulls().max() for c in ("oi_as_of",) if c in frame.columns]
    table = frame.group_by("symbol", "session").agg(pl.len(), *given)
    stamps = {}
    for row in table.iter_rows(named=True):
        session = row["session"]
        as_of = row.get("as_of") or close_times([session])[0] + rules.close_offset
        default_oi = previous_session(session) if rules.oi_previous else session
        stamps[(row["symbol"], session)] = (
            as_of.astimezone(NEW_YORK),
            row.get("oi_as_of") or default_oi,
        )
    return stamps


def _chain_frames(frame: pl.DataFrame) -> dict[tuple[object, ...], pl.DataFrame]:
    """Return each (symbol, session)'s chain frame: counts as Int64, missing volume as 0.

    Typed once for the whole file, then split: one pass instead of one per underlying.
    """
    typed = frame.select("symbol", "session", *CHAIN_COLUMNS).with_columns(
        pl.col("open_interest").cast(pl.Int64),
        pl.col("volume").fill_null(0).cast(pl.Int64),
    )
    return typed.partition_by("symbol", "session", as_dict=True, include_key=False)
