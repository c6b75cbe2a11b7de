"""`--am-settlement/--no-am-settlement` is part of the stored method of every pricing command."""

from __future__ import annotations

from pathlib import Path

import pytest

from gammalake.cli.options import engine_method
from gammalake.lake import Lake
from pipeline.engine.method import ENGINE_VERSION
from tests.gammalake.test_cli_fuzz import run_main
from tests.gammalake.test_import_cli import DATASHOP
from warehouse.forget import symbol_rows

OFF = f"default+am_settlement=false@v{ENGINE_VERSION}"
ON = f"default@v{ENGINE_VERSION}"


def methods(home: Path, symbol: str) -> set[str]:
    """Return the methods of `symbol`'s stored snapshots."""
    return set(symbol_rows(home, "snapshots", symbol).get_column("method").to_list())


def test_backfill_and_rebuild_store_the_flag_in_the_method(tmp_path: Path) -> None:
    args = ["backfill", "--symbols", "SPY", "--start", "2024-03-04", "--end", "2024-03-05"]
    done = run_main([*args, "--no-am-settlement"], home=tmp_path)
    assert done.code == 0, done.text
    assert methods(tmp_path, "SPY") == {OFF}
    again = run_main(["rebuild", "--preset", "default", "--am-settlement"], home=tmp_path)
    assert again.code == 0, again.text
    assert methods(tmp_path, "SPY") == {OFF, ON}
    lake = Lake(tmp_path, "default+am_settlement=false")  # a recipe names the stored method
    assert lake.method == OFF


def test_an_import_stores_the_flag_and_it_changes_spx_figures(tmp_path: Path) -> None:
    for flag, home in (
        ("--no-am-settlement", tmp_path / "off"),
        ("--am-settlement", tmp_path / "on"),
    ):
        done = run_main(["import", "datashop", str(DATASHOP), flag], home=home)
        assert done.code == 0, done.text
    assert methods(tmp_path / "off", "SPX") == {OFF}
    assert methods(tmp_path / "on", "SPX") == {ON}
    gex = [symbol_rows(tmp_path / h, "snapshots", "SPX")["net_gex"][0] for h in ("off", "on")]
    assert gex[0] != pytest.approx(gex[1], rel=1e-6)  # the December SPX monthly: to 09:30


def test_a_bad_recipe_or_vendor_is_one_line_and_exit_2(tmp_path: Path) -> None:
    span = ["--start", "2024-03-04", "--end", "2024-03-04"]
    bad = run_main(
        ["backfill", "--symbols", "SPY", *span, "--preset", "default+am_settlement=maybe"],
        home=tmp_path,
    )
    assert bad.code == 2 and "'maybe' is not true or false" in bad.text
    vendor = run_main(["backfill", "--symbols", "SPY", *span, "--preset", "vendor"], home=tmp_path)
    assert vendor.code == 2 and "names vendor payloads" in vendor.text
    assert not (tmp_path / "lake").exists()


def test_api_and_mcp_apply_the_flag_to_their_default_method() -> None:
    assert engine_method("default", False) == OFF
    assert engine_method("default+am_settlement=false", True) == ON
    assert engine_method("default@v1", True) == "default+am_settlement=true@v1"
