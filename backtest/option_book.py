"""Option prices from the stored chains: fills, marks and settlement at expiry.

Every price comes from the `chains` dataset (the engine's input: each contract's bid and ask
at each snapshot) of the panel's symbol and source, at the snapshot a decision knew
(`known_as_of`). A fill is at the mid or crosses the spread (buys at the ask, sells at the
bid: `OptionCosts.fill`), plus a fee per contract. A mark is the mid. A contract is quoted at
a snapshot when the snapshot lists it with a bid >= 0 and an ask > 0 not below the bid; one
without such a quote cannot be filled there (a miss). At expiry a contract settles at its
intrinsic value: PM-settled contracts at the stored close of the expiration session, those of
AM-settled roots (`pipeline.engine.timing.AM_ROOTS`: SPX monthlies, NDX, RUT, VIX, told apart
by the OSI id's root as the engine does) at that session's opening price from the bars.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from backtest.option_legs import Listing
from backtest.panel import Panel
from pipeline.engine.timing import AM_ROOTS
from warehouse import catalog
from warehouse.errors import WarehouseInputError
from warehouse.lake import Lake

#: How an option order fills: at the mid, or crossing the spread (buy at ask, sell at bid).
OPTION_FILLS = ("mid", "cross")
#: The root of an OSI-style id (`SPX   250620C05000000`, `SPXW250620C05000000`).
_ROOT = re.compile(r"^([A-Z]+)\s*\d{6}[CP]")


@dataclass(frozen=True)
class OptionCosts:
    """How option legs trade: `fill` (mid or cross), `fee` ($ per contract per fill), `size`.

    `size`: one unit of a package is, per leg, the whole number of contracts whose underlying
    notional (`multiplier` x spot at the decision) is closest below `size` x the account's
    value, at least one contract. Settlement at expiry pays no fee.
    """

    fill: str = "cross"
    fee: float = 0.65
    size: float = 1.0
    multiplier: float = 100.0

    def __post_init__(self) -> None:
        if self.fill not in OPTION_FILLS:
            raise WarehouseInputError(
                f"--option-fill {self.fill!r} unknown (use {', '.join(OPTION_FILLS)})"
            )
        if not (math.isfinite(self.fee) and self.fee >= 0):
            raise WarehouseInputError(f"--option-fee {self.fee:g} must be a $ amount >= 0")
        if not (math.isfinite(self.size) and self.size > 0 and self.multiplier > 0):
            raise WarehouseInputError(f"--option-size {self.size:g} must be a number > 0")

    def contracts(self, equity: float, spot: float) -> int:
        """Return the contracts per unit of a leg: size x equity over one contract's notional."""
        if not (np.isfinite(spot) and spot > 0 and equity > 0):
            return 1
        return max(1, int(self.size * equity // (self.multiplier * spot)))

    def price(self, bid: float, ask: float, side: int) -> float:
        """Return the fill price ($ per share) of a buy (`side` +1) or a sell (-1)."""
        if self.fill == "mid":
            return 0.5 * (bid + ask)
        return ask if side > 0 else bid


def quoted(bid: float, ask: float) -> bool:
    """Return whether a bid/ask pair is a usable quote (bid >= 0, ask > 0, ask >= bid)."""
    return bool(np.isfinite(bid) and np.isfinite(ask) and bid >= 0 and ask > 0 and ask >= bid)


def am_settled(contract: str) -> bool:
    """Return whether `contract` is of an AM-settled root (settles at the expiry day's open)."""
    found = _ROOT.match(contract)
    return bool(found and found.group(1) in AM_ROOTS)


def intrinsic(right: str, strike: float, price: float) -> float:
    """Return a contract's value at expiry ($ per share) with the underlying at `price`."""
    return max(price - strike, 0.0) if right == "C" else max(strike - price, 0.0)


@dataclass(frozen=True)
class QuoteBook:
    """The stored quotes of one symbol's chains, per snapshot moment (UTC).

    `index`: per moment, each contract's row in that moment's `Listing`.
    """

    listings: dict[datetime, Listing]
    index: dict[datetime, dict[str, int]]

    def listing(self, moment: datetime | None) -> Listing | None:
        """Return the contracts listed at `moment`, None when no chain is stored then."""
        return None if moment is None else self.listings.get(moment)

    def quote(self, moment: datetime | None, contract: str) -> tuple[float, float] | None:
        """Return the (bid, ask) of `contract` at `moment` if usable, else None (a miss)."""
        if moment is None or moment not in self.index:
            return None
        row = self.index[moment].get(contract)
        if row is None:
            return None
        listing = self.listings[moment]
        bid, ask = float(listing.bid[row]), float(listing.ask[row])
        return (bid, ask) if quoted(bid, ask) else None


_QUOTES_SQL = """
SELECT as_of, contract, expiration, strike, "right", bid, ask
FROM chains
WHERE symbol = $symbol AND source = $source AND as_of IN (SELECT moment FROM moments)
ORDER BY as_of, contract
"""


def load_quotes(home: Path, panel: Panel) -> QuoteBook:
    """Return the quotes of `panel`'s symbol and source at every snapshot its rows knew.

    Raises one line when the lake stores no chains of that symbol and source (vendor sources
    store figures, not contracts).
    """
    moments = panel.frame.get_column("known_as_of").drop_nulls().unique()
    if "chains" not in Lake(home).datasets():
        raise _no_chains(panel)
    with catalog.reader(home) as con:
        con.register("moments", pl.DataFrame({"moment": moments}))
        params = {"symbol": panel.symbol, "source": panel.source}
        frame = con.sql(_QUOTES_SQL, params=params).pl()
    if frame.is_empty():
        raise _no_chains(panel)
    return _book(frame)


def _no_chains(panel: Panel) -> WarehouseInputError:
    """Return the error of a panel whose snapshots have no stored chains to price legs from."""
    return WarehouseInputError(
        f"no stored chains of {panel.symbol} from {panel.source} at its snapshots: option "
        "strategies price legs from the `chains` dataset (engine sources: synthetic, chains)"
    )


def _book(frame: pl.DataFrame) -> QuoteBook:
    """Return the quote book of chain rows (one Listing per snapshot moment)."""
    listings, index = {}, {}
    for (moment,), part in frame.partition_by("as_of", as_dict=True, maintain_order=True).items():
        listing = Listing(
            contract=part.get_column("contract").to_numpy(),
            expiration=part.get_column("expiration").to_numpy().astype("datetime64[D]"),
            strike=part.get_column("strike").cast(float).to_numpy(),
            right=part.get_column("right").to_numpy(),
            bid=part.get_column("bid").cast(float).fill_null(np.nan).to_numpy(),
            ask=part.get_column("ask").cast(float).fill_null(np.nan).to_numpy(),
        )
        key = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
        listings[key] = listing
        index[key] = {str(c): i for i, c in enumerate(listing.contract)}
    return QuoteBook(listings, index)


def settlement(panel: Panel, expiration: date, am: bool) -> tuple[float, str, bool]:
    """Return the underlying's settlement price, what it was, and whether it is the day's own.

    PM: the close of the expiration session; AM: its open. Without that bar (a holiday, a gap,
    a close-only bar for AM) the close of the last session before it stands in, and the third
    value is False (a settlement miss).
    """
    frame = panel.frame.filter(pl.col("trade_date") <= expiration)
    if frame.is_empty():
        raise WarehouseInputError(f"no bar of {panel.symbol} on or before {expiration}")
    last = frame.row(-1, named=True)
    if last["trade_date"] == expiration:
        price = last["open"] if am else last["close"]
        if price is not None:
            return float(price), f"{expiration} {'open' if am else 'close'}", True
        frame = frame.slice(0, frame.height - 1)
    if frame.is_empty():
        raise WarehouseInputError(f"no bar of {panel.symbol} before {expiration} to settle at")
    before = frame.row(-1, named=True)
    return float(before["close"]), f"{before['trade_date']} close", False
