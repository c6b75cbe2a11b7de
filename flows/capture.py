"""One symbol at one moment: archive what was received, check it, price it, derive (no Prefect).

The order is the storage contract (DESIGN.md): archive raw as received -> check (the firewall)
-> normalise (engine inputs are priced under the run's method) -> derive OI change and alerts
against the true previous stored snapshot. The snapshot and backfill flows, `chain --save` and
`rebuild` all go through here, so a rebuilt lake equals the one the flows wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from flows.alerts import DEFAULT_RULES, AlertRules, derive_alerts
from pipeline.chain import Chain, complete_frame
from pipeline.engine.config import EngineConfig
from pipeline.engine.method import VENDOR, method_of
from pipeline.errors import InputError
from pipeline.firewall import RejectedError, check_chain, check_payloads
from pipeline.normalize import PayloadError, snapshot_rows
from pipeline.sessions import session_of
from pipeline.sources.base import Fetched, engine_payloads
from warehouse.history import scan
from warehouse.lake import Lake
from warehouse.raw import RawArchive, scrub, staging
from warehouse.schema import SNAPSHOT_KEY

#: Runs a file write: now, or later on a writer thread (in order).
Later = Callable[..., None]
#: Datasets keyed by the snapshot: re-writing a snapshot replaces all of its rows in them.
PER_SNAPSHOT = ("strikes", "expiries", "alerts")


@dataclass(frozen=True)
class Pricing:
    """How a run turns engine inputs into figures: the engine configuration, and its method.

    `home`: where a preset whose dealer positions come from data (`open_close`) reads them
    (the `open_close` dataset, `gammalake import openclose`); other presets need none.
    """

    config: EngineConfig
    home: Path | None = None

    def priced_chain(self, chain: Chain) -> Chain:
        """Return the chain the engine prices: with Open-Close positions under `open_close`."""
        if self.config.dealer.rule != "positions":
            return chain
        if self.home is None:
            raise InputError(f"preset {self.config.name} needs a home holding Open-Close data")
        from flows.openclose import require_positions

        return require_positions(self.home, chain)

    @property
    def method(self) -> str:
        """Return the method engine-priced rows carry, e.g. `default@v1`."""
        return method_of(self.config)

    def method_for(self, computes: bool) -> str:
        """Return the method of a source's rows: this one for engine inputs, else `vendor`."""
        return self.method if computes else VENDOR


@dataclass(frozen=True)
class Origin:
    """Where a snapshot came from: the source's name and whether the engine prices its input."""

    name: str
    computes: bool


@dataclass(frozen=True)
class Previous:
    """The last stored snapshot of a symbol, source and method: its row and its strikes."""

    snapshot: dict[str, Any]
    strikes: pl.DataFrame


@dataclass
class Captured:
    """Rows of one snapshot ready to write, with its alerts and the requests it cost.

    `chain`: the engine input, its source and the session of its open interest, whose
    `chains` rows are built when written (on a backfill's writer thread, off the path that
    prices the next session); `fetched_at`: when it was received (UTC).
    """

    symbol: str
    rows: dict[str, pl.DataFrame]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    errors: tuple[str, ...] = ()
    chain: tuple[Chain, str, date | None] | None = None
    fetched_at: datetime | None = None

    def frames(self) -> dict[str, pl.DataFrame]:
        """Return every row to write, the chain's contracts included."""
        if self.chain is None:
            return self.rows
        return {**self.rows, "chains": chain_rows(*self.chain, fetched_at=self.fetched_at)}

    @property
    def headline(self) -> dict[str, Any]:
        """Return the snapshot row."""
        return self.rows["snapshots"].row(0, named=True)

    def previous(self) -> Previous:
        """Return this capture as the previous snapshot of the next one."""
        return Previous(self.headline, self.rows.get("strikes", pl.DataFrame()))


def now(fn: Callable[..., object], *args: object, **kwargs: object) -> None:
    """Run a file write at once (what `io` does outside a backfill's writer thread)."""
    fn(*args, **kwargs)


@dataclass(frozen=True)
class Archived:
    """A received file on disk under its staging name, and the place it goes if accepted."""

    staged: Path
    final: Path


