"""A local stand-in for Cboe's delayed-quotes JSON feed, so the `cboe` source is tested offline.

Serves `/api/global/delayed_quotes/options/{NAME}.json` on 127.0.0.1 (a free port, uvicorn in
a thread) like the real feed (../shared/reference/cboe-delayed-quotes.md): indices only under
a leading underscore (`_SPX`), others without (`SPY`); 403 without a browser-like User-Agent;
429 with Retry-After once a sliding window's budget is spent; 404 for anything it does not
list. It lists:
- chains from real CBOE quotedata.csv downloads (`add_csv`, read with read_cboe): the same
  contracts, spot (`Last:`) and time (`Date:`), converted to the JSON shape, OSI ids from the
  CSV's option ids. THE UNDERLYING'S BAR IS THE SERVER'S INVENTION: the CSVs carry the last
  price, the day's change and (some) the volume, but no open, high or low, so the server
  serves close = spot, prev_day_close = spot - change, open = prev_day_close, high and low
  0.4 % beyond the larger and smaller of the two, volume from the CSV's `Volume:` (else 0).
  Plausible for testing, not Cboe's data;
- small synthetic chains (9 strikes, 2 Friday expiries, Black-Scholes greeks rounded to 4
  decimals like the feed's) for any symbol matching `synthetic` (default SYM001..SYM999),
  generated deterministically from the symbol, stamped with the server's clock.

Switches and faults: `weekend` keeps serving the last session's timestamp (close + 15 min)
for synthetic chains, as the real feed does on weekends and holidays; queued `Fault`s
(statuses with Retry-After in seconds or as an HTTP date, slow replies, slow-drip bodies sent a
byte at a time, gzip bombs, truncated bodies, malformed JSON, dropped connections, a reply for
another symbol, a NaN in a contract);
`latency` delays every reply. Every request is logged (time, path, user agent, status) and
the in-flight peak kept, so tests can prove what a client really sent.

    server = serve(ServerState(limit=25, window_seconds=0.5))
    ... CboeFeedSource(CboeConfig(base_url=server.url, ...)) ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import functools
import json
import math
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pipeline.chain import Chain
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.formats.quotedata import read_cboe
from tests.support.serving import RunningServer, serve_app

FEED_PATH = "/api/global/delayed_quotes/options"
#: The server's own list of names it serves only with an underscore (not the client's list).
SERVER_INDICES = frozenset({"SPX", "NDX", "RUT", "VIX", "XSP"})
FaultKind = Literal[
    "status", "delay", "truncate", "malformed", "drop", "wrong_symbol", "nan", "drip", "bomb"
]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour, consumed by the next request it matches (`symbol`: stored).

    `retry_after`: the Retry-After header of a `status` fault, as sent ("2" or an HTTP date);
    `seconds`: how long a `delay` waits, or the pause between the bytes of a `drip` (a reply
    trickled one byte at a time); `other`: the feed name a `wrong_symbol` reply names, in
    `where` ("both", "symbol" or "data.symbol"); `field`: the contract field a `nan` spoils;
    `size`: the decompressed bytes of a `bomb` (a gzip-encoded body of zeros).
    """

    kind: FaultKind
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    symbol: str | None = None
    other: str = "QQQ"
    where: str = "both"
    field: str = "iv"
    size: int = 64 * 2**20


@dataclass(frozen=True)
class Listed:
    """A chain read from a CBOE CSV, with the session figures the server serves beside it."""

    chain: Chain
    index: bool
    day: dict[str, float]


def _now() -> datetime:
    """Return now, UTC."""
    return datetime.now(UTC)


