"""warehouse.duckdb opens, views and all, in DuckDB 1.4 and 1.5 (Python and the PyPI CLI).

The clients live in their own virtualenvs, made by `make duckdb1` (a prerequisite of
`make test`); each test skips, saying so, when its client is absent.
"""

from __future__ import annotations

import json
import subprocess

import polars as pl
import pytest

from tests.conftest import REPO, session_close, synthetic_rows
from tests.warehouse.holding import holding
from warehouse import catalog
from warehouse.lake import Lake

CLIENTS = {"1.5": REPO / ".venv-duckdb1", "1.4": REPO / ".venv-duckdb14"}
#: Counts every view's rows; run by a 1.x Python client from inside the home folder.
COUNT_VIEWS = """
import json, duckdb
con = duckdb.connect("warehouse.duckdb", read_only=True)
names = [r[0] for r in con.execute(
    "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()]
counts = {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}
print(json.dumps({"version": duckdb.__version__, "counts": counts}))
"""


def client(version: str, program: str) -> str:
    """Return the path of a 1.x client program, or skip saying how to install it."""
    path = CLIENTS[version] / "bin" / program
    if not path.exists():
        pytest.skip(f"DuckDB {version} client not found at {path}: run `make duckdb1`")
    return str(path)


def make_home(path, method: str | None = "default@v1"):
    """Return a home with SPY and QQQ on two sessions, a price bar, and its catalog."""
    lake = Lake(path)
    for day in ("2024-03-04", "2024-03-05"):
        for symbol in ("SPY", "QQQ"):
            lake.write_all(synthetic_rows(symbol, session_close(day)))
    bars = pl.DataFrame(
        {
            "symbol": ["SPY"],
            "source": ["test"],
            "as_of": [session_close("2024-03-04")],
            "trade_date": [session_close("2024-03-04").date()],
            "close": [1.5],
        }
    )
    lake.write("prices", bars)
    catalog.rebuild(lake.home, method)
    return lake.home


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_home(tmp_path_factory.mktemp("duckdb1") / "home")


def expected_counts(home) -> dict[str, int]:
    """Return every view's row count as gammalake's own (2.x, in-memory) views give it."""
    with catalog.reader(home) as con:
        views = con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        names = [name for (name,) in views]
        return {n: con.sql(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}


def run(args: list[str], home, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=home, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.mark.parametrize("version", sorted(CLIENTS))
def test_python_client_opens_every_view(home, version):
    result = run([client(version, "python"), "-c", COUNT_VIEWS], home)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["version"].startswith(version)
    assert seen["counts"] == expected_counts(home)
    assert seen["counts"]["daily_levels"] == 4 and seen["counts"]["regime_daily"] == 4


@pytest.mark.parametrize("version", sorted(CLIENTS))
def test_views_keeping_every_method_open_too(tmp_path, version):
    python = client(version, "python")
    home = make_home(tmp_path / "home", method=None)
    assert catalog.default_method(home) is None
    result = run([python, "-c", COUNT_VIEWS], home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == expected_counts(home)


@pytest.mark.parametrize("version", sorted(CLIENTS))
def test_the_pypi_cli_opens_every_view(home, version):
    sql = (
        "SELECT (SELECT count(*) FROM gex_profile) AS strikes, "
        "(SELECT max(close) FROM regime_daily) AS close, "
        "(SELECT count(DISTINCT method) FROM daily_levels) AS methods;"
    )
    cli = client(version, "duckdb")
    result = run([cli, "-readonly", "-csv", "warehouse.duckdb", "-c", sql], home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["strikes,close,methods", "42,1.5,1"]
    assert run([cli, "--version"], home).stdout.startswith(f"v{version}")


@pytest.mark.parametrize("version", sorted(CLIENTS))
def test_a_1x_client_holding_the_file_never_blocks_a_rebuild(tmp_path, version):
    python = client(version, "python")
    home = make_home(tmp_path / "home")
    path = home / catalog.CATALOG_FILE
    with holding(path, "ro", python):
        assert not catalog.rebuild(home, "default@v1").deferred
    with holding(path, "rw", python) as proc:
        Lake(home).write("alerts", alerts())  # a new dataset: the catalog needs a new view
        build = catalog.ensure(home)
        assert build.deferred and [h.pid for h in build.held_by] == [proc.pid]
    build = catalog.ensure(home)
    assert build is not None and not build.deferred and "alerts" in build.datasets
    result = run([python, "-c", COUNT_VIEWS], home)
    assert json.loads(result.stdout)["counts"]["alerts"] == 1, result.stderr


def alerts() -> pl.DataFrame:
    """Return one alert row."""
    when = session_close("2024-03-05")
    return pl.DataFrame(
        {
            "symbol": ["SPY"],
            "source": ["synthetic"],
            "method": ["default@v1"],
            "as_of": [when],
            "trade_date": [when.date()],
            "kind": ["flip_cross"],
            "message": ["spot crossed the flip"],
        }
    )
