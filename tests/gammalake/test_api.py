"""`gammalake api`: the public flashalpha SDK, pointed at it, runs the article's snippets unchanged.

The snippets below are copied verbatim from ../shared/reference/gex-dashboard-tutorial.txt
and executed with `fa` bound to the SDK's own client (`FlashAlpha("YOUR_KEY",
base_url=<server>)`; `from flashalpha import FlashAlpha` inside a snippet gets the same). The
SDK has no `at=` argument, so the client pins a stored moment with its requests session's
default query parameters (`?at=...` on every request). The server is real uvicorn on
127.0.0.1, a free port, started in a thread.
"""

# ruff: noqa: E501 -- the article's snippets are kept verbatim, long lines included

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import traceback
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from tests.gammalake.test_lake import METHOD, build_home, ny, stored_snapshot, stored_strikes
from warehouse import catalog

flashalpha = pytest.importorskip("flashalpha")

KEY = "YOUR_KEY"  # the article's key: the test server accepts it

QUICK_START = r"""
from flashalpha import FlashAlpha

fa = FlashAlpha("YOUR_KEY")
gex = fa.gex("SPY")

print(f"Net GEX:    {gex['net_gex']:,.0f}")
print(f"Gamma flip: {gex['gamma_flip']}")
print(f"Price:      {gex['underlying_price']}")
print(f"Strikes:    {len(gex['strikes'])} levels")

# Top 5 strikes by absolute net GEX
top = sorted(gex["strikes"], key=lambda s: abs(s["net_gex"]), reverse=True)[:5]
for s in top:
    print(f"  {s['strike']:>8.1f}  call={s['call_gex']:>12,.0f}  put={s['put_gex']:>12,.0f}  net={s['net_gex']:>12,.0f}")
"""

LEVELS = r"""
levels = fa.exposure_levels("SPY")
lvl = levels["levels"]

print(f"Gamma flip:         {lvl['gamma_flip']}")
print(f"Call wall:          {lvl['call_wall']}")          # Resistance
print(f"Put wall:           {lvl['put_wall']}")           # Support
print(f"Max + gamma:        {lvl['max_positive_gamma']}")  # Strongest pin
print(f"Max - gamma:        {lvl['max_negative_gamma']}")  # Strongest amplifier
print(f"Highest OI:         {lvl['highest_oi_strike']}")   # OI magnet
print(f"0DTE magnet:        {lvl['zero_dte_magnet']}")     # Intraday gravity
"""

CHART = r"""
import matplotlib.pyplot as plt

gex = fa.gex("SPY")

strikes = [s["strike"] for s in gex["strikes"]]
net_gex = [s["net_gex"] for s in gex["strikes"]]
colors = ["#16a34a" if g >= 0 else "#dc2626" for g in net_gex]

fig, ax = plt.subplots(figsize=(14, 6))
ax.bar(strikes, net_gex, color=colors, width=0.8)
ax.axvline(gex["underlying_price"], color="#2563eb", linestyle="--", label="Spot")
ax.axvline(gex["gamma_flip"], color="#f59e0b", linestyle="-", linewidth=2, label="Gamma Flip")
ax.set_xlabel("Strike")
ax.set_ylabel("Net GEX ($)")
ax.set_title(f"SPY Gamma Exposure | Net: {gex['net_gex_label']}")
ax.legend()
plt.tight_layout()
plt.savefig("spy_gex.png", dpi=150)
"""

REGIME = r"""
price = gex["underlying_price"]
flip = gex["gamma_flip"]

regime = "POSITIVE GAMMA" if price > flip else "NEGATIVE GAMMA"
distance = ((price - flip) / price) * 100

print(f"Gamma Flip: {flip}")
print(f"Spot:       {price}")
print(f"Regime:     {regime}")
print(f"Distance:   {distance:+.2f}%")
"""

