"""`gammalake api` takes `method=` in every form `Lake` does, end to end over HTTP.

The home is `test_lake_methods.methods_home` (SPY and QQQ under the default preset, all_short
and a recipe with overrides, SPY under the previous engine's default); the app is the one
`gammalake api` serves (the exposure API and the dashboard), under uvicorn on 127.0.0.1, a free
port. Each answer must equal what `Lake(home, method)` gives in-process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gammalake.api import dashboard
from gammalake.api.server import Running, create_app, start
from gammalake.lake import Lake
from pipeline.engine.method import ENGINE_VERSION, resolve_method
from tests.gammalake.test_lake_methods import DAY, OLD, RECIPE, methods_home, old_method


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a home holding several methods' histories."""
    return methods_home(tmp_path_factory.mktemp("api-methods") / "home")


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[httpx.Client]:
    """Return an HTTP client of the API and dashboard over `home`, served on a free port."""
    lake = Lake(home)
    app = create_app(lake, extra_routes=dashboard.routes(lake, home / "reports"))
    running: Running = start(app, "127.0.0.1", 0, wait=600.0)
    try:
        with httpx.Client(base_url=running.url, timeout=600.0) as http:
            yield http
    finally:
        running.stop()


def forms() -> list[str]:
    """Return every way of naming a stored method that the API must take."""
    names = ["all_short", f"all_short@v{ENGINE_VERSION}", RECIPE, f"{RECIPE}@v{ENGINE_VERSION}"]
    names += ["default", f"default+am_settlement=true@v{ENGINE_VERSION}"]
    return names + ([old_method()] if OLD >= 1 else [])


@pytest.mark.parametrize("name", forms())
def test_every_endpoint_answers_the_methods_figures(
    client: httpx.Client, home: Path, name: str
) -> None:
    lake = Lake(home, name)
    for endpoint, call in (("gex", lake.gex), ("levels", lake.exposure_levels)):
        answer = client.get(f"/v1/exposure/{endpoint}/SPY", params={"at": DAY, "method": name})
        assert answer.status_code == 200, answer.text
        assert answer.json() == call("SPY", DAY)
    day = client.get("/dashboard/day/SPY", params={"at": DAY, "method": name}).json()
    assert day["method"] == resolve_method(name)
    assert day["headline"]["gamma_flip"] == lake.gex("SPY", DAY)["gamma_flip"]


def test_methods_differ_where_their_dealers_do(client: httpx.Client) -> None:
    def net(method: str) -> float:
        query = {"at": DAY, "method": method}
        return float(client.get("/v1/exposure/gex/SPY", params=query).json()["net_gex"])

    assert net("all_short") < 0 and net("all_short") != net("default")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("nonsense", "unknown method 'nonsense'"),
        ("perfiliev", "method 'perfiliev' (perfiliev@v"),
        (f"default+rate=0.01@v{ENGINE_VERSION}", f"'default+rate=0.01@v{ENGINE_VERSION}'"),
    ],
)
def test_a_method_not_stored_is_400_naming_the_stored_ones(
    client: httpx.Client, home: Path, name: str, words: str
) -> None:
    listing = f"stored methods: {', '.join(Lake(home).stored_methods())}"
    for path in ("/v1/exposure/levels/SPY", "/dashboard/day/SPY", "/dashboard/meta"):
        answer = client.get(path, params={"method": name})
        assert answer.status_code == 400, (path, answer.text)
        body = answer.json()
        assert {"status", "message"} <= set(body) and body["status"] == 400
        if path.startswith("/v1/"):  # FlashAlpha's shape: its error code too
            assert body["error"] == "invalid_request"
        assert words in body["message"] and listing in body["message"], (path, body)
    overlay = client.get("/dashboard/day/SPY", params={"at": DAY, "overlay": name})
    assert overlay.status_code == 400 and listing in overlay.json()["message"]


def test_meta_lists_every_stored_method(client: httpx.Client, home: Path) -> None:
    meta = client.get("/dashboard/meta").json()
    assert meta["methods"] == Lake(home).stored_methods()
    assert meta["default_method"] == resolve_method("default")


def test_many_spellings_of_a_method_keep_few_lakes(home: Path) -> None:
    from gammalake.api.server import LAKES_KEPT, ExposureApi

    api = ExposureApi(Lake(home), frozenset())
    for spaces in range(2 * LAKES_KEPT):  # each spelling is all_short, found once
        assert api.lake_for("all_short" + " " * spaces).method == resolve_method("all_short")
    assert len(api._lakes) <= LAKES_KEPT
