"""`gammalake import FORMAT`: vendor day files into the lake, priced by the engine (no Prefect).

Two passes. The first reads every input (each file once, for all its underlyings) and runs
the firewall on every chain before anything is written: a bad file is one InputError naming
it, and the lake and the raw archive are untouched, unless `skip_bad` (then the file is
counted as refused and left out). The second walks the sessions in date order; each
session's (symbol, session) chains not yet stored under the run's method are priced in units
of symbols on the fanout (threads, or Dask): each chain is archived in raw/ as received (so
`rebuild` re-makes it with no file present), priced, and derived against the symbol's
previous snapshot. A writer thread stores a whole session's rows in one `write_captures`
call while the next session is priced. The stored (symbol, session) pairs are read once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from flows.alerts import AlertRules
from flows.capture import (
    Captured,
    Origin,
    Previous,
    Pricing,
    against_previous,
    archive,
    normalise,
    previous_many,
    settle,
    write_captures,
)
from flows.fanout import Fanout, Progress, StopFlag, Threads
from flows.rebuild import followers_many, rederive
from flows.runs import RunSummary, SymbolOutcome
from flows.settings import Settings
from flows.snapshot import batches, close_run, pricing_of, rows_of
from pipeline.errors import InputError
from pipeline.firewall import RejectedError, check_chain
from pipeline.normalize import PayloadError
from pipeline.sessions import previous_session, session_of
from pipeline.sources.base import Fetched, FetchError
from pipeline.sources.formats.base import (
    FileFormat,
    ReadOptions,
    VendorChain,
    load_all,
    open_inputs,
)
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.raw import RawArchive, one_sync

#: Contracts the first pass keeps in memory for the second; past this, files are read again
#: (a whole-market day is ~1.5 M contracts; ten years of them are not held at once).
KEEP_CONTRACTS = 4_000_000


@dataclass(frozen=True)
class ImportRequest:
    """What to import: the format's name, the inputs, what to read and how to treat bad files.

    `force`: re-import (symbol, session) pairs already stored; `skip_bad`: a bad file is
    counted as refused and the rest stored, instead of refusing the whole import.
    """

    fmt: str
    paths: tuple[Path, ...]
    options: ReadOptions = field(default_factory=ReadOptions)
    force: bool = False
    skip_bad: bool = False


@dataclass
class FileRead:
    """One input file read in the first pass: its label, sessions, and chains when kept."""

    file: Path
    label: str
    sessions: list[date]
    symbols: list[str]
    contracts: int
    chains: list[VendorChain] | None


@dataclass
class Inputs:
    """Everything the first pass read: the files, and one line per file refused."""

    files: list[FileRead] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def contracts(self) -> int:
        """Return how many contracts the readable files hold."""
        return sum(f.contracts for f in self.files)


@dataclass
class Imported:
    """What an import did: the run summary (the `runs` row) and the counts it reports."""

    summary: RunSummary
    files: int = 0
    days: int = 0
    symbols: int = 0
    contracts: int = 0
    stored: int = 0
    skipped: int = 0
    refused: list[str] = field(default_factory=list)

    def counts_line(self) -> str:
        """Return the one line of counts kept in the `runs` row's notes."""
        return (
            f"files {self.files}, days {self.days}, symbols {self.symbols}, "
            f"contracts {self.contracts}, stored {self.stored}, skipped {self.skipped}, "
            f"refused {len(self.refused)}"
        )


