"""The Source protocol: what the snapshot and backfill flows ask of any source.

A source turns (symbol, moment) into what was received: a chain for the engine to price, or
payloads shaped like the FlashAlpha API's, plus what the raw archive should record. It never
touches gammalake's folders: the flow archives, checks, prices and stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol

from pipeline.chain import Chain
from pipeline.engine.config import EngineConfig
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.sources.synthetic import SyntheticMarket


@dataclass(frozen=True)
class Fetched:
    """What a source returned for one symbol at one moment.

    Engine sources (`computes`) return `chain`, the engine's input as received, and no
    payloads: the flow archives the chain, checks it and prices it under the run's method.
    Vendor sources return `payloads` by endpoint with `request` metadata per endpoint for the
    raw archive. `as_of` is the key time the source reports; `requests` the API requests this
    fetch really sent (counted against budgets, failed ones included); `errors` what was asked
    for and did not arrive (the snapshot may still be storable without it). `bar`: the
    underlying's daily bar when the reply carries one after the close (keys trade_date, open,
    high, low, close, volume; prices in the underlying's units), stored in `prices`.
    `oi_as_of`: the session whose close the chain's open interest describes, when the source
    says (a feed's OI is the previous session's, published the next morning), stored in the
    `chains` dataset's column of that name.
    """

    symbol: str
    as_of: datetime
    payloads: dict[str, Any] = field(default_factory=dict)
    chain: Chain | None = None
    request: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    errors: tuple[str, ...] = ()
    bar: dict[str, Any] | None = None
    oi_as_of: date | None = None


class FetchError(Exception):
    """Nothing storable came back for a symbol at a moment; says why and what it cost."""

    def __init__(self, message: str, *, requests: int = 0) -> None:
        """Keep the API requests the failed fetch still spent."""
        super().__init__(message)
        self.requests = requests


class MissingInputError(FetchError):
    """The source has no input for that day (a chain folder without the day's file)."""


class RunHaltedError(FetchError):
    """The run must stop now: the key was refused, or the request budget is spent."""


class Source(Protocol):
    """Anything that can produce a snapshot of a symbol at a moment."""

    @property
    def name(self) -> str:
        """Return the source's name, stored in every row it produced (e.g. `synthetic`)."""
        ...

    @property
    def computes(self) -> bool:
        """Return True when fetch gives a chain the engine prices; False: vendor payloads."""
        ...

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the snapshot input of `symbol` at `at` (timezone-aware); raise FetchError."""
        ...


def engine_payloads(chain: Chain, config: EngineConfig, expiries: int = 0) -> dict[str, Any]:
    """Return every payload of a chain, plus gex of its `expiries` nearest expirations."""
    snapshot = ExposureSnapshot(chain, config)
    payloads = snapshot.payloads()
    for row in payloads["expiries"]["expiries"][:expiries]:
        payloads[f"gex_{row['expiration']}"] = snapshot.gex(expiration=row["expiration"])
    return payloads


@dataclass(frozen=True)
class SyntheticSource:
    """The simulated market's chains (`synthetic`: no key, no network)."""

    market: SyntheticMarket = field(default_factory=SyntheticMarket)
    expiries: int = 24
    strikes: int = 81
    name: str = "synthetic"
    computes: bool = True

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the simulated chain of `symbol` at `at`."""
        chain = self.market.chain(symbol, at, expiries=self.expiries, strikes=self.strikes)
        return Fetched(symbol, at, chain=chain)


@dataclass(frozen=True)
class ChainFolderSource:
    """Chain files in a folder, one per symbol and day.

    Named `SPY_2024-03-15.csv` (or .parquet, or .json) or `SPY/2024-03-15.csv`; CBOE
    quotedata, a saved reply of Cboe's delayed-quotes JSON feed, or the generic layout. The
    file's own time is used; files without one are taken at 16:15.
    """

    folder: Path
    name: str = "chains"
    computes: bool = True

    def file_for(self, symbol: str, day: date) -> Path | None:
        """Return the chain file of `symbol` on `day`, or None."""
        stamp = day.isoformat()
        for pattern in (f"{symbol}_{stamp}*", f"{symbol}/{stamp}*"):
            found = sorted(
                p
                for p in self.folder.glob(pattern)
                if p.suffix.lower() in {".csv", ".parquet", ".json"}
            )
            if found:
                return found[-1]
        return None

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the chain in the symbol's file of `at`'s New York date.

        The symbol is the file's own (CBOE option ids, a `symbol` column, the file name), so
        the firewall can refuse a file that describes another underlying; only a file inside a
        folder named for the symbol takes the folder's name.
        """
        from pipeline.sources.chains import read_chain

        day = at.astimezone(NEW_YORK).date()
        path = self.file_for(symbol, day)
        if path is None:
            raise MissingInputError(
                f"no chain file for {symbol} on {day} in {self.folder} "
                f"(expected {symbol}_{day}.csv)"
            )
        default_time = datetime.combine(day, time(16, 15), NEW_YORK)
        named = symbol if path.parent.name == symbol else None
        chain = read_chain(path, symbol=named, as_of=None if _has_time(path) else default_time)
        return Fetched(symbol, chain.as_of, chain=chain)


def _has_time(path: Path) -> bool:
    """Return True when the file states its own time (CBOE `Date:`, JSON timestamp, as_of)."""
    from pipeline.sources.chains import is_cboe

    if path.suffix.lower() == ".json":
        return True  # a Cboe feed reply: its top-level timestamp
    if path.suffix.lower() == ".parquet":
        import polars as pl

        return "as_of" in pl.read_parquet_schema(path)
    if is_cboe(path):
        return True
    with path.open("rb") as handle:
        return b"as_of" in handle.readline()
