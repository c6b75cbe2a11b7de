"""Payloads (engine output or FlashAlpha API responses) to warehouse rows.

One snapshot is the payloads of one symbol at one moment, keyed by endpoint name: `gex` is
required (or `summary` for histories without strikes); `levels`, `dex`, `vex`, `chex`,
`summary` and `expiries` are used when present. A missing required field rejects the whole
snapshot with a message naming it (e.g. `gex.strikes[12].call_gex`); unknown extra fields are
ignored here and survive in the raw archive.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import polars as pl

from pipeline.engine.narrative import regime as regime_of
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from pipeline.sessions import session_of
from warehouse.schema import SNAPSHOT_COLUMNS

Payloads = Mapping[str, Mapping[str, Any]]
GREEKS = ("gex", "dex", "vex", "chex")
_STRIKE_FIELDS = {g: ("strike", f"call_{g}", f"put_{g}", f"net_{g}") for g in GREEKS}
_GEX_STRIKE_EXTRA = ("call_oi", "put_oi")


class PayloadError(InputError):
    """A payload without a field the warehouse needs."""


def _need(payload: Mapping[str, Any], field: str, where: str) -> Any:
    """Return payload[field]; raise PayloadError naming `where.field` when it is absent."""
    if not isinstance(payload, Mapping) or field not in payload:
        raise PayloadError(f"payload rejected: missing required field {where}.{field}")
    return payload[field]


def parse_as_of(text: str) -> datetime:
    """Return an API `as_of` as an aware datetime (a naive value is New York wall time)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise PayloadError(f"payload rejected: as_of {text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=NEW_YORK)


def _strike_rows(payloads: Payloads) -> pl.DataFrame | None:
    """Return one row per strike merging the gex/dex/vex/chex strike lists, or None."""
    merged: pl.DataFrame | None = None
    for greek in GREEKS:
        if greek not in payloads:
            continue
        fields = _STRIKE_FIELDS[greek] + (_GEX_STRIKE_EXTRA if greek == "gex" else ())
        strikes = _need(payloads[greek], "strikes", greek)
        wanted = set(fields)
        for i, row in enumerate(strikes):
            if not isinstance(row, Mapping) or not wanted <= row.keys():
                missing = sorted(wanted - set(row)) if isinstance(row, Mapping) else fields
                _need({}, missing[0], f"{greek}.strikes[{i}]")
        keep = fields + (
            ("call_volume", "put_volume", "call_oi_change", "put_oi_change")
            if greek == "gex"
            else ()
        )
        frame = pl.DataFrame(
            [{k: row.get(k) for k in keep} for row in strikes],
            schema_overrides={"strike": pl.Float64},
            infer_schema_length=None,
        )
        merged = (
            frame if merged is None else merged.join(frame, on="strike", how="full", coalesce=True)
        )
    return merged


def _levels(payloads: Payloads) -> dict[str, Any]:
    """Return the seven levels from `levels`, or the flip alone from `gex` / `summary`."""
    if "levels" in payloads:
        levels = _need(payloads["levels"], "levels", "levels")
        for field in ("gamma_flip", "call_wall", "put_wall"):
            _need(levels, field, "levels.levels")
        return dict(levels)
    head = payloads.get("gex") or payloads.get("summary") or {}
    return {
        "gamma_flip": head.get("gamma_flip"),
        "gamma_flip_status": head.get("gamma_flip_status"),
    }


def _summary_fields(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Return snapshot columns taken from a summary payload."""
    exposures = _need(summary, "exposures", "summary")
    out: dict[str, Any] = {f"net_{g}": exposures.get(f"net_{g}") for g in GREEKS}
    reading = summary.get("interpretation") or {}
    out |= {f"interpretation_{k}": reading.get(k) for k in ("gamma", "vanna", "charm")}
    hedges = summary.get("hedging_estimate") or {}
    for move in ("up_half_pct", "down_half_pct", "up_1pct", "down_1pct"):
        trade = hedges.get(f"spot_{move}") or {}
        out[f"hedge_{move}_shares"] = trade.get("dealer_shares_to_trade")
        out[f"hedge_{move}_notional"] = trade.get("notional_usd")
    zero = summary.get("zero_dte") or {}
    out["zero_dte_net_gex"] = zero.get("net_gex")
    out["zero_dte_pct_of_total_gex"] = zero.get("pct_of_total_gex")
    out["zero_dte_expiration"] = (
        date.fromisoformat(zero["expiration"]) if zero.get("expiration") else None
    )
    out["regime"] = summary.get("regime")
    return out


def _headline(payloads: Payloads) -> Mapping[str, Any]:
    """Return the payload that carries symbol, price and time (gex, else summary)."""
    if "gex" in payloads:
        head = payloads["gex"]
        _need(head, "net_gex", "gex")
    elif "summary" in payloads:
        head = payloads["summary"]
    else:
        raise PayloadError("payload rejected: a snapshot needs a gex or a summary payload")
    name = "gex" if "gex" in payloads else "summary"
    for field in ("symbol", "underlying_price", "as_of"):
        _need(head, field, name)
    return head


def snapshot_rows(
    payloads: Payloads,
    *,
    source: str,
    method: str,
    as_of: datetime | None = None,
    raw_ref: str | None = None,
    extra: Mapping[str, Any] | None = None,
    fetched_at: datetime | None = None,
) -> dict[str, pl.DataFrame]:
    """Return rows for `snapshots`, `strikes` and `expiries` from one snapshot's payloads.

    `method` says how the figures were made (`default@v2`, `vendor`); `as_of` (the key time:
    the moment the data describes) defaults to the headline payload's; `trade_date` is the
    NYSE session that moment describes; `fetched_at` when gammalake received the data
    (snapshot column; None: unknown). `extra` adds snapshot columns (e.g. `dix`).
    """
    head = _headline(payloads)
    symbol = str(head["symbol"])
    for name, payload in payloads.items():
        if isinstance(payload, Mapping) and payload.get("symbol", symbol) != symbol:
            raise PayloadError(
                f"payload rejected: {name}.symbol {payload['symbol']!r} is not {symbol!r}"
            )
    moment = as_of or parse_as_of(head["as_of"])
    keys = {
        "symbol": symbol,
        "source": source,
        "method": method,
        "as_of": moment,
        "trade_date": session_of(moment),
    }
    snapshot: dict[str, Any] = {**keys, "underlying_price": head["underlying_price"]}
    if "summary" in payloads:
        snapshot |= _summary_fields(payloads["summary"])
    for greek in GREEKS:
        if greek in payloads:
            snapshot[f"net_{greek}"] = _need(payloads[greek], f"net_{greek}", greek)
    snapshot |= _levels(payloads)
    snapshot["net_gex_label"] = payloads.get("gex", {}).get("net_gex_label")
    snapshot.setdefault("interpretation_vanna", payloads.get("vex", {}).get("vex_interpretation"))
    snapshot.setdefault("interpretation_charm", payloads.get("chex", {}).get("chex_interpretation"))
    if not snapshot.get("regime"):
        snapshot["regime"] = regime_of(head["underlying_price"], snapshot.get("gamma_flip"))
    strikes = _strike_rows(payloads)
    snapshot["strike_count"] = 0 if strikes is None else strikes.height
    snapshot["warnings"] = list(head.get("warnings") or [])
    snapshot["raw_ref"] = raw_ref
    snapshot["fetched_at"] = fetched_at
    snapshot |= dict(extra or {})
    rows = {
        "snapshots": pl.DataFrame(
            [{k: snapshot.get(k) for k in SNAPSHOT_COLUMNS}], schema=SNAPSHOT_COLUMNS, strict=False
        )
    }
    if strikes is not None:
        rows["strikes"] = strikes.with_columns(*(pl.lit(v).alias(k) for k, v in keys.items()))
    if "expiries" in payloads:
        rows["expiries"] = _expiry_rows(payloads["expiries"], keys)
    check_finite_rows(rows, f"{symbol} {moment.isoformat()}")
    return rows


def check_finite_rows(rows: Mapping[str, pl.DataFrame], where: str) -> None:
    """Refuse rows about to be stored that hold a NaN or infinite number (nulls are fine).

    The last guard before a write: a finite but absurd input (a spot of 1e300) overflows the
    engine's products to inf, and a stored inf breaks every reader (the API answers 400).
    Raises PayloadError naming `where`, the dataset, the column and the first bad row.
    """
    for dataset, frame in rows.items():
        floats = [c for c, t in frame.schema.items() if t.is_float()]
        if not floats or frame.height == 0:
            continue
        bad = frame.select(
            (~pl.col(c).is_finite()).fill_null(False).any().alias(c) for c in floats
        ).row(0)
        for column, hit in zip(floats, bad, strict=True):
            if hit:
                values = frame.get_column(column)
                index = int((~values.is_finite()).fill_null(False).arg_max() or 0)
                raise PayloadError(
                    f"payload rejected: {where}: {dataset}.{column} is {values[index]} "
                    f"(row {index + 1}); numbers must be finite"
                )


def _expiry_rows(payload: Mapping[str, Any], keys: Mapping[str, Any]) -> pl.DataFrame:
    """Return one row per expiration of an `expiries` payload."""
    items = _need(payload, "expiries", "expiries")
    for i, item in enumerate(items):
        for field in ("expiration", "net_gex"):
            _need(item, field, f"expiries.expiries[{i}]")
    frame = pl.DataFrame(items, infer_schema_length=None).with_columns(
        pl.col("expiration").str.to_date("%Y-%m-%d")
    )
    return frame.with_columns(*(pl.lit(v).alias(k) for k, v in keys.items()))
