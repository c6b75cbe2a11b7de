"""A local FlashAlpha-compatible exposure API, serving engine payloads for synthetic symbols.

Same paths, header, query parameters and response shapes as the real API (live, and historical
with `?at=`), so the real client can be run against it with no key and no network. Faults can be
queued to test clients: statuses (with or without Retry-After), slow responses, bodies trickled
a byte at a time, connections dropped mid-response, truncated JSON, missing or extra fields.
Every request is logged, so a test can prove how many requests a client really sent.

    server = serve(ServerState(keys={"test-key": "growth"}))   # 127.0.0.1, a free port
    ... FlashAlphaClient(ClientConfig("test-key", base_url=server.url)) ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.synthetic import SyntheticMarket
from tests.support.serving import RunningServer, serve_app

FaultKind = Literal[
    "status", "delay", "trickle", "drop", "truncate", "missing_field", "extra_fields", "bomb"
]
PLAN_RANK = {"free": 0, "basic": 1, "growth": 2, "alpha": 3}
ENDPOINTS = ("gex", "dex", "vex", "chex", "levels", "summary")


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour, consumed by the next request it matches.

    `seconds`: how long a `delay` waits, or the pause between bytes of a `trickle`, which
    drops the connection after `limit` seconds (so a client that never gives up still ends).
    `size`: the decompressed bytes of a `bomb` (a gzip-encoded 200 body of zeros).
    """

    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    limit: float = 20.0
    field: str = "net_gex"
    endpoint: str | None = None
    symbol: str | None = None
    size: int = 64 * 2**20


@dataclass
class ServerState:
    """Keys and their plans, queued faults, and the request log (shared with the test)."""

    keys: dict[str, str] = field(default_factory=lambda: {"test-key": "growth"})
    echo_keys: bool = False  # 401/403 messages repeat the key sent (tests of key scrubbing)
    faults: deque[Fault] = field(default_factory=deque)
    log: list[dict[str, Any]] = field(default_factory=list)
    market: SyntheticMarket = field(default_factory=SyntheticMarket)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0

    def reset(self) -> None:
        """Forget queued faults, the log and the in-flight peak."""
        with self.lock:
            self.faults.clear()
            self.log.clear()
            self.max_in_flight = 0

    def add_faults(self, *faults: Fault) -> None:
        """Queue faults in order."""
        with self.lock:
            self.faults.extend(faults)

    def next_fault(self, endpoint: str, symbol: str = "") -> Fault | None:
        """Pop the first queued fault matching this endpoint and symbol (None matches any)."""
        with self.lock:
            for fault in self.faults:
                if fault.endpoint in (None, endpoint) and fault.symbol in (None, symbol):
                    self.faults.remove(fault)
                    return fault
        return None

    def count(self, endpoint: str | None = None) -> int:
        """Return how many requests arrived (for one endpoint, or all)."""
        return sum(1 for e in self.log if endpoint in (None, e["endpoint"]))


def _moment(at: str | None) -> datetime:
    """Return the snapshot time: `at` (a date means its 16:00 close, New York) or now."""
    if not at:
        now = datetime.now(NEW_YORK)
        return now.replace(second=0, microsecond=0)
    if len(at) == 10:
        return datetime.combine(date.fromisoformat(at), datetime.min.time(), NEW_YORK).replace(
            hour=16
        )
    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=NEW_YORK)


@lru_cache(maxsize=64)
def _snapshot(market: SyntheticMarket, symbol: str, moment: datetime) -> ExposureSnapshot:
    """Return the engine snapshot of a synthetic symbol at a moment (cached)."""
    chain = market.chain(symbol, moment, expiries=12, strikes=61)
    return ExposureSnapshot(chain, preset("default"))


def _payload(state: ServerState, endpoint: str, symbol: str, query: dict[str, str]) -> dict:
    """Return the API payload of one endpoint, shaped like the real API's."""
    snap = _snapshot(state.market, symbol, _moment(query.get("at")))
    expiration = query.get("expiration")
    if endpoint == "gex":
        min_oi = int(query["min_oi"]) if "min_oi" in query else None
        body: dict[str, Any] = dict(snap.gex(expiration=expiration, min_oi=min_oi))
    elif endpoint in ("dex", "vex", "chex"):
        body = getattr(snap, endpoint)(expiration=expiration)
    else:
        body = dict(snap.levels() if endpoint == "levels" else snap.summary())
    body = {k: v for k, v in body.items() if k != "warnings"}
    body["as_of"] = body["as_of"][:19]  # the API sends New York wall time without offset
    return {**body, "endpoint_version": "v1"}


