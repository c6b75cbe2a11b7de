"""One simulated account holding option packages: decisions, fills, marks, settlement.

Each session, in order: legs past their expiry moment by the decision settle at intrinsic
(`backtest.option_book.settlement`); the decision (the configuration in force, see
`backtest.ledger.in_force`) keeps, closes or opens a package at the snapshot it knew, at that
snapshot's stored quotes; legs expiring later that session settle; every open leg is marked at
the snapshot's mid (a leg without a quote there keeps its last mark, a stale mark). Only a
fresh snapshot prices anything: one a previous decision already knew has no quotes for a
later one (`fresh_moments`). Fills at a snapshot without a usable quote do not happen and
are counted as misses: a package opens only when every leg is quoted; a leg that cannot be
closed stays open and is tried again at each later decision until it closes or expires.

The account starts with `init_cash` at the first session a configuration is in force; its
value each session is cash plus the marks of the open legs, so the legs' P&L (fees included)
adds up to the account's, and their returns over the account's value at entry compound to its
total return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time

import numpy as np
import polars as pl

from backtest.option_book import OptionCosts, QuoteBook, am_settled, intrinsic, settlement
from backtest.option_legs import Choice, Package, choose
from backtest.option_strategies import OptionStrategy
from backtest.panel import Panel
from backtest.stats import summary
from backtest.strategies import Known, Value
from backtest.sweep import STOP_KEYS, Progress, Sweep, check_leaks
from pipeline.engine.timing import NEW_YORK
from warehouse.errors import WarehouseInputError

#: How open option packages cross walk-forward window boundaries (stated in reports).
OPTION_BOUNDARY_RULE = (
    "Walk-forward windows are simulated as one account, flat at the first out-of-sample "
    "session. Every decision inside a window comes from the configuration chosen for that "
    "window. An option package open at the end of a window is carried into the next one: "
    "kept (same contracts, no roll) while the next configuration's rule holds a package of "
    "the same name, closed at the stored quotes of the first decision where it does not, and "
    "settled at expiry otherwise."
)
_PM, _AM = time(16, 0), time(9, 30)


@dataclass(frozen=True)
class Context:
    """What every simulation of one symbol shares: panel, stored quotes, terms, start cash."""

    panel: Panel
    book: QuoteBook
    costs: OptionCosts
    init_cash: float


@dataclass
class Leg:
    """One leg's life: contract, side (+1 bought, -1 sold), contracts, entry, exit (or mark)."""

    seq: int
    config: int
    package: str
    choice: Choice
    side: int
    contracts: int
    entry: date
    entry_at: str
    entry_price: float
    fees: float
    mark: float
    am: bool
    exit: date | None = None
    exit_at: str = ""
    closing: bool = False

    @property
    def value(self) -> float:
        """Return the leg's signed value at its mark ($: + held long, - owed short)."""
        return self.side * self.contracts * self.mark

    @property
    def pnl(self) -> float:
        """Return the leg's P&L so far ($ per contract unit already in `contracts`, fees in)."""
        return self.side * self.contracts * (self.mark - self.entry_price) - self.fees


@dataclass(frozen=True)
class Miss:
    """A fill that could not happen: session, snapshot moment, kind, contract, why."""

    session: date
    moment: str
    kind: str
    contract: str
    reason: str


@dataclass(frozen=True)
class OptionRun:
    """One account: per-session returns (fractions), equity ($), whether legs were held.

    `legs` in entry order; `misses`: fills that found no quote and settlements that found no
    bar of their day; `stale_marks`: leg-sessions marked at an earlier quote.
    """

    returns: np.ndarray
    equity: np.ndarray
    held: np.ndarray
    configs: np.ndarray
    legs: list[Leg]
    misses: list[Miss]
    stale_marks: int


def _moment_text(moment: datetime | None) -> str:
    """Return a snapshot moment as New York wall time, `YYYY-MM-DD HH:MM` ('-' when none)."""
    return "-" if moment is None else f"{moment.astimezone(NEW_YORK):%Y-%m-%d %H:%M}"