@dataclass
class ServerState:
    """What the server lists, its budget and switches, queued faults and the request log."""

    limit: int | None = None  # requests per window; None: no limit
    window_seconds: float = 1.0
    weekend: bool = False
    latency: float = 0.0  # seconds every reply waits
    synthetic: str = r"^SYM\d{3}$"
    clock: Callable[[], datetime] = _now
    listed: dict[str, Listed] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0
    counted: deque[float] = field(default_factory=deque)  # monotonic arrivals in the window
    bodies: dict[str, bytes] = field(default_factory=dict)  # serialised CSV chain replies

    def add_csv(self, path: Path, *, index: bool) -> str:
        """List the chain of a CBOE quotedata.csv (index: served as `_SYM`); return its symbol."""
        chain = read_cboe(path)
        self.listed[chain.symbol] = Listed(chain, index, invented_day(path, chain.spot))
        self.bodies.pop(chain.symbol, None)
        return chain.symbol

    def reset(self) -> None:
        """Forget faults, the log, the window's count, the in-flight peak and the switches."""
        with self.lock:
            self.faults.clear()
            self.log.clear()
            self.counted.clear()
            self.max_in_flight = 0
        self.limit, self.weekend, self.latency, self.clock = None, False, 0.0, _now

    def add_faults(self, *faults: Fault) -> None:
        """Queue faults in order."""
        with self.lock:
            self.faults.extend(faults)

    def next_fault(self, symbol: str) -> Fault | None:
        """Pop the first queued fault for `symbol` (or for any symbol)."""
        with self.lock:
            for fault in self.faults:
                if fault.symbol in (None, symbol):
                    self.faults.remove(fault)
                    return fault
        return None

    def statuses(self) -> list[int]:
        """Return the status of every logged request, in arrival order (0: dropped)."""
        return [entry.get("status", -1) for entry in self.log]

    def busiest_window(self, seconds: float, status: int = 200) -> int:
        """Return the most requests answered `status` that arrived within any `seconds`."""
        times = sorted(e["time"] for e in self.log if e.get("status") == status)
        most, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= seconds:
                start += 1
            most = max(most, end - start + 1)
        return most

    def stamp(self) -> datetime:
        """Return the time synthetic chains carry: now, or the last session's on `weekend`."""
        now = self.clock().astimezone(UTC).replace(microsecond=0)
        return last_session_stamp(now) if self.weekend else now

    def over_budget(self) -> float | None:
        """Count one request in the window; return Retry-After seconds when over budget."""
        now = time.monotonic()
        with self.lock:
            while self.counted and self.counted[0] + self.window_seconds <= now:
                self.counted.popleft()
            if self.limit is not None and len(self.counted) >= self.limit:
                return self.counted[0] + self.window_seconds - now
            self.counted.append(now)
        return None


# --- what the server serves --------------------------------------------------------------


def last_session_stamp(now: datetime) -> datetime:
    """Return 15 minutes after the close of the last session that closed by `now` (UTC)."""
    from pipeline.sessions import close_times, nyse, session_of

    session = session_of(now)
    stamp = close_times([session])[0] + timedelta(minutes=15)
    if stamp > now:
        session = nyse().previous_session(session).date()
        stamp = close_times([session])[0] + timedelta(minutes=15)
    return stamp.astimezone(UTC)


def invented_day(path: Path, spot: float) -> dict[str, float]:
    """Return the session figures served beside a CSV chain (see the module docstring).

    open/high/low are the server's invention; close is the CSV's `Last:`, prev_day_close is
    `Last:` - `Change:`, volume the date line's `Volume:` (0 when absent).
    """
    head = "\n".join(path.read_text(errors="replace").split("\n", 4)[:4])
    change = re.search(r"Change:\s*(-?[\d.]+)", head)
    volume = re.search(r'Volume:\s*([\d,]+)"?', head)
    previous = spot - (float(change[1]) if change else 0.0)
    high = round(max(previous, spot) * 1.004, 4)
    low = round(min(previous, spot) * 0.996, 4)
    return {
        "open": round(previous, 4),
        "high": high,
        "low": low,
        "close": spot,
        "prev_day_close": round(previous, 4),
        "volume": float(volume[1].replace(",", "")) if volume else 0.0,
    }


def feed_reply(
    chain: Chain, *, index: bool, stamp: datetime, day: dict[str, float]
) -> dict[str, Any]:
    """Return the JSON reply of a chain, shaped like the real feed's (see the reference doc).

    Contract fields the chain does not carry (vega, theta, theo...) are left out: the reader
    treats every field but `option` and `open_interest` as optional.
    """
    name = f"_{chain.symbol}" if index else chain.symbol
    columns = ["contract", "bid", "ask", "iv", "open_interest", "volume", "delta", "gamma"]
    rows = chain.frame.select(columns).rows()
    options = [
        {"option": c, "bid": b, "ask": a, "iv": v, "open_interest": oi, "volume": vol}
        | {"delta": d, "gamma": g, "last_trade_time": None}
        for c, b, a, v, oi, vol, d, g in rows
    ]
    change = chain.spot - day["prev_day_close"]
    data = {
        "symbol": name,
        "security_type": "index" if index else "stock",
        "current_price": chain.spot,
        "price_change": round(change, 4),
        "price_change_percent": round(100 * change / day["prev_day_close"], 4),
        **day,
        "iv30": 18.5,
        "last_trade_time": stamp.astimezone(NEW_YORK).strftime("%Y-%m-%dT%H:%M:%S"),
        "options": options,
    }
    return {"timestamp": stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), "symbol": name} | {
        "data": data
    }