KEY_LEVELS = r"""
levels = fa.exposure_levels("SPY")
lvl = levels["levels"]

key_levels = [
    ("Call Wall (resistance)", lvl["call_wall"]),
    ("Put Wall (support)",     lvl["put_wall"]),
    ("Max + Gamma (pin)",      lvl["max_positive_gamma"]),
    ("Max - Gamma (amplify)",  lvl["max_negative_gamma"]),
    ("Highest OI (magnet)",    lvl["highest_oi_strike"]),
    ("0DTE Magnet (intraday)", lvl["zero_dte_magnet"]),
    ("Gamma Flip",             lvl["gamma_flip"]),
]

for label, value in key_levels:
    print(f"  {label:<28s} {value:>8.1f}")
"""

MULTI_EXPIRY = r"""
expirations = ["2026-03-30", "2026-04-03", "2026-04-17"]

for exp in expirations:
    gex_exp = fa.gex("SPY", expiration=exp)
    total = sum(s["net_gex"] for s in gex_exp["strikes"])
    top = max(gex_exp["strikes"], key=lambda s: abs(s["net_gex"]))
    print(f"{exp}: net_gex={total:>14,.0f}  top_strike={top['strike']}")
"""

OI_MOVERS = r"""
gex = fa.gex("SPY")

oi_movers = sorted(
    gex["strikes"],
    key=lambda s: abs(s["call_oi_change"]) + abs(s["put_oi_change"]),
    reverse=True
)[:10]

print("Top OI Movers (day-over-day):")
for s in oi_movers:
    print(f"  {s['strike']:>8.1f}  call_oi={s['call_oi_change']:>+7,d}  put_oi={s['put_oi_change']:>+7,d}")
"""

STACK = r"""
gex = fa.gex("SPY")
dex = fa.dex("SPY")
vex = fa.vex("SPY")
chex = fa.chex("SPY")

print(f"GEX  net: {gex['net_gex']:>14,.0f}  (gamma - vol regime)")
print(f"DEX  net: {dex['net_dex']:>14,.0f}  (delta - direction)")
print(f"VEX  net: {vex['net_vex']:>14,.0f}  (vanna - IV sensitivity)")
print(f"CHEX net: {chex['net_chex']:>14,.0f}  (charm - time decay flow)")
"""

SCANNER = r"""
from flashalpha import FlashAlpha

fa = FlashAlpha("YOUR_KEY")
symbols = ["SPY", "QQQ", "IWM", "TSLA", "AAPL", "NVDA", "AMD", "META", "AMZN", "MSFT"]

print(f"{'Symbol':<8} {'Price':>8} {'Flip':>8} {'Regime':<10} {'Net GEX':>14} {'Call Wall':>10} {'Put Wall':>10}")
print("-" * 78)

for sym in symbols:
    try:
        gex = fa.gex(sym)
        levels = fa.exposure_levels(sym)
        lvl = levels["levels"]

        price = gex["underlying_price"]
        flip = gex["gamma_flip"]
        regime = "POS GAMMA" if price > flip else "NEG GAMMA"

        print(f"{sym:<8} {price:>8.2f} {flip:>8.1f} {regime:<10} "
              f"{gex['net_gex']:>14,.0f} {lvl['call_wall']:>10.1f} {lvl['put_wall']:>10.1f}")

        if price < flip:
            print(f"  >> WARNING: {sym} in negative gamma - expect amplified moves")

    except Exception as e:
        print(f"{sym:<8} Error: {e}")
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return build_home(tmp_path_factory.mktemp("api") / "home")


@pytest.fixture(scope="module")
def article_home(tmp_path_factory):
    """SPY from a chain file listing the article's expirations, stored as received.

    Its 2026-04-03 is Good Friday (NYSE closed; no real or synthetic listing has it); the file
    lists it, as the article assumed. No previous snapshot and no previous OI in the file, so
    its OI changes are unknown (null).
    """
    from flows.capture import Pricing
    from flows.store import store_chain
    from pipeline.chain import Chain
    from pipeline.engine.presets import preset
    from pipeline.sources.synthetic import SyntheticMarket

    home = tmp_path_factory.mktemp("article") / "home"
    chain = SyntheticMarket().chain("SPY", ny("2026-03-27T16:15"), expiries=12, strikes=41)
    expiration = pl.col("expiration")
    frame = chain.frame.drop("prev_open_interest").with_columns(
        pl.when(expiration == date(2026, 4, 2))
        .then(pl.lit(date(2026, 4, 3)))
        .otherwise(expiration)
        .alias("expiration")
    )
    listed = Chain("SPY", chain.spot, chain.as_of, frame, origin="article chain file")
    store_chain(home, listed, Pricing(preset("default")))
    return home


def serving(home: Path, keys: frozenset[str] = frozenset({KEY}), **extra: Any) -> Any:
    """Return a started server (real uvicorn, 127.0.0.1, a free port) over `home`."""
    from gammalake import Lake
    from gammalake.api import create_app, start

    return start(create_app(Lake(home), keys=keys, **extra))


@pytest.fixture(scope="module")
def server(home):
    running = serving(home)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def article_server(article_home):
    running = serving(article_home)
    yield running
    running.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, headers={"X-Api-Key": KEY}, timeout=600) as c:
        yield c


def pinned(url: str, at: str | None) -> type:
    """Return the SDK's client class bound to `url`, asking every request for moment `at`."""

    class FlashAlpha(flashalpha.FlashAlpha):
        def __init__(self, api_key: str, *, base_url: str = url, timeout: float = 30) -> None:
            super().__init__(api_key, base_url=base_url, timeout=timeout)
            if at is not None:
                self._session.params = {"at": at}

    return FlashAlpha