def expand(paths: Sequence[Path]) -> list[Path]:
    """Return the input files under `paths`: files as given, folders recursively, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            files += sorted(found)
        elif not path.exists():
            raise InputError(f"{path}: no such file or folder")
        else:
            files.append(path)
    if not files:
        raise InputError(f"{', '.join(map(str, paths)) or 'no path'}: no input files")
    return files


def _relabel(text: str, path: Path, label: str) -> str:
    """Return `text` with a temporary extraction path replaced by its label (zip:member)."""
    return text if str(path) == label else text.replace(str(path), label)


def read_one(fmt: FileFormat, path: Path, label: str, options: ReadOptions) -> list[VendorChain]:
    """Return the chains of one readable input, origins naming `label`; raise InputError."""
    try:
        chains = list(fmt.read(path, replace(options, origin=label)))
    except InputError as exc:
        raise InputError(_relabel(str(exc), path, label)) from None
    if str(path) == label:
        return chains
    return [
        replace(vc, chain=replace(vc.chain, origin=_relabel(vc.chain.origin, path, label)))
        for vc in chains
    ]


def check_read(chains: list[VendorChain], pricing: Pricing) -> None:
    """Refuse what the firewall would refuse, and chains the preset cannot price.

    A chain without implied volatility (a DataShop file without Calcs) is priced only when
    the preset solves IV from the quotes' mid.
    """
    _firewall(chains)
    config = pricing.config
    for vc in chains:
        chain = vc.chain
        described = session_of(chain.as_of)
        if described != vc.session:
            raise InputError(
                f"{chain.origin}: {chain.symbol} quoted {chain.as_of.isoformat()}, which "
                f"describes the session of {described}, not the quote date {vc.session}"
            )
        frame = chain.frame
        no_iv = "iv" not in frame.columns or frame.get_column("iv").null_count() == frame.height
        if no_iv and not config.solve_missing_iv:
            raise InputError(
                f"{chain.origin}: {chain.symbol} has no implied volatility column (a file "
                f"without Calcs), and preset {config.name} does not solve IV from the quotes; "
                "use a preset that does (e.g. --preset default)"
            )


def _firewall(chains: list[VendorChain]) -> None:
    """Run the firewall's chain checks on every chain; raise InputError naming the first bad."""
    for vc in chains:
        chain = vc.chain
        try:
            check_chain(chain, chain.symbol, None, datetime.now(chain.as_of.tzinfo))
        except RejectedError as exc:
            where, text = chain.origin or chain.symbol, str(exc)
            raise InputError(text if text.startswith(where) else f"{where}: {text}") from None


def _duplicates(files: list[FileRead], read: FileRead) -> str | None:
    """Return a line when `read` repeats a (symbol, session) of a file read before, else None.

    Compares the symbols of files sharing a session (exact for day files, which hold one).
    """
    days, names = set(read.sessions), set(read.symbols)
    for other in files:
        if days.intersection(other.sessions):
            both = sorted(names.intersection(other.symbols))
            if both:
                day = min(days.intersection(other.sessions))
                return (
                    f"{read.label}: {both[0]} {day} is also in {other.label} (give each day once)"
                )
    return None


def read_inputs(
    fmt: FileFormat,
    request: ImportRequest,
    pricing: Pricing,
    progress: Progress | None = None,
    keep: int = KEEP_CONTRACTS,
) -> Inputs:
    """Read and check every input before anything is written; return what was read.

    Raises InputError on the first bad file unless `request.skip_bad` (then it is listed in
    `refused`). Chains are kept for the second pass while they hold fewer than `keep`
    contracts in all; the rest are read again then. `progress` is called once per file.
    """
    inputs, held = Inputs(), 0
    for file in expand(request.paths):
        try:
            for read in _read_file(fmt, file, request.options, pricing):
                clash = _duplicates(inputs.files, read)
                if clash is not None:
                    raise InputError(clash)
                held += read.contracts
                inputs.files.append(read)
        except InputError as exc:
            if not request.skip_bad:
                raise
            inputs.refused.append(str(exc))
        if progress is not None:
            progress(str(file), 1)
    if held > keep:
        for read in inputs.files:
            read.chains = None
    return inputs


def _read_file(
    fmt: FileFormat, file: Path, options: ReadOptions, pricing: Pricing
) -> list[FileRead]:
    """Return every input of one file (a zip gives one per member), read and checked."""
    reads = []
    for path, label in open_inputs([file]):
        chains = read_one(fmt, path, label, options)
        check_read(chains, pricing)
        days = sorted({vc.session for vc in chains})
        contracts = sum(vc.chain.frame.height for vc in chains)
        symbols = sorted({vc.chain.symbol for vc in chains})
        reads.append(FileRead(file, label, days, symbols, contracts, chains))
    return reads


def chains_of(fmt: FileFormat, read: FileRead, options: ReadOptions) -> list[VendorChain]:
    """Return a file's chains: those kept by the first pass, else read again."""
    if read.chains is not None:
        return read.chains
    for path, label in open_inputs([read.file]):
        if label == read.label:
            return read_one(fmt, path, label, options)
    raise InputError(f"{read.label}: no longer readable")


