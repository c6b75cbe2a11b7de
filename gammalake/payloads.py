"""FlashAlpha-shaped responses from stored rows, and from engine payloads re-priced from raw/.

Field names, nesting and types are those of the public `flashalpha` SDK's response types
(`GexResponse`, `DexResponse`, `VexResponse`, `ChexResponse`, `ExposureLevelsResponse`,
`ExposureSummaryResponse`), envelope included: `endpoint_version` and `data_as_of`. Engine
payloads (`pipeline.engine.payloads`) carry a few fields of gammalake's own (`warnings`, a gex's
`expiration`, hedges for 0.5% moves); `engine_response` keeps the SDK's fields only.

Units: GEX $ per 1% move, DEX $, VEX $ per vol point, CHEX $ per day; open interest and volume
in contracts; `as_of` is New York time with its offset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import polars as pl

from pipeline.engine.timing import NEW_YORK

ENDPOINT_VERSION = "v1"
NODE = "gammalake"
ENDPOINTS = ("gex", "dex", "vex", "chex", "levels", "summary")
GREEKS = ("gex", "dex", "vex", "chex")
#: Symbols whose figures come from index options (data_as_of: index feeds, not equity ones).
INDEXES = frozenset({"SPX", "SPXW", "NDX", "NDXP", "RUT", "MRUT", "VIX", "XSP", "DJX", "OEX"})
FEEDS = (
    *("equity_feed", "equity_options_feed", "index_feed", "index_options_feed", "futures_feed"),
    *("futures_options_feed", "flow_feed", "oi_feed", "macro_feed"),
)
STRIKE_FIELDS: dict[str, tuple[str, ...]] = {
    g: ("strike", f"call_{g}", f"put_{g}", f"net_{g}") for g in GREEKS
}
STRIKE_FIELDS["gex"] += (
    *("call_oi", "put_oi", "call_volume", "put_volume", "call_oi_change", "put_oi_change"),
)
LEVEL_FIELDS = (
    *("gamma_flip", "gamma_flip_status", "max_positive_gamma", "max_negative_gamma"),
    *("call_wall", "put_wall", "highest_oi_strike", "zero_dte_magnet"),
)
_HEAD = ("symbol", "underlying_price", "as_of")
#: Top-level fields of each response, in the SDK's order (the envelope follows them).
RESPONSE_FIELDS: dict[str, tuple[str, ...]] = {
    "gex": (
        *_HEAD,
        *("gamma_flip", "gamma_flip_status", "net_gex", "net_gex_label", "strikes"),
    ),
    "dex": (*_HEAD, "net_dex", "strikes"),
    "vex": (*_HEAD, "net_vex", "vex_interpretation", "strikes"),
    "chex": (*_HEAD, "net_chex", "chex_interpretation", "strikes"),
    "levels": (*_HEAD, "levels"),
    "summary": (
        *_HEAD,
        *("gamma_flip", "gamma_flip_status", "regime", "exposures", "interpretation"),
        *("hedging_estimate", "zero_dte"),
    ),
}
#: The SDK's hedging estimate: +-1% moves only (the engine also stores +-0.5%).
HEDGE_MOVES = ("up_1pct", "down_1pct")


def clean(value: Any) -> Any:
    """Return `value` with NaN floats as None (JSON has no NaN; a NaN is no figure)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def new_york(moment: datetime) -> str:
    """Return an aware moment as New York ISO time with offset, e.g. 2026-03-27T16:15:00-04:00."""
    return moment.astimezone(NEW_YORK).isoformat()


def data_as_of(symbol: str, as_of: datetime) -> dict[str, Any]:
    """Return the SDK's `data_as_of`: the snapshot's moment on its spot and options feeds.

    Every other feed is None: the stored snapshot says nothing of them.
    """
    index = symbol in INDEXES or symbol.startswith("^")
    fed = ("index_feed", "index_options_feed") if index else ("equity_feed", "equity_options_feed")
    stamp = new_york(as_of)
    return {"node": NODE} | {feed: stamp if feed in fed else None for feed in FEEDS}


def with_envelope(body: dict[str, Any], symbol: str, as_of: datetime) -> dict[str, Any]:
    """Return `body` followed by `endpoint_version` and `data_as_of` (the SDK's envelope)."""
    return body | {"endpoint_version": ENDPOINT_VERSION, "data_as_of": data_as_of(symbol, as_of)}


