"""The home folder: where it is, and the one place that knows what lives where inside it.

Kept apart from settings: the CLI needs it on every call, before any settings are read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_VARIABLE = "GAMMALAKE_HOME"


@dataclass(frozen=True)
class Layout:
    """The paths inside a home folder (nothing here touches the disk)."""

    root: Path

    @property
    def lake(self) -> Path:
        """Return the Parquet lake: lake/<dataset>/... (see warehouse.lake)."""
        return self.root / "lake"

    @property
    def raw(self) -> Path:
        """Return the raw archive of what sources returned: raw/<source>/..."""
        return self.root / "raw"

    @property
    def tmp(self) -> Path:
        """Return the staging folder of files being written (moved into place when whole)."""
        return self.root / "tmp"

    @property
    def catalog(self) -> Path:
        """Return the DuckDB catalog file any DuckDB client opens."""
        return self.root / "warehouse.duckdb"

    @property
    def manifest(self) -> Path:
        """Return the catalog's manifest (what the views were made from)."""
        return self.root / "catalog.json"

    @property
    def settings(self) -> Path:
        """Return the default settings file."""
        return self.root / "gammalake.toml"

    @property
    def quota(self) -> Path:
        """Return the folder of request ledgers shared by processes."""
        return self.root / "quota"

    @property
    def attic(self) -> Path:
        """Return where files replaced by a migration are kept."""
        return self.root / "attic"

    @property
    def reports(self) -> Path:
        """Return the default folder of backtest and study reports."""
        return self.root / "reports"


def default_home() -> Path:
    """Return $XDG_DATA_HOME/gammalake, or ~/.local/share/gammalake."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gammalake"


def resolve_home(explicit: Path | None = None) -> Path:
    """Return the home folder, absolute: `explicit`, else $GAMMALAKE_HOME, else the default.

    Absolute, because units of work may run in other processes (Dask workers) whose working
    directory is not ours: a relative home would put the lake somewhere else.
    """
    if explicit is None:
        value = os.environ.get(HOME_VARIABLE)
        explicit = Path(value) if value else default_home()
    home = Path(os.path.abspath(explicit.expanduser()))
    check_home_name(home)
    return home


#: Characters DuckDB reads as a glob in a path: the lake's views would match other folders.
GLOB_CHARACTERS = frozenset("*?[]{}")


def check_home_name(home: Path) -> None:
    """Refuse (InputError, one line) a home whose path holds glob characters (`*?[]{}`)."""
    from warehouse.errors import WarehouseInputError as InputError

    found = sorted(GLOB_CHARACTERS.intersection(str(home)))
    if found:
        raise InputError(
            f"gammalake home {home}: the path holds {' '.join(found)}, which DuckDB reads "
            "as a glob; choose a folder without *?[]{}"
        )


def writable_home(home: Path) -> Path:
    """Return `home` created if needed; raise InputError when it cannot hold data."""
    from warehouse.errors import WarehouseInputError as InputError

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
