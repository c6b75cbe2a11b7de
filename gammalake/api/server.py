"""The FlashAlpha exposure API over the stored history: `gammalake api`.

    GET /v1/exposure/{gex,dex,vex,chex,levels,summary}/{symbol}
        ?at=2026-11-20 | 2026-11-20T15:30[-05:00]   latest snapshot known then (default: latest)
        &expiration=2026-11-27   (gex, dex, vex, chex)   priced from the snapshot's raw chain
        &min_oi=100              (gex)                   idem
        &method=all_short | default@v1 | default+am_settlement=false@v2 | vendor
                                 a preset name (its current-engine method), an exact method,
                                 one with overrides; default: the Lake's. Not stored: 400
                                 naming the stored methods
    GET /v1/tickers[?symbol=SPY]   what is stored: symbols and each one's coverage
                         (first/last snapshot, sessions, gaps); `Lake.tickers`
    GET /v1/symbols      the stored symbols
    GET /health          {"status": "ok"}, the one route asked for no key
    every other call of the FlashAlpha SDKs (NOT_SERVED): 501, naming the call
    X-Api-Key: KEY | Authorization: Bearer KEY | cookie gammalake_key=KEY
                         required on every other route when keys are configured (the
                         dashboard's page and its /assets excepted: it asks for the key)

Bodies are the `flashalpha` SDK's response types (see gammalake.payloads). Errors carry the
real API's shape and `error` codes, `{"status": 404, "error": "no_coverage", "message":
"..."}`, so the SDKs raise their own exceptions: 401 `unauthorized` for a missing or wrong key;
404 `no_coverage` for an unknown symbol or a moment outside the stored history (the message
names the covered range; the historical SDK's NoCoverageError, which a replay does not skip),
404 `no_data` for figures a covered snapshot does not hold, 404 `not_found` for an unknown
path; 400 `invalid_at` for an `at=` that is no moment, 400 `invalid_request` for another bad
parameter (a method that is not stored included: the message lists the stored ones); 501
`not_implemented` for an SDK call gammalake does not serve. Responses carry an ETag (a
digest of the body; 304 on If-None-Match), Last-Modified (the snapshot's as_of) and
Cache-Control: an hour for a moment before the last stored snapshot (its answer stays;
`private` when keys are asked, `public` otherwise), `no-cache` otherwise (a newer snapshot
may arrive).

Everything outside /v1 is left to `extra_routes` (the dashboard lives at `/`). `Guard` checks
every request before any route sees it: the Host header must name this machine (localhost,
127.0.0.1, [::1], the host it listens on, or one allowed with --allow-host), else 400, which
stops DNS rebinding; and with keys configured every path but OPEN_PATHS needs one, else 401.
The MCP server's HTTP transport runs behind the same guard.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

import anyio
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gammalake.lake import (
    Lake,
    MomentError,
    NotStoredError,
    OutsideError,
    UnknownSymbolError,
    parse_moment,
)
from gammalake.payloads import ENDPOINTS

#: Query parameters each endpoint takes (any other is refused with 400, naming these).
PARAMETERS: dict[str, frozenset[str]] = {
    "gex": frozenset({"at", "method", "expiration", "min_oi"}),
    "dex": frozenset({"at", "method", "expiration"}),
    "vex": frozenset({"at", "method", "expiration"}),
    "chex": frozenset({"at", "method", "expiration"}),
    "levels": frozenset({"at", "method"}),
    "summary": frozenset({"at", "method"}),
}
KEY_HEADER = "x-api-key"
#: The cookie the dashboard page sets once its user gives the key (SameSite=Strict).
KEY_COOKIE = "gammalake_key"
#: Paths answered without a key: the health check and the dashboard page's own files.
OPEN_PATHS = frozenset({"/health", "/", "/favicon.ico"})
OPEN_PREFIXES = ("/assets/",)
#: Host names that always reach a server: this machine's loopback names.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MISSING_KEY = "Invalid or missing API key (send it in the X-Api-Key header)"
#: Cache lifetime of an answer about a moment before the last stored snapshot (seconds).
PAST_MAX_AGE = 3600
#: Method spellings whose Lake is kept (each costs a scan of the stored methods once).
LAKES_KEPT = 64
#: Lake calls running at once (DuckDB and the engine use every core; more only queue).
WORKERS = 8
#: Characters of a caller's value an error message echoes (longer ones end with "…"), and the
#: longest message sent: a 5,000-character `at=` must not come back whole.
ECHO_CHARS, MESSAGE_CHARS = 80, 500
#: A quoted value in a message (Python's repr of the caller's text). No escapes: any two
#: quotes pair, so the search stays linear whatever the caller sent.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
#: What the API serves besides /v1/exposure (said in every 501).
SERVED = (
    "/v1/exposure/{gex,dex,vex,chex,levels,summary}/{symbol}, /v1/tickers[?symbol=], /v1/symbols"
)
#: FlashAlpha SDK calls gammalake does not serve: (route, the `flashalpha` and
#: `flashalpha_historical` calls that ask for it). Each answers 501 in the API's error shape,
#: naming the calls; gammalake stores dealer exposure (and the chains it was priced from),
#: not quotes, volatility analytics, flow, earnings or accounts. docs/api.md has the table.
NOT_SERVED: tuple[tuple[str, str], ...] = (
    ("/v1/stock/{symbol}/summary", "stock_summary (Backtester's default method)"),
    ("/stockquote/{ticker}", "stock_quote"),
    ("/v1/stockquote/{ticker}", "stock_quote"),
    ("/optionquote/{ticker}", "option_quote"),
    ("/v1/optionquote/{ticker}", "option_quote"),
    ("/historical/{rest:path}", "historical_stock_quote, historical_option_quote"),
    ("/v1/surface/{rest:path}", "surface, surface_svi"),
    ("/v1/exposure/narrative/{symbol}", "narrative"),
    ("/v1/exposure/zero-dte/{symbol}", "zero_dte"),
    ("/v1/exposure/sheet/{symbol}", "exposure_sheet"),
    ("/v1/exposure/term-structure/{symbol}", "exposure_term_structure"),
    ("/v1/exposure/basket", "exposure_basket"),
    ("/v1/exposure/oi-diff/{symbol}", "exposure_oi_diff"),
    ("/v1/maxpain/{symbol}", "max_pain"),
    (
        "/v1/volatility/{rest:path}",
        "volatility, realized_volatility, volatility_forecast, skew_term, spot_vol_correlation",
    ),
    ("/v1/adv_volatility/{symbol}", "adv_volatility"),
    ("/v1/vrp/{rest:path}", "vrp, vrp_history"),
    ("/v1/expected-move/{symbol}", "expected_move"),
    ("/v1/liquidity/{symbol}", "liquidity"),
    ("/v1/dispersion", "dispersion"),
    ("/v1/macro/{rest:path}", "vix_state"),
    ("/v1/universe", "universe"),
    ("/v1/options/{ticker}", "options"),
    ("/v1/flow/{rest:path}", "flow_* (option, stock and 0DTE flow)"),
    ("/v1/pricing/{rest:path}", "greeks, iv, kelly"),
    ("/v1/screener{rest:path}", "screener, screener_fields"),
    ("/v1/strategies/{rest:path}", "strategy_*"),
    ("/v1/earnings/{rest:path}", "earnings_*"),
    ("/v1/structures/{rest:path}", "structure_pnl, structure_greeks"),
    ("/v1/account", "account"),
)
#: The `error` code of an error response by status, unless a finer one is given (`error`).
ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    501: "not_implemented",
}
#: The signals that stop a server cleanly (Ctrl-C, `kill`).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def clip(message: str) -> str:
    """Return `message` with each quoted value cut to ECHO_CHARS, the whole to MESSAGE_CHARS."""

    def cut(match: re.Match[str]) -> str:
        text = match[0]
        return text if len(text) <= ECHO_CHARS + 2 else f"{text[: ECHO_CHARS + 1]}…{text[0]}"

    short = _QUOTED.sub(cut, message)
    return short if len(short) <= MESSAGE_CHARS else f"{short[: MESSAGE_CHARS - 1]}…"


def error(status: int, message: str, code: str | None = None) -> Response:
    """Return an error in the FlashAlpha API's shape: {"status", "error", "message"}.

    `code` is FlashAlpha's `error` code (the historical SDK raises its own exception for
    each: `no_coverage` NoCoverageError, `no_data` NoDataError, `invalid_at` InvalidAtError);
    default: the status's (ERROR_CODES). The message is clipped (`clip`): it never echoes a
    long value of the caller whole.
    """
    named = code or ERROR_CODES.get(status, "error")
    body = json.dumps({"status": status, "error": named, "message": clip(message)}).encode()
    return Response(body, status, media_type="application/json")


def host_name(header: str) -> str:
    """Return the host of a Host header without its port, lower-cased ([::1]:80 -> ::1)."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def allowed_hosts(bound: str, extra: Sequence[str] = ()) -> frozenset[str]:
    """Return the Host names a server bound to `bound` answers: loopback, `bound`, `extra`.

    A wildcard bind (0.0.0.0, ::) adds no name: list the names callers use in `extra`.
    """
    named = {host_name(h) for h in extra if h.strip()}
    if bound not in ("0.0.0.0", "::", ""):
        named.add(host_name(bound if ":" not in bound else f"[{bound}]"))
    return LOCAL_HOSTS | named


