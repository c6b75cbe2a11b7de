"""Lakes for backtest tests: hand-made bars and snapshots, and a small synthetic history."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline.engine.timing import NEW_YORK
from pipeline.sessions import close_times, sessions_between
from tests.conftest import METHOD
from warehouse import catalog
from warehouse.lake import Lake


def stamp(day: date, at: time) -> datetime:
    """Return `day` at New York wall time `at`, in UTC."""
    return datetime.combine(day, at, NEW_YORK).astimezone(NEW_YORK)


def write_history(
    home: Path,
    days: list[date],
    bars: dict[str, list[float]],
    known: dict[str, list[float | None]],
    *,
    symbol: str = "TEST",
    snapshot_at: time = time(16, 15),
    source: str = "hand",
    method: str = "vendor",
) -> None:
    """Store daily bars (open/high/low/close lists) and one snapshot per day at `snapshot_at`.

    Hand-made levels are vendor-like history (`vendor`) unless `method` says otherwise.
    """
    prices = pl.DataFrame(
        {
            "symbol": symbol,
            "source": "bars",
            "trade_date": days,
            "as_of": close_times(days),
            **bars,
        }
    ).with_columns(pl.col("as_of").dt.convert_time_zone("UTC"))
    snapshots = pl.DataFrame(
        {
            "symbol": symbol,
            "source": source,
            "method": method,
            "as_of": [stamp(d, snapshot_at) for d in days],
            "trade_date": days,
            **known,
        },
        strict=False,
    ).with_columns(pl.col("as_of").dt.convert_time_zone("UTC"))
    Lake(home).write_all({"prices": prices, "snapshots": snapshots})
    catalog.ensure(home)


def sessions(count: int, first: date = date(2024, 1, 2)) -> list[date]:
    """Return `count` NYSE sessions from `first`."""
    return sessions_between(first, first + timedelta(days=count * 2 + 10))[:count]


@pytest.fixture
def leaky_walk(tmp_path: Path) -> tuple[Path, list[date], dict[str, np.ndarray]]:
    """Return a lake of 600 random-walk sessions whose 16:15 snapshots leak the next open.

    Each snapshot carries net_gex = the return from that session's close to the next open (news
    out after the bell): worth a fortune to anyone who could still buy at the 16:00 close, worth
    nothing to someone who must wait for the next open.
    """
    days = sessions(600)
    rng = np.random.default_rng(11)
    gap = rng.normal(0.0, 0.006, len(days))  # overnight: previous close to open
    body = rng.normal(0.0, 0.008, len(days))  # open to close
    close = 100 * np.exp(np.cumsum(gap + body))
    opens = close * np.exp(-body)
    leak = np.concatenate([opens[1:] / close[:-1] - 1, [0.0]])
    bars = {
        "open": opens.tolist(),
        "high": np.maximum(opens, close).tolist(),
        "low": np.minimum(opens, close).tolist(),
        "close": close.tolist(),
    }
    known = {"underlying_price": close.tolist(), "net_gex": leak.tolist()}
    write_history(tmp_path, days, bars, known)
    return tmp_path, days, {"open": opens, "close": close, "leak": leak}


def synthetic_history(
    home: Path,
    market: object,
    symbols: list[str],
    first: date,
    last: date,
    *,
    method: str = METHOD,
) -> None:
    """Store a small-chain synthetic history (snapshots, chains, bars) without Prefect.

    Snapshots are priced under `method` (the default preset unless told otherwise).
    """
    from flows.capture import chain_rows
    from pipeline.engine.method import config_of
    from pipeline.normalize import snapshot_rows
    from pipeline.sources.base import engine_payloads
    from pipeline.sources.prices import synthetic_bars
    from pipeline.sources.synthetic import SyntheticSource

    source = SyntheticSource(market=market, expiries=8, strikes=41)
    config = config_of(method)
    frames: dict[str, list[pl.DataFrame]] = {"snapshots": [], "chains": [], "prices": []}
    for symbol in symbols:
        for day in sessions_between(first, last):
            fetched = source.fetch(symbol, stamp(day, time(16, 15)))
            payloads = engine_payloads(fetched.chain, config, 0)
            rows = snapshot_rows(payloads, source="synthetic", method=method, as_of=fetched.as_of)
            frames["snapshots"].append(rows["snapshots"])
            frames["chains"].append(chain_rows(fetched.chain, "synthetic"))
        frames["prices"].append(synthetic_bars(market, symbol, first, last))
    Lake(home).write_all({k: pl.concat(v, how="diagonal_relaxed") for k, v in frames.items()})
    catalog.ensure(home)
