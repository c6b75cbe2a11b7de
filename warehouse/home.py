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


def writable_home(home: Path) -> Path:
    """Return `home` created if needed; raise InputError when it cannot hold data."""
    from pipeline.errors import InputError

    if home.exists() and not home.is_dir():
        raise InputError(f"--home {home}: exists and is not a folder")
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"--home {home}: cannot write there ({exc.strerror})") from None
    return home
