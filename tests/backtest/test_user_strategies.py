"""Your own strategies: the documented object, loading by module:name and entry point, the leak
check, and a user strategy run through the same sweep, walk-forward and figures as a built-in."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path

import numpy as np
import pytest

from backtest import leak
from backtest.option_strategies import OPTION_STRATEGIES
from backtest.panel import Timing, load_panel
from backtest.plugins import available, is_built_in, origin, resolve
from backtest.run import Request, run_backtest
from backtest.strategies import PERCENT, STRATEGIES, Known, Strategy, directions, lag, strategy
from backtest.sweep import parse_grid
from tests.backtest.conftest import sessions, write_history
from warehouse.errors import WarehouseInputError

ALL = (date(1900, 1, 1), date(2999, 12, 31))
VENDOR = "vendor"
DAYS = 140

#: A user module: an honest momentum rule, a copy of the built-in regime under another name,
#: rules that read tomorrow, and a factory.
MODULE = """
import numpy as np
from backtest.strategies import STRATEGIES, Known, Params, Strategy, lag

def _momentum(k: Known, p: Params) -> np.ndarray:
    before = lag(k.last_close, int(p["lookback"]))
    side = np.where(k.last_close > before, 1.0, -float(p["short"]))
    return np.where(np.isnan(before), 0.0, side)

momentum = Strategy("momentum", _momentum, {"lookback": 5, "short": 0},
                    {"lookback": [2, 5, 10], "short": [0, 1]}, "follow the trend")
built_in = STRATEGIES["regime"]
my_regime = Strategy("my_regime", built_in.rule, built_in.defaults, built_in.grid,
                     accepts=built_in.accepts)

def _tomorrow(k: Known, p: Params) -> np.ndarray:
    ahead = np.roll(k.last_close, -int(p["ahead"]))
    return np.where(ahead > k.last_close, 1.0, 0.0)

peek = Strategy("peek", _tomorrow, {"ahead": 1})
sometimes = Strategy("sometimes", _tomorrow, {"ahead": 0}, {"ahead": [0, 1]})

def make():
    return momentum

class Holder:
    inner = momentum
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Return a scratch working directory; sys.path and the modules imported there are undone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def _write(folder: Path, name: str, text: str) -> Path:
    """Write a module file `name` into `folder` and return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _distribution(site: Path, name: str, points: str) -> None:
    """Write an installed-looking distribution (a dist-info) publishing `points` into `site`."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[gammalake.strategies]\n{points}\n")


