"""Bad input on the command line: one line naming the option or symbol, exit 2, nothing written."""

from __future__ import annotations

import pytest

from tests.gammalake.test_cli import run_home

CASES = [
    (("snapshot", "--symbols", ""), "--symbols '' names no symbol"),
    (("snapshot", "--symbols", ",, ,"), "names no symbol"),
    (("snapshot", "--symbols", "ıwm"), "symbol 'ıwm' has characters outside"),
    (("snapshot", "--symbols", "ßPY"), "symbol 'ßPY' has characters outside"),
    (("snapshot", "--symbols", "SPY", "--preset", "nope"), "unknown method 'nope'"),
    (("snapshot", "--symbols", "SPY", "--at", "2024-03-15"), "--at '2024-03-15' needs a UTC"),
    (
        ("backfill", "--symbols", "SPY", "--start", "2024-03-10", "--end", "2024-03-01"),
        "--start 2024-03-10 is after --end 2024-03-01",
    ),
    (
        ("backfill", "--symbols", "SPY", "--start", "2024-03-09", "--end", "2024-03-10"),
        "holds no NYSE session",
    ),
    (
        ("backfill", "--symbols", "SPY", "--start", "2024-3-1", "--end", "2024-03-10"),
        "--start '2024-3-1' is not a date",
    ),
    (("prices", "import", "bars.csv", "--symbol", ""), "--symbol '' names no symbol"),
    (("rebuild", "--preset", "nope"), "unknown method 'nope'"),
    (("chain", "x.csv", "--expiration", "2024-2-1"), "--expiration '2024-2-1' is not a date"),
    # Tracebacks users saw (issue 20): an IndexError, a negative fee taken as a rebate.
    (("demo", "--years", "0"), "--years 0 is not a positive number of years"),
    (("demo", "--years", "-1"), "--years -1 is not a positive number of years"),
    (("demo", "--years", "nan"), "--years nan is not a positive number of years"),
    (("demo", "--years", "0.001"), "--years 0.001 covers fewer than two sessions"),
    (("demo", "--years", "1e300"), "reaches before the synthetic market starts"),
    (
        ("backtest", "--strategy", "regime", "--symbols", "SPY", "--fees-bps", "-5"),
        "--fees-bps -5 must be from 0 to under 10000 basis points",
    ),
    (
        ("backtest", "--strategy", "regime", "--symbols", "SPY", "--slippage-bps", "nan"),
        "--slippage-bps nan must be from 0",
    ),
    (("backtest", "--strategy", "regime", "--symbols", "SPY", "--train", "0"), "--train 0 must"),
    # An ISO week date reads as that week's Monday: never what was meant.
    (
        ("backfill", "--symbols", "SPY", "--start", "2024W10", "--end", "2024-03-08"),
        "--start '2024W10' is not a date like 2024-03-15",
    ),
    (("snapshot", "--symbols", "SPY", "--at", "2024W105T16:15-05:00"), "is not an ISO 8601"),
    # A symbol the chain checks refuse failed every fetch of a run (exit 1, a run recorded).
    (("demo", "--symbols", "^SPX"), "--symbols: '^SPX' is not an option chain's ticker"),
    (
        ("backfill", "--symbols", "^", "--start", "2024-03-04", "--end", "2024-03-05"),
        "--symbols: '^' is not an option chain's ticker",
    ),
    # A path the system refuses was an OSError traceback (found by test_cli_fuzz.py).
    (("import", "dix", "a" * 300), "(300 characters): File name too long"),
    (("chain", "a" * 300, "--json"), "(300 characters): File name too long"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_options_exit_2_with_one_line_and_write_nothing(tmp_path, args, message):
    home = tmp_path / "home"
    result = run_home(home, *args)
    assert result.returncode == 2, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and message in first and "Traceback" not in result.stderr
    assert not (home / "lake").exists() and not (home / "raw").exists()


def test_a_home_that_is_a_file_or_unreachable_is_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    for home, message in ((afile, "exists and is not a folder"), (afile / "sub", "cannot write")):
        result = run_home(home, "snapshot", "--symbols", "SPY")
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_doctor_on_a_new_home_is_healthy_and_creates_nothing(tmp_path):
    result = run_home(tmp_path / "new", "doctor")
    assert result.returncode == 0 and "nothing stored yet" in result.stdout
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rate", "nan"), "--rate must be a yearly fraction"),
        (("--yield", "inf"), "--yield must be a yearly fraction"),
        (("--year-basis", "inf"), "--year-basis must be a number of days"),
        (("--symbol", "ıwm"), "symbol 'ıwm' has characters outside"),
    ],
)
def test_chain_options_that_would_give_nan_are_refused(tmp_path, args, message):
    chain = tmp_path / "SPY_2024-03-15.csv"
    chain.write_text(
        "expiration,strike,right,open_interest,iv,underlying_price,as_of\n"
        "2024-04-19,500,C,10,0.2,500,2024-03-15T16:15:00-04:00\n"
    )
    result = run_home(tmp_path / "home", "chain", str(chain), "--json", *args)
    assert result.returncode == 2 and message in result.stderr and not result.stdout


