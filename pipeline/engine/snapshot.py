"""One chain, one configuration: every FlashAlpha-shaped payload, computed once and cached."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np

from pipeline.chain import Chain
from pipeline.engine.book import DealerBook, build_book
from pipeline.engine.config import EngineConfig
from pipeline.engine.exposures import StrikeTable, book_delta, by_expiry, by_strike, totals
from pipeline.engine.flip import FlipResult, gamma_flip
from pipeline.engine.greeks import FloatArray
from pipeline.engine.levels import key_levels, strongest
from pipeline.engine.narrative import charm_line, gamma_line, gex_label, regime, vanna_line
from pipeline.engine.payloads import (
    ChexResponse,
    DexResponse,
    ExpiriesResponse,
    ExpiryRow,
    ExposureLevelsResponse,
    ExposureSummaryResponse,
    GexResponse,
    GexStrikeRow,
    HedgingEstimate,
    HedgingMove,
    PayloadHead,
    SummaryZeroDte,
    VexResponse,
)
from pipeline.engine.timing import NEW_YORK

PAYLOADS = ("gex", "dex", "vex", "chex", "levels", "summary", "expiries")


def _count(x: float) -> int:
    """Return a contract count as an int."""
    return round(float(x))


def _floats(values: FloatArray) -> list[float]:
    """Return an array of floats as a list of Python floats."""
    out: list[float] = values.tolist()
    return out


def _counts(values: FloatArray) -> list[int]:
    """Return contract counts (floats) as a list of Python ints, rounded."""
    out: list[int] = np.rint(values).astype(np.int64).tolist()
    return out


def _counts_or_none(values: FloatArray) -> list[int | None]:
    """Return counts as ints, None where unknown (NaN)."""
    whole = _counts(np.nan_to_num(values))
    return [None if unknown else v for v, unknown in zip(whole, np.isnan(values), strict=True)]


def filter_chain(
    chain: Chain, expiration: str | date | Iterable[str | date] | None, min_oi: int | None
) -> Chain:
    """Return the chain restricted to some expirations and to contracts with OI >= min_oi."""
    import polars as pl

    frame = chain.frame
    if expiration is not None:
        wanted = [expiration] if isinstance(expiration, str | date) else list(expiration)
        days = [date.fromisoformat(d) if isinstance(d, str) else d for d in wanted]
        frame = frame.filter(pl.col("expiration").is_in(days))
    if min_oi is not None:
        frame = frame.filter(pl.col("open_interest") >= min_oi)
    return Chain(chain.symbol, chain.spot, chain.as_of, frame, chain.origin)


class ExposureSnapshot:
    """Exposures of one chain under one engine configuration."""

    def __init__(self, chain: Chain, config: EngineConfig, book: DealerBook | None = None) -> None:
        """Price the dealer book now (unless given); aggregates and payloads come on first use."""
        self.chain = chain
        self.config = config
        self.book: DealerBook = book if book is not None else build_book(chain, config)

    @cached_property
    def table(self) -> StrikeTable:
        """Return the whole book's per-strike table."""
        return by_strike(self.book)

    @cached_property
    def flip(self) -> FlipResult:
        """Return the gamma flip under the configured method."""
        return gamma_flip(self.book, self.table)

    @cached_property
    def net(self) -> dict[str, float]:
        """Return net GEX, DEX, VEX, CHEX of the whole book."""
        return totals(self.book)

    def _head(self) -> PayloadHead:
        """Return the fields every payload starts with."""
        return {
            "symbol": self.chain.symbol,
            "underlying_price": self.chain.spot,
            "as_of": self.chain.as_of.astimezone(NEW_YORK).isoformat(),
        }

    def filtered(
        self, expiration: str | date | Iterable[str | date] | None = None, min_oi: int | None = None
    ) -> ExposureSnapshot:
        """Return the snapshot restricted by expiration and/or min OI (the book is sliced)."""
        if expiration is None and min_oi is None:
            return self
        c = self.book.contracts
        keep = np.ones(c.strike.size, dtype=bool)
        if expiration is not None:
            wanted = [expiration] if isinstance(expiration, str | date) else list(expiration)
            days = np.array([str(d) for d in wanted], dtype="datetime64[D]")
            keep &= np.isin(c.expiration, days)
        if min_oi is not None:
            keep &= c.open_interest >= min_oi
        chain = filter_chain(self.chain, expiration, min_oi)
        return ExposureSnapshot(chain, self.config, self.book.subset(keep))

    def gex(self, expiration: str | date | None = None, min_oi: int | None = None) -> GexResponse:
        """Return the GEX payload ($ per 1% move), optionally for one expiration / min OI."""
        snap = self.filtered(expiration, min_oi)
        t = snap.table
        call, put = t.exposure[("call", "gex")], t.exposure[("put", "gex")]
        gross = float(np.abs(call).sum() + np.abs(put).sum())
        rows: list[GexStrikeRow] = [
            {
                "strike": strike,
                "call_gex": call_gex,
                "put_gex": put_gex,
                "net_gex": net_gex,
                "call_oi": call_oi,
                "put_oi": put_oi,
                "call_volume": call_volume,
                "put_volume": put_volume,
                "call_oi_change": call_oi_change,
                "put_oi_change": put_oi_change,
            }
            for (
                strike,
                call_gex,
                put_gex,
                net_gex,
                call_oi,
                put_oi,
                call_volume,
                put_volume,
                call_oi_change,
                put_oi_change,
            ) in zip(
                _floats(t.strike),
                _floats(call),
                _floats(put),
                _floats(call + put),
                _counts(t.oi["call"]),
                _counts(t.oi["put"]),
                _counts(t.volume["call"]),
                _counts(t.volume["put"]),
                _counts_or_none(t.oi_change["call"]),
                _counts_or_none(t.oi_change["put"]),
                strict=True,
            )
        ]
        payload: GexResponse = {
            **snap._head(),
            "gamma_flip": snap.flip.level,
            "gamma_flip_status": snap.flip.status,
            "net_gex": snap.net["gex"],
            "net_gex_label": gex_label(snap.net["gex"], gross, self.config.flat_gex_fraction),
            "strikes": rows,
            "warnings": snap.book.warnings,
        }
        if expiration is not None:
            payload["expiration"] = str(expiration)
        return payload

    def _greek_columns(self, greek: str) -> Iterator[tuple[float, float, float, float]]:
        """Return per-strike (strike, call, put, net) values of one greek."""
        t = self.table
        call, put = t.exposure[("call", greek)], t.exposure[("put", greek)]
        return zip(_floats(t.strike), _floats(call), _floats(put), _floats(call + put), strict=True)

    def dex(self, expiration: str | date | None = None) -> DexResponse:
        """Return the DEX payload (dollars of underlying per strike)."""
        snap = self.filtered(expiration)
        return {
            **snap._head(),
            "net_dex": snap.net["dex"],
            "strikes": [
                {"strike": k, "call_dex": c, "put_dex": p, "net_dex": n}
                for k, c, p, n in snap._greek_columns("dex")
            ],
            "warnings": snap.book.warnings,
        }

    def vex(self, expiration: str | date | None = None) -> VexResponse:
        """Return the VEX payload ($ per vol point) with its interpretation line."""
        snap = self.filtered(expiration)
        return {
            **snap._head(),
            "net_vex": snap.net["vex"],
            "vex_interpretation": vanna_line(snap.net["vex"]),
            "strikes": [
                {"strike": k, "call_vex": c, "put_vex": p, "net_vex": n}
                for k, c, p, n in snap._greek_columns("vex")
            ],
            "warnings": snap.book.warnings,
        }

    def chex(self, expiration: str | date | None = None) -> ChexResponse:
        """Return the CHEX payload ($ per day) with its interpretation line."""
        snap = self.filtered(expiration)
        return {
            **snap._head(),
            "net_chex": snap.net["chex"],
            "chex_interpretation": charm_line(snap.net["chex"]),
            "strikes": [
                {"strike": k, "call_chex": c, "put_chex": p, "net_chex": n}
                for k, c, p, n in snap._greek_columns("chex")
            ],
            "warnings": snap.book.warnings,
        }

    def levels(self) -> ExposureLevelsResponse:
        """Return the key levels payload (strikes in the underlying's price units)."""
        return {
            **self._head(),
            "levels": key_levels(self.book, self.table, self.flip),
            "warnings": self.book.warnings,
        }

    def _hedge(self, move: float, base_delta: float) -> HedgingMove:
        """Return the dealer hedge trade after spot moves by `move` (0.01 = +1%)."""
        shares = -(book_delta(self.book, self.book.spot * (1.0 + move)) - base_delta)
        return {
            "dealer_shares_to_trade": shares,
            "direction": "buy" if shares >= 0 else "sell",
            "notional_usd": abs(shares) * self.book.spot,
        }

    def hedging(self) -> HedgingEstimate:
        """Return dealer hedges for +-0.5% and +-1% moves, re-pricing every delta (not linear)."""
        base = book_delta(self.book, self.book.spot)
        return {
            "spot_up_half_pct": self._hedge(0.005, base),
            "spot_down_half_pct": self._hedge(-0.005, base),
            "spot_up_1pct": self._hedge(0.01, base),
            "spot_down_1pct": self._hedge(-0.01, base),
        }

    def summary(self) -> ExposureSummaryResponse:
        """Return net exposures, regime, interpretation, hedge estimates and the 0DTE share."""
        n = self.net
        t = self.table
        gross = float(np.abs(t.exposure[("call", "gex")]).sum())
        gross += float(np.abs(t.exposure[("put", "gex")]).sum())
        label = gex_label(n["gex"], gross, self.config.flat_gex_fraction)
        return {
            **self._head(),
            "gamma_flip": self.flip.level,
            "gamma_flip_status": self.flip.status,
            "regime": regime(self.chain.spot, self.flip.level),
            "exposures": {
                "net_gex": n["gex"],
                "net_dex": n["dex"],
                "net_vex": n["vex"],
                "net_chex": n["chex"],
            },
            "interpretation": {
                "gamma": gamma_line(label),
                "vanna": vanna_line(n["vex"]),
                "charm": charm_line(n["chex"]),
            },
            "hedging_estimate": self.hedging(),
            "zero_dte": self._zero_dte(),
            "warnings": self.book.warnings,
        }

    def _zero_dte(self) -> SummaryZeroDte:
        """Return the same-day expiry's net GEX and share of the total."""
        same = self.book.same_day
        if not same.any():
            return {"net_gex": None, "pct_of_total_gex": None, "expiration": None}
        net = float(self.book.gex[same].sum())
        total = self.net["gex"]
        return {
            "net_gex": net,
            "pct_of_total_gex": 100.0 * net / total if total else None,
            "expiration": self.book.session.isoformat(),
        }

    def expiries(self) -> ExpiriesResponse:
        """Return the per-expiration breakdown, nearest expiration first."""
        t = by_expiry(self.book)
        total = self.net["gex"]
        rows: list[ExpiryRow] = []
        for i, day in enumerate(t.expiration):
            top = strongest(t.strike, np.abs(t.net_gex[i]), self.book.spot)
            sums = {g: float(t.totals[g][i]) for g in t.totals}
            rows.append(
                {
                    "expiration": str(day),
                    "days_to_expiry": float(np.nan_to_num(t.years[i]) * self.config.days_per_year),
                    "net_gex": sums["gex"],
                    "net_dex": sums["dex"],
                    "net_vex": sums["vex"],
                    "net_chex": sums["chex"],
                    "call_oi": _count(t.oi["call"][i]),
                    "put_oi": _count(t.oi["put"][i]),
                    "pct_of_total_gex": 100.0 * sums["gex"] / total if total else None,
                    "top_strike": top,
                    "top_strike_net_gex": None
                    if top is None
                    else float(t.net_gex[i][t.strike == top][0]),
                }
            )
        return {**self._head(), "expiries": rows, "warnings": self.book.warnings}

    def payloads(self) -> dict[str, Any]:
        """Return every payload keyed gex, dex, vex, chex, levels, summary, expiries."""
        return {name: getattr(self, name)() for name in PAYLOADS}