def random_known(size: int = 90, seed: int = 3) -> Known:
    """Return a panel-like Known: a random walk with flips, walls, exposures and a few gaps."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size)))
    flip = close * (1 + 0.02 * np.sin(np.arange(size) / 5))
    gaps = rng.random(size) < 0.05
    columns = {
        "spot": close,
        "gamma_flip": np.where(gaps, np.nan, flip),
        "call_wall": close * 1.02,
        "put_wall": close * 0.98,
        **{f"net_{g}": rng.normal(0, 1e9, size) for g in ("gex", "dex", "vex", "chex")},
        "last_close": close,
        "dates": np.datetime64("2024-01-02") + np.arange(size),
    }
    return Known(**columns)


# The strategy object ----------------------------------------------------------------------


def test_known_arrays_are_read_only_copies() -> None:
    spot = np.array([1.0, 2.0, 3.0])
    k = Known(**{n: spot for n in ("spot", "gamma_flip", "call_wall", "put_wall")},
              **{f"net_{g}": spot for g in ("gex", "dex", "vex", "chex")})  # fmt: skip
    with pytest.raises(ValueError, match="read-only"):
        k.spot[0] = 99.0
    spot[0] = 42.0  # the caller's array is not the panel's
    assert k.spot[0] == 1.0
    assert (
        np.isnan(k.last_close).all()
        and len(k.head(2)) == 2
        and not k.head(2).gamma_flip.flags.writeable
    )


def test_a_rule_cannot_write_into_the_shared_panel() -> None:
    def scribble(k: Known, _p: object) -> np.ndarray:
        k.spot[:] = 0.0
        return np.zeros(len(k))

    with pytest.raises(ValueError, match="read-only"):
        Strategy("scribble", scribble, {}).positions(random_known())


def test_known_bars_are_the_last_bar_completed_before_the_decision(tmp_path: Path) -> None:
    days = sessions(6)
    close = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    bars = {"open": close, "high": close, "low": close, "close": close}
    spot: dict[str, list[float | None]] = {"underlying_price": [*close]}
    write_history(tmp_path, days, bars, spot)
    after = Known.of(load_panel(tmp_path, "TEST", *ALL, method=VENDOR))  # 16:30: own bar
    np.testing.assert_array_equal(after.last_close, close)
    assert after.dates.tolist() == days
    before = Known.of(
        load_panel(tmp_path, "TEST", *ALL, method=VENDOR, timing=Timing(time(15, 45), "same_close"))
    )
    # Filling at a session's close, its own bar is not known: the previous one is (the panel
    # starts at the first session that knew a snapshot; the bar before it is not in it).
    np.testing.assert_array_equal(before.last_close, [np.nan, *close[1:-1]])
    assert before.dates.tolist() == days[1:]


def test_positions_that_are_not_positions_are_one_line() -> None:
    k = random_known(10)
    half = Strategy("half", lambda k, p: np.full(len(k), 0.5), {})
    with pytest.raises(WarehouseInputError, match=r"half returned 0.5 on 2024-01-02; positions"):
        directions(half, k, {})
    short = Strategy("short_array", lambda k, p: np.zeros(3), {})
    with pytest.raises(WarehouseInputError, match=r"returned shape \(3,\) for 10 sessions"):
        short.positions(k)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grid": {"nope": [1]}}, "nope in its grid or accepts is not one of its parameters"),
        ({"defaults": {"n": -1}, "accepts": {"n": PERCENT}}, "strategy s, default: n=-1"),
        ({"name": ""}, "a strategy's name must be a non-empty string"),
        ({"rule": 3}, "rule 3 is not a function"),
    ],
)
def test_malformed_strategies_are_refused_when_made(kwargs: dict, message: str) -> None:
    made = {"name": "s", "rule": lambda k, p: np.zeros(len(k)), "defaults": {"n": 1}} | kwargs
    with pytest.raises(WarehouseInputError, match=message):
        Strategy(**made)


def test_lag_is_causal_on_any_length() -> None:
    np.testing.assert_array_equal(lag(np.array([1.0, 2.0, 3.0]), 2), [np.nan, np.nan, 1.0])
    assert np.isnan(lag(np.array([1.0]), 5)).all()


# Loading: module:name and entry points ----------------------------------------------------


def test_module_name_loads_a_strategy_from_the_working_directory(workdir: Path) -> None:
    _write(workdir, "user_mod_a.py", MODULE)
    found = resolve("user_mod_a:momentum")
    assert found.name == "momentum" and found.defaults == {"lookback": 5, "short": 0}
    assert resolve("user_mod_a:make") is found  # a function of no arguments returning one
    assert resolve("user_mod_a:Holder.inner") is found
    with pytest.raises(WarehouseInputError, match="unknown strategy 'user_mod_a:momentum'"):
        strategy("user_mod_a:momentum")  # the built-in table alone; resolve finds the rest
    assert not is_built_in(found) and is_built_in(STRATEGIES["regime"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nowhere_mod:x", "no module nowhere_mod (looked in "),
        ("user_mod_b:missing", "user_mod_b.py) has no attribute 'missing'"),
        ("user_mod_b:np", "user_mod_b:np is a module, not a Strategy"),
        ("user_mod_b:_momentum", "user_mod_b:_momentum is a function that needs arguments"),
        ("user_mod_b:boom", "calling user_mod_b:boom() failed: RuntimeError: no data"),
        ("user_mod_b:wrong", "user_mod_b:wrong() returned a int, not a Strategy"),
        ("user_mod_b:fake", "is named 'regime', the name of a built-in strategy"),
        ("user_mod_broken:x", "importing user_mod_broken failed: ModuleNotFoundError: No module"),
        ("user_mod_syntax:x", "importing user_mod_syntax failed: SyntaxError"),
        ("user mod:x", "is not package.module:name"),
        ("momentun", "unknown strategy 'momentun' (known: regime, flip_cross"),
    ],
)
def test_every_loading_failure_is_one_line_naming_it(
    workdir: Path, spec: str, message: str
) -> None:
    _write(
        workdir,
        "user_mod_b.py",
        MODULE
        + "\ndef boom():\n    raise RuntimeError('no data')\n\ndef wrong():\n    return 3\n\n"
        "fake = Strategy('regime', _momentum, {'lookback': 5, 'short': 0})\n",
    )
    _write(workdir, "user_mod_broken.py", "import numpy\nimport not_installed_anywhere\n")
    _write(workdir, "user_mod_syntax.py", "def broken(:\n")
    with pytest.raises(WarehouseInputError) as caught:
        resolve(spec)
    text = str(caught.value)
    assert message in text and "\n" not in text
    if spec.startswith("user_mod_broken"):
        assert "user_mod_broken.py, line 2" in text


def test_entry_points_load_list_and_say_where_they_come_from(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = workdir / "site"
    site.mkdir()
    _write(site, "ep_strats.py", MODULE)
    _distribution(site, "trend_pack", "trend = ep_strats:momentum\nbroken = ep_strats:nothing")
    monkeypatch.syspath_prepend(str(site))
    assert resolve("trend").name == "momentum"
    assert origin("trend") == "entry point trend = ep_strats:momentum (trend_pack 1.0)"
    broken = r"entry point broken = ep_strats:nothing \(trend_pack 1.0\): module ep_strats \("
    with pytest.raises(WarehouseInputError, match=broken + r".*has no attribute 'nothing'"):
        resolve("broken")
    with pytest.raises(WarehouseInputError, match="entry point broken"):
        available()  # a broken entry point is named, not skipped


def test_entry_point_name_clashes_are_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = workdir / "site"
    site.mkdir()
    _write(site, "ep_clash.py", MODULE)
    _distribution(site, "one_pack", "trend = ep_clash:momentum\nregime = ep_clash:my_regime")
    _distribution(site, "two_pack", "trend = ep_clash:make")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(WarehouseInputError, match=r"'trend' is published by 2 entry points"):
        resolve("trend")
    with pytest.raises(
        WarehouseInputError, match=r"clashes with the strategy 'regime' \(built in\)"
    ):
        available()
    assert resolve("regime") is STRATEGIES["regime"]  # a built-in name stays the built-in


def test_available_lists_built_ins_then_entry_points(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = workdir / "site"
    site.mkdir()
    _write(site, "ep_list.py", MODULE)
    _distribution(site, "list_pack", "trend = ep_list:momentum")
    monkeypatch.syspath_prepend(str(site))
    assert list(available()) == [*STRATEGIES, *OPTION_STRATEGIES, "trend"]


# The leak check ---------------------------------------------------------------------------


def _checked(rule: Strategy, grid: str | None = None, known: Known | None = None) -> None:
    """Run the leak check on every configuration of `grid` over `known` (a random panel)."""
    known = known or random_known()
    combos = parse_grid(grid, rule)
    leak.check(rule, known, combos, [rule.positions(known, c) for c in combos])


def test_a_strategy_reading_tomorrows_close_is_refused() -> None:
    tomorrow = Strategy(
        "tomorrow",
        lambda k, p: np.where(np.roll(k.last_close, -1) > k.last_close, 1.0, 0.0),
        {"short": 0},
    )
    with pytest.raises(WarehouseInputError) as caught:
        _checked(tomorrow)
    text = str(caught.value)
    assert text.startswith("strategy tomorrow (short=0) reads the future: its position on 2024-")
    assert "changed when the sessions after 2024-" in text and "\n" not in text


@pytest.mark.parametrize(
    "rule",
    [
        lambda k, p: np.sign(k.spot - np.nanmean(k.spot)),  # a statistic of the whole span
        lambda k, p: np.where(np.isnan(k.gamma_flip), 0.0, 1.0)[::-1].copy(),  # time reversed
        lambda k, p: np.sign(np.concatenate([np.diff(k.spot), [0.0]])),  # tomorrow's change
    ],
)
def test_other_looks_ahead_are_caught(rule) -> None:
    with pytest.raises(WarehouseInputError, match="reads the future"):
        _checked(Strategy("ahead", rule, {}))


def test_a_leak_in_one_configuration_of_a_grid_names_its_parameters() -> None:
    sometimes = Strategy(
        "sometimes",
        lambda k, p: np.where(np.roll(k.spot, -int(p["ahead"])) > k.spot, 1.0, 0.0),
        {"ahead": 0},
        {"ahead": [0, 1]},
    )
    with pytest.raises(WarehouseInputError, match=r"strategy sometimes \(ahead=1\) reads"):
        _checked(sometimes, "default")


def test_honest_rules_and_every_built_in_configuration_pass() -> None:
    known = random_known(120)
    honest = Strategy(
        "honest", lambda k, p: np.sign(k.spot - lag(k.spot, int(p["n"]))), {"n": 3}, {"n": [1, 3]}
    )
    _checked(honest, "default", known)
    for item in STRATEGIES.values():
        _checked(item, "default", known)


def test_a_rule_failing_on_a_shorter_history_is_refused_with_the_hint() -> None:
    fixed = Strategy("fixed", lambda k, p: np.zeros(len(k)) * k.spot[89], {})  # needs 90 rows
    with pytest.raises(
        WarehouseInputError, match=r"leak check: strategy fixed .*lag shifts safely"
    ):
        _checked(fixed)


def test_the_check_samples_large_grids_and_cuts_near_the_end() -> None:
    assert leak.sample(5) == [0, 1, 2, 3, 4]
    picked = leak.sample(5000)
    assert len(picked) == leak.SAMPLE and picked[0] == 0 and picked[-1] == 4999
    assert leak.cuts(100)[-4:] == [95, 96, 97, 98] and leak.cuts(100)[0] == 12
    assert leak.cuts(1) == [] and len(leak.cuts(1000)) == leak.CUTS


# Through the whole backtest ---------------------------------------------------------------


@pytest.fixture(scope="module")
def walk_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a lake of 140 random-walk sessions with a flip, walls and net exposures."""
    home = tmp_path_factory.mktemp("user-strategies")
    rng = np.random.default_rng(5)
    close = 80 * np.exp(np.cumsum(rng.normal(0.0003, 0.011, DAYS)))
    bars = {
        "open": (close * (1 + rng.normal(0, 0.002, DAYS))).tolist(),
        "high": (close * 1.006).tolist(),
        "low": (close * 0.994).tolist(),
        "close": close.tolist(),
    }
    known = {
        "underlying_price": close.tolist(),
        "gamma_flip": (close * (1 + 0.02 * np.sin(np.arange(DAYS) / 7))).tolist(),
        "net_gex": rng.normal(0, 1e9, DAYS).tolist(),
    }
    write_history(home, sessions(DAYS), bars, known)
    return home