@dataclass(frozen=True)
class Guard:
    """Who may be answered: `keys` (empty: no key asked), `hosts` (allowed Host names)."""

    keys: frozenset[str] = frozenset()
    hosts: frozenset[str] = LOCAL_HOSTS
    open_paths: frozenset[str] = OPEN_PATHS
    open_prefixes: tuple[str, ...] = OPEN_PREFIXES

    def key_ok(self, headers: Headers) -> bool:
        """Return True when no key is asked, or the request carries one of the keys."""
        if not self.keys:
            return True
        bearer = headers.get("authorization", "")
        sent = [
            headers.get(KEY_HEADER, ""),
            bearer[7:].strip() if bearer[:7].lower() == "bearer " else "",
            _cookie(headers.get("cookie", ""), KEY_COOKIE),
        ]
        return any(hmac.compare_digest(s, k) for s in sent if s for k in self.keys)

    def is_open(self, path: str) -> bool:
        """Return True for a path answered without a key (health check, the page's files)."""
        return path in self.open_paths or path.startswith(self.open_prefixes)

    def refusal(self, path: str, headers: Headers) -> Response | None:
        """Return the 400 (foreign Host) or 401 (no key) for a request, or None to answer it."""
        host = host_name(headers.get("host", ""))
        if host not in self.hosts:
            shown = host or "(none)"
            return error(400, f"Host {shown!r} is not served here (see --allow-host)")
        if not self.is_open(path) and not self.key_ok(headers):
            return error(401, MISSING_KEY)
        return None