def archive(
    home: Path,
    origin: Origin,
    fetched: Fetched,
    secrets: Iterable[str],
    io: Later = now,
) -> list[Archived]:
    """Write what the source returned to disk, before anything parses it; return the files.

    Files are written under staging names and moved into place once checked (`settle`), or
    set aside with the reason when refused. `io` runs each write: at once, or queued on a
    backfill's writer thread, which writes it before any row of that snapshot (one thread,
    first in, first out).
    """
    raw = RawArchive(home)
    if origin.computes and fetched.chain is not None:
        chain = fetched.chain
        final = raw.input_path(origin.name, chain.symbol, chain.as_of)
        staged = staging(final)
        io(
            raw.put_input,
            source=origin.name,
            symbol=chain.symbol,
            as_of=chain.as_of,
            spot=chain.spot,
            origin=chain.origin,
            frame=chain.frame,
            bar=_jsonable(fetched.bar),
            to=staged,
            oi_as_of=fetched.oi_as_of.isoformat() if fetched.oi_as_of else None,
            fetched_at=fetched.fetched_at,
        )
        return [Archived(staged, final)]
    files = []
    for endpoint, payload in sorted(fetched.payloads.items(), key=lambda kv: kv[0] != "gex"):
        final = raw.payload_path(origin.name, endpoint, fetched.symbol, fetched.as_of)
        files.append(Archived(staging(final), final))
        raw.put(
            source=origin.name,
            endpoint=endpoint,
            symbol=fetched.symbol,
            as_of=fetched.as_of,
            payload=payload,
            request=dict(fetched.request.get(endpoint, {})),
            secrets=secrets,
            to=files[-1].staged,
            fetched_at=fetched.fetched_at,
        )
    return files


def settle(home: Path, files: list[Archived], io: Later = now) -> None:
    """Move accepted files into their places in the archive."""
    for item in files:
        io(RawArchive(home).settle, item.staged, item.final)


def _jsonable(bar: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return a bar with its date as ISO text, for the archive's JSON metadata."""
    if bar is None:
        return None
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in bar.items()}


def bar_rows(bar: dict[str, Any], symbol: str, source: str, as_of: datetime) -> pl.DataFrame:
    """Return the `prices` row of a bar received with a chain, known at the chain's time."""
    day = bar["trade_date"]
    day = date.fromisoformat(day) if isinstance(day, str) else day
    row = {k: bar.get(k) for k in ("open", "high", "low", "close", "volume")}
    keys = {"symbol": symbol, "source": source, "as_of": as_of, "trade_date": day}
    return pl.DataFrame([{**keys, **row}], schema_overrides={"as_of": pl.Datetime("us", "UTC")})


def check(
    origin: Origin, fetched: Fetched, asked: datetime | None, session: date | None = None
) -> None:
    """Run the firewall on what was received; raise RejectedError naming the field at fault.

    `session`: the NYSE session a backfill asked for; the snapshot must describe it (a stale
    chain file saved under another day's name is refused, not stored as that day).
    """
    now = datetime.now(UTC)
    if fetched.refused is not None:  # the source's parser refused it: archived, then set aside
        raise RejectedError(fetched.refused)
    if origin.computes:
        if fetched.chain is None:
            raise RejectedError(f"{fetched.symbol}: {origin.name} returned no chain")
        check_chain(fetched.chain, fetched.symbol, asked, now)
    else:
        check_payloads(fetched.payloads, fetched.symbol, asked, fetched.as_of, now)
    described = session_of(fetched.as_of) if session is not None else None
    if described != session:
        where = fetched.chain.origin if fetched.chain is not None else origin.name
        raise RejectedError(
            f"{where}: as_of {fetched.as_of.isoformat()} describes the session of {described}, "
            f"but {session} was asked for"
        )


def chain_rows(
    chain: Chain, source: str, oi_as_of: date | None = None, fetched_at: datetime | None = None
) -> pl.DataFrame:
    """Return the chain's contracts as `chains` rows.

    `oi_as_of`: the session whose close the open interest describes, when the source says
    (Cboe's feed: the previous session); null when unknown. `fetched_at`: when gammalake
    received the chain (UTC; null when unknown).
    """
    keys = {
        "symbol": chain.symbol,
        "source": source,
        "as_of": chain.as_of,
        "trade_date": session_of(chain.as_of),
        "oi_as_of": oi_as_of,
        "fetched_at": fetched_at.astimezone(UTC) if fetched_at is not None else None,
    }
    frame = complete_frame(chain.frame)
    # OCC-style id (root, yymmdd, C/P, strike x 1000) where the source gave none.
    occ = pl.format(
        "{}{}{}{}",
        pl.lit(chain.symbol),
        pl.col("expiration").dt.strftime("%y%m%d"),
        pl.col("right"),
        (pl.col("strike") * 1000).round(0).cast(pl.Int64).cast(pl.String).str.zfill(8),
    )
    frame = frame.with_columns(pl.col("contract").fill_null(occ))
    return frame.with_columns(*(pl.lit(v).alias(k) for k, v in keys.items()))


