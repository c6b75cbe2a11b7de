"""What a FlashAlpha 200 reply must hold before the client accepts it (the payload checks).

The firewall (pipeline.firewall) checks the figures later, in the flow, after the raw archive;
these checks only tell a usable reply from a cut-off or foreign body at the client.
"""

from __future__ import annotations

import json
from typing import Any

#: Fields without which a 200 response is treated as malformed.
REQUIRED = {
    "gex": ("symbol", "underlying_price", "as_of", "net_gex", "strikes"),
    "dex": ("symbol", "net_dex", "strikes"),
    "vex": ("symbol", "net_vex", "strikes"),
    "chex": ("symbol", "net_chex", "strikes"),
    "levels": ("symbol", "levels"),
    "summary": ("symbol", "exposures"),
}


def missing_fields(endpoint: str, payload: Any) -> list[str]:
    """Return the required fields of `endpoint` that `payload` lacks (all when not an object)."""
    fields = REQUIRED[endpoint]
    if not isinstance(payload, dict):
        return list(fields)
    return [f for f in fields if f not in payload]


def parse_payload(endpoint: str, body: bytes) -> tuple[Any, str | None]:
    """Return (payload, problem) of a 200 body: problem None when it is usable.

    A body that is not JSON gives (None, why): cut off or foreign, worth a retry. A JSON body
    lacking a required field gives (payload, why): final.
    """
    try:
        payload = json.loads(body)
    except ValueError:
        return None, "body is not valid JSON"
    missing = missing_fields(endpoint, payload)
    if missing:
        return payload, f"response lacks {', '.join(missing)}"
    return payload, None
