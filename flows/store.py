"""Storing one snapshot outside a flow: a chain file (`chain --save`) or API payloads in hand.

Same steps as the flows (`flows.capture`): archive what was received, check it, normalise
(price a chain under the given method), OI change and alerts against the previous stored
snapshot of the same source and method, write, re-derive a stored snapshot that follows it,
refresh the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.alerts import DEFAULT_RULES, AlertRules
from flows.capture import Origin, Pricing, capture, previous_from_lake, write_captures
from flows.runs import SymbolOutcome
from flows.snapshot import rederive_followers
from pipeline.chain import Chain
from pipeline.engine.presets import preset
from pipeline.sources.base import Fetched
from warehouse import catalog


@dataclass(frozen=True)
class Stored:
    """What one store call wrote: rows per dataset, the alerts it raised, and notes."""

    rows: dict[str, int]
    alerts: list[dict[str, Any]]
    notes: list[str]


def _store(
    home: Path,
    origin: Origin,
    fetched: Fetched,
    pricing: Pricing,
    secrets: Iterable[str] = (),
    rules: AlertRules = DEFAULT_RULES,
) -> Stored:
    """Capture one fetch (refusals raise RejectedError), write it, mend what follows it."""
    method = pricing.method_for(origin.computes)
    previous = previous_from_lake(home, fetched.symbol, origin.name, method, fetched.as_of)
    captured = capture(
        home, origin, fetched, previous, pricing, asked=None, rules=rules, secrets=secrets
    )
    outcome = SymbolOutcome(fetched.symbol, stored=[captured.headline["as_of"]])
    outcome.add(write_captures(home, [captured]))
    rederive_followers(home, origin.name, fetched.symbol, method, outcome, rules)
    catalog.ensure(home)
    return Stored(outcome.rows, captured.alerts, outcome.notes)


def store_chain(
    home: Path,
    chain: Chain,
    pricing: Pricing,
    *,
    source: str = "chains",
    rules: AlertRules = DEFAULT_RULES,
) -> Stored:
    """Archive a chain as received, check it, price it under `pricing`, store it.

    `rules`: when its wall alerts fire (the settings' `alert_rules()`).
    """
    fetched = Fetched(chain.symbol, chain.as_of, chain=chain)
    return _store(home, Origin(source, True), fetched, pricing, rules=rules)


def store_payloads(
    home: Path,
    payloads: Mapping[str, Any],
    *,
    source: str,
    symbol: str,
    as_of: datetime,
    request: Mapping[str, Mapping[str, Any]] | None = None,
    secrets: Iterable[str] = (),
) -> Stored:
    """Archive vendor payloads (one file per endpoint), check them, store them (`vendor`)."""
    meta = {endpoint: dict(fields) for endpoint, fields in (request or {}).items()}
    fetched = Fetched(symbol, as_of, dict(payloads), request=meta)
    # Vendor figures are never priced; the configuration is only a placeholder for them.
    return _store(home, Origin(source, False), fetched, Pricing(preset("default")), secrets)
