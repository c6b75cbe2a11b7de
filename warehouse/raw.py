"""The raw archive: every payload as received, before parsing, so silver tables can be rebuilt.

Layout: raw/<source>/<endpoint>/symbol=<SYM>/<YYYY-MM-DD>/<as_of>.json.gz, one gzipped JSON
envelope per payload: source, endpoint, symbol, as_of, archived_at, request metadata and the
payload (or, when the body was not valid JSON, the body text). Secrets never reach the disk:
request fields named like keys or tokens are dropped, URL query parameters of that kind are
masked, and any literal secret passed in is replaced wherever it appears.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warehouse.errors import WarehouseInputError
from warehouse.schema import validate_source, validate_symbol

_SECRET_NAME = re.compile(r"(key|token|secret|password|authorization|cookie)", re.IGNORECASE)
_SECRET_QUERY = re.compile(r"([?&][^=&]*(?:key|token|secret)[^=&]*=)[^&#]*", re.IGNORECASE)
_ENDPOINT = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MASK = "***"


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


@dataclass(frozen=True)
class RawArchive:
    """The raw archive under one home folder."""

    home: Path

    @property
    def root(self) -> Path:
        """Return the archive folder."""
        return self.home / "raw"

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
    ) -> Path:
        """Archive one payload (parsed JSON, or the body text when it was not JSON).

        Returns the file written. `as_of` is the snapshot's key time (timezone-aware).
        """
        validate_source(source)
        validate_symbol(symbol)
        if not _ENDPOINT.fullmatch(endpoint):
            raise WarehouseInputError(f"invalid endpoint name {endpoint!r}")
        if as_of.tzinfo is None:
            raise WarehouseInputError(f"as_of {as_of.isoformat()} has no timezone")
        secrets = tuple(secrets)
        envelope = {
            "source": source,
            "endpoint": endpoint,
            "symbol": symbol,
            "as_of": as_of.isoformat(),
            "archived_at": datetime.now(UTC).isoformat(),
            "request": scrub(request or {}, secrets),
            "payload": scrub(payload, secrets) if secrets else payload,
        }
        stamp = as_of.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        folder = self.root / source / endpoint / f"symbol={symbol}" / stamp[:8]
        target = folder / f"{stamp}.json.gz"
        # Level 3: a third of level 9's time on payload JSON for a slightly larger file.
        data = gzip.compress(json.dumps(envelope).encode(), compresslevel=3, mtime=0)
        _atomic_write(target, data)
        return target

    def envelopes(self) -> Iterator[Envelope]:
        """Yield every archived payload, oldest snapshot first."""
        for path in sorted(self.root.glob("*/*/symbol=*/*/*.json.gz"), key=lambda p: p.name):
            data = json.loads(gzip.decompress(path.read_bytes()))
            yield Envelope(
                path=path,
                source=data["source"],
                endpoint=data["endpoint"],
                symbol=data["symbol"],
                as_of=datetime.fromisoformat(data["as_of"]),
                payload=data["payload"],
                request=data.get("request", {}),
            )


def _atomic_write(target: Path, data: bytes) -> None:
    """Write bytes to `target` via a temp file beside it and os.replace."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