def run(snippet: str, url: str, at: str | None, monkeypatch, **names: Any) -> tuple[dict, str]:
    """Exec an article snippet, unchanged, with `fa` the SDK client; return names and output."""
    sdk = pinned(url, at)
    monkeypatch.setattr(flashalpha, "FlashAlpha", sdk)
    namespace = {"fa": sdk(KEY), **names}
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(snippet, "<article>", "exec"), namespace)
    return namespace, out.getvalue()


def failing_line(snippet: str, url: str, at: str, monkeypatch) -> tuple[BaseException, str, str]:
    """Run a snippet expected to fail; return the exception, its snippet line and the output."""
    out = io.StringIO()
    sdk = pinned(url, at)
    monkeypatch.setattr(flashalpha, "FlashAlpha", sdk)
    with pytest.raises(Exception) as caught, redirect_stdout(out):
        exec(compile(snippet, "<article>", "exec"), {"fa": sdk(KEY)})
    frames = [
        f for f in traceback.extract_tb(caught.value.__traceback__) if f.filename == "<article>"
    ]
    line = snippet.splitlines()[frames[-1].lineno - 1]
    return caught.value, line, out.getvalue()


# --- the article's snippets -----------------------------------------------------------------


def test_headline_and_top_strikes(server, home, monkeypatch):
    names, out = run(QUICK_START, server.url, "2026-03-26", monkeypatch)
    snapshot = stored_snapshot(home, "SPY", "2026-03-26T16:15")
    strikes = stored_strikes(home, "SPY", "2026-03-26T16:15")
    assert names["gex"]["strikes"] == strikes.select(list(names["gex"]["strikes"][0])).to_dicts()
    lines = out.splitlines()
    assert lines[:4] == [
        f"Net GEX:    {snapshot['net_gex']:,.0f}",
        f"Gamma flip: {snapshot['gamma_flip']}",
        f"Price:      {snapshot['underlying_price']}",
        f"Strikes:    {strikes.height} levels",
    ]
    top = strikes.sort(pl.col("net_gex").abs(), descending=True, maintain_order=True).head(5)
    assert lines[4:] == [
        f"  {s['strike']:>8.1f}  call={s['call_gex']:>12,.0f}  put={s['put_gex']:>12,.0f}  "
        f"net={s['net_gex']:>12,.0f}"
        for s in top.iter_rows(named=True)
    ]