def _cookie(header: str, name: str) -> str:
    """Return the value of cookie `name` in a Cookie header ('' when absent)."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return unquote(value)
    return ""


class Guarded:
    """ASGI middleware: every HTTP request passes `guard` before reaching `app`."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        """Wrap `app` (lifespan and other scopes pass through)."""
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a refused request with its error; pass everything else to the app."""
        if scope["type"] in ("http", "websocket"):
            refused = self.guard.refusal(scope["path"], Headers(scope=scope))
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class Answer:
    """A response body (JSON bytes), its snapshot's as_of, and whether it can change."""

    body: bytes
    as_of: datetime
    final: bool


class ExposureApi:
    """The /v1/exposure endpoints over a Lake (one sibling Lake per method asked for)."""

    def __init__(self, lake: Lake, keys: frozenset[str]) -> None:
        """Serve `lake`; `keys` empty means no key is asked for."""
        self.lake = lake
        self.keys = keys
        self._lakes: dict[str, Lake] = {lake.method: lake}
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(WORKERS)

    def lake_for(self, method: str | None) -> Lake:
        """Return the Lake reading `method` (a preset, a method or vendor; None: the default)."""
        if not method:
            return self.lake
        with self._lock:
            if method not in self._lakes:
                if len(self._lakes) >= LAKES_KEPT:  # many spellings of methods: start again
                    self._lakes = {self.lake.method: self.lake}
                self._lakes[method] = self.lake.using(method)
            return self._lakes[method]

    async def endpoint(self, name: str, request: Request) -> Response:
        """Answer GET /v1/exposure/{name}/{symbol} (the key was checked by the Guard)."""
        query = dict(request.query_params)
        unknown = sorted(set(query) - PARAMETERS[name])
        if unknown:
            takes = ", ".join(sorted(PARAMETERS[name]))
            return error(400, f"unknown query parameter {unknown[0]!r}: {name} takes {takes}")
        try:
            answer = await anyio.to_thread.run_sync(
                self.answer, name, request.path_params["symbol"], query, limiter=self._limiter
            )
        except (UnknownSymbolError, OutsideError) as exc:  # not covered: replays must stop
            return error(404, str(exc), "no_coverage")
        except NotStoredError as exc:  # covered, but not these figures
            return error(404, str(exc), "no_data")
        except MomentError as exc:
            return error(400, str(exc), "invalid_at")
        except ValueError as exc:  # InputError, WarehouseInputError: a bad parameter
            return error(400, str(exc))
        return respond(request, answer, shared=not self.keys)

    async def tickers(self, request: Request) -> Response:
        """Answer GET /v1/tickers[?symbol=]: what is stored (`Lake.tickers`), never cached.

        An unknown symbol is a 404 `no_coverage` (the historical SDK's NoCoverageError).
        """
        query = dict(request.query_params)
        if set(query) - {"symbol", "method"}:
            extra = sorted(set(query) - {"symbol", "method"})[0]
            return error(400, f"unknown query parameter {extra!r}: tickers takes method, symbol")
        try:
            lake = self.lake_for(query.get("method"))
            body = await anyio.to_thread.run_sync(
                lake.tickers, query.get("symbol") or None, limiter=self._limiter
            )
        except NotStoredError as exc:
            return error(404, str(exc), "no_coverage")
        except ValueError as exc:
            return error(400, str(exc))
        return _fresh(body)

    async def symbols(self, request: Request) -> Response:
        """Answer GET /v1/symbols: the stored symbols, as FlashAlpha's SymbolsResponse."""
        names = await anyio.to_thread.run_sync(self.lake.symbols, limiter=self._limiter)
        note = f"symbols with stored snapshots of {self.lake.method} (or vendor ones)"
        return _fresh({"symbols": names, "count": len(names), "note": note})

    def answer(self, name: str, symbol: str, query: dict[str, str]) -> Answer:
        """Return the body of one endpoint (raises NotStoredError: 404, ValueError: 400)."""
        lake = self.lake_for(query.get("method"))
        at = query.get("at") or None
        options: dict[str, Any] = {}
        if query.get("expiration"):
            options["expiration"] = query["expiration"]
        if "min_oi" in query:
            options["min_oi"] = _count(query["min_oi"], "min_oi")
        call = {
            "levels": lake.exposure_levels,
            "summary": lake.exposure_summary,
        }.get(name) or getattr(lake, name)
        payload = call(symbol, at, **options)
        moment = datetime.fromisoformat(payload["as_of"])
        final = at is not None and _before_last(lake, symbol, at)
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        return Answer(body, moment, final)


