"""Alerts: what changed between a symbol's previous snapshot and this one.

Kinds: `flip_cross_up` / `flip_cross_down` (spot moved to the other side of the gamma flip),
`gex_sign_flip` (net GEX changed sign), `near_call_wall` / `near_put_wall` (spot within
`wall_pct` percent of a wall), `call_wall_moved` / `put_wall_moved` (the wall changed strike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]


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


def _wall_alerts(previous: Row | None, current: Row, wall_pct: float) -> list[tuple]:
    """Return near-wall and wall-moved alerts."""
    out = []
    spot = current.get("underlying_price")
    for side in ("call", "put"):
        wall = current.get(f"{side}_wall")
        if wall is not None and spot and abs(spot - wall) / spot * 100 <= wall_pct:
            out.append(
                (
                    f"near_{side}_wall",
                    f"spot {spot:.2f} within {wall_pct}% of the {side} wall {wall:.2f}",
                    wall,
                )
            )
        old = previous.get(f"{side}_wall") if previous else None
        if old is not None and wall is not None and old != wall:
            out.append((f"{side}_wall_moved", f"{side} wall moved {old:.2f} -> {wall:.2f}", wall))
    return out


def derive_alerts(previous: Row | None, current: Row, wall_pct: float) -> list[dict[str, Any]]:
    """Return alert rows for `current` (keys of the snapshot plus kind, message, level)."""
    found = list(_wall_alerts(previous, current, wall_pct))
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
