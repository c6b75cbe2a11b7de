"""`gammalake chain`: exposures of one chain file, as JSON or as a terminal report."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

from pipeline.chain import Chain
from pipeline.engine.config import EngineConfig
from pipeline.errors import InputError
from pipeline.firewall import check_contents, check_finite_payloads
from pipeline.roots import CHAIN_SYMBOL

if TYPE_CHECKING:
    from pipeline.engine.snapshot import ExposureSnapshot


def chain_symbol(text: str) -> str:
    """Return the upper-cased ticker `--symbol` names; refuse one no option chain can have.

    Lower case is accepted (`spy` is SPY, as everywhere in the CLI); spaces, quote-site forms
    (`^SPX`, `_SPX`), lists, empty text and anything over 10 characters are refused (see
    pipeline.roots.CHAIN_SYMBOL).
    """
    from gammalake.cli.options import one_symbol

    name = one_symbol(text)
    if not CHAIN_SYMBOL.fullmatch(name):
        raise InputError(
            f"--symbol {text!r} is not a ticker: use letters and digits (then '.' or '-'), at "
            "most 10 characters, e.g. SPX or BRK.B"
        )
    return name


@dataclass(frozen=True)
class ChainOptions:
    """Engine choices from the command line; None keeps the preset's value."""

    preset: str = "default"
    year_basis: float | None = None
    zero_dte: str | None = None
    flip_method: str | None = None
    rate: float | None = None
    dividend_yield: float | None = None
    expiration: str | None = None
    min_oi: int | None = None
    am_settlement: bool | None = None
    #: Where the open_close preset finds its Open-Close positions (`gammalake import openclose`).
    home: Path | None = None

    def __post_init__(self) -> None:
        """Refuse an --expiration that is not a date like 2024-02-01 (or 20240201)."""
        if self.expiration is not None:
            from gammalake.cli.options import date_of

            # Stored as ISO: the engine matches expirations by their ISO text.
            iso = date_of(self.expiration, "--expiration").isoformat()
            object.__setattr__(self, "expiration", iso)
        if self.min_oi is not None and self.min_oi < 0:
            raise InputError(f"--min-oi must be 0 or more, got {self.min_oi}")

    def config(self) -> EngineConfig:
        """Return the preset with these overrides applied (implausible numbers refused)."""
        if self.year_basis is not None and not 0 < self.year_basis <= 366:
            raise InputError(
                f"--year-basis must be a number of days in (0, 366], got {self.year_basis}"
            )
        for option, value in (("--rate", self.rate), ("--yield", self.dividend_yield)):
            if value is not None and not -1 < value < 1:
                raise InputError(f"{option} must be a yearly fraction such as 0.04, got {value}")
        changes: dict[str, Any] = {
            "days_per_year": self.year_basis,
            "zero_dte": self.zero_dte,
            "flip_method": self.flip_method,
            "rate": self.rate,
            "dividend_yield": self.dividend_yield,
            "am_settlement": self.am_settlement,
        }
        from pipeline.engine.method import config_of, resolve_method

        return config_of(resolve_method(self.preset)).with_overrides(
            **{k: v for k, v in changes.items() if v is not None}
        )


def load_snapshot(
    file: Path,
    options: ChainOptions,
    *,
    symbol: str | None = None,
    spot: float | None = None,
    as_of: datetime | None = None,
) -> tuple[Chain, ExposureSnapshot]:
    """Return the chain in `file` and its (filtered) exposure snapshot.

    The chain passes the firewall's content checks (plausible numbers, the symbol's own roots,
    no duplicate) first: what `--save` would refuse is not printed either.
    """
    from pipeline.engine.snapshot import ExposureSnapshot
    from pipeline.sources.chains import read_chain

    config = options.config()
    chain = read_chain(file, symbol=symbol, spot=spot, as_of=as_of)
    _refuse_as_input(lambda: check_contents(chain))
    priced = _with_positions(chain, config, options.home)
    snapshot = ExposureSnapshot(priced, config).filtered(options.expiration, options.min_oi)
    if snapshot.book.contracts.strike.size == 0:
        if options.expiration is None and options.min_oi is None:
            raise InputError(
                f"{file}: no contract left to price at {chain.as_of.isoformat()}: every "
                "expiration is before that time, or no contract has usable open interest and IV"
            )
        raise InputError(f"{file}: no contracts left after the expiration / min-oi filters")
    return chain, snapshot


def _with_positions(chain: Chain, config: EngineConfig, home: Path | None) -> Chain:
    """Return the chain with the home's Open-Close dealer positions when the preset uses them."""
    if config.dealer.rule != "positions":
        return chain
    if home is None:
        raise InputError(f"--preset {config.name} needs a home holding Open-Close positions")
    from flows.openclose import require_positions

    return require_positions(home, chain)


def _refuse_as_input(check: Callable[[], None]) -> None:
    """Run a firewall check; its refusal is the user's bad input (one line, exit 2)."""
    from pipeline.firewall import RejectedError

    try:
        check()
    except RejectedError as exc:
        raise InputError(str(exc)) from None


def save(home: Path, chain: Chain, options: ChainOptions) -> None:
    """Archive, check and store the chain's snapshot under its method (source `chains`)."""
    from flows.capture import Pricing
    from flows.settings import load_settings
    from flows.store import store_chain

    if options.expiration or options.min_oi:
        raise InputError("--save stores whole chains: drop --expiration and --min-oi")
    from pipeline.firewall import RejectedError

    pricing = Pricing(options.config(), home)
    try:
        stored = store_chain(home, chain, pricing, rules=load_settings(home).alert_rules())
    except RejectedError as exc:  # the file is the user's input: one line, exit 2
        raise InputError(f"{chain.origin}: not saved: {exc}") from None
    print(
        f"saved {chain.symbol} {chain.as_of.isoformat()} as {pricing.method} to {home}: "
        f"{stored.rows}",
        file=sys.stderr,
    )


def run_chain(
    file: Path,
    options: ChainOptions,
    as_json: bool,
    *,
    save_to: Path | None = None,
    symbol: str | None = None,
    spot: float | None = None,
    as_of: datetime | None = None,
) -> None:
    """Print the payloads of one chain file as JSON or tables; store them when `save_to`."""
    chain, snapshot = load_snapshot(file, options, symbol=symbol, spot=spot, as_of=as_of)
    payloads = snapshot.payloads()
    _refuse_as_input(lambda: check_finite_payloads(payloads, chain.origin))
    if save_to is not None:
        save(save_to, chain, options)
    if as_json:
        json.dump(payloads, sys.stdout, allow_nan=False, separators=(",", ":"))
        sys.stdout.write("\n")
        return
    from gammalake.cli.console import print_snapshot

    print_snapshot(payloads, options.preset)