def test_gex_chart_and_regime(server, home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    names, _ = run(CHART, server.url, "2026-03-26", monkeypatch)
    assert (tmp_path / "spy_gex.png").stat().st_size > 10_000
    _, out = run(REGIME, server.url, "2026-03-26", monkeypatch, gex=names["gex"])
    snapshot = stored_snapshot(home, "SPY", "2026-03-26T16:15")
    price, flip = snapshot["underlying_price"], snapshot["gamma_flip"]
    assert out.splitlines() == [
        f"Gamma Flip: {flip}",
        f"Spot:       {price}",
        f"Regime:     {'POSITIVE GAMMA' if price > flip else 'NEGATIVE GAMMA'}",
        f"Distance:   {((price - flip) / price) * 100:+.2f}%",
    ]


@pytest.mark.parametrize("at", ["2026-03-27T12:30", "2026-03-27"])
def test_levels_with_and_without_a_0dte_magnet(server, home, monkeypatch, at):
    _, out = run(LEVELS, server.url, at, monkeypatch)
    snapshot = stored_snapshot(home, "SPY", "2026-03-27T12:15" if "T" in at else "2026-03-27T16:15")
    assert out.splitlines()[0] == f"Gamma flip:         {snapshot['gamma_flip']}"
    assert out.splitlines()[-1] == f"0DTE magnet:        {snapshot['zero_dte_magnet']}"
    assert (snapshot["zero_dte_magnet"] is None) == (at == "2026-03-27")


def test_key_levels_panel_on_a_day_with_a_0dte_magnet(server, home, monkeypatch):
    _, out = run(KEY_LEVELS, server.url, "2026-03-27T12:30", monkeypatch)
    snapshot = stored_snapshot(home, "SPY", "2026-03-27T12:15")
    names = ("call_wall", "put_wall", "max_positive_gamma", "max_negative_gamma")
    values = [snapshot[n] for n in (*names, "highest_oi_strike", "zero_dte_magnet", "gamma_flip")]
    assert [float(line.split()[-1]) for line in out.splitlines()] == [
        float(f"{v:.1f}") for v in values
    ]


def test_key_levels_panel_cannot_format_a_null_0dte_magnet(server, monkeypatch):
    """The unchanged snippet formats every level with `:>8.1f`; None has no such format.

    The API sends the stored null (no same-day expiry after 16:00), never a made-up level, so
    the article's panel stops at its 0DTE line: reported, not papered over.
    """
    error, line, out = failing_line(KEY_LEVELS, server.url, "2026-03-27", monkeypatch)
    assert isinstance(error, TypeError)
    assert str(error) == "unsupported format string passed to NoneType.__format__"
    assert line == '    print(f"  {label:<28s} {value:>8.1f}")'
    assert len(out.splitlines()) == 5  # call wall .. highest OI printed; the magnet is None


def test_multi_expiry_breakdown(article_server, article_home, monkeypatch):
    _, out = run(MULTI_EXPIRY, article_server.url, None, monkeypatch)
    sql = "SELECT expiration, net_gex, top_strike FROM expiries WHERE symbol = 'SPY'"
    stored = {r[0].isoformat(): r for r in catalog.query(article_home, sql).rows()}
    expected = [
        f"{day}: net_gex={stored[day][1]:>14,.0f}  top_strike={stored[day][2]}"
        for day in ("2026-03-30", "2026-04-03", "2026-04-17")
    ]
    assert out.splitlines() == expected


def test_multi_expiry_on_a_chain_without_the_articles_good_friday(server, monkeypatch):
    """A chain as listed (the synthetic market follows the NYSE calendar): 404, not a guess."""
    error, line, out = failing_line(MULTI_EXPIRY, server.url, "2026-03-27", monkeypatch)
    assert isinstance(error, flashalpha.NotFoundError) and error.status_code == 404
    assert "no contract expires 2026-04-03; its chain lists 2026-03-30, 2026-03-31" in str(error)
    assert line == '    gex_exp = fa.gex("SPY", expiration=exp)'
    assert out.startswith("2026-03-30: net_gex=") and len(out.splitlines()) == 1


def test_oi_movers_on_a_day_with_a_previous_snapshot(server, home, monkeypatch):
    _, out = run(OI_MOVERS, server.url, "2026-03-26", monkeypatch)
    strikes = stored_strikes(home, "SPY", "2026-03-26T16:15")
    moved = strikes.sort(
        pl.col("call_oi_change").abs() + pl.col("put_oi_change").abs(),
        descending=True,
        maintain_order=True,
    ).head(10)
    assert out.splitlines() == [
        "Top OI Movers (day-over-day):",
        *(
            f"  {s['strike']:>8.1f}  call_oi={s['call_oi_change']:>+7,d}  "
            f"put_oi={s['put_oi_change']:>+7,d}"
            for s in moved.iter_rows(named=True)
        ),
    ]


def test_oi_movers_on_a_first_day_without_oi_change(article_server, monkeypatch):
    """No previous snapshot, no previous OI in the file: the stored change is null, so is the
    API's, and the unchanged snippet's sort key `abs(None)` fails."""
    error, line, _ = failing_line(OI_MOVERS, article_server.url, None, monkeypatch)
    assert isinstance(error, TypeError) and "NoneType" in str(error)
    assert line == '    key=lambda s: abs(s["call_oi_change"]) + abs(s["put_oi_change"]),'


def test_the_full_exposure_stack(server, home, monkeypatch):
    names, out = run(STACK, server.url, "2026-03-27T12:30", monkeypatch)
    snapshot = stored_snapshot(home, "SPY", "2026-03-27T12:15")
    assert out.splitlines() == [
        f"GEX  net: {snapshot['net_gex']:>14,.0f}  (gamma - vol regime)",
        f"DEX  net: {snapshot['net_dex']:>14,.0f}  (delta - direction)",
        f"VEX  net: {snapshot['net_vex']:>14,.0f}  (vanna - IV sensitivity)",
        f"CHEX net: {snapshot['net_chex']:>14,.0f}  (charm - time decay flow)",
    ]
    strikes = stored_strikes(home, "SPY", "2026-03-27T12:15")
    for greek in ("dex", "vex", "chex"):
        rows = names[greek]["strikes"]
        assert rows == strikes.select(list(rows[0])).to_dicts()


def test_the_scanner_invents_no_symbol(server, home, monkeypatch):
    _, out = run(SCANNER, server.url, "2026-03-26", monkeypatch)
    lines = out.splitlines()
    rows = {line.split()[0]: line for line in lines[2:] if not line.startswith("  >>")}
    for symbol in ("SPY", "QQQ"):
        snap = stored_snapshot(home, symbol, "2026-03-26T16:15")
        price, flip = snap["underlying_price"], snap["gamma_flip"]
        regime = "POS GAMMA" if price > flip else "NEG GAMMA"
        assert rows[symbol] == (
            f"{symbol:<8} {price:>8.2f} {flip:>8.1f} {regime:<10} "
            f"{snap['net_gex']:>14,.0f} {snap['call_wall']:>10.1f} {snap['put_wall']:>10.1f}"
        )
    for symbol in ("IWM", "TSLA", "AAPL", "NVDA", "AMD", "META", "AMZN", "MSFT"):
        assert (
            rows[symbol]
            == f"{symbol:<8} Error: {symbol}: not stored (stored symbols: QQQ, SPX, SPY)"
        )


# --- HTTP: keys, errors, caching ------------------------------------------------------------


def test_a_missing_or_wrong_key_gets_401(server):
    for headers in ({}, {"X-Api-Key": "wrong"}):
        answer = httpx.get(f"{server.url}/v1/exposure/gex/SPY", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {
            "status": 401,
            "error": "unauthorized",
            "message": "Invalid or missing API key (send it in the X-Api-Key header)",
        }
    with pytest.raises(flashalpha.AuthenticationError):
        flashalpha.FlashAlpha("wrong", base_url=server.url).gex("SPY")


def test_without_keys_no_key_is_asked(home):
    running = serving(home, keys=frozenset())
    try:
        answer = httpx.get(f"{running.url}/v1/exposure/levels/SPY?at=2026-03-26")
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=3600"
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v1/exposure/gex/AAPL", "AAPL: not stored (stored symbols: QQQ, SPX, SPY)"),
        (
            "/v1/exposure/levels/SPY?at=2026-03-24",
            "SPY: nothing stored at 2026-03-24; the stored history covers "
            "2026-03-25T16:15:00-04:00 .. 2026-03-27T16:15:00-04:00 (4 snapshots)",
        ),
        (
            "/v1/exposure/summary/SPY?at=2026-04-01T10:00",
            "SPY: nothing stored at 2026-04-01T10:00:00-04:00; the stored history covers "
            "2026-03-25T16:15:00-04:00 .. 2026-03-27T16:15:00-04:00 (4 snapshots)",
        ),
        ("/v1/exposure/dex/SPX", "holds no DEX figures (vendor payloads without /dex)"),
        ("/v1/exposure/gamma/SPY", "no such endpoint /v1/exposure/gamma/SPY"),
        ("/v1/exposure/gex/SPY?method=vendor", "SPY: no vendor snapshots stored (stored: "),
    ],
)
def test_not_stored_is_404_naming_what_is(client, path, message):
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json()["status"] == 404 and message in answer.json()["message"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/exposure/gex/AAPL", 404, "no_coverage"),  # never stored
        ("/v1/exposure/levels/SPY?at=2026-03-24", 404, "no_coverage"),  # before the first
        ("/v1/exposure/summary/SPY?at=2026-04-01T10:00", 404, "no_coverage"),  # past the last
        ("/v1/exposure/gex/SPY?method=vendor", 404, "no_coverage"),
        ("/v1/exposure/dex/SPX", 404, "no_data"),  # covered, but not these figures
        ("/v1/exposure/gamma/SPY", 404, "not_found"),
        ("/v1/exposure/gex/SPY?at=yesterday", 400, "invalid_at"),
        ("/v1/exposure/gex/SPY?at=3000-01-01", 400, "invalid_at"),
        ("/v1/exposure/gex/SPY?min_oi=lots", 400, "invalid_request"),
        ("/v1/maxpain/SPY", 501, "not_implemented"),
    ],
)
def test_errors_carry_flashalpha_codes(client, path, status, code):
    answer = client.get(path)
    assert answer.status_code == status
    assert answer.json()["status"] == status and answer.json()["error"] == code


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v1/exposure/gex/SPY?min_oi=lots", "min_oi='lots' is not a whole number"),
        ("/v1/exposure/gex/SPY?min_oi=-5", "min_oi='-5' is negative"),
        ("/v1/exposure/gex/SPY?at=yesterday", "at='yesterday' is neither a date"),
        ("/v1/exposure/gex/SPY?expiration=soon", "expiration='soon' is not a date"),
        ("/v1/exposure/levels/SPY?expiration=2026-04-17", "unknown query parameter 'expiration'"),
        ("/v1/exposure/gex/SPY?method=nonsense", "unknown method 'nonsense'"),
        ("/v1/exposure/gex/SPY?method=perfiliev", "method 'perfiliev' (perfiliev@v"),
        ("/v1/exposure/gex/S%20PY", "invalid symbol 'S PY'"),
    ],
)
def test_bad_parameters_are_400(client, path, message):
    answer = client.get(path)
    assert answer.status_code == 400
    assert message in answer.json()["message"]


