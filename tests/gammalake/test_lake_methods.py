"""`method=` of `Lake`: a preset name, an exact method, a method or recipe with overrides.

One home is made as a user makes it, without a request: `gammalake backfill` of SPY and QQQ
(the settings' preset, at this engine's version), then `gammalake rebuild --preset all_short`
and `--preset default+am_settlement=false` (two more histories re-priced from raw/), and SPY's
archived inputs priced again under the default preset of engine v1, as a home filled before
the engine's bump holds them. No version is written out: methods come from
`pipeline.engine.method` (`resolve_method`, `method_of`).

`methods_home` is shared with the API, MCP and dashboard tests of `method=`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gammalake.lake import Lake, NotStoredError
from pipeline.engine.method import ENGINE_VERSION, config_of, method_of, resolve_method
from pipeline.engine.presets import preset
from pipeline.errors import InputError

BIN = Path(sys.executable).with_name("gammalake")
START, END = "2024-03-04", "2024-03-15"
DAY = "2024-03-13"
#: The recipe of the third history: the default preset with AM settlement off.
RECIPE = "default+am_settlement=false"
#: The engine version before this one: its default method is stored for SPY only.
OLD = ENGINE_VERSION - 1


def old_method() -> str:
    """Return the default preset's method of the previous engine version (`default@v1`)."""
    return method_of(preset("default", OLD))


def cli(home: Path, *args: str) -> None:
    """Run `gammalake --home HOME ...`; fail showing its output when it fails."""
    done = subprocess.run(
        [str(BIN), "--home", str(home), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"gammalake {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def methods_home(home: Path) -> Path:
    """Fill `home` with SPY and QQQ under three current methods and SPY under the old default.

    Current: the default preset (backfill), all_short and RECIPE (rebuilds from raw/). Old:
    SPY's archived inputs priced by the default preset of engine version OLD, through the
    flows' own store path.
    """
    from flows.capture import Pricing
    from flows.store import store_chain
    from pipeline.chain import Chain
    from warehouse.raw import RawArchive, read_input

    cli(home, "backfill", "--symbols", "SPY,QQQ", "--start", START, "--end", END)
    cli(home, "rebuild", "--preset", "all_short")
    cli(home, "rebuild", "--preset", RECIPE)
    if OLD >= 1:
        pricing = Pricing(config_of(old_method()))
        for path in list(RawArchive(home).inputs()):
            item = read_input(path)
            if item.symbol == "SPY":
                chain = Chain(item.symbol, item.spot, item.as_of, item.frame, origin=item.origin)
                store_chain(home, chain, pricing, source=item.source)
    return home


def current(name: str) -> str:
    """Return the current-engine method of a preset or recipe."""
    return resolve_method(name)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the home of `methods_home`."""
    return methods_home(tmp_path_factory.mktemp("methods") / "home")


@pytest.fixture(scope="module")
def lake(home: Path) -> Lake:
    """Return the home's Lake (the default preset's current method)."""
    return Lake(home)


def test_every_history_is_stored(lake: Lake) -> None:
    expected = {current("default"), current("all_short"), current(RECIPE)}
    if OLD >= 1:
        expected.add(old_method())
    assert set(lake.stored_methods()) == expected
    assert current(RECIPE) == f"{RECIPE}@v{ENGINE_VERSION}"
    assert lake.method == current("default")


@pytest.mark.parametrize(
    "name",
    [
        "all_short",
        f"all_short@v{ENGINE_VERSION}",
        RECIPE,
        f"{RECIPE}@v{ENGINE_VERSION}",
        f"default+am_settlement=true@v{ENGINE_VERSION}",  # the default's own value: default@vN
        "default",
    ],
)
def test_each_form_reads_its_methods_rows(home: Path, lake: Lake, name: str) -> None:
    chosen = resolve_method(name)
    for other in (Lake(home, name), lake.using(name)):
        assert other.method == chosen
        assert other.scanner(DAY)[1]["method"] == chosen  # the row read is that method's
        assert (
            other.exposure_levels("SPY", DAY)["levels"]
            == Lake(home, chosen).exposure_levels("SPY", DAY)["levels"]
        )


def test_methods_give_their_own_figures(home: Path) -> None:
    default, short = Lake(home, "default"), Lake(home, "all_short")
    mine, theirs = default.gex("SPY", DAY), short.gex("SPY", DAY)
    assert mine["as_of"] == theirs["as_of"]
    # all_short: dealers short calls too, so every call GEX changes sign
    pairs = zip(mine["strikes"], theirs["strikes"], strict=True)
    assert all(a["call_gex"] == pytest.approx(-b["call_gex"]) for a, b in pairs)
    assert theirs["net_gex"] < 0 < abs(mine["net_gex"] - theirs["net_gex"])


def test_the_old_engines_method_is_read_exactly(home: Path) -> None:
    if OLD < 1:
        pytest.skip("engine v1 has no older version")
    old = Lake(home, old_method())
    assert old.symbols() == ["SPY"]  # priced for SPY only
    assert old.scanner(DAY, ["SPY"])[0]["method"] == old_method()
    with pytest.raises(NotStoredError, match=f"QQQ: no {old_method()} or vendor snapshots"):
        old.gex("QQQ", DAY)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("nonsense", "unknown method 'nonsense'"),
        ("perfiliev", f"method 'perfiliev' (perfiliev@v{ENGINE_VERSION}) is not stored in"),
        ("index_long_calls", "is not stored in"),
        (f"all_short@v{ENGINE_VERSION + 1}", f"all_short@v{ENGINE_VERSION + 1}"),
        (f"default+rate=0.01@v{ENGINE_VERSION}", "is not stored in"),
        ("default+no_such_setting=1", "unknown setting 'no_such_setting'"),
        ("vendor", "method 'vendor' is not stored in"),
    ],
)
def test_an_unknown_or_unstored_method_names_the_stored_ones(
    home: Path, lake: Lake, name: str, words: str
) -> None:
    listing = f"stored methods: {', '.join(lake.stored_methods())}"
    for attempt in (lambda: Lake(home, name), lambda: lake.using(name)):
        with pytest.raises(InputError) as refused:
            attempt()
        message = str(refused.value)
        assert words in message and listing in message, message
        assert "\n" not in message


def test_the_default_and_an_empty_home_take_any_method(tmp_path: Path, lake: Lake) -> None:
    assert lake.using(lake.method) is lake
    assert lake.using("default") is lake
    empty = Lake(tmp_path, "perfiliev")  # nothing stored yet: nothing to refuse it for
    assert empty.method == current("perfiliev") and empty.stored_methods() == []
    with pytest.raises(NotStoredError, match="nothing yet in"):
        empty.gex("SPY")