def stored_pairs(home: Path, source: str, method: str) -> set[tuple[str, date]]:
    """Return the (symbol, session) pairs stored for `source` and `method` (one query)."""
    if "snapshots" not in Lake(home).datasets():
        return set()
    found = catalog.query(
        home,
        "SELECT DISTINCT symbol, trade_date FROM snapshots WHERE source = ? AND method = ?",
        [source, method],
    )
    return set(found.iter_rows())


@dataclass(frozen=True)
class Priced:
    """One chain's result from a unit: the capture (its contracts left out), or why refused."""

    symbol: str
    session: date
    captured: Captured | None = None
    refused: str | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class Job:
    """What every unit of a run shares: home, source name, pricing and the alert rules."""

    home: Path
    source: str
    pricing: Pricing
    rules: AlertRules


def price_unit(
    job: Job, items: list[tuple[VendorChain, Previous | None]], stop: StopFlag
) -> list[Priced]:
    """Archive, check, price and derive a unit's chains; a refused one is listed, not raised.

    Contracts are not sent back (the caller holds them): a unit's result is small. Chains
    not started once `stop` is set come back cancelled.
    """
    out = []
    # The unit's raw inputs become durable together, before its rows go to the writer.
    with one_sync():
        for vc, previous in items:
            symbol = vc.chain.symbol
            if stop.is_set():
                out.append(Priced(symbol, vc.session, cancelled=True))
                continue
            try:
                captured = capture_checked(job, vc, previous)
            except (FetchError, InputError) as exc:
                out.append(Priced(symbol, vc.session, refused=f"{vc.session}: {exc}"))
                continue
            captured.chain = None
            out.append(Priced(symbol, vc.session, captured))
    return out


def capture_checked(job: Job, vc: VendorChain, previous: Previous | None) -> Captured:
    """Archive, price and derive one chain the first pass already checked; return the capture.

    The firewall ran on every input before the first write (`check_read`), so it is not run
    again here. The input is archived as received (raw/<source>/chain/...), then priced under
    the run's method; one the engine cannot price is set aside with the reason and refused.
    """
    chain, origin = vc.chain, Origin(job.source, True)
    fetched = Fetched(chain.symbol, chain.as_of, chain=chain, oi_as_of=vc.oi_as_of)
    files = archive(job.home, origin, fetched, ())
    ref = str(files[0].final.relative_to(job.home))
    try:
        rows = normalise(origin, fetched, job.pricing, ref)
    except PayloadError as exc:
        for item in files:
            RawArchive(job.home).set_aside(item.staged, item.final, f"not priced: {exc}")
        raise RejectedError(f"{chain.origin}: {chain.symbol}: {exc}") from None
    except BaseException:
        settle(job.home, files)  # not refused: kept as received, in its place
        raise
    alerts = against_previous(rows, previous, job.rules)
    settle(job.home, files)
    for item in files:
        RawArchive(job.home).add_method(item.final, job.pricing.method)
    return Captured(chain.symbol, rows, alerts, chain=(chain, job.source, vc.oi_as_of))