def normalise(
    origin: Origin,
    fetched: Fetched,
    pricing: Pricing,
    raw_ref: str | None,
    secrets: Iterable[str] = (),
) -> dict[str, pl.DataFrame]:
    """Return the warehouse rows of a checked fetch: priced under `pricing` when an input."""
    method = pricing.method_for(origin.computes)
    if origin.computes and fetched.chain is not None:
        # Per-expiry gex is not stored: it is re-computed from the raw input when asked for.
        payloads = engine_payloads(pricing.priced_chain(fetched.chain), pricing.config)
        rows = snapshot_rows(
            payloads,
            source=origin.name,
            method=method,
            raw_ref=raw_ref,
            fetched_at=fetched.fetched_at,
        )
        if fetched.bar is not None:
            chain = fetched.chain
            rows["prices"] = bar_rows(fetched.bar, chain.symbol, origin.name, chain.as_of)
        return rows
    # A server that echoes the key inside strings must not get it into lake columns.
    payloads = scrub(fetched.payloads, tuple(secrets))
    return snapshot_rows(
        payloads,
        source=origin.name,
        method=method,
        as_of=fetched.as_of,
        raw_ref=raw_ref,
        fetched_at=fetched.fetched_at,
    )


def previous_from_lake(
    home: Path,
    symbol: str,
    source: str,
    method: str,
    before: datetime,
    inclusive: bool = False,
) -> Previous | None:
    """Return the latest stored snapshot of (symbol, source, method) before `before`, or None.

    `inclusive`: at or before, so one query also tells whether `before` itself is stored.
    """
    found = _previous_rows(home, {symbol: before}, source, method, inclusive)
    return found.get(symbol)


def previous_many(
    home: Path, asked: dict[str, datetime], source: str, method: str
) -> dict[str, Previous]:
    """Return, per symbol, the latest stored snapshot at or before its moment in `asked`.

    Two queries for any number of symbols, straight on the lake's files: the symbols' range
    prunes row groups (partitions are sorted by symbol) and the strikes are read from the
    found snapshots' days only, so a batch costs the same however much is stored beside it.
    Symbols with nothing stored are absent. At-or-before, so the caller also learns whether
    the moment is stored.
    """
    return _previous_rows(home, asked, source, method, inclusive=True)


_PREVIOUS_SQL = """
SELECT s.* FROM ROWS s JOIN asked_moments a ON s.symbol = a.symbol AND s.as_of {until} a.asked
WHERE s.source = $source AND s.method = $method AND s.symbol BETWEEN $low AND $high
QUALIFY row_number() OVER (PARTITION BY s.symbol ORDER BY s.as_of DESC) = 1
"""
_PREVIOUS_STRIKES_SQL = """
SELECT t.symbol, t.strike, t.call_oi, t.put_oi FROM ROWS t
JOIN found f ON t.symbol = f.symbol AND t.as_of = f.as_of
WHERE t.source = $source AND t.method = $method AND t.symbol BETWEEN $low AND $high
"""


def _previous_rows(
    home: Path, asked: dict[str, datetime], source: str, method: str, inclusive: bool
) -> dict[str, Previous]:
    """Return, per symbol, its latest snapshot before (or at) its moment, with its strikes."""
    if not asked:
        return {}
    wanted = pl.DataFrame(
        {"symbol": list(asked), "asked": list(asked.values())},
        schema={"symbol": pl.String, "asked": pl.Datetime("us", "UTC")},
    )
    params = {"source": source, "method": method, "low": min(asked), "high": max(asked)}
    sql = _PREVIOUS_SQL.replace("{until}", "<=" if inclusive else "<")
    snaps = scan(home, "snapshots", sql, params, tables={"asked_moments": wanted})
    if snaps is None or snaps.height == 0:
        return {}
    days = snaps.get_column("trade_date").to_list()
    found = {"found": snaps.select("symbol", "as_of")}
    strikes = scan(home, "strikes", _PREVIOUS_STRIKES_SQL, params, days, found)
    strikes = pl.DataFrame() if strikes is None else strikes
    return {
        row["symbol"]: Previous(row, _strikes_of(strikes, row["symbol"]))
        for row in snaps.iter_rows(named=True)
    }


