"""Which option roots belong to which underlying: the one table every check and reader uses.

An option id (OSI/OCC: `SPXW240105C04700000`) starts with its root. Most underlyings list
options under their own ticker only; a few indices add roots for PM-settled weeklies. A chain
of symbol S may hold only the roots ROOTS gives for S (the symbol itself when S is not listed),
so a reply or file whose contracts are another underlying's (a SPY chain of `QQQ...` ids) is
refused rather than stored under S.

Roots not listed here and not equal to their symbol (adjusted options after a split or merger,
e.g. `AAPL1`) are refused on purpose: their deliverable is not 100 shares of the underlying, so
pricing them as such would be wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Symbol -> the option roots that belong to it (weeklies and PM-settled series included).
ROOTS: Mapping[str, frozenset[str]] = {
    "SPX": frozenset({"SPX", "SPXW"}),
    "NDX": frozenset({"NDX", "NDXP"}),
    "RUT": frozenset({"RUT", "RUTW"}),
    "VIX": frozenset({"VIX", "VIXW"}),
    "XSP": frozenset({"XSP"}),
}
#: A chain's symbol: a ticker as option ids and exchanges spell it (letters and digits, then
#: '.' or '-' for share classes), at most 10 characters. Quote-site forms (`^SPX`, `_SPX`),
#: spaces and lower case are not symbols of a chain.
CHAIN_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,9}")
#: An OSI id after whitespace is removed: root, yymmdd, C/P, strike x 1000 in 8 digits.
OSI = re.compile(r"^(?P<root>[A-Z0-9]{1,6})(?P<day>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")
#: The same pattern as text, for polars expressions (str.extract).
OSI_PATTERN = OSI.pattern


def roots_of(symbol: str) -> frozenset[str]:
    """Return the option roots that belong to `symbol` (upper-case; itself when not listed)."""
    upper = symbol.strip().upper()
    return ROOTS.get(upper, frozenset({upper}))


def symbol_of_root(root: str) -> str:
    """Return the underlying a root belongs to (`SPXW` -> `SPX`); the root itself otherwise."""
    upper = root.strip().upper()
    for symbol, roots in ROOTS.items():
        if upper in roots:
            return symbol
    return upper


def canonical_id(option: str) -> str:
    """Return an option id without spaces, upper-case: `SPY   230915C00450000` -> `SPY230915...`.

    OSI pads roots to six characters with spaces; feeds send both forms, so ids are compared
    in this form (else one contract listed twice under both forms counts twice).
    """
    return re.sub(r"\s+", "", option).upper()
