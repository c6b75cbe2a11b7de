"""Re-making history from raw/: `gammalake rebuild`, and re-deriving one stored snapshot.

raw/ holds what was received: the engine's input chains, and vendor payloads. Replaying them
in time order through the same steps as a live capture (check, normalise, OI change and alerts
against the previous snapshot of the same symbol, source and method) gives the lake the flows
wrote, without a single request. Under another preset the same inputs give a second history
beside the first: `gammalake rebuild --preset perfiliev`.

Stamps. Since schema 3 a raw record keeps `as_of`, the moment the data describes, and
`fetched_at`, when gammalake received it; a rebuild reproduces both. Older records (no
`fetched_at`) of sources that stamped the moment asked for rather than the data's own were
stamped at the run's clock: a daily synthetic run at 16:15, a chain file without a time of its
own at 16:15. Re-deriving such a record at engine v2 or later stamps it at the moment it
describes, as the source now does (`restamped`): synthetic at `market_moment(stamp)` (the
session's close after the bell, 13:00 on half days; intraday stamps stand), a chain file
stamped 16:15 whose origin file states no time of its own (or is gone, unless it was a Cboe
JSON reply, which always has one) at its day's close. Its `fetched_at` is then the archived
stamp (the run's clock). Every other record keeps its archived stamp: the feed's or vendor's
own time, and every re-derivation under a v1 method, so a v1 rebuild writes the stamps v1
wrote. Old records that keep their stamp take `fetched_at` from when they were archived. Raw
files keep their names; the rows' `raw_ref` points to them. Where a record and a newer one of
the same source describe the same moment, the newer one (the earlier file name) is used, and a
plain rebuild clears the `chains` rows left at a restamped record's old stamp.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, cast

import polars as pl
from pyarrow import ArrowException

from flows.alerts import DEFAULT_RULES, AlertRules
from flows.capture import (
    Captured,
    Origin,
    Previous,
    Pricing,
    derive,
    previous_from_lake,
    write_captures,
)
from flows.migrate import migrate
from pipeline.chain import Chain
from pipeline.engine.method import VENDOR, config_of
from pipeline.engine.presets import preset
from pipeline.engine.timing import NEW_YORK
from pipeline.firewall import RejectedError
from pipeline.sessions import close_times, market_moment, session_of
from pipeline.sources.base import Fetched
from warehouse import catalog
from warehouse.catalog import recipe
from warehouse.history import scan
from warehouse.lake import Lake
from warehouse.raw import INPUT, RawArchive, input_meta, methods_of, read_envelope, read_input
from warehouse.schema import DATASETS

#: Endpoint of engine-output bundles archived before raw kept inputs (no input to re-price).
LEGACY_BUNDLE = "snapshot"
PER_SNAPSHOT_ALL = ("snapshots", "strikes", "expiries", "alerts")
#: First engine version whose re-derivations stamp old records at the moment they describe.
RESTAMP_FROM = 2
#: The simulated market: its old records were stamped at the moment the run asked for.
ASKED_MOMENT = "synthetic"
#: The chain folder, and the time it gave a file without one of its own before schema 3.
CHAIN_FOLDER, UNDATED_FILE_TIME = "chains", time(16, 15)


@dataclass(frozen=True)
class Received:
    """One snapshot's raw record: where it came from, what was received, its raw reference.

    `replaced`: the archived stamp, when the record was re-stamped (see the module).
    """

    origin: Origin
    fetched: Fetched
    ref: str
    replaced: datetime | None = None


@dataclass
class Rebuilt:
    """What a rebuild did.

    Rows written, snapshots the checks refuse now, legacy bundles it could not use, and files
    of an older schema version it migrated (the originals kept under attic/), and the other
    methods the inputs were priced under (a plain rebuild re-makes only its own).
    """

    rows: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    legacy: int = 0
    migrated: list[Path] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    restamped: int = 0

    def add(self, written: dict[str, int]) -> None:
        """Add rows written per dataset."""
        for name, count in written.items():
            self.rows[name] = self.rows.get(name, 0) + count


def stamped_as_asked(source: str, stamp: datetime, meta: dict[str, Any]) -> bool:
    """Return True when an input record's stamp is the moment its run asked for.

    Only records from before schema 3 (no `fetched_at`) qualify: synthetic ones, and chain
    files stamped at the old 16:15 whose origin file states no time of its own.
    """
    if meta.get("fetched_at"):
        return False
    if source == ASKED_MOMENT:
        return True
    if source != CHAIN_FOLDER or stamp.astimezone(NEW_YORK).time() != UNDATED_FILE_TIME:
        return False
    from pipeline.sources.chains import has_own_time

    return not has_own_time(Path(str(meta.get("origin", ""))))


def described(source: str, stamp: datetime) -> datetime:
    """Return the moment a record stamped as asked describes (see the module), in UTC.

    UTC like the archived stamps it stands beside (rows of one batch share one time zone).
    """
    if source == ASKED_MOMENT:
        return market_moment(stamp).astimezone(UTC)
    return close_times([stamp.astimezone(NEW_YORK).date()])[0].astimezone(UTC)


def input_record(home: Path, path: Path, version: int = RESTAMP_FROM) -> Received:
    """Return an archived engine input as a fetch of its chain, re-derived at engine `version`.

    Stamped as the module says: a record from before schema 3 stamped at the moment asked
    for describes its market moment from engine v2 on.
    """
    item = read_input(path)
    meta = {"fetched_at": item.fetched_at, "origin": item.origin}
    as_asked = stamped_as_asked(item.source, item.as_of, meta)
    moment = item.as_of
    if as_asked and version >= RESTAMP_FROM:
        moment = described(item.source, item.as_of)
    received = item.fetched_at or (item.as_of if as_asked else item.archived_at)
    chain = Chain(item.symbol, item.spot, moment, item.frame, origin=item.origin)
    oi_as_of = date.fromisoformat(item.oi_as_of) if item.oi_as_of else None
    fetched = Fetched(
        item.symbol, moment, chain=chain, bar=item.bar, oi_as_of=oi_as_of, fetched_at=received
    )
    replaced = item.as_of if moment != item.as_of else None
    return Received(Origin(item.source, True), fetched, str(path.relative_to(home)), replaced)


def payload_record(home: Path, paths: list[Path]) -> Received:
    """Return one snapshot's archived vendor payloads (one file per endpoint) as a fetch.

    Vendor payloads keep their stamp (the vendor's snapshot moment); `fetched_at` is the
    recorded one, else when the payload was archived.
    """
    envelopes = [read_envelope(p) for p in paths]
    head = next((e for e in envelopes if e.endpoint == "gex"), envelopes[0])
    payloads = {e.endpoint: e.payload for e in envelopes}
    fetched = Fetched(
        head.symbol, head.as_of, payloads, fetched_at=head.fetched_at or head.archived_at
    )
    return Received(Origin(head.source, False), fetched, str(head.path.relative_to(home)))


def priced_under(path: Path, method: str | None) -> bool:
    """Return True when an input was priced under `method`'s recipe (any engine version).

    None, or an input with no record, means every input: re-pricing under another preset
    covers the whole history, and inputs archived before records were kept have none.
    """
    methods = methods_of(path)
    return method is None or not methods or recipe(method) in {recipe(m) for m in methods}


def records(
    home: Path, only: str | None, vendor: bool, version: int = RESTAMP_FROM
) -> Iterator[tuple[tuple[str, str], list[list[Path]]]]:
    """Yield ((source, symbol), [each snapshot's raw files]) in time order.

    `only`: engine inputs priced under this method's recipe (a plain rebuild re-derives what
    was made, and adds no snapshot no run of that method made); None: every input. Inputs are
    placed at the moment they describe at engine `version` (see the module): an old record
    and a new one of the same moment form one snapshot, the new one (earlier name) first.
    """
    groups: dict[tuple[str, str], dict[datetime, list[Path]]] = defaultdict(dict)
    raw = RawArchive(home)
    for path in raw.inputs():
        if priced_under(path, only):
            item_source, symbol = path.parents[3].name, path.parents[1].name.split("=", 1)[1]
            moment = _placed(path, item_source, version)
            groups[(item_source, symbol)].setdefault(moment, []).append(path)
    if vendor:
        for env in raw.envelopes():
            if env.endpoint != LEGACY_BUNDLE:
                groups[(env.source, env.symbol)].setdefault(env.as_of, []).append(env.path)
    for key in sorted(groups):
        yield key, [groups[key][moment] for moment in sorted(groups[key])]


def _stamp(path: Path) -> datetime:
    """Return the moment an archive file name stands for (UTC)."""
    return datetime.strptime(path.name.split(".")[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


def _placed(path: Path, source: str, version: int) -> datetime:
    """Return the moment (UTC) an input is re-derived at under engine `version`.

    Footers are read only where a stamp may be restamped (synthetic, chain files at 16:15).
    """
    stamp = _stamp(path)
    if version < RESTAMP_FROM or source not in (ASKED_MOMENT, CHAIN_FOLDER):
        return stamp
    if source == CHAIN_FOLDER and stamp.astimezone(NEW_YORK).time() != UNDATED_FILE_TIME:
        return stamp
    try:
        meta = input_meta(path)
    except (OSError, ValueError, KeyError, ArrowException):
        return stamp  # unreadable: replay reports it
    if not stamped_as_asked(source, stamp, meta):
        return stamp
    return described(source, stamp)


def record_of(home: Path, paths: list[Path], version: int = RESTAMP_FROM) -> Received:
    """Return the raw record of one snapshot from its archived files (engine `version`)."""
    if paths[0].parent.parent.parent.name == INPUT:
        return input_record(home, sorted(paths)[0], version)
    return payload_record(home, paths)


def replay(
    home: Path,
    key: tuple[str, str],
    snapshots: list[list[Path]],
    pricing: Pricing,
    rules: AlertRules = DEFAULT_RULES,
    chains: bool = True,
) -> Rebuilt:
    """Re-derive one (source, symbol)'s snapshots in time order, a month at a time.

    `rules`: when wall alerts fire. `chains`: also re-write the `chains` rows (the inputs;
    the same under any method), and clear those left at a restamped record's old stamp.
    """
    done, batch, stale = Rebuilt(), cast(list[Captured], []), cast(list[Received], [])
    previous: Previous | None = None
    month: tuple[int, int] | None = None
    for paths in snapshots:
        try:
            item = record_of(home, paths, pricing.config.version)
        except (OSError, ValueError, KeyError, ArrowException) as exc:
            done.refused.append(f"{key[1]}: unreadable raw file {paths[0]}: {exc}")
            continue
        if month is not None and (item.fetched.as_of.year, item.fetched.as_of.month) != month:
            _flush(home, done, batch, stale)
            batch, stale = [], []
        month = (item.fetched.as_of.year, item.fetched.as_of.month)
        try:
            captured = derive(
                item.origin, item.fetched, previous, pricing, raw_ref=item.ref, rules=rules
            )
        except RejectedError as exc:
            done.refused.append(f"{key[1]} {item.fetched.as_of.isoformat()}: {exc}")
            _forget(home, item, pricing)
            continue
        previous = captured.previous()
        if item.origin.computes:  # so a later plain rebuild under this method re-makes it
            RawArchive(home).add_method(home / item.ref, pricing.method)
        if not chains:
            captured.chain = None
        done.restamped += item.replaced is not None
        stale += [item] if item.replaced is not None and chains else []
        batch.append(captured)
    _flush(home, done, batch, stale)
    return done


def _flush(home: Path, done: Rebuilt, batch: list[Captured], stale: list[Received]) -> None:
    """Write a month of captures; clear the `chains` rows of restamped records' old stamps."""
    done.add(write_captures(home, batch))
    if stale:
        keys = [
            {
                "symbol": item.fetched.symbol,
                "source": item.origin.name,
                "as_of": item.replaced,
                "trade_date": session_of(item.fetched.as_of),
            }
            for item in stale
        ]
        schema = {k: DATASETS["chains"].columns[k] for k in keys[0]}
        Lake(home).write_all({}, clear={"chains": pl.DataFrame(keys, schema=schema)})


def _forget(home: Path, item: Received, pricing: Pricing) -> None:
    """Remove the stored rows of a snapshot whose raw record the checks now refuse."""
    try:
        day = session_of(item.fetched.as_of)
    except Exception:  # a time off the calendar was never stored: nothing to remove
        return
    key = {
        "symbol": item.fetched.symbol,
        "source": item.origin.name,
        "method": pricing.method_for(item.origin.computes),
        "as_of": item.fetched.as_of,
        "trade_date": day,
    }
    gone = pl.DataFrame([key], schema={k: DATASETS["snapshots"].columns[k] for k in key})
    Lake(home).write_all({}, clear=dict.fromkeys(PER_SNAPSHOT_ALL, gone))


def rebuild_from_raw(
    home: Path,
    pricing: Pricing,
    *,
    vendor: bool = True,
    rules: AlertRules = DEFAULT_RULES,
    view_method: str | None = None,
) -> Rebuilt:
    """Replay raw/ into the lake under `pricing`'s method; return what was written and refused.

    `vendor`: also re-derive vendor payloads and the `chains` rows (a plain rebuild does;
    re-pricing under another preset does not: vendor figures cannot be re-priced, and chains
    are the same under any method). `rules`: when the re-derived wall alerts fire (the
    settings' `alert_rules()`; every stored alert is re-made). `view_method`: the catalog's
    default method (the settings'), which a re-pricing under another preset leaves alone.
    """
    total = Rebuilt(legacy=_legacy_count(home), migrated=migrate(home))
    only = pricing.method if vendor else None
    total.others = _other_methods(home, pricing.method) if vendor else []
    for key, snapshots in records(home, only, vendor, pricing.config.version):
        part = replay(home, key, snapshots, pricing, rules, chains=vendor)
        total.add(part.rows)
        total.refused += part.refused
        total.restamped += part.restamped
    Lake(home).compact()  # a replay writes symbol by symbol: a file each in shared partitions
    catalog.rebuild(home, view_method or pricing.method)
    return total


def _other_methods(home: Path, method: str) -> list[str]:
    """Return the methods inputs were priced under, other than `method`'s recipe."""
    seen = {m for path in RawArchive(home).inputs() for m in methods_of(path)}
    return sorted(m for m in seen if recipe(m) != recipe(method))


def _legacy_count(home: Path) -> int:
    """Return how many engine-output bundles from before raw kept inputs are archived."""
    return sum(1 for _ in RawArchive(home).root.glob(f"*/{LEGACY_BUNDLE}/symbol=*/*/*.json.gz"))


def rederive(
    home: Path,
    source: str,
    symbol: str,
    method: str,
    as_of: datetime,
    rules: AlertRules = DEFAULT_RULES,
) -> Captured | None:
    """Re-derive one stored snapshot from raw against the true previous one; write it.

    Returns the new capture, or None when raw/ holds nothing for it. Used after a backfill
    fills the sessions before an already stored snapshot, whose OI change and alerts were
    computed against an older one. `rules`: when its wall alerts fire.
    """
    captured = _derived(home, source, symbol, method, as_of, rules)
    if captured is not None:
        write_captures(home, [captured])
    return captured


def rederive_many(
    home: Path,
    source: str,
    method: str,
    keys: list[tuple[str, datetime]],
    rules: AlertRules = DEFAULT_RULES,
) -> int:
    """Derive the (symbol, as_of) snapshots of `keys` from raw under `method`, written at once.

    Each against the previous stored snapshot of its method (OI change, alerts under `rules`).
    Returns how many were written; keys raw/ holds nothing for are skipped. A sample of a
    history under another method, without replaying all of it (`rebuild_from_raw` replays
    everything).
    """
    found = [_derived(home, source, symbol, method, as_of, rules) for symbol, as_of in sorted(keys)]
    captures = [c for c in found if c is not None]
    write_captures(home, captures)
    return len(captures)


def _derived(
    home: Path, source: str, symbol: str, method: str, as_of: datetime, rules: AlertRules
) -> Captured | None:
    """Return one snapshot derived from its raw files under `method`, None without any."""
    paths = _raw_files(home, source, symbol, method, as_of)
    if not paths:
        return None
    # Vendor rows are never priced; any configuration will do for them.
    pricing = Pricing(config_of(method) if method != VENDOR else preset("default"), home)
    item = record_of(home, paths, pricing.config.version)
    previous = previous_from_lake(home, symbol, source, method, as_of)
    return derive(item.origin, item.fetched, previous, pricing, raw_ref=item.ref, rules=rules)


def _raw_files(home: Path, source: str, symbol: str, method: str, as_of: datetime) -> list[Path]:
    """Return the raw files of a stored snapshot: by its stamp, else by its `raw_ref`.

    A restamped snapshot (see the module) is stored at another moment than its file's name.
    """
    paths = RawArchive(home).snapshot_files(source, symbol, as_of)
    if paths:
        return paths
    sql = (
        "SELECT raw_ref FROM ROWS WHERE symbol = $symbol AND source = $source "
        "AND method = $method AND as_of = $as_of AND raw_ref IS NOT NULL"
    )
    params = {"symbol": symbol, "source": source, "method": method, "as_of": as_of}
    found = scan(home, "snapshots", sql, params)
    refs = [] if found is None else found.get_column("raw_ref").to_list()
    return [home / refs[0]] if refs and (home / refs[0]).is_file() else []


def followers_many(
    home: Path, source: str, method: str, written: dict[str, set[datetime]]
) -> dict[str, list[datetime]]:
    """Return, per symbol, the stored snapshots right after a written one (one query)."""
    written = {s: w for s, w in written.items() if w}
    if not written:
        return {}
    stored = _stored_moments(home, source, method, written)
    found: dict[str, list[datetime]] = {}
    for (symbol,), part in stored.group_by(["symbol"], maintain_order=True):
        moments = part.get_column("as_of").to_list()
        mine = written[str(symbol)]
        after = [b for a, b in itertools.pairwise(moments) if a in mine and b not in mine]
        if after:
            found[str(symbol)] = after
    return found


def _stored_moments(
    home: Path, source: str, method: str, written: dict[str, set[datetime]]
) -> pl.DataFrame:
    """Return (symbol, as_of) of the stored snapshots of `written`'s symbols from its first one.

    Read straight from the lake's files: the symbols' range prunes row groups, so a batch of
    a wide snapshot costs the same however many other symbols are stored.
    """
    sql = (
        "SELECT symbol, as_of FROM ROWS WHERE source = $source AND method = $method "
        "AND symbol BETWEEN $low AND $high AND list_contains($symbols, symbol) "
        "AND as_of >= $first ORDER BY symbol, as_of"
    )
    params = {
        "source": source,
        "method": method,
        "low": min(written),
        "high": max(written),
        "symbols": list(written),
        "first": min(min(w) for w in written.values()),
    }
    found = scan(home, "snapshots", sql, params)
    return (
        pl.DataFrame(schema={"symbol": pl.String, "as_of": pl.Datetime("us", "UTC")})
        if found is None
        else found
    )


def follower_keys(
    home: Path, source: str, symbol: str, method: str, written: set[datetime]
) -> list[datetime]:
    """Return the stored snapshots right after a written one that were not written themselves."""
    if not written:
        return []
    moments = _stored_moments(home, source, method, {symbol: written}).get_column("as_of").to_list()
    return [
        after
        for before, after in itertools.pairwise(moments)
        if before in written and after not in written
    ]
