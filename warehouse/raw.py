"""The raw archive: what was received, before parsing, so silver tables can be re-made.

Vendor payloads: raw/<source>/<endpoint>/symbol=<SYM>/<YYYYMMDD>/<as_of>.json.gz, one gzipped
JSON envelope per payload: source, endpoint, symbol, as_of, fetched_at, archived_at, request
metadata and the payload (or, when the body was not valid JSON, the body text).

Engine inputs (chains the engine prices): raw/<source>/chain/symbol=<SYM>/<YYYYMMDD>/<as_of>
.parquet, the contracts in the order received (zstd-compressed Parquet), with symbol, spot,
as_of, fetched_at and origin in the file's metadata. Any history can be re-priced from them,
by any method.

`as_of` is the moment the data describes; `fetched_at` when gammalake received it (recorded
since schema 3, so a rebuild reproduces it; None in older records, see flows.rebuild).

A payload or input refused by the checks is archived all the same, with a `<file>.rejected.json`
beside it giving the reason; readers of the archive skip it unless asked.

Secrets never reach the disk: request fields named like keys or tokens are dropped, URL query
parameters of that kind are masked, and any literal secret passed in is replaced wherever it
appears.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warehouse.errors import WarehouseInputError
from warehouse.home import Layout
from warehouse.schema import validate_source, validate_symbol

_SECRET_NAME = re.compile(r"(key|token|secret|password|authorization|cookie)", re.IGNORECASE)
_SECRET_QUERY = re.compile(r"([?&][^=&]*(?:key|token|secret)[^=&]*=)[^&#]*", re.IGNORECASE)
_ENDPOINT = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MASK = "***"
#: Endpoint folder of engine inputs.
INPUT = "chain"
REJECTED_SUFFIX = ".rejected.json"
#: Sidecar listing the methods an input was priced under, one a line: `rebuild` re-makes those.
METHODS_SUFFIX = ".methods"
META_INPUT = b"gammalake.input"


def scrub(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Return `value` with secret-named fields dropped and secret query parameters masked."""
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items() if not _SECRET_NAME.search(str(k))}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str):
        text = _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, value)
        for secret in secrets:
            if secret:
                text = text.replace(secret, MASK)
        return text
    return value


@dataclass(frozen=True)
class Envelope:
    """One archived payload and where it came from."""

    path: Path
    source: str
    endpoint: str
    symbol: str
    as_of: datetime
    payload: Any
    request: dict[str, Any]
    fetched_at: datetime | None = None
    archived_at: datetime | None = None


@dataclass(frozen=True)
class RawInput:
    """One archived engine input: the contracts as received and what describes them."""

    path: Path
    source: str
    symbol: str
    as_of: datetime
    spot: float
    origin: str
    frame: Any  # polars.DataFrame; typed loosely so the archive imports polars lazily
    bar: dict[str, Any] | None = None
    oi_as_of: str | None = None
    fetched_at: datetime | None = None
    archived_at: datetime | None = None


def staging(path: Path) -> Path:
    """Return a temp name beside `path` for a file written before it is checked.

    Named like the archive's other temp files, so `gammalake doctor` removes one whose writer
    died.
    """
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def methods_of(path: Path) -> set[str]:
    """Return the methods an archived input was priced under (empty when none recorded)."""
    sidecar = path.with_name(path.name + METHODS_SUFFIX)
    return set(sidecar.read_text().split()) if sidecar.exists() else set()


def rejected(path: Path) -> str | None:
    """Return why the checks refused an archived file, or None when it was not refused."""
    marker = path.with_name(path.name + REJECTED_SUFFIX)
    return json.loads(marker.read_text())["reason"] if marker.exists() else None