def _strikes_of(strikes: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """Return one symbol's previous strikes (strike, call_oi, put_oi)."""
    if strikes.height == 0:
        return pl.DataFrame()
    return strikes.filter(pl.col("symbol") == symbol).drop("symbol")


def with_oi_change(strikes: pl.DataFrame, previous: Previous | None) -> pl.DataFrame:
    """Return strikes with OI change against `previous` where the source gave none."""
    given = strikes.get_column("call_oi_change").null_count() < strikes.height
    if given or previous is None or previous.strikes.height == 0:
        return strikes
    before = previous.strikes.select(
        "strike", pl.col("call_oi").alias("_c"), pl.col("put_oi").alias("_p")
    )
    joined = strikes.drop("call_oi_change", "put_oi_change").join(before, on="strike", how="left")
    return (
        joined.with_columns(
            (pl.col("call_oi") - pl.col("_c").fill_null(0)).alias("call_oi_change"),
            (pl.col("put_oi") - pl.col("_p").fill_null(0)).alias("put_oi_change"),
        )
        .drop("_c", "_p")
        .select(strikes.columns)
    )


def against_previous(
    rows: dict[str, pl.DataFrame],
    previous: Previous | None,
    rules: AlertRules = DEFAULT_RULES,
) -> list[dict[str, Any]]:
    """Add OI change (where missing) and alert rows to `rows`; return the alerts."""
    if "strikes" in rows:
        rows["strikes"] = with_oi_change(rows["strikes"], previous)
    current = rows["snapshots"].row(0, named=True)
    alerts = derive_alerts(previous.snapshot if previous else None, current, rules)
    if alerts:
        rows["alerts"] = pl.DataFrame(alerts)
    return alerts


def derive(
    origin: Origin,
    fetched: Fetched,
    previous: Previous | None,
    pricing: Pricing,
    *,
    raw_ref: str | None,
    asked: datetime | None = None,
    rules: AlertRules = DEFAULT_RULES,
    secrets: Iterable[str] = (),
    session: date | None = None,
) -> Captured:
    """Check, normalise and derive one archived fetch; raise RejectedError when refused.

    `rules`: when wall alerts fire.
    """
    check(origin, fetched, asked, session)
    try:
        rows = normalise(origin, fetched, pricing, raw_ref, secrets)
    except PayloadError as exc:
        raise RejectedError(str(exc), requests=fetched.requests) from None
    alerts = against_previous(rows, previous, rules)
    given = fetched.chain if origin.computes else None
    chain = (given, origin.name, fetched.oi_as_of) if given is not None else None
    return Captured(
        fetched.symbol, rows, alerts, fetched.requests, fetched.errors, chain, fetched.fetched_at
    )


def capture(
    home: Path,
    origin: Origin,
    fetched: Fetched,
    previous: Previous | None,
    pricing: Pricing,
    *,
    asked: datetime | None,
    rules: AlertRules = DEFAULT_RULES,
    secrets: Iterable[str] = (),
    io: Later = now,
    session: date | None = None,
) -> Captured:
    """Archive then check, normalise and derive one fetched snapshot.

    A refused snapshot keeps its raw files, marked with the reason, and raises RejectedError
    carrying the requests it cost. `io`: see `archive`; `session`: see `check`; `rules`:
    see `derive`.
    """
    secrets = tuple(secrets)
    files = archive(home, origin, fetched, secrets, io)
    ref = str(files[0].final.relative_to(home)) if files else None
    try:
        captured = derive(
            origin,
            fetched,
            previous,
            pricing,
            raw_ref=ref,
            asked=asked,
            rules=rules,
            secrets=secrets,
            session=session,
        )
    except RejectedError as exc:
        reason = f"refused by the checks: {exc}"
        for item in files:
            io(RawArchive(home).set_aside, item.staged, item.final, reason, secrets)
        raise RejectedError(scrub(reason, secrets), requests=fetched.requests) from None
    except BaseException:
        for item in files:  # not refused, not accepted: keep it, as received, in its place
            io(RawArchive(home).settle, item.staged, item.final)
        raise
    settle(home, files, io)
    if origin.computes:
        for item in files:
            io(RawArchive(home).add_method, item.final, pricing.method)
    return captured


def snapshot_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the snapshot keys of `snapshots` rows, with the trade date that places them."""
    return frame.select(*SNAPSHOT_KEY, "trade_date")


def merge_rows(captures: list[Captured]) -> dict[str, pl.DataFrame]:
    """Return the rows of many captures concatenated per dataset."""
    frames: dict[str, list[pl.DataFrame]] = {}
    for item in captures:
        for name, frame in item.frames().items():
            frames.setdefault(name, []).append(frame)
    return {name: pl.concat(parts, how="diagonal_relaxed") for name, parts in frames.items()}


def write_captures(home: Path, captures: list[Captured]) -> dict[str, int]:
    """Write captured snapshots (snapshot rows last); replace each one's strikes and alerts.

    A snapshot written again loses the strikes, expiries and alerts it no longer has (an alert
    that no longer applies after `--force` or a re-derivation goes).
    """
    if not captures:
        return {}
    rows = merge_rows(captures)
    keys = snapshot_keys(rows["snapshots"])
    return Lake(home).write_all(rows, clear=dict.fromkeys(PER_SNAPSHOT, keys))
