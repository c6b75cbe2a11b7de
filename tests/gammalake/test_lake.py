"""`from gammalake import Lake`: stored history as the flashalpha SDK's responses, no server."""

from __future__ import annotations

import subprocess
import sys
import typing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.engine.method import ENGINE_VERSION, resolve_method
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.engine.timing import NEW_YORK
from pipeline.errors import InputError
from warehouse import catalog

flashalpha_types = pytest.importorskip("flashalpha.types")

#: The default preset's method under the running engine (never written out: it is bumped).
METHOD = resolve_method("default")
#: SPY and QQQ snapshots stored through the flows' own path (archive raw, check, price, derive).
MOMENTS = ("2026-03-25T16:15", "2026-03-26T16:15", "2026-03-27T12:15", "2026-03-27T16:15")
VENDOR_AT = "2026-03-26T16:15"
SDK_TYPES = {
    "gex": "GexResponse",
    "dex": "DexResponse",
    "vex": "VexResponse",
    "chex": "ChexResponse",
    "levels": "ExposureLevelsResponse",
    "summary": "ExposureSummaryResponse",
}


def ny(text: str) -> datetime:
    """Return New York wall time `text` as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def build_home(home: Path) -> Path:
    """Store SPY and QQQ (synthetic, METHOD) at MOMENTS and SPX vendor payloads; return it.

    The vendor snapshot holds gex, levels and one per-expiration gex (2026-04-17), as a
    FlashAlpha capture with expirations would; no dex, vex, chex or summary.
    """
    from flows.capture import Pricing
    from flows.store import store_chain, store_payloads
    from pipeline.engine.presets import preset
    from pipeline.sources.synthetic import SyntheticMarket

    market = SyntheticMarket()
    for text in MOMENTS:
        for symbol in ("SPY", "QQQ"):
            chain = market.chain(symbol, ny(text), expiries=12, strikes=41)
            store_chain(home, chain, Pricing(preset("default")), source="synthetic")
    spx = market.chain("SPX", ny(VENDOR_AT), expiries=12, strikes=41)
    snap = ExposureSnapshot(spx, preset("default"))
    payloads = {"gex": snap.gex(), "levels": snap.levels()}
    payloads["gex_2026-04-17"] = snap.gex(expiration="2026-04-17")
    store_payloads(home, payloads, source="flashalpha", symbol="SPX", as_of=ny(VENDOR_AT))
    return home


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return build_home(tmp_path_factory.mktemp("lake") / "home")


@pytest.fixture(scope="module")
def lake(home):
    from gammalake import Lake

    return Lake(home)


def stored(home: Path, sql: str, params: list[Any]) -> pl.DataFrame:
    """Return a query over the catalog's dataset views (all methods): the stored figures."""
    return catalog.query(home, sql, params)


def stored_snapshot(home: Path, symbol: str, when: str) -> dict[str, Any]:
    """Return the stored snapshot row of `symbol` at New York time `when`."""
    frame = stored(
        home, "SELECT * FROM snapshots WHERE symbol = ? AND as_of = ?", [symbol, ny(when)]
    )
    assert frame.height == 1
    return frame.row(0, named=True)


def stored_strikes(home: Path, symbol: str, when: str) -> pl.DataFrame:
    """Return the stored strikes of `symbol`'s snapshot at `when`, by strike."""
    sql = "SELECT * FROM strikes WHERE symbol = ? AND as_of = ? ORDER BY strike"
    return stored(home, sql, [symbol, ny(when)])


# --- the SDK's shapes ----------------------------------------------------------------------