@dataclass
class _Account:
    """The mutable state of one simulation (see module doc)."""

    ctx: Context
    cash: float
    open: list[Leg] = field(default_factory=list)
    done: list[Leg] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    held: str | None = None
    stale: int = 0

    @property
    def equity(self) -> float:
        """Return cash plus the open legs at their marks ($)."""
        return self.cash + sum(leg.value for leg in self.open)

    def settle(self, day: date, decide: time | None) -> None:
        """Settle the legs whose expiry moment passed by `decide` on `day` (None: by day's end)."""
        for leg in list(self.open):
            moment = _AM if leg.am else _PM
            if leg.choice.expiration < day or (
                leg.choice.expiration == day and (decide is None or decide >= moment)
            ):
                self._settle(leg, day)

    def _settle(self, leg: Leg, day: date) -> None:
        """Close `leg` at intrinsic value from the bars (no fee); count a missing bar."""
        price, what, own = settlement(self.ctx.panel, leg.choice.expiration, leg.am)
        if not own:
            self._miss(day, None, "settlement", leg.choice.contract, f"no bar: used {what}")
        mult = self.ctx.costs.multiplier
        leg.mark = intrinsic(leg.choice.rule.right, leg.choice.strike, price) * mult
        self._finish(leg, day, f"{'AM' if leg.am else 'PM'} settlement at {what}")

    def _finish(self, leg: Leg, day: date, at: str) -> None:
        """Move `leg` from open to done, its cash in the account."""
        self.cash += leg.value
        leg.exit, leg.exit_at = day, at
        self.open.remove(leg)
        self.done.append(leg)
        if self.held == leg.package and not any(
            o.package == leg.package and not o.closing for o in self.open
        ):
            self.held = None

    def _miss(self, day: date, moment: datetime | None, kind: str, contract: str, why: str) -> None:
        """Record one fill or settlement that found nothing to price it."""
        self.misses.append(Miss(day, _moment_text(moment), kind, contract, why))

    def close_unwanted(self, day: date, moment: datetime | None, target: str | None) -> None:
        """Close every leg not of `target` at the quotes of `moment`; count legs without one."""
        for leg in list(self.open):
            if leg.package != target or leg.closing:
                leg.closing = True
                quote = self.ctx.book.quote(moment, leg.choice.contract)
                if quote is None:
                    self._miss(day, moment, "exit", leg.choice.contract, "no stored quote")
                    continue
                self._close(leg, day, moment, quote)
        if self.held != target:
            self.held = None

    def _close(
        self, leg: Leg, day: date, moment: datetime | None, quote: tuple[float, float]
    ) -> None:
        """Close `leg` by the opposite trade at `quote`, paying the fee."""
        costs = self.ctx.costs
        leg.mark = costs.price(quote[0], quote[1], -leg.side) * costs.multiplier
        fee = costs.fee * leg.contracts
        leg.fees += fee
        self.cash -= fee
        self._finish(leg, day, _moment_text(moment))

    def open_package(
        self,
        day: date,
        moment: datetime | None,
        config: int,
        package: Package,
        levels: dict[str, float],
    ) -> None:
        """Open every leg of `package` at `moment`'s quotes, or none (counting the misses)."""
        choices = self._choices(day, moment, package, levels)
        if choices is None:
            return
        quotes = [self.ctx.book.quote(moment, c.contract) for c in choices]
        if any(q is None for q in quotes):
            for choice, quote in zip(choices, quotes, strict=True):
                if quote is None:
                    self._miss(day, moment, "entry", choice.contract, "no stored quote")
            return
        units = self.ctx.costs.contracts(self.equity, levels["spot"])
        for choice, quote in zip(choices, quotes, strict=True):
            self._enter(day, moment, config, package.name, choice, quote, units)  # type: ignore[arg-type]
        self.held = package.name

    def _choices(
        self, day: date, moment: datetime | None, package: Package, levels: dict[str, float]
    ) -> list[Choice] | None:
        """Return the contracts of `package` at `moment`, or None counting each leg a miss."""
        listing = self.ctx.book.listing(moment)
        choices = None if listing is None else choose(listing, package, day, levels)
        if choices is None:
            why = (
                "no fresh snapshot with a stored chain"
                if listing is None
                else "no listed contract for the rule"
            )
            for rule in package.legs:
                self._miss(day, moment, "entry", f"{rule.right} at {rule.anchor}", why)
        return choices

    def _enter(
        self,
        day: date,
        moment: datetime | None,
        config: int,
        package: str,
        choice: Choice,
        quote: tuple[float, float],
        units: int,
    ) -> None:
        """Open one leg at `quote` (the fill setting's price) and pay its fee."""
        costs, side = self.ctx.costs, choice.rule.side
        contracts = units * choice.rule.ratio
        price = costs.price(quote[0], quote[1], side) * costs.multiplier
        fee = costs.fee * contracts
        self.cash -= side * contracts * price + fee
        seq = len(self.open) + len(self.done)
        self.open.append(
            Leg(
                seq,
                config,
                package,
                choice,
                side,
                contracts,
                day,
                _moment_text(moment),
                price,
                fee,
                price,
                am_settled(choice.contract),
            )
        )

    def mark(self, moment: datetime | None) -> float:
        """Mark the open legs at `moment`'s mids (stale where unquoted); return the equity ($)."""
        for leg in self.open:
            quote = self.ctx.book.quote(moment, leg.choice.contract)
            if quote is None:
                self.stale += 1
            else:
                leg.mark = 0.5 * (quote[0] + quote[1]) * self.ctx.costs.multiplier
        return self.equity