def test_a_user_strategy_sweeps_and_walks_forward_like_a_built_in(
    walk_home: Path, workdir: Path
) -> None:
    _write(workdir, "user_mod_c.py", MODULE)
    grid = "band=0,0.5,1;short=0,1"
    mine, theirs = (
        run_backtest(walk_home, Request(name, ["TEST"], *ALL, VENDOR, grid=grid, train=60, test=20))
        for name in ("user_mod_c:my_regime", "regime")
    )
    assert mine["strategy"] == "my_regime" and mine["request"]["strategy"] == "user_mod_c:my_regime"
    ours, built_in = mine["symbols"]["TEST"], theirs["symbols"]["TEST"]
    assert ours["walk_forward_status"] == "walk-forward" and len(ours["walk_forward"]) == 4
    for key in ("equity", "stats", "trades", "ledger", "walk_forward", "multiple_testing", "sweep"):
        assert ours[key] == built_in[key], key
    assert ours["multiple_testing"]["configurations"] == 6
    assert ours["multiple_testing"]["deflated_sharpe"] is not None


def test_a_leaky_user_strategy_is_refused_before_it_is_simulated(
    walk_home: Path, workdir: Path
) -> None:
    _write(workdir, "user_mod_d.py", MODULE)
    request = Request("user_mod_d:sometimes", ["TEST"], *ALL, VENDOR, grid="default")
    with pytest.raises(
        WarehouseInputError, match=r"strategy sometimes \(ahead=1\) reads the future"
    ):
        run_backtest(walk_home, request)


def test_report_names_of_user_strategies_are_safe_file_names() -> None:
    from gammalake.cli.research import file_part

    assert file_part("my_strategies:trend") == "my_strategies-trend"
    assert file_part("pkg.sub:Book.trend") == "pkg.sub-Book.trend"
    assert file_part("../../etc:x y") == "etc-x-y" and file_part(":/") == "strategy"
