"""The Source protocol: what the snapshot and backfill flows ask of any source.

A source turns (symbol, moment) into payloads shaped like the FlashAlpha API's, plus what the raw
archive should record. It never touches gammalake's folders: the flow archives and stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol

from pipeline.chain import Chain
from pipeline.engine.config import EngineConfig
from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sources.synthetic import SyntheticMarket


@dataclass(frozen=True)
class Fetched:
    """One symbol's snapshot from a source.

    `payloads` by endpoint; `as_of` the key time; `chain` the contracts when the engine computed
    them; `request` metadata per endpoint for the raw archive; `requests` API calls spent.
    """

    symbol: str
    as_of: datetime
    payloads: dict[str, Any]
    chain: Chain | None = None
    request: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0


class Source(Protocol):
    """Anything that can produce a snapshot of a symbol at a moment."""

    name: str
    computes: bool  # True when payloads come from gammalake's engine (raw = one bundle)

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the snapshot of `symbol` at `at` (timezone-aware)."""
        ...


def engine_payloads(chain: Chain, config: EngineConfig, expiries: int) -> dict[str, Any]:
    """Return every payload of a chain, plus gex of its `expiries` nearest expirations."""
    snapshot = ExposureSnapshot(chain, config)
    payloads = snapshot.payloads()
    for row in payloads["expiries"]["expiries"][:expiries]:
        payloads[f"gex_{row['expiration']}"] = snapshot.gex(expiration=row["expiration"])
    return payloads


@dataclass(frozen=True)
class SyntheticSource:
    """The simulated market through the engine (`synthetic`: no key, no network)."""

    market: SyntheticMarket = field(default_factory=SyntheticMarket)
    config: EngineConfig = field(default_factory=lambda: preset("default"))
    expiries: int = 24
    strikes: int = 81
    nearest_expiries: int = 3
    name: str = "synthetic"
    computes: bool = True

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the engine's payloads for the simulated chain at `at`."""
        chain = self.market.chain(symbol, at, expiries=self.expiries, strikes=self.strikes)
        return Fetched(
            symbol, at, engine_payloads(chain, self.config, self.nearest_expiries), chain=chain
        )


@dataclass(frozen=True)
class ChainFolderSource:
    """Chain files in a folder, one per symbol and day.

    Named `SPY_2024-03-15.csv` (or .parquet) or `SPY/2024-03-15.csv`; CBOE quotedata or the
    generic layout. The file's own time is used; files without one are taken at 16:15.
    """

    folder: Path
    config: EngineConfig = field(default_factory=lambda: preset("default"))
    nearest_expiries: int = 3
    name: str = "chains"
    computes: bool = True

    def file_for(self, symbol: str, day: date) -> Path | None:
        """Return the chain file of `symbol` on `day`, or None."""
        stamp = day.isoformat()
        for pattern in (f"{symbol}_{stamp}*", f"{symbol}/{stamp}*"):
            found = sorted(
                p for p in self.folder.glob(pattern) if p.suffix.lower() in {".csv", ".parquet"}
            )
            if found:
                return found[-1]
        return None

    def fetch(self, symbol: str, at: datetime) -> Fetched:
        """Return the engine's payloads for the symbol's file of `at`'s New York date."""
        from pipeline.sources.chains import read_chain

        path = self.file_for(symbol, at.astimezone(NEW_YORK).date())
        if path is None:
            raise InputError(
                f"no chain file for {symbol} on {at.date()} in {self.folder} "
                f"(expected {symbol}_{at.date()}.csv)"
            )
        default_time = datetime.combine(at.astimezone(NEW_YORK).date(), time(16, 15), NEW_YORK)
        chain = read_chain(path, symbol=symbol, as_of=None if _has_time(path) else default_time)
        return Fetched(
            symbol,
            chain.as_of,
            engine_payloads(chain, self.config, self.nearest_expiries),
            chain=chain,
        )


def _has_time(path: Path) -> bool:
    """Return True when the file states its own time (CBOE `Date:` line or an as_of column)."""
    from pipeline.sources.chains import is_cboe

    if path.suffix.lower() == ".parquet":
        import polars as pl

        return "as_of" in pl.read_parquet_schema(path)
    if is_cboe(path):
        return True
    with path.open("rb") as handle:
        return b"as_of" in handle.readline()