def fresh_moments(known: list[datetime | None]) -> list[datetime | None]:
    """Return each decision's snapshot moment, None where it is the previous decision's too.

    A snapshot fills and marks at the first decision that knows it only: a later decision
    seeing the same (older) snapshot has no fresh quotes, so its fills are misses and its
    marks stale, rather than trading at prices days old.
    """
    return [m if i == 0 or m != known[i - 1] else None for i, m in enumerate(known)]


def _decisions(
    strategy: OptionStrategy, combos: list[dict[str, Value]], configs: np.ndarray, known: Known
) -> tuple[np.ndarray, list[tuple[Package, ...]]]:
    """Return the package number decided each session and the packages of each configuration.

    A session's decision is its configuration's rule (NaN before the run: nothing decided).
    """
    codes = np.full(configs.size, np.nan)
    packages: list[tuple[Package, ...]] = [() for _ in combos]
    for config in np.unique(configs[configs >= 0]):
        params = {k: v for k, v in combos[config].items() if k not in STOP_KEYS}
        mine = configs == config
        codes[mine] = strategy.positions(known, params)[mine]
        packages[config] = strategy.packages_of(params)
        _check_codes(strategy, codes[mine], len(packages[config]))
    return codes, packages


def _check_codes(strategy: OptionStrategy, codes: np.ndarray, packages: int) -> None:
    """Raise one line when a rule names a package its configuration does not have."""
    named = codes[~np.isnan(codes)]
    bad = named[(named < 0) | (named > packages) | (named != np.round(named))]
    if bad.size:
        raise WarehouseInputError(
            f"option strategy {strategy.name} returned package {bad[0]:g}; its rule may return "
            f"0 (none), 1..{packages} (its packages) or NaN (keep)"
        )


def _levels(known: Known, i: int) -> dict[str, float]:
    """Return the levels known at session `i` a leg's strike can sit at (price units)."""
    return {
        "spot": float(known.spot[i]),
        "call_wall": float(known.call_wall[i]),
        "put_wall": float(known.put_wall[i]),
        "gamma_flip": float(known.gamma_flip[i]),
    }


def simulate(
    ctx: Context,
    strategy: OptionStrategy,
    combos: list[dict[str, Value]],
    configs: np.ndarray,
) -> OptionRun:
    """Return the account trading the configuration in force each session (`configs`, -1 none).

    See the module doc for the order of events within a session.
    """
    frame, known = ctx.panel.frame, Known.of(ctx.panel)
    days = frame.get_column("trade_date").to_list()
    moments = fresh_moments(frame.get_column("known_as_of").to_list())
    codes, packages = _decisions(strategy, combos, configs, known)
    account = _Account(ctx, ctx.init_cash)
    equity = np.full(len(days), ctx.init_cash)
    held = np.zeros(len(days), dtype=bool)
    decide = ctx.panel.timing.decide
    for i, (day, moment) in enumerate(zip(days, moments, strict=True)):
        if configs[i] < 0:
            continue
        account.settle(day, decide)
        _decide(
            account, day, moment, int(configs[i]), codes[i], packages[configs[i]], _levels(known, i)
        )
        account.settle(day, None)
        equity[i], held[i] = account.mark(moment), bool(account.open)
    before = np.concatenate([[ctx.init_cash], equity[:-1]])
    legs = sorted([*account.done, *account.open], key=lambda leg: leg.seq)
    return OptionRun(
        equity / before - 1.0, equity, held, configs, legs, account.misses, account.stale
    )


def _decide(
    account: _Account,
    day: date,
    moment: datetime | None,
    config: int,
    code: float,
    packages: tuple[Package, ...],
    levels: dict[str, float],
) -> None:
    """Apply one decision: NaN keeps (retrying closes), 0 closes all, k holds package k."""
    if math.isnan(code):
        target = account.held
    else:
        target = packages[int(code) - 1].name if code >= 1 else None
    account.close_unwanted(day, moment, target)
    if target is not None and account.held is None:
        package = next(p for p in packages if p.name == target)
        account.open_package(day, moment, config, package, levels)


