"""`gammalake chain`: exposures of one chain file, as JSON or as a terminal report."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.chain import Chain
from pipeline.engine.config import EngineConfig
from pipeline.engine.presets import preset as named_preset
from pipeline.errors import InputError

if TYPE_CHECKING:
    from pipeline.engine.snapshot import ExposureSnapshot


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
    am_settlement: bool = False

    def __post_init__(self) -> None:
        """Refuse an --expiration that is not a date like 2024-02-01."""
        if self.expiration is not None:
            try:
                date.fromisoformat(self.expiration)
            except ValueError:
                raise InputError(
                    f"--expiration {self.expiration!r} is not a date like 2024-02-01"
                ) from None
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
            "am_settlement": self.am_settlement or None,  # off: the preset's (also off)
        }
        return named_preset(self.preset).with_overrides(
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
    """Return the chain in `file` and its (filtered) exposure snapshot."""
    from pipeline.engine.snapshot import ExposureSnapshot
    from pipeline.sources.chains import read_chain

    config = options.config()
    chain = read_chain(file, symbol=symbol, spot=spot, as_of=as_of)
    snapshot = ExposureSnapshot(chain, config).filtered(options.expiration, options.min_oi)
    if snapshot.book.contracts.strike.size == 0:
        if options.expiration is None and options.min_oi is None:
            raise InputError(
                f"{file}: no contract left to price at {chain.as_of.isoformat()}: every "
                "expiration is before that time, or no contract has usable open interest and IV"
            )
        raise InputError(f"{file}: no contracts left after the expiration / min-oi filters")
    return chain, snapshot


def save(home: Path, chain: Chain, options: ChainOptions) -> None:
    """Archive, check and store the chain's snapshot under its method (source `chains`)."""
    from flows.capture import Pricing
    from flows.store import store_chain

    if options.expiration or options.min_oi:
        raise InputError("--save stores whole chains: drop --expiration and --min-oi")
    from pipeline.firewall import RejectedError

    pricing = Pricing(options.config())
    try:
        stored = store_chain(home, chain, pricing)
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
    if save_to is not None:
        save(save_to, chain, options)
    if as_json:
        json.dump(payloads, sys.stdout, allow_nan=False, separators=(",", ":"))
        sys.stdout.write("\n")
        return
    from gammalake.cli.console import print_snapshot

    print_snapshot(payloads, options.preset)
