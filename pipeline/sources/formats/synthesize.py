"""Write a realistic whole-market Cboe DataShop day file (for benchmarks and tests).

The numbers are random but plausible: each underlying has a spot, a grid of strikes around it
and a set of expiries; quotes, IVs and greeks come from Black-Scholes at a smile-shaped IV, so
the engine prices the file as it would a real one. The default day holds 5,000 underlyings and
1.5 million contracts: SPX ~20,000 (SPX monthlies and SPXW), SPY ~10,000, QQQ ~8,000, most
other names 50-500. Everything is vectorised (NumPy, polars): a few seconds for the full day.

    python -m pipeline.sources.formats.synthesize OUT.csv [--contracts N] [--underlyings N]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from numpy.typing import NDArray

from pipeline.engine.greeks import bsm_greeks, bsm_price

#: The big names with their fixed contract counts, spots and weekly roots (None: one root).
BIG_NAMES: tuple[tuple[str, int, float, str | None], ...] = (
    ("^SPX", 20_000, 4_700.0, "SPXW"),
    ("SPY", 10_000, 470.0, None),
    ("QQQ", 8_000, 400.0, None),
    ("^NDX", 6_000, 16_500.0, "NDXP"),
    ("IWM", 5_000, 195.0, None),
)
#: Strike steps a grid may use (the largest that keeps the grid inside (0, 2 x spot)).
STEPS = np.array([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0])
#: Most contracts one ordinary (not BIG_NAMES) underlying gets.
MAX_NAME_CONTRACTS = 2_000
HEADER = [
    "underlying_symbol",
    "quote_date",
    "root",
    "expiration",
    "strike",
    "option_type",
    "open",
    "high",
    "low",
    "close",
    "trade_volume",
    "bid_size_1545",
    "bid_1545",
    "ask_size_1545",
    "ask_1545",
    "underlying_bid_1545",
    "underlying_ask_1545",
    "implied_underlying_price_1545",
    "active_underlying_price_1545",
    "implied_volatility_1545",
    "delta_1545",
    "gamma_1545",
    "theta_1545",
    "vega_1545",
    "rho_1545",
    "bid_size_eod",
    "bid_eod",
    "ask_size_eod",
    "ask_eod",
    "underlying_bid_eod",
    "underlying_ask_eod",
    "vwap",
    "open_interest",
    "delivery_code",
]


@dataclass(frozen=True)
class Names:
    """The underlyings of a synthetic day: name, contract count, spot, weekly root."""

    symbol: list[str]
    count: NDArray[np.int64]
    spot: NDArray[np.float64]
    weekly: list[str | None]


def _tickers(n: int) -> list[str]:
    """Return `n` distinct made-up tickers (ZAAA, ZAAB, ...), none a real big name."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [
        "Z" + letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26] for i in range(n)
    ]


def names(underlyings: int, contracts: int, rng: np.random.Generator) -> Names:
    """Return the day's underlyings with contract counts summing to about `contracts`."""
    big = BIG_NAMES[: min(len(BIG_NAMES), underlyings)]
    rest = underlyings - len(big)
    left = max(contracts - sum(b[1] for b in big), 100 * rest)
    weights = rng.lognormal(0.0, 0.5, rest)
    counts = (
        np.clip(weights / weights.sum() * left, 50, MAX_NAME_CONTRACTS).astype(np.int64) // 2 * 2
    )
    spots = np.round(np.exp(rng.uniform(np.log(5.0), np.log(600.0), rest)), 2)
    return Names(
        symbol=[b[0] for b in big] + _tickers(rest),
        count=np.concatenate([np.array([b[1] for b in big], dtype=np.int64), counts]),
        spot=np.concatenate([np.array([b[2] for b in big]), spots]),
        weekly=[b[3] for b in big] + [None] * rest,
    )


def _expiries(session: date, count: int) -> NDArray[np.datetime64]:
    """Return the session itself and the next `count - 1` Fridays after it (datetime64[D])."""
    first_friday = session + timedelta(days=(4 - session.weekday()) % 7 or 7)
    fridays = [first_friday + timedelta(weeks=i) for i in range(count - 1)]
    return np.array([session, *fridays], dtype="datetime64[D]")


