"""The local FlashAlpha-compatible API over the stored history (`gammalake api`).

`create_app(lake, keys=..., extra_routes=...)` builds the Starlette app (/v1/exposure/...);
`serve(app, host, port)` runs it under uvicorn; `start(app)` runs it in a thread (tests,
benchmarks). See gammalake.api.server.
"""

from __future__ import annotations

from gammalake.api.server import Running, create_app, serve, start

__all__ = ["Running", "create_app", "serve", "start"]