def _fridays(day: date, count: int) -> list[date]:
    """Return the first `count` Fridays on or after `day`."""
    first = day + timedelta(days=(4 - day.weekday()) % 7)
    return [first + timedelta(weeks=i) for i in range(count)]


def _normal_cdf(x: float) -> float:
    """Return the standard normal CDF at x."""
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def synthetic_reply(symbol: str, stamp: datetime) -> dict[str, Any]:
    """Return a small deterministic chain reply for `symbol` at `stamp` (a stock, no `_`).

    Spot 20-500 from a hash of the symbol; 9 strikes 0.5, 1 or 5 apart around it (so some
    strikes are fractional); 2 Friday expiries; IV 15-34 %; Black-Scholes delta and gamma
    (r = q = 0) rounded to 4 decimals; OI and volume from the hash.
    """
    seed = zlib.crc32(symbol.encode())
    spot = round(20 + seed % 48_000 / 100, 2)
    step = 0.5 if spot < 50 else 1.0 if spot < 150 else 5.0
    center = round(spot / step) * step
    iv = 0.15 + seed % 20 / 100
    day = stamp.astimezone(NEW_YORK).date()
    options = []
    for expiry in _fridays(day + timedelta(days=1), 2):
        years = max((expiry - day).days, 0.5) / 365
        for k in range(-4, 5):
            strike = center + k * step
            options += _synthetic_pair(symbol, spot, strike, expiry, iv, years, seed + k)
    stats = {"open": spot * 0.99, "high": spot * 1.012, "low": spot * 0.985, "close": spot}
    day_figures = {k: round(v, 4) for k, v in stats.items()}
    day_figures |= {"prev_day_close": round(spot * 0.995, 4), "volume": 1e6 + seed % 1_000_000}
    data = {"symbol": symbol, "security_type": "stock", "current_price": spot, **day_figures}
    stamp_text = stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return {"timestamp": stamp_text, "symbol": symbol, "data": data | {"options": options}}


def _synthetic_pair(
    symbol: str, spot: float, strike: float, expiry: date, iv: float, years: float, seed: int
) -> list[dict[str, Any]]:
    """Return the call and put objects of one strike (Black-Scholes, r = q = 0)."""
    root = math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * iv * iv * years) / (iv * root)
    gamma = math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) / (spot * iv * root)
    pair = []
    for right, delta in (("C", _normal_cdf(d1)), ("P", _normal_cdf(d1) - 1)):
        intrinsic = max(0.0, spot - strike) if right == "C" else max(0.0, strike - spot)
        mid = intrinsic + 0.4 * spot * iv * root * math.exp(-0.5 * d1 * d1)
        interest = (seed * 7919 + (17 if right == "C" else 31)) % 5000
        pair.append(
            {
                "option": f"{symbol}{expiry:%y%m%d}{right}{round(strike * 1000):08d}",
                "bid": round(mid * 0.98, 2),
                "ask": round(mid * 1.02 + 0.01, 2),
                "iv": round(iv, 4),
                "open_interest": interest,
                "volume": interest // 7,
                "delta": round(delta, 4),
                "gamma": round(gamma, 4),
            }
        )
    return pair


# --- the app -----------------------------------------------------------------------------


def _reply_for(state: ServerState, symbol: str) -> dict[str, Any] | None:
    """Return the reply of a stored symbol, or None when the server does not list it."""
    listed = state.listed.get(symbol)
    if listed is not None:
        chain = listed.chain
        return feed_reply(chain, index=listed.index, stamp=chain.as_of, day=listed.day)
    if re.fullmatch(state.synthetic, symbol):
        return synthetic_reply(symbol, state.stamp())
    return None


def _body_of(state: ServerState, symbol: str, fault: Fault | None) -> bytes | None:
    """Return the serialised reply of `symbol` (CSV chains built once), None when unlisted."""
    spoils = fault is not None and fault.kind in ("wrong_symbol", "nan")
    if symbol in state.bodies and not spoils:
        return state.bodies[symbol]
    reply = _reply_for(state, symbol)
    if reply is None:
        return None
    if spoils:
        assert fault is not None
        return json.dumps(_spoiled(reply, fault)).encode()
    body = json.dumps(reply).encode()
    if symbol in state.listed:
        state.bodies[symbol] = body
    return body


def _known(state: ServerState, name: str) -> str | None:
    """Return the stored symbol a feed name asks for, or None (wrong underscore, unknown)."""
    symbol = name.removeprefix("_")
    listed = state.listed.get(symbol)
    index = listed.index if listed is not None else symbol in SERVER_INDICES
    if name.startswith("_") != index:
        return None
    return symbol


