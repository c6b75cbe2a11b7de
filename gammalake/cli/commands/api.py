"""`gammalake api`: the FlashAlpha exposure API over the stored history, on 127.0.0.1.

Keys: none by default (anyone who can reach the port may read). Set GAMMALAKE_API_KEYS to a
comma-separated list of keys to require one of them on every route but /health and the
dashboard page's own files (X-Api-Key, Authorization: Bearer, or the page's cookie; a wrong or
missing key gets 401), e.g. `GAMMALAKE_API_KEYS=k1,k2 gammalake api --host 0.0.0.0
--allow-host lake.example`.

Host: only requests whose Host header names this machine are answered (localhost, 127.0.0.1,
[::1], the --host it listens on); --allow-host adds names (a wildcard --host adds none), any
other Host gets 400. This stops a web page from reaching the API through DNS rebinding.

A --host beyond loopback with no keys starts with a one-line warning on stderr. Ctrl-C
(SIGINT) or SIGTERM finishes the open requests, says one line and exits 130 or 143.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from gammalake.cli.options import AmSettlementOption, ServedMethodOption, served_method

if TYPE_CHECKING:
    from gammalake.lake import Lake

#: Environment variable holding the accepted API keys, comma-separated (unset: no key needed).
KEYS_VARIABLE = "GAMMALAKE_API_KEYS"


def api_keys(text: str | None) -> frozenset[str]:
    """Return the keys of a comma-separated list (blanks dropped; empty or None: no keys)."""
    return frozenset(k.strip() for k in (text or "").split(",") if k.strip())


def api(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Interface to listen on (0.0.0.0: every one; set keys then).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port (0: any free one, printed).")
    ] = 8787,
    method: ServedMethodOption = None,
    am_settlement: AmSettlementOption = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Another Host name callers use (repeat for more); loopback names and --host "
            "are always allowed, any other Host header gets 400.",
        ),
    ] = None,
) -> None:
    """Serve the FlashAlpha exposure API (/v1/exposure/...) over the stored history.

    Keys: set GAMMALAKE_API_KEYS=key1,key2 to require one on every route (X-Api-Key or
    Authorization: Bearer), the dashboard's data included; /health and the page itself are open.
    """
    from gammalake.api.dashboard import routes as dashboard_routes
    from gammalake.api.server import allowed_hosts, create_app, serve
    from gammalake.lake import Lake
    from pipeline.errors import InputError
    from warehouse.home import Layout

    home = ctx.obj
    if not home.is_dir():
        raise InputError(f"--home {home}: no such folder, nothing is stored there yet")
    check_free(host, port)
    lake = Lake(home, served_method(ctx, method, am_settlement))
    keys = api_keys(os.environ.get(KEYS_VARIABLE))
    if not keys and not is_loopback(host):
        print(open_warning(host), file=sys.stderr, flush=True)
    hosts = allowed_hosts(host, allow_host or ())
    extra = dashboard_routes(lake, Layout(home).reports)
    app = create_app(lake, keys=keys, extra_routes=extra, hosts=hosts)
    serve(app, host, port, ready=lambda url: print(_banner(url, lake, keys), flush=True))


def is_loopback(host: str) -> bool:
    """Return whether `host` is this machine only (localhost, 127.x.y.z, ::1)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name: it may resolve to any interface
        return False


def open_warning(host: str) -> str:
    """Return the one-line warning of a server open to the network without keys."""
    return (
        f"warning: --host {host} with no keys: everyone who can reach the port can read the "
        f"lake; set {KEYS_VARIABLE}=key1,key2 to require one"
    )


def check_free(host: str, port: int) -> None:
    """Refuse, in one line with a hint, a host and port this process cannot listen on."""
    import socket

    from pipeline.errors import InputError

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        # create_server appends "(while attempting to bind on address ...)": already said.
        reason = (exc.strerror or str(exc)).split(" (while attempting")[0]
        error = InputError(f"cannot listen on {host}:{port}: {reason}")
        error.hint = "choose another port with --port (0: any free one) or another --host"
        raise error from None


def _banner(url: str, lake: Lake, keys: frozenset[str]) -> str:
    """Return the start-up lines: where it listens, what it serves, whether keys are asked."""
    symbols = lake.symbols()
    more = f" (+{len(symbols) - 10} more)" if len(symbols) > 10 else ""
    shown = ", ".join(symbols[:10]) + more
    guard = (
        f"{len(keys)} key(s) from ${KEYS_VARIABLE}: send one as X-Api-Key (all but /health)"
        if keys
        else f"no key asked (set ${KEYS_VARIABLE} to require one)"
    )
    example = f"{url}/v1/exposure/gex/{symbols[0] if symbols else 'SPY'}"
    return (
        f"gammalake api on {url}  e.g. {example}\n"
        f"home {lake.home}, method {lake.method}, symbols: {shown or 'none stored yet'}\n"
        f"{guard}; Ctrl-C stops"
    )