class _Writer:
    """Writes one session's captures at a time on a background thread, in order."""

    def __init__(self, home: Path) -> None:
        """Write into `home`."""
        self.home = home
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="import-writer")
        self.pending: Future[dict[str, int]] | None = None

    def write(self, captures: list[Captured]) -> None:
        """Queue a session's captures once the previous session is written."""
        self.wait()
        if captures:
            self.pending = self.pool.submit(write_captures, self.home, captures)

    def wait(self) -> None:
        """Wait for the queued write; raise its error, if it failed."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def close(self) -> None:
        """Finish the last write and stop the thread."""
        try:
            self.wait()
        finally:
            self.pool.shutdown()


class _Previous:
    """Each symbol's previous snapshot: the one this run made, else the lake's (batched)."""

    def __init__(self, home: Path, source: str, method: str) -> None:
        """Look up previous snapshots of `source` and `method` under `home`."""
        self.home, self.source, self.method = home, source, method
        self.made: dict[str, tuple[date, Previous]] = {}

    def of(self, day: date, chains: list[VendorChain]) -> dict[str, Previous | None]:
        """Return symbol -> its previous snapshot before `chains` (one lake query at most)."""
        before = previous_session(day)
        found: dict[str, Previous | None] = {}
        ask: dict[str, datetime] = {}
        for vc in chains:
            symbol = vc.chain.symbol
            made = self.made.get(symbol)
            if made is not None and made[0] == before:
                found[symbol] = made[1]
            else:
                ask[symbol] = vc.chain.as_of - timedelta(microseconds=1)
        stored = previous_many(self.home, ask, self.source, self.method) if ask else {}
        for symbol in ask:
            mine = self.made.get(symbol)
            found[symbol] = _newest(mine[1] if mine else None, stored.get(symbol))
        return found

    def remember(self, day: date, captures: list[Captured]) -> None:
        """Keep the captures of `day` as the previous snapshots of the next session."""
        for captured in captures:
            self.made[captured.symbol] = (day, captured.previous())


def _newest(a: Previous | None, b: Previous | None) -> Previous | None:
    """Return the later of two previous snapshots."""
    if a is None or b is None:
        return a or b
    return a if a.snapshot["as_of"] >= b.snapshot["as_of"] else b


@dataclass
class _Run:
    """The state of one import's second pass."""

    settings: Settings
    fmt: FileFormat
    request: ImportRequest
    job: Job
    fanout: Fanout
    imported: Imported
    done: set[tuple[str, date]]
    outcomes: dict[str, SymbolOutcome] = field(default_factory=dict)

    def outcome(self, symbol: str) -> SymbolOutcome:
        """Return the symbol's outcome (made on first use)."""
        return self.outcomes.setdefault(symbol, SymbolOutcome(symbol))


def days_of(
    fmt: FileFormat, inputs: Inputs, options: ReadOptions
) -> Iterator[tuple[date, list[VendorChain]]]:
    """Yield (session, its chains in symbol order), sessions in order, each file read once."""
    order = sorted(inputs.files, key=lambda f: (f.sessions[:1], f.label))
    pending: dict[date, list[VendorChain]] = {}
    for i, read in enumerate(order):
        for vc in chains_of(fmt, read, options):
            pending.setdefault(vc.session, []).append(vc)
        later = order[i + 1].sessions[:1] if i + 1 < len(order) else []
        ready = [d for d in sorted(pending) if not later or d < later[0]]
        for day in ready:
            yield day, sorted(pending.pop(day), key=lambda vc: vc.chain.symbol)


def _price_day(
    run: _Run, day: date, todo: list[VendorChain], previous: dict[str, Previous | None]
) -> list[Priced]:
    """Price one session's chains in units of symbols on the fanout; return every result."""
    workers = run.settings.max_workers
    groups = batches([vc.chain.symbol for vc in todo], workers)
    by_symbol = {vc.chain.symbol: vc for vc in todo}
    futures = [
        run.fanout.submit(
            price_unit,
            run.job,
            [(by_symbol[s], previous.get(s)) for s in group],
            run.fanout.stop,
        )
        for group in groups
    ]
    return [p for f in futures for p in f.result()]


def _take_day(run: _Run, day: date, chains: list[VendorChain], walk: _Previous) -> list[Captured]:
    """Price the session's chains not stored yet; record outcomes; return what to write."""
    force = run.request.force
    todo = [vc for vc in chains if force or (vc.chain.symbol, day) not in run.done]
    taken = {vc.chain.symbol for vc in todo}
    for vc in chains:
        if vc.chain.symbol not in taken:
            run.outcome(vc.chain.symbol).skipped += 1
    run.imported.skipped += len(chains) - len(todo)
    for vc in todo:
        run.outcome(vc.chain.symbol).notes += [f"{day}: {note}" for note in vc.notes]
    if not todo:
        return []
    results = _price_day(run, day, todo, walk.of(day, todo))
    by_symbol = {vc.chain.symbol: vc for vc in todo}
    captures = []
    for priced in results:
        outcome = run.outcome(priced.symbol)
        if priced.cancelled:
            outcome.cancelled = True
        elif priced.refused is not None:
            outcome.refused.append(priced.refused)
        elif priced.captured is not None:
            vc = by_symbol[priced.symbol]
            priced.captured.chain = (vc.chain, run.job.source, vc.oi_as_of)
            captures.append(priced.captured)
            _record(outcome, priced.captured)
    walk.remember(day, captures)
    return captures