def _fresh(body: dict[str, Any]) -> Response:
    """Return a 200 JSON answer that clients must not keep (what is stored changes)."""
    text = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    return Response(text, 200, headers={"Cache-Control": "no-cache"}, media_type="application/json")


def _count(text: str, name: str) -> int:
    """Return a query parameter as a count (0 or more); ValueError naming it otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{name}={text!r} is negative")
    return value


def _before_last(lake: Lake, symbol: str, at: str) -> bool:
    """Return True when `at` is before the symbol's last stored snapshot (its answer stays)."""
    moment = parse_moment(at)
    return moment is not None and moment < lake.coverage(symbol)[1]


def respond(request: Request, answer: Answer, shared: bool = True) -> Response:
    """Return the 200 (or 304 when If-None-Match matches) with the cache headers.

    `shared`: shared caches may keep the answer (no key asked); with keys only the client may.
    """
    tag = '"' + hashlib.sha256(answer.body).hexdigest()[:32] + '"'
    scope = "public" if shared else "private"
    headers = {
        "ETag": tag,
        "Last-Modified": format_datetime(answer.as_of.astimezone(UTC), usegmt=True),
        "Cache-Control": f"{scope}, max-age={PAST_MAX_AGE}" if answer.final else "no-cache",
    }
    if not shared:
        headers["Vary"] = "X-Api-Key"
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, 200, headers=headers, media_type="application/json")


def _matches(header: str | None, tag: str) -> bool:
    """Return True when an If-None-Match header names `tag` (weak or strong) or is `*`."""
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or tag in tags


def _not_served(calls: str) -> Callable[[Request], Awaitable[Response]]:
    """Return the handler answering 501 for a route gammalake does not serve (`NOT_SERVED`)."""

    async def handle(request: Request) -> Response:
        return error(
            501,
            f"gammalake does not serve {request.url.path} ({calls}): it stores dealer "
            f"exposure only; served: {SERVED}",
        )

    return handle


async def _not_found(request: Request) -> Response:
    """Answer any other /v1 path with the API's 404 shape."""
    return error(404, f"no such endpoint {request.url.path} (exposure: {', '.join(ENDPOINTS)})")