def check_value(value: Any, hint: Any, where: str) -> None:
    """Assert `value` has the type `hint` of an SDK field (TypedDicts checked field by field)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if typing.is_typeddict(hint):
        check_shape(value, hint, where)
    elif origin is typing.Union:
        if value is not None:
            check_value(value, next(a for a in args if a is not type(None)), where)
    elif origin is list:
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            check_value(item, args[0], f"{where}[{i}]")
    elif origin is typing.Literal:
        assert value in args, f"{where}: {value!r} not in {args}"
    else:
        assert type(value) is hint, f"{where}: {value!r} is not {hint.__name__}"


def check_shape(value: Any, cls: Any, where: str) -> None:
    """Assert `value` has exactly the fields of SDK TypedDict `cls`, each of its type."""
    hints = typing.get_type_hints(cls)
    assert isinstance(value, dict), where
    assert list(value) == list(hints), f"{where}: {list(value)} != {list(hints)}"
    for name, hint in hints.items():
        check_value(value[name], hint, f"{where}.{name}")


def responses(lake, symbol: str, at: str | None = None) -> dict[str, dict[str, Any]]:
    """Return every endpoint's response of `symbol` at `at`."""
    return {
        "gex": lake.gex(symbol, at),
        "dex": lake.dex(symbol, at),
        "vex": lake.vex(symbol, at),
        "chex": lake.chex(symbol, at),
        "levels": lake.exposure_levels(symbol, at),
        "summary": lake.exposure_summary(symbol, at),
    }


@pytest.mark.parametrize("at", [None, "2026-03-27T12:30"])
def test_every_response_has_exactly_the_sdk_fields_and_types(lake, at):
    for name, body in responses(lake, "SPY", at).items():
        check_shape(body, getattr(flashalpha_types, SDK_TYPES[name]), name)


def test_repriced_and_vendor_responses_have_the_sdk_shape(lake):
    check_shape(lake.gex("SPY", expiration="2026-04-17"), flashalpha_types.GexResponse, "gex")
    check_shape(lake.gex("SPY", min_oi=500), flashalpha_types.GexResponse, "gex")
    check_shape(lake.dex("SPY", expiration="2026-04-17"), flashalpha_types.DexResponse, "dex")
    check_shape(lake.gex("SPX"), flashalpha_types.GexResponse, "vendor gex")
    check_shape(lake.gex("SPX", expiration="2026-04-17"), flashalpha_types.GexResponse, "sent")
    levels = lake.exposure_levels("SPX")
    check_shape(levels, flashalpha_types.ExposureLevelsResponse, "vendor levels")


def test_the_envelope_dates_the_snapshot(lake):
    body = lake.gex("SPY", at="2026-03-26")
    assert body["as_of"] == "2026-03-26T16:15:00-04:00" and body["endpoint_version"] == "v1"
    feeds = body["data_as_of"]
    assert feeds["node"] == "gammalake"
    assert feeds["equity_options_feed"] == feeds["equity_feed"] == body["as_of"]
    assert feeds["index_options_feed"] is None and feeds["oi_feed"] is None
    spx = lake.gex("SPX")["data_as_of"]
    assert spx["index_options_feed"] == "2026-03-26T16:15:00-04:00"
    assert spx["equity_options_feed"] is None


# --- figures are the stored ones ---------------------------------------------------------


@pytest.mark.parametrize("when", MOMENTS)
def test_per_strike_figures_equal_the_stored_ones(lake, home, when):
    rows = stored_strikes(home, "SPY", when)
    for greek in ("gex", "dex", "vex", "chex"):
        body = getattr(lake, greek)("SPY", when)
        fields = list(body["strikes"][0])
        assert body["strikes"] == rows.select(fields).to_dicts()
    snapshot = stored_snapshot(home, "SPY", when)
    gex = lake.gex("SPY", when)
    assert gex["net_gex"] == snapshot["net_gex"] and gex["gamma_flip"] == snapshot["gamma_flip"]
    assert gex["underlying_price"] == snapshot["underlying_price"]
    assert lake.dex("SPY", when)["net_dex"] == snapshot["net_dex"]
    assert lake.vex("SPY", when)["vex_interpretation"] == snapshot["interpretation_vanna"]
    assert lake.chex("SPY", when)["net_chex"] == snapshot["net_chex"]