def test_sdk_errors_carry_the_message(server):
    with pytest.raises(flashalpha.NotFoundError, match=r"AAPL: not stored"):
        flashalpha.FlashAlpha(KEY, base_url=server.url).exposure_levels("AAPL")


def test_cache_headers_and_304(client):
    past = client.get("/v1/exposure/gex/SPY?at=2026-03-26")
    assert past.headers["cache-control"] == "private, max-age=3600"  # keys are asked
    assert past.headers["vary"] == "X-Api-Key"
    assert past.headers["last-modified"] == "Thu, 26 Mar 2026 20:15:00 GMT"
    again = client.get(
        "/v1/exposure/gex/SPY?at=2026-03-26", headers={"If-None-Match": past.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == past.headers["etag"]
    latest = client.get("/v1/exposure/gex/SPY")
    assert latest.headers["cache-control"] == "no-cache"
    assert latest.headers["etag"] != past.headers["etag"]
    assert client.get("/v1/exposure/gex/SPY?at=2026-03-27").headers["cache-control"] == "no-cache"
    changed = client.get("/v1/exposure/gex/SPY", headers={"If-None-Match": '"stale", W/"old"'})
    assert changed.status_code == 200


def test_method_and_expiration_parameters(client, home):
    from gammalake import Lake

    lake = Lake(home)
    assert client.get("/v1/exposure/gex/SPX?method=vendor").json() == lake.gex("SPX")
    body = client.get("/v1/exposure/gex/SPY?at=2026-03-26&expiration=2026-04-17&min_oi=100").json()
    assert body == lake.gex("SPY", "2026-03-26", expiration="2026-04-17", min_oi=100)
    chex = client.get("/v1/exposure/chex/SPY?expiration=2026-04-17").json()
    assert chex == lake.chex("SPY", expiration="2026-04-17")


def test_the_root_is_left_to_extra_routes(home, server):
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    assert httpx.get(f"{server.url}/").status_code == 404
    page = Route("/", lambda request: PlainTextResponse("dashboard"))
    running = serving(home, extra_routes=[page])
    try:
        assert httpx.get(f"{running.url}/").text == "dashboard"
        assert (
            httpx.get(
                f"{running.url}/v1/exposure/levels/SPY", headers={"X-Api-Key": KEY}
            ).status_code
            == 200
        )
    finally:
        running.stop()


# --- the command ----------------------------------------------------------------------------


#: The installed command, beside this interpreter.
GAMMALAKE = str(Path(sys.executable).with_name("gammalake"))


def read_banner(process: subprocess.Popen, deadline: float) -> str:
    """Return the command's start-up lines once it prints them (fail after `deadline` s).

    Reads the pipe unbuffered: a buffered reader could hold the lines while `select` waits.
    """
    import time

    text, stop = b"", time.monotonic() + deadline
    while b"Ctrl-C stops" not in text:
        remaining = stop - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            process.kill()
            pytest.fail(f"no banner: {text!r} {process.stderr.read()!r}")
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            text += os.read(process.stdout.fileno(), 4096)
    return text.decode()


def test_gammalake_api_serves_until_ctrl_c(home):
    env = {**os.environ, "GAMMALAKE_API_KEYS": " k1, k2 ,"}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gammalake")),
            "--home",
            str(home),
            "api",
            "--port",
            "0",
            "--allow-host",
            "lake.example",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        banner = read_banner(process, 120)
        url = banner.split()[3]
        assert url.startswith("http://127.0.0.1:")
        assert f"method {METHOD}, symbols: QQQ, SPX, SPY" in banner
        assert "2 key(s) from $GAMMALAKE_API_KEYS" in banner
        headers = {"X-Api-Key": "k2"}
        assert httpx.get(f"{url}/v1/exposure/levels/SPY", headers=headers).status_code == 200
        assert httpx.get(f"{url}/v1/exposure/levels/SPY").status_code == 401
        assert httpx.get(f"{url}/dashboard/meta").status_code == 401  # the dashboard's data too
        assert httpx.get(f"{url}/health").status_code == 200
        foreign = httpx.get(f"{url}/v1/exposure/levels/SPY", headers={**headers, "Host": "evil"})
        assert foreign.status_code == 400 and foreign.json()["status"] == 400
        named = {**headers, "Host": "lake.example:8787"}
        assert httpx.get(f"{url}/v1/exposure/levels/SPY", headers=named).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 130


def test_gammalake_api_refuses_a_home_with_nothing(tmp_path):
    done = subprocess.run(
        [GAMMALAKE, "--home", str(tmp_path / "none"), "api"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --home {tmp_path / 'none'}: no such folder")


def test_gammalake_api_on_a_port_in_use_is_one_line(home):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [GAMMALAKE, "--home", str(home), "api", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use",
        "hint: choose another port with --port (0: any free one) or another --host",
    ]


def test_api_keys_parse_a_comma_separated_list():
    from gammalake.cli.commands.api import api_keys

    assert api_keys(" a, b ,,") == frozenset({"a", "b"})
    assert api_keys(None) == api_keys("") == frozenset()
