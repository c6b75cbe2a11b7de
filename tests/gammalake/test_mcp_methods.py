"""`gammalake mcp` takes `method=` in every form `Lake` does, through the `mcp` SDK's client.

The home is `test_lake_methods.methods_home` (several methods' histories); the server is the
real command (`gammalake --home H mcp`, stdio) and one session makes every call below. Each
answer must equal what `Lake(home, method)` gives in-process; a method that is not stored is
a tool error naming it and listing the stored ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from gammalake.lake import Lake
from pipeline.engine.method import ENGINE_VERSION, resolve_method
from tests.gammalake.test_lake_methods import DAY, RECIPE, methods_home
from tests.gammalake.test_mcp import GAMMALAKE, SESSION_TIMEOUT, _data, _error, _session

pytestmark = pytest.mark.slow

#: Ways of naming a stored method, each asked of exposure_levels.
FORMS = ("all_short", f"all_short@v{ENGINE_VERSION}", RECIPE, f"{RECIPE}@v{ENGINE_VERSION}")
REFUSED = ("perfiliev", "nonsense", f"default+rate=0.01@v{ENGINE_VERSION}")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a home holding several methods' histories."""
    return methods_home(tmp_path_factory.mktemp("mcp-methods") / "home")


@pytest.fixture(scope="module")
def results(home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Return every call's result of one stdio session of `gammalake --home H mcp`."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {"stored": ("stored", {})}
    for name in FORMS:
        calls[name] = (
            "exposure_levels",
            {"symbol": "SPY", "at": DAY, "method": name, "full": True},
        )
    for name in REFUSED:
        calls[name] = ("exposure_levels", {"symbol": "SPY", "at": DAY, "method": name})
    calls["history"] = ("levels_history", {"symbol": "QQQ", "method": "all_short", "full": True})
    calls["stored_recipe"] = ("stored", {"method": RECIPE})
    params = StdioServerParameters(command=GAMMALAKE, args=["--home", str(home), "mcp"])
    errors = tmp_path_factory.mktemp("mcp-methods-stderr") / "stderr.txt"

    async def run() -> dict[str, Any]:
        with errors.open("w") as errlog, anyio.fail_after(SESSION_TIMEOUT):
            async with Client(stdio_client(params, errlog=errlog)) as client:
                return await _session(client, calls)

    return anyio.run(run)


def test_stored_lists_every_method(results: dict[str, Any], home: Path) -> None:
    stored = _data(results["stored"])
    assert stored["methods"] == Lake(home).stored_methods()
    assert resolve_method("all_short") in stored["methods"]
    assert _data(results["stored_recipe"])["method"] == resolve_method(RECIPE)


def test_each_form_answers_its_methods_levels(results: dict[str, Any], home: Path) -> None:
    for name in FORMS:
        assert _data(results[name]) == Lake(home, name).exposure_levels("SPY", DAY), name
    history = _data(results["history"])
    short = Lake(home, "all_short").history("QQQ")
    assert history["method"] == resolve_method("all_short")
    assert [r["gamma_flip"] for r in history["rows"]] == short["gamma_flip"].to_list()


def test_a_method_not_stored_is_a_tool_error_listing_the_stored(
    results: dict[str, Any], home: Path
) -> None:
    listing = f"stored methods: {', '.join(Lake(home).stored_methods())}"
    for name in REFUSED:
        message = _error(results[name])
        assert repr(name) in message and listing in message, message
