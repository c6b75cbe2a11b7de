"""Shared fixtures: the reference data beside the repo, and small hand-made chains."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from pipeline.chain import Chain
from pipeline.engine.method import resolve_method
from pipeline.engine.timing import NEW_YORK

REPO = Path(__file__).resolve().parents[1]
REFDATA = REPO.parent / "shared" / "refdata"
#: The method of the default preset under the running engine (what synthetic rows carry).
METHOD = resolve_method("default")


@pytest.fixture
def refdata() -> Path:
    """Return ../shared/refdata, or skip when this checkout has no shared folder beside it."""
    if not REFDATA.is_dir():
        pytest.skip(f"reference data not found at {REFDATA} (needs ../shared beside the repo)")
    return REFDATA


def make_chain(
    rows: list[tuple[str, float, str, int, float]],
    *,
    spot: float = 100.0,
    as_of: datetime | None = None,
    symbol: str = "TEST",
    **extra: list[object],
) -> Chain:
    """Return a chain from (expiration, strike, right, open_interest, iv) tuples."""
    frame = pl.DataFrame(
        {
            "expiration": [date.fromisoformat(r[0]) for r in rows],
            "strike": [float(r[1]) for r in rows],
            "right": [r[2] for r in rows],
            "open_interest": [r[3] for r in rows],
            "iv": [r[4] for r in rows],
            **extra,
        }
    )
    when = as_of or datetime(2024, 3, 1, 16, 15, tzinfo=NEW_YORK)
    return Chain(symbol, spot, when, frame, origin="test")


def synthetic_payloads(symbol: str, when: datetime, *, strikes: int = 21) -> dict:
    """Return every engine payload of a small synthetic chain (fast enough for many tests)."""
    from pipeline.engine.presets import preset
    from pipeline.engine.snapshot import ExposureSnapshot
    from pipeline.sources.synthetic import SyntheticMarket

    chain = SyntheticMarket().chain(symbol, when, expiries=6, strikes=strikes)
    return ExposureSnapshot(chain, preset("default")).payloads()


def synthetic_rows(symbol: str, when: datetime, *, strikes: int = 21) -> dict:
    """Return warehouse rows of one synthetic snapshot."""
    from pipeline.normalize import snapshot_rows

    return snapshot_rows(
        synthetic_payloads(symbol, when, strikes=strikes), source="synthetic", method=METHOD
    )


def session_close(day: str) -> datetime:
    """Return 16:15 New York on an ISO date."""
    return datetime.fromisoformat(f"{day}T16:15").replace(tzinfo=NEW_YORK)


def one_session_home(root: Path) -> Path:
    """Return a home at `root` holding SPY's synthetic rows of 2024-03-04 and its catalog."""
    from warehouse import catalog
    from warehouse.lake import Lake

    lake = Lake(root)
    lake.write_all(synthetic_rows("SPY", session_close("2024-03-04")))
    catalog.rebuild(lake.home, "default@v1")
    return lake.home