def test_levels_and_summary_equal_the_stored_row(lake, home):
    snapshot = stored_snapshot(home, "SPY", "2026-03-27T12:15")
    levels = lake.exposure_levels("SPY", "2026-03-27T12:15")["levels"]
    assert levels == {k: snapshot[k] for k in levels}
    assert levels["zero_dte_magnet"] is not None  # a same-day expiry still trades at 12:15
    assert lake.exposure_levels("SPY", "2026-03-27")["levels"]["zero_dte_magnet"] is None
    summary = lake.exposure_summary("SPY", "2026-03-27T12:15")
    assert summary["exposures"] == {
        f"net_{g}": snapshot[f"net_{g}"] for g in ("gex", "dex", "vex", "chex")
    }
    up = summary["hedging_estimate"]["spot_up_1pct"]
    assert up["dealer_shares_to_trade"] == snapshot["hedge_up_1pct_shares"]
    assert up["notional_usd"] == snapshot["hedge_up_1pct_notional"]
    assert up["direction"] == ("buy" if up["dealer_shares_to_trade"] >= 0 else "sell")
    assert summary["zero_dte"]["expiration"] == "2026-03-27"
    assert summary["regime"] == snapshot["regime"]


# --- at= ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (None, "2026-03-27T16:15"),
        ("2026-03-27", "2026-03-27T16:15"),  # the day's latest snapshot
        (date(2026, 3, 26), "2026-03-26T16:15"),
        ("2026-03-27T12:15", "2026-03-27T12:15"),  # exactly
        ("2026-03-27T16:14", "2026-03-27T12:15"),  # naive: New York
        ("2026-03-27T20:14:00+00:00", "2026-03-27T12:15"),  # 16:14 New York
        ("2026-03-27T20:15Z", "2026-03-27T16:15"),
        (ny("2026-03-26T09:30"), "2026-03-25T16:15"),  # before the open: the day before's
        ("2026-03-27T23:59", "2026-03-27T16:15"),  # later the last stored day
    ],
)
def test_at_means_the_latest_snapshot_known_then(lake, at, expected):
    assert lake.gex("SPY", at)["as_of"] == ny(expected).isoformat()


@pytest.mark.parametrize(
    "at", ["2026-03-25T16:14", "2026-03-24", "2026-03-30", "2026-03-30T09:30", "2027-01-04"]
)
def test_a_moment_outside_the_history_names_the_covered_range(lake, at):
    from gammalake import NotStoredError

    with pytest.raises(NotStoredError) as caught:
        lake.exposure_levels("SPY", at)
    assert isinstance(caught.value, LookupError)
    message = str(caught.value)
    assert message.startswith(f"SPY: nothing stored at {at[:10]}")
    assert "covers 2026-03-25T16:15:00-04:00 .. 2026-03-27T16:15:00-04:00 (4 snapshots)" in message


