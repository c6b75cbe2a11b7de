"""`gammalake chain`: exposures of one chain file, as JSON or as a terminal report."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
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

    def config(self) -> EngineConfig:
        """Return the preset with these overrides applied."""
        if self.year_basis is not None and not self.year_basis > 0:
            raise InputError(f"--year-basis must be positive, got {self.year_basis}")
        changes: dict[str, Any] = {
            "days_per_year": self.year_basis,
            "zero_dte": self.zero_dte,
            "flip_method": self.flip_method,
            "rate": self.rate,
            "dividend_yield": self.dividend_yield,
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
        raise InputError(f"{file}: no contracts left after the expiration / min-oi filters")
    return chain, snapshot


def source_name(options: ChainOptions) -> str:
    """Return the `source` a chain file's snapshot is stored under (`chains`, or per preset)."""
    return "chains" if options.preset == "default" else f"chains-{options.preset}"


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
        if options.expiration or options.min_oi:
            raise InputError("--save stores whole chains: drop --expiration and --min-oi")
        from flows.store import store_snapshot

        stored = store_snapshot(
            save_to, payloads, source=source_name(options), as_of=chain.as_of, chain=chain
        )
        print(
            f"saved {chain.symbol} {chain.as_of.isoformat()} to {save_to}: {stored.rows}",
            file=sys.stderr,
        )
    if as_json:
        json.dump(payloads, sys.stdout, allow_nan=False, separators=(",", ":"))
        sys.stdout.write("\n")
        return
    from flows.console import print_snapshot

    print_snapshot(payloads, options.preset)