def head(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return symbol, underlying_price ($) and as_of (New York) of a snapshot row."""
    return {
        "symbol": row["symbol"],
        "underlying_price": clean(row["underlying_price"]),
        "as_of": new_york(row["as_of"]),
    }


def strike_rows(strikes: pl.DataFrame, greek: str) -> list[dict[str, Any]]:
    """Return the SDK's per-strike rows of one greek from stored strike rows, by strike."""
    fields = STRIKE_FIELDS[greek]
    frame = strikes.select(fields).with_columns(pl.col(pl.Float64).fill_nan(None))
    return frame.to_dicts()


def stored_response(
    endpoint: str, row: Mapping[str, Any], strikes: pl.DataFrame | None = None
) -> dict[str, Any]:
    """Return the SDK response of `endpoint` from a stored snapshot row (and its strikes)."""
    if endpoint in GREEKS:
        body = _greek_body(endpoint, row, strikes if strikes is not None else pl.DataFrame())
    elif endpoint == "levels":
        body = {**head(row), "levels": {k: clean(row.get(k)) for k in LEVEL_FIELDS}}
    else:
        body = _summary_body(row)
    return with_envelope(body, row["symbol"], row["as_of"])


def _greek_body(greek: str, row: Mapping[str, Any], strikes: pl.DataFrame) -> dict[str, Any]:
    """Return the body of a gex/dex/vex/chex response from a snapshot row and its strikes."""
    extra = {
        "gex": {
            "gamma_flip": clean(row["gamma_flip"]),
            "gamma_flip_status": row["gamma_flip_status"],
            "net_gex": clean(row["net_gex"]),
            "net_gex_label": row["net_gex_label"],
        },
        "dex": {"net_dex": clean(row["net_dex"])},
        "vex": {
            "net_vex": clean(row["net_vex"]),
            "vex_interpretation": row["interpretation_vanna"],
        },
        "chex": {
            "net_chex": clean(row["net_chex"]),
            "chex_interpretation": row["interpretation_charm"],
        },
    }[greek]
    return {**head(row), **extra, "strikes": strike_rows(strikes, greek) if strikes.height else []}


def _summary_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return the body of an exposure summary from a snapshot row."""
    expiration = row["zero_dte_expiration"]
    return {
        **head(row),
        "gamma_flip": clean(row["gamma_flip"]),
        "gamma_flip_status": row["gamma_flip_status"],
        "regime": row["regime"],
        "exposures": {f"net_{g}": clean(row[f"net_{g}"]) for g in GREEKS},
        "interpretation": {k: row[f"interpretation_{k}"] for k in ("gamma", "vanna", "charm")},
        "hedging_estimate": {f"spot_{m}": _hedge(row, m) for m in HEDGE_MOVES},
        "zero_dte": {
            "net_gex": clean(row["zero_dte_net_gex"]),
            "pct_of_total_gex": clean(row["zero_dte_pct_of_total_gex"]),
            "expiration": expiration.isoformat() if isinstance(expiration, date) else None,
        },
    }


def _hedge(row: Mapping[str, Any], move: str) -> dict[str, Any]:
    """Return one stored dealer hedge: shares (+ buy, - sell), direction, notional ($)."""
    shares = clean(row[f"hedge_{move}_shares"])
    direction = None if shares is None else ("buy" if shares >= 0 else "sell")
    return {
        "dealer_shares_to_trade": shares,
        "direction": direction,
        "notional_usd": clean(row[f"hedge_{move}_notional"]),
    }


def engine_response(
    endpoint: str, payload: Mapping[str, Any], row: Mapping[str, Any]
) -> dict[str, Any]:
    """Return a payload computed for a snapshot row as the SDK response of `endpoint`.

    `payload`: the engine's (`ExposureSnapshot.gex()`, ...) or one a vendor sent. Fields the
    SDK does not know are dropped, missing ones are None; `as_of` and the envelope are the
    stored snapshot's.
    """
    body = {k: clean(payload.get(k)) for k in RESPONSE_FIELDS[endpoint]}
    body |= head(row)
    if endpoint in GREEKS:
        fields = STRIKE_FIELDS[endpoint]
        body["strikes"] = [{k: clean(s.get(k)) for k in fields} for s in payload["strikes"]]
    if endpoint == "summary":
        body["hedging_estimate"] = {
            f"spot_{m}": payload["hedging_estimate"][f"spot_{m}"] for m in HEDGE_MOVES
        }
    return with_envelope(body, row["symbol"], row["as_of"])