def contract_grid(day: Names, session: date) -> pl.DataFrame:
    """Return one row per call/put pair: name index, expiry, strike (a unique grid per name)."""
    pairs = day.count // 2
    n_exp = np.clip(np.sqrt(pairs).astype(np.int64) // 2, 2, 40)
    levels = -(-pairs // n_exp)
    name = np.repeat(np.arange(len(pairs)), pairs)
    k = np.arange(pairs.sum()) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    wanted = day.spot * 0.5 / np.maximum(levels // 2, 1)
    step = STEPS[np.clip(np.searchsorted(STEPS, wanted, side="right") - 1, 0, None)]
    center = np.round(day.spot / step) * step
    level = k // n_exp[name] - levels[name] // 2
    expiries = _expiries(session, int(n_exp.max()))
    return pl.DataFrame(
        {
            "name": name,
            "expiration": expiries[k % n_exp[name]],
            "strike": center[name] + level * step[name],
        }
    )


def _priced(grid: pl.DataFrame, day: Names, session: date, rng: np.random.Generator) -> dict:
    """Return the numeric columns of every contract (calls then puts of each pair)."""
    n = grid.height
    spot = day.spot[grid.get_column("name").to_numpy()]
    strike = grid.get_column("strike").to_numpy()
    days = (grid.get_column("expiration").to_numpy() - np.datetime64(session, "D")).astype(float)
    years = (days + 0.01) / 365.0
    moneyness = np.log(strike / spot)
    iv = np.clip(0.18 + 0.5 * moneyness**2 - 0.1 * moneyness + rng.normal(0, 0.01, n), 0.05, 3)
    out: dict[str, NDArray[np.float64]] = {}
    for side, is_call in (("c", True), ("p", False)):
        price = bsm_price(spot, strike, years, iv, 0.0, 0.0, is_call)
        greeks = bsm_greeks(spot, strike, years, iv, 0.0, 0.0, is_call)
        half = np.maximum(0.01, np.round(price * 0.02, 2))
        out[f"{side}_bid"] = np.maximum(0.0, np.round(price - half, 2))
        out[f"{side}_ask"] = np.round(price + half, 2)
        out[f"{side}_delta"], out[f"{side}_gamma"] = greeks.delta, greeks.gamma
        out[f"{side}_oi"] = np.round(rng.lognormal(6, 1.5, n)).astype(float)
        out[f"{side}_volume"] = np.round(rng.lognormal(4, 1.5, n)).astype(float)
    out["iv"], out["spot"] = iv, spot
    return out


def day_frame(session: date, underlyings: int, contracts: int, seed: int) -> pl.DataFrame:
    """Return the whole synthetic DataShop day as a frame with the file's columns."""
    rng = np.random.default_rng(seed)
    day = names(underlyings, contracts, rng)
    grid = contract_grid(day, session)
    p = _priced(grid, day, session, rng)
    idx = grid.get_column("name").to_numpy()
    symbol = np.array(day.symbol, dtype=object)[idx]
    plain = np.array([s.lstrip("^") for s in day.symbol], dtype=object)[idx]
    weekly = np.array([w or "" for w in day.weekly], dtype=object)[idx]
    expiry = grid.get_column("expiration")
    third_friday = (expiry.dt.weekday() == 5) & expiry.dt.day().is_between(15, 21)
    root = np.where((weekly != "") & ~third_friday.to_numpy(), weekly, plain)
    sides = [_side(grid, symbol, root, p, s, session) for s in ("c", "p")]
    return pl.concat(sides).sort("underlying_symbol", "expiration", "strike", maintain_order=True)


def _side(
    grid: pl.DataFrame, symbol: NDArray, root: NDArray, p: dict, side: str, session: date
) -> pl.DataFrame:
    """Return the rows of one option type in the file's column order."""
    bid, ask, spot = p[f"{side}_bid"], p[f"{side}_ask"], p["spot"]
    mid = np.round((bid + ask) / 2, 2)
    zeros = np.zeros(grid.height)
    sizes = np.full(grid.height, 10)
    under_bid, under_ask = np.round(spot - 0.01, 2), np.round(spot + 0.01, 2)
    columns = [
        symbol, np.full(grid.height, session.isoformat(), dtype=object), root,
        grid.get_column("expiration").dt.strftime("%Y-%m-%d").to_numpy(),
        grid.get_column("strike").to_numpy(), np.full(grid.height, side.upper(), dtype=object),
        mid, ask, bid, mid, p[f"{side}_volume"], sizes, bid, sizes, ask, under_bid, under_ask,
        spot, spot, np.round(p["iv"], 4), np.round(p[f"{side}_delta"], 4),
        np.round(p[f"{side}_gamma"], 4), zeros, zeros, zeros, sizes, bid, sizes, ask,
        under_bid, under_ask, mid, p[f"{side}_oi"], zeros,
    ]  # fmt: skip
    frame = pl.DataFrame(dict(zip(HEADER, columns, strict=True)))
    counts = ("trade_volume", "open_interest", "delivery_code")
    return frame.with_columns(pl.col(c).cast(pl.Int64) for c in counts if c in frame.columns)


def write_datashop_day(
    path: Path,
    session: date = date(2024, 1, 5),
    underlyings: int = 5_000,
    contracts: int = 1_500_000,
    seed: int = 7,
) -> int:
    """Write the synthetic DataShop day file to `path`; return its number of contract rows."""
    frame = day_frame(session, underlyings, contracts, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    return frame.height


def main(argv: list[str] | None = None) -> None:
    """Write a synthetic DataShop day file from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--session", type=date.fromisoformat, default=date(2024, 1, 5))
    parser.add_argument("--underlyings", type=int, default=5_000)
    parser.add_argument("--contracts", type=int, default=1_500_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rows = write_datashop_day(args.out, args.session, args.underlyings, args.contracts, args.seed)
    print(f"wrote {rows:,} contracts to {args.out}")


if __name__ == "__main__":
    main()
