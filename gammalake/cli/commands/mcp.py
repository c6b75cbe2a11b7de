"""`gammalake mcp`: the stored history as MCP tools for agents, over stdio or streamable HTTP.

Client configuration (Claude Desktop, Cursor, ...), stdio:
`{"mcpServers": {"gammalake": {"command": "gammalake", "args": ["mcp"],
"env": {"GAMMALAKE_HOME": "/path/to/home"}}}}`; HTTP (`gammalake mcp --http`):
`{"mcpServers": {"gammalake": {"url": "http://127.0.0.1:8788/mcp"}}}`; with keys set in
GAMMALAKE_API_KEYS (as for `gammalake api`) the client sends one:
`"headers": {"Authorization": "Bearer KEY"}` (or `X-Api-Key: KEY`); a missing key gets 401.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gammalake.cli.options import AmSettlementOption, ServedMethodOption, served_method


def mcp(
    ctx: typer.Context,
    http: Annotated[
        bool,
        typer.Option(
            "--http", help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio."
        ),
    ] = False,
    host: Annotated[
        str,
        typer.Option(
            help="Interface for --http (set GAMMALAKE_API_KEYS before leaving 127.0.0.1)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port for --http (0: any free one, printed).")
    ] = 8788,
    method: ServedMethodOption = None,
    am_settlement: AmSettlementOption = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Another Host name --http callers use (repeat for more); loopback names and "
            "--host are always allowed.",
        ),
    ] = None,
) -> None:
    """Serve MCP tools over the stored history (stdio by default; --http for streamable HTTP).

    Tools: stored, gex, dex, vex, chex, exposure_levels, exposure_summary, levels_history,
    scanner, alerts, sql (read-only, row limit). Reads only; nothing is fetched.
    """
    from gammalake.api.server import Guard, allowed_hosts
    from gammalake.cli.commands.api import (
        KEYS_VARIABLE,
        api_keys,
        check_free,
        is_loopback,
        open_warning,
    )
    from gammalake.lake import Lake
    from gammalake.mcp import create_server, say, serve_http, serve_stdio
    from pipeline.errors import InputError

    home = ctx.obj
    if not home.is_dir():
        raise InputError(f"--home {home}: no such folder, nothing is stored there yet")
    lake = Lake(home, served_method(ctx, method, am_settlement))
    server = create_server(lake)
    about = f"home {lake.home}, method {lake.method}, symbols: {_listed(lake.symbols())}"
    if not http:
        serve_stdio(server, f"gammalake mcp on stdio: {about}")
        return
    check_free(host, port)
    keys = api_keys(os.environ.get(KEYS_VARIABLE))
    if not keys and not is_loopback(host):
        say(f"{open_warning(host)} (SQL included)")
    guard = Guard(keys, allowed_hosts(host, allow_host or ()))
    serve_http(server, host, port, ready=lambda url: _ready(url, about), guard=guard)


def _listed(symbols: list[str]) -> str:
    """Return up to ten symbols comma-separated, with how many more there are."""
    more = f" (+{len(symbols) - 10} more)" if len(symbols) > 10 else ""
    return (", ".join(symbols[:10]) + more) or "none stored yet"


def _ready(url: str, about: str) -> None:
    """Print where the HTTP server listens (stdout: scripts and tests read the first line)."""
    print(f"gammalake mcp on {url}", flush=True)
    print(f"{about}; Ctrl-C stops", flush=True)