def test_prices_import_takes_one_symbol(tmp_path):
    result = run_home(tmp_path, "prices", "import", "bars.csv", "--symbol", "SPY,QQQ")
    assert result.returncode == 2 and "--symbol must name one symbol" in result.stderr


def test_an_empty_home_and_a_file_as_home_for_doctor_are_one_line(tmp_path):
    result = run_home(tmp_path / "x", "doctor")
    assert result.returncode == 0
    import subprocess

    from tests.gammalake.test_cli import BIN

    empty = subprocess.run(
        [str(BIN), "--home", "", "snapshot", "--symbols", "SPY"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert empty.returncode == 2 and "--home '' names no folder" in empty.stderr
    assert not (tmp_path / "lake").exists()
    afile = tmp_path / "afile"
    afile.write_text("")
    doctor = run_home(afile, "doctor")
    assert doctor.returncode == 2 and "exists and is not a folder" in doctor.stderr


def test_quota_reset_without_an_answer_changes_nothing(tmp_path):
    result = run_home(tmp_path, "quota", "--reset", stdin="")
    assert result.returncode == 1 and "nothing changed" in result.stdout


def test_chain_save_of_a_refused_file_is_one_line(tmp_path):
    chain = tmp_path / "SPY_2099-03-13.csv"
    chain.write_text(
        "expiration,strike,right,open_interest,iv,underlying_price,as_of\n"
        "2099-04-17,500,C,10,0.2,500,2099-03-13T16:15:00-04:00\n"
    )
    result = run_home(tmp_path / "home", "chain", str(chain), "--save", "--json")
    assert result.returncode == 2 and "not saved: " in result.stderr
    assert "in the future" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("snapshot", "--symbols", "SPY", "--source", "nope"), "--source 'nope' is unknown"),
        (
            ("backfill", "--symbols", "SPY", "--start", "1995-01-03", "--end", "1995-01-10"),
            "the synthetic market starts 2000-01-03",
        ),
        (
            ("backfill", "--symbols", "SPY", "--start", "1985-01-02", "--end", "1985-01-10"),
            "leaves the NYSE calendar",
        ),
        (("snapshot", "--symbols", "SPY", "--at", "1985-01-02T16:15-05:00"), "outside the NYSE"),
    ],
)
def test_sources_and_spans_the_flows_cannot_take_are_one_line(tmp_path, args, message):
    result = run_home(tmp_path / "home", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "home" / "lake").exists()


def test_a_compact_date_means_that_very_day(tmp_path):
    from tests.gammalake.test_cli_fuzz import run_main
    from warehouse.forget import symbol_rows

    home = tmp_path / "home"
    args = ["backfill", "--symbols", "SPY", "--start", "20240304", "--end", "20240305"]
    done = run_main(args, home=home)
    assert done.code == 0, done.text
    days = symbol_rows(home, "snapshots", "SPY").get_column("trade_date").to_list()
    assert sorted(d.isoformat() for d in days) == ["2024-03-04", "2024-03-05"]
    at = run_main(["snapshot", "--symbols", "SPY", "--at", "20240306T1615-0500"], home=home)
    assert at.code == 0, at.text
    stamps = symbol_rows(home, "snapshots", "SPY").get_column("as_of").to_list()
    assert max(stamps).isoformat() == "2024-03-06T21:00:00+00:00"  # the 16:00 close it describes
