"""`gammalake alerts` as users run it: stored alerts filtered by symbol, kind and time.

The home is hand-made (no backfill): three small synthetic snapshots of SPY and QQQ, and
alert rows written beside them, so every expected line is known here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import METHOD, session_close, synthetic_rows
from warehouse import catalog
from warehouse.lake import Lake
from warehouse.schema import ALERT_KINDS, dataset

BIN = Path(sys.executable).with_name("gammalake")
DAYS = ("2024-03-04", "2024-03-05", "2024-03-06")
#: (symbol, day, kind, level) of every stored alert.
STORED = [
    ("SPY", "2024-03-04", "near_call_wall", 515.0),
    ("SPY", "2024-03-05", "gex_sign_flip", -2.0e8),
    ("SPY", "2024-03-05", "call_wall_moved", 530.0),
    ("QQQ", "2024-03-05", "flip_cross_up", 440.0),
    ("SPY", "2024-03-06", "near_put_wall", 500.0),
]


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "--home", str(home), "alerts", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def alert_rows(symbol: str, day: str, snapshot: pl.DataFrame) -> pl.DataFrame | None:
    """Return the STORED alerts of one snapshot, keyed like the flows write them."""
    keys = snapshot.select("symbol", "source", "method", "as_of", "trade_date").row(0, named=True)
    rows = [
        {**keys, "kind": kind, "message": f"{symbol}: {kind} at {level:.2f}", "level": level}
        for s, d, kind, level in STORED
        if (s, d) == (symbol, day)
    ]
    return pl.DataFrame(rows, schema=dataset("alerts").schema) if rows else None


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = Lake(tmp_path_factory.mktemp("alerts") / "home")
    for symbol in ("SPY", "QQQ"):
        for day in DAYS:
            rows = synthetic_rows(symbol, session_close(day), strikes=11)
            found = alert_rows(symbol, day, rows["snapshots"])
            if found is not None:
                rows["alerts"] = found
            lake.write_all(rows)
    catalog.rebuild(lake.home, METHOD)
    return lake.home


def listed(done: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    """Return (date, kind) of each alert line printed (the footer left out)."""
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return [(line[:10], line.split()[2]) for line in lines[:-1]]


def test_every_alert_newest_first(home):
    done = run(home)
    assert listed(done) == [
        ("2024-03-06", "near_put_wall"),
        ("2024-03-05", "flip_cross_up"),
        ("2024-03-05", "call_wall_moved"),
        ("2024-03-05", "gex_sign_flip"),
        ("2024-03-04", "near_call_wall"),
    ]
    assert done.stdout.splitlines()[0].startswith("2024-03-06 16:15  near_put_wall    SPY: ")
    assert done.stdout.splitlines()[-1] == f"5 alert(s) of {METHOD}"


def test_kind_filter_keeps_the_kinds_named(home):
    done = run(home, "--kind", "gex_sign_flip, near_call_wall,flip_cross_up")
    assert [kind for _, kind in listed(done)] == [
        "flip_cross_up",
        "gex_sign_flip",
        "near_call_wall",
    ]


def test_symbol_since_and_limit(home):
    assert listed(run(home, "--symbol", "qqq")) == [("2024-03-05", "flip_cross_up")]
    assert [d for d, _ in listed(run(home, "--since", "2024-03-05"))] == ["2024-03-06"] + [
        "2024-03-05"
    ] * 3
    done = run(home, "--limit", "2", "--symbol", "SPY")
    assert listed(done) == [("2024-03-06", "near_put_wall"), ("2024-03-05", "call_wall_moved")]
    assert done.stdout.splitlines()[-1].endswith("(the newest 2; --limit 0 for all)")


def test_json_is_the_lake_s_alert_rows(home):
    done = run(home, "--json", "--kind", "call_wall_moved")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["symbol"] == "SPY" and row["kind"] == "call_wall_moved"
    assert row["level"] == 530.0 and row["trade_date"] == "2024-03-05"
    assert row["as_of"] == "2024-03-05T16:15:00-05:00" and row["method"] == METHOD


@pytest.mark.parametrize("text", ["near_wall", "gex_sign_flip,bogus", " , "])
def test_a_bad_kind_is_one_line_naming_it_and_the_known_ones(home, text):
    done = run(home, "--kind", text)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    bad = text.split(",")[-1].strip()
    assert line.startswith("error: --kind ") and (bad in line)
    assert line.endswith("kinds: " + ", ".join(ALERT_KINDS))


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (("--symbol", "IWM"), "error: --symbol IWM: no snapshots in "),
        (("--since", "soon"), "error: --since 'soon' is neither a date"),
    ],
)
def test_an_unknown_symbol_or_a_bad_time_is_one_line(home, args, start):
    done = run(home, *args)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(start)
    assert args[0] != "--symbol" or line.endswith("(stored: QQQ, SPY)")


def test_the_kind_option_s_help_names_every_kind():
    from gammalake.cli.commands.alerts import alerts

    # The help is written out (importing flows.alerts would cost every command's start-up).
    option = typing.get_type_hints(alerts, include_extras=True)["kind"].__metadata__[0]
    assert re.findall(r"[a-z_]+_[a-z_]+", option.help) == list(ALERT_KINDS)