def _handler(api: ExposureApi, name: str) -> Callable[[Request], Awaitable[Response]]:
    """Return the request handler of one endpoint."""

    async def handle(request: Request) -> Response:
        return await api.endpoint(name, request)

    handle.__name__ = f"exposure_{name}"
    return handle


async def health(request: Request) -> Response:
    """Answer GET /health: the server is up (no key asked, nothing about the lake said)."""
    return Response(b'{"status":"ok"}', 200, media_type="application/json")


def create_app(
    lake: Lake,
    *,
    keys: frozenset[str] = frozenset(),
    extra_routes: Sequence[BaseRoute] = (),
    hosts: frozenset[str] = LOCAL_HOSTS,
) -> Starlette:
    """Return the ASGI app: /v1/exposure/* over `lake`, then `extra_routes` (e.g. the dashboard).

    `keys`: accepted keys (empty: no key asked for); `hosts`: Host names answered (see
    `allowed_hosts`). Both are checked by a Guard in front of every route. Paths outside /v1
    belong to `extra_routes`; /v1 paths that are not endpoints answer 404 in the API's shape.
    """
    api = ExposureApi(lake, keys)
    routes: list[BaseRoute] = [
        Route(f"/v1/exposure/{name}/{{symbol}}", _handler(api, name), methods=["GET"], name=name)
        for name in ENDPOINTS
    ]
    routes += [
        Route("/v1/tickers", api.tickers, methods=["GET"]),
        Route("/v1/symbols", api.symbols, methods=["GET"]),
        *(Route(path, _not_served(calls), methods=["GET", "POST"]) for path, calls in NOT_SERVED),
        Route("/v1/{rest:path}", _not_found),
        Route("/health", health, methods=["GET"]),
    ]
    guard = Guard(keys, hosts)
    app = Starlette(routes=[*routes, *extra_routes], middleware=[Middleware(Guarded, guard=guard)])
    app.state.lake = lake
    app.state.guard = guard
    return app


@dataclass
class Running:
    """A server started by `start`: its base URL (http://host:port) and how to stop it."""

    url: str
    server: Any  # uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to finish its requests and stop; wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout)


def _config(app: Starlette, host: str, port: int, log_level: str = "warning") -> Any:
    """Return the uvicorn configuration of the API (quiet: no access log)."""
    import uvicorn

    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, lifespan="off"
    )


def bound_url(server: Any) -> str:
    """Return http://host:port of a started uvicorn server (the port it really bound)."""
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"


def start(
    app: Starlette,
    host: str = "127.0.0.1",
    port: int = 0,
    wait: float = 30.0,
    log_level: str = "warning",
) -> Running:
    """Start uvicorn serving `app` in a thread (port 0: a free one); return once it listens.

    Polls until the server has started, at most `wait` seconds (RuntimeError after that).
    Test servers that fault on purpose pass `log_level="critical"`.
    """
    import uvicorn

    server = uvicorn.Server(_config(app, host, port, log_level))
    thread = threading.Thread(target=server.run, name="gammalake-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + wait
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the API server did not start on {host}:{port} in {wait:g} s")
        time.sleep(0.005)
    return Running(bound_url(server), server, thread)


def serve(
    app: Starlette,
    host: str = "127.0.0.1",
    port: int = 8787,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `app` with uvicorn until SIGINT or SIGTERM (see `run_until_stopped`).

    `ready` is called with the bound URL once the server listens (port 0: a free one).
    """
    import uvicorn

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if ready is not None and self.started:
                ready(bound_url(self))

    run_until_stopped(_Server(_config(app, host, port)), "gammalake api")


def run_until_stopped(server: Any, name: str) -> None:
    """Run a uvicorn `server` in this (main) thread; exit 128 + signal once a stop signal ended it.

    uvicorn finishes the open requests on SIGINT or SIGTERM, then sends the signal again to the
    handlers it found: here a recorder, so the process then says one line on stderr and exits
    130 (SIGINT) or 143 (SIGTERM), as a shell reports a stopped program, rather than 0.
    """
    caught: list[int] = []

    def record(signum: int, frame: Any) -> None:
        caught.append(signum)
        server.should_exit = True  # a signal before uvicorn took over the handlers

    previous = {sig: signal.signal(sig, record) for sig in STOP_SIGNALS}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        print(f"{name}: stopped by {signal.Signals(caught[0]).name}", file=sys.stderr, flush=True)
        sys.exit(128 + caught[0])
