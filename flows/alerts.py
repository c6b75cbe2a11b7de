"""Alerts: what changed between a symbol's previous snapshot and this one.

Kinds: `flip_cross_up` / `flip_cross_down` (spot moved to the other side of the gamma flip),
`gex_sign_flip` (net GEX changed sign), `near_call_wall` / `near_put_wall` (spot entered the
band of `AlertRules.wall_pct` percent around a wall: the previous snapshot was outside it, or
had no such wall), `call_wall_moved` / `put_wall_moved` (the wall moved by more than
`AlertRules.wall_move_pct` percent of its previous strike). docs/alerts.md says what each is for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.errors import InputError

Row = Mapping[str, Any]


@dataclass(frozen=True)
class AlertRules:
    """The thresholds of the wall alerts (flip crosses and GEX sign flips need none).

    `wall_pct`: half-width of the near-wall band, in percent of spot (setting
    `wall_alert_pct`). `wall_move_pct`: a wall-moved alert needs the wall to move by more than
    this percent of its previous strike (setting `wall_move_pct`; 0: any change of strike).
    A percentage, not a count of strikes, because strike spacing differs by symbol and along
    one chain (1-point strikes near spot, 5 or 10 further out), while a percent reads the same.
    Defaults: spot at the wall (0.15%, about one SPY strike), and a wall that moved 2.5%;
    on the demo home each wall kind then fires on under 15% of symbol-sessions
    (docs/alerts.md has the figures).
    """

    wall_pct: float = 0.15
    wall_move_pct: float = 2.5

    def __post_init__(self) -> None:
        """Refuse a threshold no rule could use: negative, infinite or not a number."""
        for name, setting in (("wall_pct", "wall_alert_pct"), ("wall_move_pct", "wall_move_pct")):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InputError(f"setting {setting}: {value!r} must be a percent, 0 or more")

    def near(self, row: Row | None, side: str) -> bool:
        """Return True when `row`'s spot is within `wall_pct` percent of its `side` wall."""
        if row is None:
            return False
        wall, spot = row.get(f"{side}_wall"), row.get("underlying_price")
        return wall is not None and bool(spot) and abs(spot - wall) / spot * 100 <= self.wall_pct

    def moved(self, old: float | None, new: float | None) -> bool:
        """Return True when a wall went from `old` to `new` by more than `wall_move_pct` %."""
        if old is None or new is None or old == new:
            return False
        return old == 0 or abs(new - old) / abs(old) * 100 > self.wall_move_pct


#: The rules with every threshold at its default.
DEFAULT_RULES = AlertRules()


def _side(row: Row) -> int | None:
    """Return +1 above the flip, -1 below, None without a flip."""
    flip, spot = row.get("gamma_flip"), row.get("underlying_price")
    if flip is None or spot is None:
        return None
    return 1 if spot >= flip else -1


def _flip_alerts(previous: Row, current: Row) -> list[tuple[str, str, float | None]]:
    """Return flip-cross and GEX sign alerts."""
    out = []
    before, after = _side(previous), _side(current)
    if before is not None and after is not None and before != after:
        kind = "flip_cross_up" if after > 0 else "flip_cross_down"
        word = "above" if after > 0 else "below"
        out.append(
            (
                kind,
                f"spot {current['underlying_price']:.2f} crossed {word} the gamma "
                f"flip {current['gamma_flip']:.2f}",
                current["gamma_flip"],
            )
        )
    old, new = previous.get("net_gex"), current.get("net_gex")
    if old is not None and new is not None and (old >= 0) != (new >= 0):
        sign = "positive" if new >= 0 else "negative"
        out.append(
            (
                "gex_sign_flip",
                f"net GEX turned {sign}: {old / 1e9:+.3f}B -> {new / 1e9:+.3f}B per 1%",
                new,
            )
        )
    return out


def _wall_alerts(
    previous: Row | None, current: Row, rules: AlertRules
) -> list[tuple[str, str, float | None]]:
    """Return near-wall alerts (on entering the band) and wall-moved alerts (past the threshold)."""
    out = []
    spot = current.get("underlying_price")
    for side in ("call", "put"):
        wall = current.get(f"{side}_wall")
        # Staying in the band says nothing new: only the snapshot that enters it alerts.
        if rules.near(current, side) and not rules.near(previous, side):
            message = f"spot {spot:.2f} came within {rules.wall_pct}% of the {side} wall {wall:.2f}"
            out.append((f"near_{side}_wall", message, wall))
        old = previous.get(f"{side}_wall") if previous else None
        if rules.moved(old, wall):
            assert old is not None and wall is not None  # moved() is False otherwise
            change = (wall - old) / old * 100 if old else math.inf
            message = f"{side} wall moved {old:.2f} -> {wall:.2f} ({change:+.1f}%)"
            out.append((f"{side}_wall_moved", message, wall))
    return out


def derive_alerts(
    previous: Row | None, current: Row, rules: AlertRules = DEFAULT_RULES
) -> list[dict[str, Any]]:
    """Return alert rows for `current` (keys of the snapshot plus kind, message, level).

    `previous`: the symbol's previous snapshot of the same source and method (None: the first).
    `level` is a price: the flip or wall the alert is about, or net GEX ($ per 1%) for a sign flip.
    """
    found = _wall_alerts(previous, current, rules)
    if previous is not None:
        found = _flip_alerts(previous, current) + found
    keys = {k: current[k] for k in ("symbol", "source", "method", "as_of", "trade_date")}
    return [
        {**keys, "kind": kind, "message": f"{current['symbol']}: {message}", "level": level}
        for kind, message, level in found
    ]


def deliver(alerts: Sequence[Mapping[str, Any]], url: str | None) -> bool:
    """Send alert messages to an Apprise URL (e.g. a Slack or mail URL); False when not sent."""
    if not url or not alerts:
        return False
    import apprise

    notifier = apprise.Apprise()
    notifier.add(url)
    body = "\n".join(str(a["message"]) for a in alerts)
    return bool(notifier.notify(title=f"gammalake: {len(alerts)} alert(s)", body=body))
