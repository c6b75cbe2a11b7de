"""Starting a test server: a Starlette app under uvicorn in a thread, with its state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.applications import Starlette

from gammalake.api.server import Running, start

State = TypeVar("State")


@dataclass
class RunningServer(Generic[State]):
    """A test server: its base URL (with the app's path prefix), its state, and how to stop it."""

    url: str
    state: State
    running: Running

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.running.stop()


def serve_app(
    app: Starlette, state: State, host: str = "127.0.0.1", port: int = 0, path: str = ""
) -> RunningServer[State]:
    """Start `app` on `host` (port 0: a free one); return it once it listens.

    Waits as long as a loaded machine needs (up to 120 s). Test servers fault on purpose, so
    uvicorn logs only what is critical.
    """
    running = start(app, host, port, wait=600.0, log_level="critical")
    return RunningServer(f"{running.url}{path}", state, running)