@pytest.mark.parametrize("at", ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30T09:29"])
def test_a_date_is_its_sessions_view_until_the_next_open(lake, at):
    # Friday's session view lasts until Monday's open: a weekend date (or a snapshot taken
    # then, which describes Friday) belongs to it.
    assert lake.exposure_levels("SPY", at)["as_of"] == ny("2026-03-27T16:15").isoformat()


def test_an_unknown_symbol_is_not_invented(lake):
    from gammalake import NotStoredError

    with pytest.raises(
        NotStoredError, match=r"^AAPL: not stored \(stored symbols: QQQ, SPX, SPY\)$"
    ):
        lake.gex("AAPL")
    with pytest.raises(NotStoredError, match="AAPL"):
        lake.history("aapl")
    with pytest.raises(InputError, match="invalid symbol"):
        lake.gex("SP Y")


@pytest.mark.parametrize("at", ["yesterday", "2026-13-01", "2026-03-27T25:00"])
def test_a_bad_moment_is_an_input_error(lake, at):
    with pytest.raises(InputError, match=r"^at=.* is neither a date"):
        lake.gex("SPY", at)


# --- expiration= and min_oi= from the raw chain --------------------------------------------


def test_one_expiration_is_priced_from_the_raw_chain_and_matches_the_stored_expiry(lake, home):
    sql = "SELECT * FROM expiries WHERE symbol = 'SPY' AND as_of = ? ORDER BY expiration"
    expiries = stored(home, sql, [ny("2026-03-26T16:15")])
    for row in expiries.iter_rows(named=True):
        day = row["expiration"].isoformat()
        body = lake.gex("SPY", "2026-03-26", expiration=day)
        assert sum(s["net_gex"] for s in body["strikes"]) == pytest.approx(
            row["net_gex"], rel=1e-12
        )
        top = max(body["strikes"], key=lambda s: abs(s["net_gex"]))
        assert top["strike"] == row["top_strike"]
        assert body["as_of"] == "2026-03-26T16:15:00-04:00"
    assert (
        lake.expiries("SPY", "2026-03-26")[0]["expiration"]
        == expiries.item(0, "expiration").isoformat()
    )


def test_the_whole_chain_repriced_equals_what_is_stored(lake):
    assert lake.gex("SPY", "2026-03-26", min_oi=0) == lake.gex("SPY", "2026-03-26")


def test_an_engine_older_than_the_rows_does_not_pretend_to_remake_the_figures(lake, monkeypatch):
    from gammalake.lake import NoInputError
    from pipeline.engine import method

    older = ENGINE_VERSION - 1  # as if an older gammalake read this lake
    monkeypatch.setattr(method, "ENGINE_VERSION", older)
    with pytest.raises(
        NoInputError, match=rf"was priced as {METHOD}; this engine \(v1 to v{older}\)"
    ):
        lake.gex("SPY", expiration="2026-04-17")


def test_min_oi_keeps_contracts_with_that_much_open_interest(lake):
    everything = lake.gex("SPY", "2026-03-26")
    some = lake.gex("SPY", "2026-03-26", min_oi=2000)
    assert 0 < len(some["strikes"]) <= len(everything["strikes"])
    open_interest = [
        sum(s["call_oi"] + s["put_oi"] for s in b["strikes"]) for b in (some, everything)
    ]
    assert open_interest[0] < open_interest[1] and some["net_gex"] != everything["net_gex"]
    with pytest.raises(InputError, match="min_oi"):
        lake.gex("SPY", min_oi=-1)


def test_an_expiration_the_chain_does_not_list(lake):
    from gammalake import NotStoredError

    with pytest.raises(
        NotStoredError,
        match=r"2026-03-26T16:15:00-04:00: no contract expires 2026-04-03; its chain lists "
        r"2026-03-27, 2026-03-30, 2026-03-31, 2026-04-01, 2026-04-02, 2026-04-10, ",
    ):
        lake.gex("SPY", "2026-03-26", expiration="2026-04-03")
    with pytest.raises(InputError, match="expiration='April' is not a date"):
        lake.gex("SPY", expiration="April")


def test_vendor_figures_are_served_as_sent_and_never_repriced(lake, home):
    from gammalake.lake import NoInputError

    gex = lake.gex("SPX")
    rows = stored_strikes(home, "SPX", VENDOR_AT)
    assert gex["strikes"] == rows.select(list(gex["strikes"][0])).to_dicts()
    sent = lake.gex("SPX", expiration="2026-04-17")  # archived with the snapshot
    assert sent["as_of"] == gex["as_of"] and sent["strikes"]
    with pytest.raises(
        NoInputError,
        match=r"raw/ holds payloads .* no chain: figures by expiration or min_oi are priced "
        r"from the raw chain",
    ):
        lake.gex("SPX", expiration="2026-04-10")
    with pytest.raises(NoInputError):
        lake.gex("SPX", min_oi=10)
    with pytest.raises(LookupError, match="holds no DEX figures"):
        lake.dex("SPX")
    with pytest.raises(LookupError, match="holds no summary"):
        lake.exposure_summary("SPX")


# --- what is stored, across time and symbols ------------------------------------------------


def test_symbols_coverage_and_sessions(lake):
    assert lake.symbols() == ["QQQ", "SPX", "SPY"]
    first, last = lake.coverage("spy")
    assert (first, last) == (ny("2026-03-25T16:15"), ny("2026-03-27T16:15"))
    assert lake.sessions("SPY") == [date(2026, 3, 25), date(2026, 3, 26), date(2026, 3, 27)]


def test_history_has_one_row_per_session_its_last_snapshot(lake, home):
    frame = lake.history("SPY", "2026-03-26", date(2026, 3, 27))
    assert frame.get_column("trade_date").to_list() == [date(2026, 3, 26), date(2026, 3, 27)]
    last = frame.row(1, named=True)
    snapshot = stored_snapshot(home, "SPY", "2026-03-27T16:15")
    assert last["as_of"] == ny("2026-03-27T16:15") and last["spot"] == snapshot["underlying_price"]
    for name in (
        "net_gex",
        "net_dex",
        "net_vex",
        "net_chex",
        "regime",
        "gamma_flip",
        "call_wall",
        "put_wall",
        "max_positive_gamma",
        "max_negative_gamma",
        "highest_oi_strike",
        "zero_dte_magnet",
    ):
        assert last[name] == snapshot[name], name
    assert lake.history("SPY").height == 3
    assert lake.history("SPY", "2030-01-01").height == 0


def test_scanner_reads_each_symbol_at_the_moment(lake, home):
    rows = {row["symbol"]: row for row in lake.scanner("2026-03-27T12:30", ["SPY", "QQQ", "AAPL"])}
    spy = rows["SPY"]
    snapshot = stored_snapshot(home, "SPY", "2026-03-27T12:15")
    assert spy["as_of"] == "2026-03-27T12:15:00-04:00" and spy["note"] is None
    assert spy["spot"] == snapshot["underlying_price"] and spy["net_gex"] == snapshot["net_gex"]
    flip = snapshot["gamma_flip"]
    assert spy["distance_to_flip_pct"] == pytest.approx(100 * (spy["spot"] - flip) / spy["spot"])
    kinds = stored(
        home,
        "SELECT kind FROM alerts WHERE symbol = 'SPY' AND trade_date = ? AND as_of <= ?",
        [date(2026, 3, 27), ny("2026-03-27T12:30")],
    ).get_column("kind")
    assert sorted(a["kind"] for a in spy["alerts"]) == sorted(kinds)
    assert rows["AAPL"]["note"].startswith("AAPL: not stored") and rows["AAPL"]["spot"] is None
    assert [r["symbol"] for r in lake.scanner()] == ["QQQ", "SPX", "SPY"]


def test_alerts_newest_first(lake, home):
    alerts = lake.alerts()
    assert len(alerts) == stored(home, "SELECT count(*) FROM alerts", []).item()
    assert [a["as_of"] for a in alerts] == sorted((a["as_of"] for a in alerts), reverse=True)
    assert len(lake.alerts("SPY", limit=2)) == 2
    newest = alerts[0]["trade_date"]  # which days have alerts is flows.alerts' business
    recent = lake.alerts(since=newest)
    assert recent and all(a["trade_date"] == newest for a in recent)
    assert len(recent) < len(alerts)  # since= drops the days before
    assert set(recent[0]) == {
        "symbol",
        "as_of",
        "trade_date",
        "kind",
        "message",
        "level",
        "source",
        "method",
    }


def test_alerts_keep_the_kinds_asked_for(lake, home):
    counts = dict(stored(home, "SELECT kind, count(*) FROM alerts GROUP BY 1", []).rows())
    kind = max(counts, key=lambda k: counts[k])
    assert len(counts) > 1  # the filter must drop something
    chosen = lake.alerts(limit=None, kinds=[kind])
    assert len(chosen) == counts[kind] and {a["kind"] for a in chosen} == {kind}
    assert len(lake.alerts(limit=None, kinds=list(counts))) == sum(counts.values())
    assert lake.alerts(kinds=[]) == []
    with pytest.raises(InputError, match=r"'wall_party' is not known; kinds: flip_cross_up, "):
        lake.alerts(kinds=["near_call_wall", "wall_party"])


def test_sql_only_reads(lake, home):
    counts = lake.sql("SELECT symbol, count(*) AS n FROM snapshots GROUP BY 1 ORDER BY 1")
    assert counts.rows() == [("QQQ", 4), ("SPX", 1), ("SPY", 4)]
    assert lake.sql("SELECT * FROM strikes", limit=3).height == 3
    target = home / "lake" / "planted.parquet"
    with pytest.raises(InputError, match="only reads: COPY statements are refused"):
        lake.sql(f"COPY (SELECT 1) TO '{target}'")
    assert not target.exists()
    with pytest.raises(InputError, match="SQL error"):
        lake.sql("SELECT * FROM no_such_view")


# --- methods ------------------------------------------------------------------------------


def test_method_defaults_to_the_catalogs_and_can_be_chosen(home, lake):
    from gammalake import Lake, NotStoredError

    assert lake.method == METHOD
    perfiliev = resolve_method("perfiliev")
    with pytest.raises(
        InputError,
        match=rf"method 'perfiliev' \({perfiliev}\) is not stored in {home} "
        rf"\(stored methods: {METHOD}, vendor\)",
    ):
        Lake(home, "perfiliev")  # once read as SPX's vendor rows alone, silently
    assert lake.using("vendor").symbols() == ["SPX"]
    alone = rf"SPY: no vendor snapshots stored \(stored: {METHOD}\)"
    with pytest.raises(NotStoredError, match=alone):
        lake.using("vendor").gex("SPY")
    with pytest.raises(InputError, match="unknown method"):
        Lake(home, "nonsense")


def test_an_empty_home_says_nothing_is_stored(tmp_path):
    from gammalake import Lake, NotStoredError

    with pytest.raises(NotStoredError, match="nothing yet in"):
        Lake(tmp_path, METHOD).gex("SPY")


# --- habits -------------------------------------------------------------------------------


def test_importing_gammalake_loads_neither_polars_nor_duckdb():
    code = (
        "import sys, gammalake\n"
        "assert 'polars' not in sys.modules and 'duckdb' not in sys.modules\n"
        "from gammalake import Lake\n"
        "assert 'polars' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600)


def test_every_public_method_documents_a_real_example():
    from gammalake import Lake

    public = [n for n in vars(Lake) if not n.startswith("_")]
    assert {"gex", "dex", "vex", "chex", "exposure_levels", "exposure_summary"} <= set(public)
    for name in public:
        doc = getattr(Lake, name).__doc__ or ""
        assert "Return" in doc, name
        if name != "using":
            assert "->" in doc or "Example" in doc, name


def test_a_lake_is_shared_by_threads(lake):
    from concurrent.futures import ThreadPoolExecutor

    expected = lake.gex("SPY", "2026-03-26")
    with ThreadPoolExecutor(6) as pool:
        bodies = list(pool.map(lambda _: lake.gex("SPY", "2026-03-26"), range(24)))
    assert all(body == expected for body in bodies)


def test_moments_in_messages_are_new_york_time(lake):
    from gammalake import NotStoredError

    when = ny("2026-03-25T10:00") - timedelta(days=1)
    with pytest.raises(NotStoredError, match=r"nothing stored at 2026-03-24T10:00:00-04:00"):
        lake.gex("SPY", when)
