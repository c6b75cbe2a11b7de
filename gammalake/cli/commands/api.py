"""`gammalake api`: the FlashAlpha exposure API over the stored history, on 127.0.0.1.

Keys: none by default (anyone who can reach the port may read). Set GAMMALAKE_API_KEYS to a
comma-separated list of keys to require one of them in the X-Api-Key header (a wrong or missing
key gets 401), e.g. `GAMMALAKE_API_KEYS=k1,k2 gammalake api --host 0.0.0.0`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

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
    method: Annotated[
        str | None,
        typer.Option(
            help="Default method of the figures: a preset (default, perfiliev, all_short), a "
            "method like default@v1, or vendor. Default: the catalog's, else the settings' "
            "preset. Requests may choose another with ?method=."
        ),
    ] = None,
) -> None:
    """Serve the FlashAlpha exposure API (/v1/exposure/...) over the stored history.

    Keys: set GAMMALAKE_API_KEYS=key1,key2 to require one in the X-Api-Key header.
    """
    from gammalake.api.dashboard import routes as dashboard_routes
    from gammalake.api.server import create_app, serve
    from gammalake.cli.options import settings_of
    from gammalake.lake import Lake, default_method
    from pipeline.errors import InputError
    from warehouse.home import Layout

    home = ctx.obj
    if not home.is_dir():
        raise InputError(f"--home {home}: no such folder, nothing is stored there yet")
    _check_free(host, port)
    chosen = method or default_method(home, settings_of(ctx).preset)
    lake = Lake(home, chosen)
    keys = api_keys(os.environ.get(KEYS_VARIABLE))
    app = create_app(lake, keys=keys, extra_routes=dashboard_routes(lake, Layout(home).reports))
    serve(app, host, port, ready=lambda url: print(_banner(url, lake, keys), flush=True))


def _check_free(host: str, port: int) -> None:
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
        f"{len(keys)} key(s) from ${KEYS_VARIABLE}: send one as X-Api-Key"
        if keys
        else f"no key asked (set ${KEYS_VARIABLE} to require one)"
    )
    example = f"{url}/v1/exposure/gex/{symbols[0] if symbols else 'SPY'}"
    return (
        f"gammalake api on {url}  e.g. {example}\n"
        f"home {lake.home}, method {lake.method}, symbols: {shown or 'none stored yet'}\n"
        f"{guard}; Ctrl-C stops"
    )