@dataclass(frozen=True)
class RawArchive:
    """The raw archive under one home folder."""

    home: Path

    @property
    def root(self) -> Path:
        """Return the archive folder."""
        return Layout(self.home).raw

    def put(
        self,
        *,
        source: str,
        endpoint: str,
        symbol: str,
        as_of: datetime,
        payload: Any,
        request: dict[str, Any] | None = None,
        secrets: Iterable[str] = (),
        to: Path | None = None,
        fetched_at: datetime | None = None,
    ) -> Path:
        """Archive one payload (parsed JSON, or the body text when it was not JSON).

        Returns the file written: `to`, else the payload's own place (see `payload_path`).
        `as_of` is the snapshot's key time (timezone-aware); `fetched_at` when it was received.
        """
        target = self.payload_path(source, endpoint, symbol, as_of)
        target = to or target
        secrets = tuple(secrets)
        envelope = {
            "source": source,
            "endpoint": endpoint,
            "symbol": symbol,
            "as_of": as_of.isoformat(),
            "fetched_at": _iso(fetched_at),
            "archived_at": datetime.now(UTC).isoformat(),
            "request": scrub(request or {}, secrets),
            "payload": scrub(payload, secrets) if secrets else payload,
        }
        # Level 3: a third of level 9's time on payload JSON for a slightly larger file.
        data = gzip.compress(json.dumps(envelope).encode(), compresslevel=3, mtime=0)
        _atomic_write(target, data)
        return target

    def put_input(
        self,
        *,
        source: str,
        symbol: str,
        as_of: datetime,
        spot: float,
        origin: str,
        frame: Any,
        bar: dict[str, Any] | None = None,
        to: Path | None = None,
        oi_as_of: str | None = None,
        fetched_at: datetime | None = None,
    ) -> Path:
        """Archive one engine input (a polars frame of contracts); return the file written.

        `bar`: the underlying's session bar received with the chain (JSON-ready values);
        `oi_as_of`: the session (ISO date) whose close the open interest describes;
        `fetched_at`: when gammalake received it.
        """
        target = to or self.input_path(source, symbol, as_of)
        meta: dict[str, Any] = {"symbol": symbol, "as_of": as_of.isoformat(), "spot": spot}
        meta |= {"origin": origin, "archived_at": datetime.now(UTC).isoformat()}
        if bar is not None:
            meta["bar"] = bar
        if oi_as_of is not None:
            meta["oi_as_of"] = oi_as_of
        if fetched_at is not None:
            meta["fetched_at"] = _iso(fetched_at)
        buffer = io.BytesIO()
        frame.write_parquet(
            buffer,
            compression="zstd",
            compression_level=3,
            metadata={META_INPUT.decode(): json.dumps(meta)},
        )
        _atomic_write(target, buffer.getvalue())
        return target

    def payload_path(self, source: str, endpoint: str, symbol: str, as_of: datetime) -> Path:
        """Return where a vendor payload of (source, endpoint, symbol, as_of) is archived."""
        validate_source(source)
        validate_symbol(symbol)
        if not _ENDPOINT.fullmatch(endpoint) or endpoint == INPUT:
            raise WarehouseInputError(f"invalid endpoint name {endpoint!r}")
        return self._path(source, endpoint, symbol, as_of, ".json.gz")

    def input_path(self, source: str, symbol: str, as_of: datetime) -> Path:
        """Return where the engine input of (source, symbol, as_of) is archived."""
        validate_source(source)
        validate_symbol(symbol)
        return self._path(source, INPUT, symbol, as_of, ".parquet")

    def _path(self, source: str, endpoint: str, symbol: str, as_of: datetime, ext: str) -> Path:
        """Return the archive path of one snapshot's file (as_of timezone-aware)."""
        if as_of.tzinfo is None:
            raise WarehouseInputError(f"as_of {as_of.isoformat()} has no timezone")
        stamp = as_of.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return self.root / source / endpoint / f"symbol={symbol}" / stamp[:8] / f"{stamp}{ext}"

    def settle(self, staged: Path, final: Path) -> Path:
        """Move a file written under its staging name to its place; return the place."""
        os.replace(staged, final)
        return final

    def set_aside(
        self, staged: Path, final: Path, reason: str, secrets: Iterable[str] = ()
    ) -> Path:
        """Keep a refused file beside its place, under a name of its own, with the reason.

        Never at the place itself: a refused reception must not replace (or mark) an accepted
        one of the same moment, such as a stale file repeating an earlier day's chain.
        """
        stamp = final.name.split(".")[0]
        aside = final.with_name(
            f"{stamp}.rejected-{uuid.uuid4().hex[:8]}{final.name[len(stamp) :]}"
        )
        os.replace(staged, aside)
        self.reject(aside, reason, secrets)
        return aside

    def reject(self, path: Path, reason: str, secrets: Iterable[str] = ()) -> Path:
        """Mark an archived file as refused by the checks, with the reason; return the marker."""
        marker = path.with_name(path.name + REJECTED_SUFFIX)
        note = {
            "reason": scrub(reason, tuple(secrets)),
            "checked_at": datetime.now(UTC).isoformat(),
        }
        _atomic_write(marker, json.dumps(note).encode())
        return marker

    def envelopes(self, *, include_rejected: bool = False) -> Iterator[Envelope]:
        """Yield every archived payload, oldest snapshot first (refused ones only if asked)."""
        for path in sorted(self.root.glob("*/*/symbol=*/*/*.json.gz"), key=lambda p: p.name):
            if include_rejected or rejected(path) is None:
                yield read_envelope(path)

    def inputs(self, *, include_rejected: bool = False) -> Iterator[Path]:
        """Yield the path of every archived engine input, oldest first (refused only if asked)."""
        pattern = f"*/{INPUT}/symbol=*/*/*.parquet"
        for path in sorted(self.root.glob(pattern), key=lambda p: p.name):
            if include_rejected or rejected(path) is None:
                yield path

    def snapshot_files(self, source: str, symbol: str, as_of: datetime) -> list[Path]:
        """Return every archived file (payloads or input) of one snapshot key, not refused."""
        stamp = as_of.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        folder = f"symbol={symbol}/{stamp[:8]}"
        found = self.root.glob(f"{source}/*/{folder}/{stamp}.*")
        data = (p for p in found if p.name.endswith((".parquet", ".json.gz")))
        return sorted(p for p in data if not rejected(p))

    def add_method(self, path: Path, method: str) -> None:
        """Record that the input at `path` was priced under `method` (a sidecar of lines)."""
        if method not in methods_of(path):
            with path.with_name(path.name + METHODS_SUFFIX).open("a") as handle:
                handle.write(method + "\n")


