"""Chain files in a folder, one per symbol and day (`chains`): the engine prices them."""

from __future__ import annotations

import bisect
import functools
import os
import time as time_module
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sources.base import Fetched, Ledgers, MissingInputError, Plan, SourceSpec, register

#: File suffixes a chain folder holds (CBOE quotedata / generic CSV, Parquet, a Cboe reply).
CHAIN_SUFFIXES = frozenset({".csv", ".parquet", ".json"})
#: Seconds a folder must have been unchanged before its listing is cached (see _starting_with).
SETTLED_SECONDS = 2.0


@dataclass(frozen=True)
class ChainFolderSource:
    """Chain files in a folder, one per symbol and day.

    Named `SPY_2024-03-15.csv` (or .parquet, or .json) or `SPY/2024-03-15.csv`; CBOE
    quotedata, a saved reply of Cboe's delayed-quotes JSON feed, or the generic layout. The
    file's own time is used; a file without one describes its day's session close (16:00,
    13:00 on half days), the moment a daily file's figures stand for.
    """

    folder: Path
    name: str = "chains"
    computes: bool = True

    def file_for(self, symbol: str, day: date) -> Path | None:
        """Return the chain file of `symbol` on `day`, or None (only regular files count)."""
        from pipeline.sources.chains import regular_file

        stamp = day.isoformat()
        for folder, prefix in ((self.folder, f"{symbol}_{stamp}"), (self.folder / symbol, stamp)):
            found = [
                folder / name
                for name in _starting_with(folder, prefix)
                if Path(name).suffix.lower() in CHAIN_SUFFIXES
            ]
            # A FIFO or device named like a chain would block or never end a read.
            found = [p for p in found if regular_file(p)]
            if found:
                return found[-1]
        return None

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the chain in the symbol's file of `at`'s New York date.

        The symbol is the file's own (CBOE option ids, a `symbol` column, the file name), so
        the firewall can refuse a file that describes another underlying; only a file inside a
        folder named for the symbol takes the folder's name.
        """
        from pipeline.sessions import close_times
        from pipeline.sources.chains import read_chain

        day = at.astimezone(NEW_YORK).date()
        path = self.file_for(symbol, day)
        if path is None:
            raise MissingInputError(
                f"no chain file for {symbol} on {day} in {self.folder} "
                f"(expected {symbol}_{day}.csv)"
            )
        default_time = close_times([day])[0]
        named = symbol if path.parent.name == symbol else None
        chain = read_chain(path, symbol=named, as_of=None if _has_time(path) else default_time)
        return Fetched(symbol, chain.as_of, chain=chain)


def _starting_with(folder: Path, prefix: str) -> list[str]:
    """Return the sorted names in `folder` that start with `prefix` (none if it is no folder).

    The listing is cached per folder version: a glob per symbol and day lists the whole folder
    each time, which made a 2,000-symbol snapshot quadratic in the folder's size.
    """
    try:
        version = folder.stat().st_mtime_ns
    except OSError:
        return []
    # A folder changed in the last seconds may change again within its mtime's resolution,
    # unseen by the key: list it afresh until it has been still for a while.
    recent = time_module.time() - version / 1e9 < SETTLED_SECONDS
    names = _listing.__wrapped__(str(folder), version) if recent else _listing(str(folder), version)
    start = bisect.bisect_left(names, prefix)
    end = bisect.bisect_left(names, prefix + "\U0010ffff", lo=start)
    return list(names[start:end])


@functools.lru_cache(maxsize=64)
def _listing(folder: str, version: int) -> tuple[str, ...]:
    """Return the sorted names of `folder` as of its modification time `version`."""
    try:
        return tuple(sorted(os.listdir(folder)))
    except OSError:
        return ()


def _has_time(path: Path) -> bool:
    """Return True when the file states its own time (CBOE `Date:`, JSON timestamp, as_of)."""
    from pipeline.sources.chains import has_own_time

    return has_own_time(path)


def build(settings: Any, name: str, plan: Plan, ledgers: Ledgers) -> ChainFolderSource:
    """Return the folder of chain files named by settings `chains_dir`."""
    folder = settings.chains_dir
    if folder is None or not folder.is_dir():
        raise InputError(f"source chains needs chains_dir (a folder of chain files); got {folder}")
    return ChainFolderSource(folder)


SPEC = register(
    SourceSpec(
        name="chains",
        help="Chain files in settings chains_dir (CBOE quotedata, Cboe JSON, CSV, Parquet).",
        build=build,
        computes=True,
        history=True,
    )
)