def leg_ledger(run: OptionRun, ctx: Context, last: date) -> pl.DataFrame:
    """Return every leg of `run` in entry order, as the report lists them.

    Columns: `config`, `package`, `contract`, `side` (Buy/Sell), `contracts`, `entry` / `exit`
    (ISO dates; an open leg's exit is `last`, the last session), `entry_at` / `exit_at`
    (New York snapshot moments, or the settlement), prices ($ per share), `fees` ($), `pnl`
    ($, fees included), `return` (fraction: pnl over the account's value before the leg, in
    entry order, so the legs compound to the account's total return), `return_pct` (%, 3
    decimals) and `status` (Open or Closed).
    """
    legs, mult = run.legs, ctx.costs.multiplier
    pnl = np.array([leg.pnl for leg in legs], dtype=float)
    account = ctx.init_cash + np.concatenate([[0.0], np.cumsum(pnl)[:-1]])
    return pl.DataFrame(
        {
            "config": [leg.config for leg in legs],
            "package": [leg.package for leg in legs],
            "contract": [leg.choice.contract for leg in legs],
            "side": ["Buy" if leg.side > 0 else "Sell" for leg in legs],
            "contracts": [leg.contracts for leg in legs],
            "entry": [str(leg.entry) for leg in legs],
            "entry_at": [leg.entry_at for leg in legs],
            "entry_price": [round(leg.entry_price / mult, 4) for leg in legs],
            "exit": [str(leg.exit or last) for leg in legs],
            "exit_at": [leg.exit_at or "marked (open)" for leg in legs],
            "exit_price": [round(leg.mark / mult, 4) for leg in legs],
            "fees": [round(leg.fees, 2) for leg in legs],
            "pnl": np.round(pnl, 2),
            "return": pnl / account,
            "return_pct": np.round(100 * pnl / account, 3),
            "status": ["Open" if leg.exit is None else "Closed" for leg in legs],
        },
        schema_overrides={"config": pl.Int64, "contracts": pl.Int64, "return": pl.Float64},
    )


def miss_counts(run: OptionRun, sessions: np.ndarray, days: list[date]) -> dict[str, int]:
    """Return the misses of `run` on the reported `sessions` (panel rows), by kind and in all."""
    shown = {days[i] for i in sessions}
    kinds = [m.kind for m in run.misses if m.session in shown]
    return {
        "misses": len(kinds),
        **{f"{kind}_misses": kinds.count(kind) for kind in ("entry", "exit", "settlement")},
    }


def option_sweep(
    ctx: Context,
    strategy: OptionStrategy,
    combos: list[dict[str, Value]],
    progress: Progress | None = None,
) -> Sweep:
    """Return the sweep of `combos` over the whole panel, one account per configuration.

    `portfolio` holds the configurations' `OptionRun`s; the table's `trades` counts legs,
    `win_rate` the share of legs with a gain, `exposure` the sessions with a leg open.
    `progress` ("<symbol> grid") hears of each configuration done. A strategy that is not
    built in is first checked for leaks (`backtest.sweep.check_leaks`).
    """
    sessions, known = ctx.panel.frame.height, Known.of(ctx.panel)
    chosen = [{k: v for k, v in c.items() if k not in STOP_KEYS} for c in combos]
    check_leaks(strategy, known, chosen, [strategy.positions(known, p) for p in chosen])
    runs = []
    for done, _combo in enumerate(combos, start=1):
        configs = np.full(sessions, done - 1, dtype=np.int64)
        runs.append(simulate(ctx, strategy, combos, configs))
        if progress is not None:
            progress(f"{ctx.panel.symbol} grid", done, len(combos))
    daily = np.column_stack([r.returns for r in runs])
    wins = [[leg.pnl > 0 for leg in r.legs] for r in runs]
    table = pl.concat(
        [
            _params_table(strategy, combos),
            summary(daily),
            pl.DataFrame(
                {
                    "trades": np.array([len(r.legs) for r in runs], dtype=np.int64),
                    "win_rate": [float(np.mean(w)) if w else None for w in wins],
                    "exposure": [float(r.held.mean()) for r in runs],
                },
                schema={"trades": pl.Int64, "win_rate": pl.Float64, "exposure": pl.Float64},
            ),
        ],
        how="horizontal",
    )
    return Sweep(ctx.panel, combos, table, daily, runs)


def _params_table(strategy: OptionStrategy, combos: list[dict[str, Value]]) -> pl.DataFrame:
    """Return one row per combination with every parameter (defaults filled in) as a string."""
    rows = {n: [str(c.get(n, v)) for c in combos] for n, v in strategy.defaults.items()}
    return pl.DataFrame({"config": list(range(len(combos))), **rows})