def _refusal(state: ServerState, request: Request, endpoint: str) -> Response | None:
    """Return the 401/403/404 the real API would send, or None."""
    sent = request.headers.get("x-api-key", "")
    echo = f" (key {sent})" if state.echo_keys else ""
    plan = state.keys.get(sent)
    if plan is None:
        return JSONResponse({"status": 401, "message": f"Invalid or missing API key{echo}"}, 401)
    if endpoint == "summary" and PLAN_RANK[plan] < PLAN_RANK["growth"]:
        return JSONResponse(
            {
                "status": 403,
                "message": f"This endpoint requires the Growth plan{echo}",
                "current_plan": plan,
                "required_plan": "growth",
            },
            403,
        )
    symbol = request.path_params["symbol"]
    if not symbol.isalnum() or not symbol.isupper():
        return JSONResponse({"status": 404, "message": f"Unknown symbol {symbol}"}, 404)
    return None


async def _apply(fault: Fault, body: dict[str, Any]) -> Response | None:
    """Return the faulty response for `fault`, or None to answer normally (after any delay)."""
    if fault.kind == "status":
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        text = {"status": fault.status, "message": f"injected {fault.status}"}
        return JSONResponse(text, fault.status, headers=headers)
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)
        return None
    if fault.kind == "trickle":
        data = json.dumps(body).encode()
        return StreamingResponse(_trickled(data, fault), 200, media_type="application/json")
    if fault.kind == "bomb":
        squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
        zeros = squeeze.compress(b"\0" * fault.size) + squeeze.flush()
        headers = {"Content-Encoding": "gzip"}
        return Response(zeros, 200, headers=headers, media_type="application/json")
    if fault.kind == "truncate":
        data = json.dumps(body).encode()
        return Response(data[: len(data) // 2], 200, media_type="application/json")
    if fault.kind == "missing_field":
        body.pop(fault.field, None)
    elif fault.kind == "extra_fields":
        body["unannounced_field"] = {"new": True}
    return None


class _DroppedConnectionError(Exception):
    """Raised mid-response to make the server drop the connection."""


async def _trickled(data: bytes, fault: Fault) -> AsyncIterator[bytes]:
    """Yield `data` one byte every `fault.seconds`; drop the connection after `fault.limit` s."""
    stop = time.monotonic() + fault.limit
    for i in range(len(data)):
        if time.monotonic() > stop:
            raise _DroppedConnectionError
        yield data[i : i + 1]
        await asyncio.sleep(fault.seconds)


async def _dropped(scope: Any, receive: Any, send: Any) -> None:
    """Start a response, then fail: the client sees the connection close without a body."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"999")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"symbol": "', "more_body": True})
    raise _DroppedConnectionError


def create_app(state: ServerState) -> Starlette:
    """Return the ASGI app serving the exposure endpoints from `state`."""

    async def exposure(request: Request) -> Response:
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            return await _answer(request)
        finally:
            with state.lock:
                state.in_flight -= 1

    async def _answer(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        symbol = request.path_params["symbol"]
        query = dict(request.query_params)
        entry = {
            "endpoint": endpoint,
            "symbol": symbol,
            "query": query,
            "time": time.time(),
            "has_key": "x-api-key" in request.headers,
        }
        state.log.append(entry)
        if endpoint not in ENDPOINTS:
            return JSONResponse({"status": 404, "message": "Not found"}, 404)
        refusal = _refusal(state, request, endpoint)
        if refusal is not None:
            return refusal
        fault = state.next_fault(endpoint, symbol)
        if fault is not None and fault.kind == "drop":
            return _dropped  # type: ignore[return-value]
        body = await asyncio.to_thread(_payload, state, endpoint, symbol, query)
        if fault is not None:
            faulty = await _apply(fault, body)
            if faulty is not None:
                return faulty
        return JSONResponse(body)

    return Starlette(routes=[Route("/v1/exposure/{endpoint}/{symbol}", exposure)])


def serve(state: ServerState, host: str = "127.0.0.1", port: int = 0) -> RunningServer[ServerState]:
    """Start the app under uvicorn in a thread on `host` (port 0: a free one); return it."""
    return serve_app(create_app(state), state, host, port)