def read_envelope(path: Path) -> Envelope:
    """Return one archived payload envelope."""
    data = json.loads(gzip.decompress(path.read_bytes()))
    return Envelope(
        path=path,
        source=data["source"],
        endpoint=data["endpoint"],
        symbol=data["symbol"],
        as_of=datetime.fromisoformat(data["as_of"]),
        payload=data["payload"],
        request=data.get("request", {}),
        fetched_at=_moment(data.get("fetched_at")),
        archived_at=_moment(data.get("archived_at")),
    )


def input_meta(path: Path) -> dict[str, Any]:
    """Return an archived engine input's metadata (symbol, as_of, origin, fetched_at, ...).

    Reads the file's footer only, not its contracts.
    """
    import pyarrow.parquet as pq

    meta = json.loads(pq.ParquetFile(path).metadata.metadata[META_INPUT])
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: its metadata is not a JSON object")
    return meta


def read_input(path: Path) -> RawInput:
    """Return one archived engine input (contracts in the order received)."""
    import polars as pl

    meta = input_meta(path)
    return RawInput(
        path=path,
        source=path.parents[3].name,
        symbol=meta["symbol"],
        as_of=datetime.fromisoformat(meta["as_of"]),
        spot=float(meta["spot"]),
        origin=meta["origin"],
        frame=pl.read_parquet(path),
        bar=meta.get("bar"),
        oi_as_of=meta.get("oi_as_of"),
        fetched_at=_moment(meta.get("fetched_at")),
        archived_at=_moment(meta.get("archived_at")),
    )


def _iso(moment: datetime | None) -> str | None:
    """Return a moment as ISO text in UTC (None stays None)."""
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _moment(text: str | None) -> datetime | None:
    """Return an archived ISO moment (None when the record has none)."""
    return datetime.fromisoformat(text) if text else None


#: Per thread: how many `one_sync` blocks are open (their writes skip their own fsync).
_BATCH = threading.local()


@contextmanager
def one_sync() -> Iterator[None]:
    """Make the archive writes of this thread inside the block durable together at its end.

    Each write otherwise fsyncs its own file: about 3.4 ms a file, 17 s of a whole-market
    day's 5,000 inputs. One `os.sync()` when the outermost block ends covers them all; the
    caller stores no row referring to these files before the block has ended.
    """
    _BATCH.depth = getattr(_BATCH, "depth", 0) + 1
    try:
        yield
    finally:
        _BATCH.depth -= 1
        if _BATCH.depth == 0:
            os.sync()


def _atomic_write(target: Path, data: bytes) -> None:
    """Write bytes to `target` via a temp file beside it and os.replace (fsynced first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            if not getattr(_BATCH, "depth", 0):
                os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
