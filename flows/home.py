"""Where gammalake keeps its data (kept apart from settings: the CLI needs it on every call)."""

from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "GAMMALAKE_HOME"


def default_home() -> Path:
    """Return $XDG_DATA_HOME/gammalake, or ~/.local/share/gammalake."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gammalake"


def resolve_home(explicit: Path | None = None) -> Path:
    """Return the home folder: `explicit`, else $GAMMALAKE_HOME, else the default."""
    if explicit is not None:
        return explicit.expanduser()
    value = os.environ.get(HOME_VARIABLE)
    return Path(value).expanduser() if value else default_home()