def _spoiled(reply: dict[str, Any], fault: Fault) -> dict[str, Any]:
    """Return a copy of `reply` with a `wrong_symbol` or `nan` fault applied."""
    data = dict(reply["data"])
    spoiled = {**reply, "data": data}
    if fault.kind == "wrong_symbol":
        if fault.where in ("both", "symbol"):
            spoiled["symbol"] = fault.other
        if fault.where in ("both", "data.symbol"):
            data["symbol"] = fault.other
    else:
        first = copy.deepcopy(data["options"][0]) | {fault.field: math.nan}
        data["options"] = [first, *data["options"][1:]]
    return spoiled


def _body_response(body: bytes, fault: Fault | None) -> Response:
    """Return the 200 of `body`, cut or broken by a `truncate` or `malformed` fault."""
    if fault is not None and fault.kind == "truncate":
        body = body[: len(body) // 2]
    elif fault is not None and fault.kind == "malformed":
        body = body.replace(b'"data": {', b'"data": {,', 1)
    return Response(body, 200, media_type="application/json")


def _dripped(body: bytes, seconds: float) -> Response:
    """Return a 200 that sends `body` one byte every `seconds` (a slow-drip reply)."""

    async def trickle() -> Any:
        for i in range(len(body)):
            yield body[i : i + 1]
            await asyncio.sleep(seconds)

    return StreamingResponse(trickle(), 200, media_type="application/json")


@functools.lru_cache(maxsize=4)
def _bomb_body(size: int) -> bytes:
    """Return `size` zero bytes gzipped (a few hundred KiB that decompress to `size`)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    chunk, parts = b"\0" * 2**20, []
    for start in range(0, size, len(chunk)):
        parts.append(squeeze.compress(chunk[: size - start]))
    return b"".join([*parts, squeeze.flush()])


def _bomb(size: int) -> Response:
    """Return a 200 whose gzip-encoded body decompresses to `size` zero bytes (a gzip bomb)."""
    headers = {"Content-Encoding": "gzip"}
    return Response(_bomb_body(size), 200, headers=headers, media_type="application/json")


async def _dropped(scope: Any, receive: Any, send: Any) -> None:
    """Start a response, then fail: the client sees the connection close without a body."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"999")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"timestamp": "', "more_body": True})
    raise ConnectionResetError("dropped by the test server")


def _status_response(fault: Fault) -> Response:
    """Return the response of a `status` fault (with its Retry-After, if any)."""
    headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
    return JSONResponse({"error": f"injected {fault.status}"}, fault.status, headers=headers)


def http_date(moment: datetime) -> str:
    """Return `moment` as an HTTP date (`Sat, 16 Mar 2024 15:00:00 GMT`)."""
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def create_app(state: ServerState) -> Starlette:
    """Return the ASGI app serving the feed from `state`."""

    async def options(request: Request) -> Response:
        name = request.path_params["name"]
        agent = request.headers.get("user-agent", "")
        entry = {"time": time.monotonic(), "path": request.url.path, "user_agent": agent}
        with state.lock:
            state.log.append(entry)
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            response = await _answer(name, agent)
        finally:
            with state.lock:
                state.in_flight -= 1
        entry["status"] = getattr(response, "status_code", 0)
        return response

    async def _answer(name: str, agent: str) -> Response:
        if "Mozilla/" not in agent:
            return Response("<html><body>Access Denied</body></html>", 403, media_type="text/html")
        wait = state.over_budget()
        if wait is not None:
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            return Response("Too Many Requests", 429, headers=headers, media_type="text/plain")
        if state.latency:
            await asyncio.sleep(state.latency)
        symbol = _known(state, name.removesuffix(".json")) if name.endswith(".json") else None
        if symbol is None or not (symbol in state.listed or re.fullmatch(state.synthetic, symbol)):
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="text/xml")
        fault = state.next_fault(symbol)
        if fault is not None and fault.kind == "status":
            return _status_response(fault)
        if fault is not None and fault.kind == "drop":
            return _dropped  # type: ignore[return-value]
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "bomb":
            return await asyncio.to_thread(_bomb, fault.size)
        body = await asyncio.to_thread(_body_of, state, symbol, fault)
        assert body is not None
        if fault is not None and fault.kind == "drip":
            return _dripped(body, fault.seconds)
        return _body_response(body, fault)

    return Starlette(routes=[Route(f"{FEED_PATH}/{{name}}", options)])


def serve(state: ServerState, host: str = "127.0.0.1", port: int = 0) -> RunningServer[ServerState]:
    """Start the app under uvicorn in a thread on `host` (port 0: a free one); return it."""
    return serve_app(create_app(state), state, host, port, path=FEED_PATH)