def _record(outcome: SymbolOutcome, captured: Captured) -> None:
    """Add one capture's rows, alerts and snapshot to the symbol's outcome."""
    outcome.add(rows_of(captured))
    outcome.alerts += captured.alerts
    outcome.stored.append(captured.headline["as_of"])
    outcome.sessions += 1


def _walk(run: _Run, inputs: Inputs, progress: Progress | None) -> None:
    """Price and write every session in order; stop between sessions once asked to."""
    walk = _Previous(run.job.home, run.job.source, run.job.pricing.method)
    writer = _Writer(run.job.home)
    try:
        for day, chains in days_of(run.fmt, inputs, run.request.options):
            if run.fanout.stop.is_set():
                break
            captures = _take_day(run, day, chains, walk)
            writer.write(captures)
            run.imported.stored += len(captures)
            if progress is not None:
                progress(day.isoformat(), 1)
    finally:
        writer.close()


def _mend_followers(run: _Run) -> None:
    """Re-derive stored snapshots right after ones this run wrote, against their new previous."""
    written = {s: set(o.stored) for s, o in run.outcomes.items()}
    home, source, method = run.job.home, run.job.source, run.job.pricing.method
    for symbol, moments in followers_many(home, source, method, written).items():
        for as_of in moments:
            try:
                rederive(home, source, symbol, method, as_of, run.job.rules)
            except FetchError as exc:
                run.outcome(symbol).notes.append(f"could not re-derive {as_of}: {exc}")


def format_of(name: str) -> FileFormat:
    """Return the registered format called `name`; raise InputError naming the known ones."""
    formats = load_all()
    if name not in formats:
        raise InputError(f"unknown file format {name!r} (known: {', '.join(sorted(formats))})")
    return formats[name]


def prepare(
    settings: Settings, request: ImportRequest, progress: Progress | None = None
) -> tuple[FileFormat, Inputs]:
    """Return the format and every input read and checked (the first pass; writes nothing)."""
    fmt = format_of(request.fmt)
    return fmt, read_inputs(fmt, request, pricing_of(settings), progress)


def run_import(
    settings: Settings,
    request: ImportRequest,
    inputs: Inputs | None = None,
    fanout: Fanout | None = None,
    progress: Progress | None = None,
) -> Imported:
    """Import vendor files (read first with `prepare`, unless `inputs` is given); return counts.

    Writes the raw inputs, the lake rows and one `runs` row (flow `import`, source the
    format's name). Units run on `fanout` (default: threads here); once its stop flag is set
    the session in hand is finished and written, and the run is recorded as cancelled.
    `progress` is called once per session.
    """
    fmt, inputs = (format_of(request.fmt), inputs) if inputs else prepare(settings, request)
    pricing = pricing_of(settings)
    summary = RunSummary("import", fmt.name, _symbols(inputs), pricing.method)
    imported = _counted(summary, inputs)
    done = set() if request.force else stored_pairs(settings.home, fmt.name, pricing.method)
    job = Job(settings.home, fmt.name, pricing, settings.alert_rules())
    own = fanout is None
    fanout = fanout or Threads(settings.max_workers)
    run = _Run(settings, fmt, request, job, fanout, imported, done)
    try:
        _walk(run, inputs, progress)
    finally:
        if own:
            fanout.close()
    _mend_followers(run)
    summary.outcomes = [run.outcomes[s] for s in sorted(run.outcomes)]
    summary.cancelled = fanout.stop.is_set()
    summary.notes = [imported.counts_line(), *(f"refused: {r}" for r in imported.refused)]
    close_run(settings.home, summary, pricing.method)
    return imported


def _symbols(inputs: Inputs) -> list[str]:
    """Return the underlyings the readable inputs hold."""
    return sorted({s for f in inputs.files for s in f.symbols})


def _counted(summary: RunSummary, inputs: Inputs) -> Imported:
    """Return the import's counts as far as the first pass knows them."""
    days = {d for f in inputs.files for d in f.sessions}
    files = len(inputs.files) + len(inputs.refused)
    symbols = len(summary.symbols)
    return Imported(summary, files, len(days), symbols, inputs.contracts, 0, 0, inputs.refused)
