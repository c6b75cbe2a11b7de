"""The firewall's cases (gammalake issue 20): absurd numbers, padded duplicates, foreign roots,
encodings, huge lines, files the readers choke on, and valid-but-odd files that must pass.

Imported by make_corpus.py, which writes the files and README.md. Each case is (file, content,
what, expected): expected is "refused: <fragment of the one-line error>" or "stored: <class>",
the class being the sign of the default preset's net GEX (net_gex>0, net_gex<0, net_gex=0).
Chain cases go to the corpus' top level (read like a chains folder: CBOE CSV, generic CSV or
Parquet, saved Cboe JSON replies); reply cases to replies/, each asked for the symbol its name
starts with (`spy_...json` is a reply to a request for SPY).
"""

from __future__ import annotations

import io
import json
from typing import Any

import polars as pl

Case = tuple[str, str | bytes, str, str]

TITLE = "SPDR S&P 500 ETF Trust,Last: 470.5,Change: 1.2"
DATE = '"Date: January 5, 2024 at 4:15 PM EST",Bid: 470.4,Ask: 470.6'
HEADER = (
    "Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,"
    "Strike,Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest"
)
GENERIC_HEADER = "expiration,strike,right,open_interest,volume,iv,symbol,underlying_price,as_of"
AS_OF = "2024-01-05T16:15:00-05:00"
STAMP = "2024-01-05 21:15:00"  # the feed's naive UTC timestamp of the same moment


def row(
    k: float = 470,
    root: str = "SPY",
    day: str = "Fri Jan 19 2024",
    ymd: str = "240119",
    **cells: str,
) -> str:
    """Return a CBOE row at strike `k`; `cells` (c<index>=value) replace fields."""
    kid = f"{round(k * 1000):08d}"
    strike = f"{k:.2f}" if round(k, 2) == k else f"{k:g}"  # CBOE writes 2 decimals
    fields = [day, f"{root}{ymd}C{kid}", "5.1", "0.2", "5.0", "5.2", "10", "0.14", "0.55"]
    fields += ["0.04", "100", strike, f"{root}{ymd}P{kid}", "3.1", "-0.1", "3.0", "3.2"]
    fields += ["20", "0.15", "-0.45", "0.04", "50"]
    for index, value in cells.items():
        fields[int(index.removeprefix("c"))] = value
    return ",".join(fields)


BASE_ROWS = (row(460), row(465), row(470), row(475), row(480, day="Fri Feb 16 2024", ymd="240216"))


def cboe(*rows: str, title: str = TITLE, date: str = DATE, header: str = HEADER) -> str:
    """Return a CBOE quotedata file (blank line, title, date, header, rows)."""
    return "\n".join(["", title, date, header, *(rows or BASE_ROWS)]) + "\n"


def g_row(k: float = 465, right: str = "C", oi: str = "100", iv: str = "0.14", **over: str) -> str:
    """Return a generic row; `over` replaces named fields (expiration, volume, symbol, ...)."""
    fields = {"expiration": "2024-01-19", "strike": f"{k:g}", "right": right}
    fields |= {"open_interest": oi, "volume": "10", "iv": iv, "symbol": "SPY"}
    fields |= {"underlying_price": "470.5", "as_of": AS_OF} | over
    return ",".join(fields.values())


G_BASE = (g_row(465, "C"), g_row(465, "P", "60"), g_row(470, "C", "250"), g_row(475, "P", "80"))


def generic(*rows: str, header: str = GENERIC_HEADER) -> str:
    """Return a generic contract CSV."""
    return "\n".join([header, *(rows or G_BASE)]) + "\n"


def with_columns(header: str, extra: str, *rows: tuple[str, str]) -> str:
    """Return a generic CSV with one more column `extra` (rows: (base row, extra value))."""
    return generic(*(f"{r},{v}" for r, v in rows), header=f"{header},{extra}")


def parquet(frame: pl.DataFrame) -> bytes:
    """Return `frame` as Parquet bytes."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def g_frame(**columns: Any) -> pl.DataFrame:
    """Return the generic base rows as a typed frame, `columns` replacing whole columns."""
    frame = pl.read_csv(io.StringIO(generic()), infer_schema=False).with_columns(
        pl.col("strike", "iv", "underlying_price").cast(pl.Float64),
        pl.col("open_interest", "volume").cast(pl.Int64),
    )
    return frame.with_columns(pl.Series(k, v) for k, v in columns.items())


def opt(option: Any = "SPY240119C00470000", **fields: Any) -> dict[str, Any]:
    """Return one contract object as Cboe's feed sends it."""
    base = {"option": option, "bid": 5.0, "ask": 5.2, "iv": 0.14, "open_interest": 100}
    return base | {"volume": 10, "delta": 0.55, "gamma": 0.04} | fields


BASE_OPTIONS = [
    opt("SPY240119C00465000", open_interest=120),
    opt("SPY240119P00465000", delta=-0.4, open_interest=300),
    opt("SPY240119C00470000", open_interest=250),
    opt("SPY240119P00475000", delta=-0.6, open_interest=80),
]


def reply(options: Any = None, symbol: str = "SPY", **data: Any) -> dict[str, Any]:
    """Return a feed reply for `symbol` (Friday 2024-01-05 16:15 New York)."""
    body = {"symbol": symbol, "current_price": 470.5, "open": 468.0, "high": 471.2}
    body |= {"low": 467.9, "close": 470.5, "volume": 0, "options": options or BASE_OPTIONS}
    return {"timestamp": STAMP, "symbol": symbol, "data": body | data}


def js(value: Any) -> str:
    """Return `value` as JSON text (NaN and Infinity written as Python's json writes them)."""
    return json.dumps(value)


def spx_reply(roots: tuple[str, ...], symbol: str = "SPX", spot: float = 4700.0) -> dict:
    """Return an index reply whose contracts use `roots` (one call and one put per root)."""
    options = []
    for i, root in enumerate(roots):
        k = f"{round((spot + 10 * i) * 1000):08d}"
        options += [
            opt(f"{root}240119C{k}"),
            opt(f"{root}240119P{k}", delta=-0.45, open_interest=40),
        ]
    return reply(options, symbol=f"_{symbol}", current_price=spot, close=spot)


# --- chain files: absurd numbers (finite, but no market's) ---------------------------------

ABSURD_CBOE: list[Case] = [
    ("fw_cboe_spot_1e300.csv", cboe(title="SPDR,Last: 1e300"), "spot 1e300", "refused: spot"),
    (
        "fw_cboe_spot_1e7.csv",
        cboe(title="SPDR,Last: 10000000"),
        "spot at the bound",
        "refused: spot",
    ),
    ("fw_cboe_spot_1e-300.csv", cboe(title="SPDR,Last: 1e-300"), "spot 1e-300", "refused: strike"),
    (
        "fw_cboe_spot_9_digits.csv",
        cboe(title="SPDR,Last: 470500000"),
        "spot x 1e6",
        "refused: spot",
    ),
    (
        "fw_cboe_spot_400_digits.csv",
        cboe(title="SPDR,Last: " + "9" * 400),
        "a 400-digit spot",
        "refused: spot",
    ),
    (
        "fw_cboe_spot_1e309.csv",
        cboe(title="SPDR,Last: 1e309"),
        "spot overflows to inf",
        "refused: spot",
    ),
    (
        "fw_cboe_strike_far_above.csv",
        cboe(row(470), row(99999.999)),
        "strike 212x spot",
        "refused: strike",
    ),
    ("fw_cboe_strike_far_below.csv", cboe(row(470), row(0.001)), "strike 0.001", "refused: strike"),
    ("fw_cboe_iv_1e6.csv", cboe(row(470, c7="1000000")), "IV 1e6", "refused: iv"),
    ("fw_cboe_iv_21.csv", cboe(row(470, c18="21")), "put IV 2100 %", "refused: iv"),
    ("fw_cboe_iv_1e300.csv", cboe(row(470, c7="1e300")), "IV 1e300", "refused: iv"),
    ("fw_cboe_iv_1e309.csv", cboe(row(470, c7="1e309")), "IV overflows", "refused: not a finite"),
    (
        "fw_cboe_iv_400_digits.csv",
        cboe(row(470, c7="9" * 400)),
        "a 400-digit IV",
        "refused: not a finite",
    ),
    (
        "fw_cboe_delta_minus_1_5.csv",
        cboe(row(470, c19="-1.5")),
        "put delta -1.5",
        "refused: below -1",
    ),
    (
        "fw_cboe_delta_1_0001.csv",
        cboe(row(470, c8="1.0001")),
        "delta over 1",
        "refused: implausibly",
    ),
    ("fw_cboe_gamma_1e300.csv", cboe(row(470, c9="1e300")), "gamma 1e300", "refused: gamma"),
    ("fw_cboe_gamma_2e6.csv", cboe(row(470, c20="2000000")), "put gamma 2e6", "refused: gamma"),
    ("fw_cboe_gamma_negative.csv", cboe(row(470, c9="-0.5")), "gamma -0.5", "refused: is negative"),
    ("fw_cboe_bid_1e8.csv", cboe(row(470, c4="100000000")), "bid 1e8", "refused: bid"),
    ("fw_cboe_ask_1e300.csv", cboe(row(470, c16="1e300")), "put ask 1e300", "refused: ask"),
    (
        "fw_cboe_oi_just_over_1e9.csv",
        cboe(row(470, c10="1000000001")),
        "OI 1e9 + 1",
        "refused: implausibly",
    ),
    (
        "fw_cboe_volume_2e9.csv",
        cboe(row(470, c17="2000000000")),
        "put volume 2e9",
        "refused: implausibly",
    ),
    (
        "fw_cboe_expiry_2099.csv",
        cboe(row(470), row(470, day="Fri Jan 16 2099", ymd="990116")),
        "an expiry 75 years out",
        "refused: expiration",
    ),
    (
        "fw_cboe_all_absurd.csv",
        cboe(*(row(k, c7="5e5", c9="5e7") for k in (465, 470))),
        "every IV and gamma absurd",
        "refused: iv",
    ),
]

ABSURD_GENERIC: list[Case] = [
    (
        "fw_generic_spot_1e300.csv",
        generic(g_row(underlying_price="1e300")),
        "spot 1e300",
        "refused: spot",
    ),
    (
        "fw_generic_spot_2e7.csv",
        generic(g_row(underlying_price="2e7")),
        "spot 2e7",
        "refused: spot",
    ),
    (
        "fw_generic_spot_1e-9.csv",
        generic(g_row(underlying_price="1e-9")),
        "spot 1e-9",
        "refused: strike",
    ),
    ("fw_generic_strike_1e12.csv", generic(g_row(1e12)), "strike 1e12", "refused: strike"),
    ("fw_generic_strike_1e7.csv", generic(g_row(1e7)), "strike at the bound", "refused: strike"),
    (
        "fw_generic_strike_50000.csv",
        generic(g_row(465), g_row(50000)),
        "strike 106x spot",
        "refused: strike",
    ),
    ("fw_generic_strike_1e-300.csv", generic(g_row(1e-300)), "strike 1e-300", "refused: strike"),
    ("fw_generic_iv_1e6.csv", generic(g_row(iv="1e6")), "IV 1e6", "refused: iv"),
    ("fw_generic_iv_20_5.csv", generic(g_row(iv="20.5")), "IV 2050 %", "refused: iv"),
    ("fw_generic_iv_1e308.csv", generic(g_row(iv="1e308")), "IV 1e308", "refused: iv"),
    (
        "fw_generic_oi_1e9_plus_1.csv",
        generic(g_row(oi="1000000001")),
        "OI 1e9 + 1",
        "refused: implausibly",
    ),
    (
        "fw_generic_volume_1e10.csv",
        generic(g_row(volume="1e10")),
        "volume 1e10",
        "refused: implausibly",
    ),
    (
        "fw_generic_expiry_2100.csv",
        generic(g_row(expiration="2100-01-15")),
        "expiry in 2100",
        "refused: expiration",
    ),
    (
        "fw_generic_expiry_9999.csv",
        generic(g_row(expiration="9999-12-31")),
        "expiry in 9999",
        "refused: expiration",
    ),
    (
        "fw_generic_gamma_1e300.csv",
        with_columns(GENERIC_HEADER, "gamma", (g_row(465), "1e300"), (g_row(470), "0.01")),
        "gamma 1e300",
        "refused: gamma",
    ),
    (
        "fw_generic_gamma_negative.csv",
        with_columns(GENERIC_HEADER, "gamma", (g_row(465), "-0.1")),
        "gamma -0.1",
        "refused: is negative",
    ),
    (
        "fw_generic_delta_minus_2.csv",
        with_columns(GENERIC_HEADER, "delta", (g_row(465, "P"), "-2")),
        "delta -2",
        "refused: below -1",
    ),
    (
        "fw_generic_bid_1e8.csv",
        with_columns(GENERIC_HEADER, "bid", (g_row(465), "1e8")),
        "bid 1e8",
        "refused: bid",
    ),
    (
        "fw_generic_ask_1e300.csv",
        with_columns(GENERIC_HEADER, "ask", (g_row(465), "1e300")),
        "ask 1e300",
        "refused: ask",
    ),
    (
        "fw_generic_prev_oi_2e9.csv",
        with_columns(GENERIC_HEADER, "prev_open_interest", (g_row(465), "2000000000")),
        "previous OI 2e9",
        "refused: implausibly",
    ),
    (
        "fw_generic_spot_inf_text.csv",
        generic(g_row(underlying_price="Infinity")),
        "spot Infinity",
        "refused: underlying_price",
    ),
    (
        "fw_generic_strike_5000_digits.csv",
        generic(g_row(465).replace("465", "4" * 5000, 1)),
        "a 5000-digit strike",
        "refused: finite",
    ),
]

ABSURD_PARQUET: list[Case] = [
    (
        "fw_parquet_spot_1e300.parquet",
        parquet(g_frame(underlying_price=[1e300] * 4)),
        "spot 1e300",
        "refused: spot",
    ),
    (
        "fw_parquet_strike_1e12.parquet",
        parquet(g_frame(strike=[465.0, 465.0, 1e12, 475.0])),
        "strike 1e12",
        "refused: strike",
    ),
    (
        "fw_parquet_iv_1e6.parquet",
        parquet(g_frame(iv=[0.14, 1e6, 0.14, 0.14])),
        "IV 1e6",
        "refused: iv",
    ),
    (
        "fw_parquet_oi_2e9.parquet",
        parquet(g_frame(open_interest=[1, 2, 2_000_000_000, 3])),
        "OI 2e9",
        "refused: implausibly",
    ),
    (
        "fw_parquet_gamma_1e300.parquet",
        parquet(g_frame(gamma=[0.01, 1e300, 0.01, 0.01])),
        "gamma 1e300",
        "refused: gamma",
    ),
    (
        "fw_parquet_expiry_2200.parquet",
        parquet(g_frame(expiration=["2024-01-19", "2200-01-17", "2024-01-19", "2024-01-19"])),
        "expiry in 2200",
        "refused: expiration",
    ),
]

ABSURD_JSON: list[Case] = [
    ("fw_json_spot_1e300.json", js(reply(current_price=1e300)), "spot 1e300", "refused: spot"),
    ("fw_json_spot_2e7.json", js(reply(current_price=2e7, close=2e7)), "spot 2e7", "refused: spot"),
    (
        "fw_json_strike_far.json",
        js(reply([opt("SPY240119C99999000")])),
        "strike 212x spot",
        "refused: strike",
    ),
    ("fw_json_iv_1e6.json", js(reply([*BASE_OPTIONS[:2], opt(iv=1e6)])), "IV 1e6", "refused: iv"),
    ("fw_json_gamma_1e300.json", js(reply([opt(gamma=1e300)])), "gamma 1e300", "refused: gamma"),
    ("fw_json_bid_1e8.json", js(reply([opt(bid=1e8)])), "bid 1e8", "refused: bid"),
    (
        "fw_json_expiry_2099.json",
        js(reply([opt("SPY990116C00470000")])),
        "expiry in 2099",
        "refused: expiration",
    ),
]


# --- chain files: the same contract twice under two spellings -----------------------------

PAD = "SPY   "  # OSI pads a root to six characters with spaces
G_IDS = "contract," + GENERIC_HEADER
DUPLICATES: list[Case] = [
    (
        "fw_cboe_padded_root_duplicate.csv",
        cboe(row(465), row(470), row(470, root=PAD)),
        "a strike again with space-padded ids",
        "refused: SPY240119C00470000 listed 2 times",
    ),
    (
        "fw_cboe_lower_case_duplicate.csv",
        cboe(row(465), row(470), row(470, root="spy")),
        "a strike again with lower-case ids",
        "refused: listed 2 times",
    ),
    (
        "fw_generic_padded_id_duplicate.csv",
        generic(
            f"SPY240119C00465000,{g_row(465)}", f"{PAD}240119C00465000,{g_row(465)}", header=G_IDS
        ),
        "one id plain and padded",
        "refused: SPY240119C00465000 listed 2 times",
    ),
    (
        "fw_generic_tab_padded_id_duplicate.csv",
        generic(
            f"SPY240119C00465000,{g_row(465)}", f"SPY\t240119C00465000,{g_row(465)}", header=G_IDS
        ),
        "one id plain and tab-padded",
        "refused: listed 2 times",
    ),
    (
        "fw_generic_case_id_duplicate.csv",
        generic(
            f"SPY240119C00465000,{g_row(465)}", f"spy240119c00465000,{g_row(465)}", header=G_IDS
        ),
        "one id in two cases",
        "refused: listed 2 times",
    ),
    (
        "fw_parquet_padded_id_duplicate.parquet",
        parquet(
            g_frame(
                contract=[
                    "SPY240119C00465000",
                    "SPY240119P00465000",
                    "SPY240119C00470000",
                    f"{PAD}240119C00465000",
                ]
            )
        ),
        "a Parquet id plain and padded",
        "refused: SPY240119C00465000 listed 2 times",
    ),
    (
        "fw_json_padded_duplicate.json",
        js(reply([*BASE_OPTIONS, opt(f"{PAD}240119C00470000")])),
        "a saved reply listing one contract plain and padded",
        "refused: SPY240119C00470000 listed 2 times",
    ),
    (
        "fw_json_two_space_duplicate.json",
        js(reply([*BASE_OPTIONS, opt("SPY  240119C00470000")])),
        "padded with two spaces",
        "refused: listed 2 times",
    ),
]

# --- chain files: contracts of another underlying -----------------------------------------

ROOT_CASES: list[Case] = [
    (
        "fw_cboe_mixed_roots.csv",
        cboe(row(465), row(470), row(475, root="QQQ")),
        "a QQQ row inside a SPY file",
        "refused: root 'QQQ' does not belong to SPY",
    ),
    (
        "fw_cboe_spx_with_ndxp.csv",
        cboe(
            row(4700, root="SPXW"),
            row(4710, root="SPX"),
            row(4720, root="NDXP"),
            title="SPX,Last: 4705",
        ),
        "an NDXP row in an SPX file",
        "refused: root 'NDXP' does not belong to SPX",
    ),
    (
        "fw_generic_foreign_ids.csv",
        generic(
            f"QQQ240119C00465000,{g_row(465)}",
            f"QQQ240119P00465000,{g_row(465, 'P')}",
            header=G_IDS,
        ),
        "symbol SPY, ids QQQ",
        "refused: root 'QQQ' does not belong to SPY",
    ),
    (
        "fw_generic_spx_with_spy_ids.csv",
        generic(
            f"SPY240119C00465000,{g_row(465, symbol='SPX', underlying_price='470')}", header=G_IDS
        ),
        "symbol SPX, ids SPY",
        "refused: root 'SPY' does not belong to SPX",
    ),
    (
        "fw_generic_xsp_with_xspw.csv",
        generic(f"XSPW240119C00465000,{g_row(465, symbol='XSP')}", header=G_IDS),
        "XSP has no XSPW root",
        "refused: root 'XSPW' does not belong to XSP",
    ),
    (
        "fw_generic_adjusted_root.csv",
        generic(f"SPY1240119C00465000,{g_row(465)}", header=G_IDS),
        "an adjusted root SPY1",
        "refused: root 'SPY1' does not belong to SPY",
    ),
    (
        "fw_parquet_foreign_ids.parquet",
        parquet(
            g_frame(
                contract=[
                    "IWM240119C00465000",
                    "IWM240119P00465000",
                    "IWM240119C00470000",
                    "IWM240119P00475000",
                ]
            )
        ),
        "Parquet: symbol SPY, ids IWM",
        "refused: root 'IWM' does not belong to SPY",
    ),
    (
        "fw_json_all_foreign.json",
        js(reply([opt("QQQ240119C00470000"), opt("QQQ240119P00470000", delta=-0.4)])),
        "a SPY reply whose contracts are all QQQ's",
        "refused: root 'QQQ' does not belong to SPY",
    ),
    (
        "fw_json_one_foreign.json",
        js(reply([*BASE_OPTIONS, opt("AAPL240119C00180000")])),
        "one AAPL contract in a SPY reply",
        "refused: root 'AAPL' does not belong to SPY",
    ),
    (
        "fw_json_spx_with_ndxp.json",
        js(spx_reply(("SPXW", "NDXP"))),
        "an SPX reply holding NDXP contracts",
        "refused: root 'NDXP' does not belong to SPX",
    ),
]

# --- chain files: encodings and bytes -------------------------------------------------------

ENCODINGS: list[Case] = [
    (
        "fw_cboe_utf16_be.csv",
        cboe().encode("utf-16-be"),
        "UTF-16 big-endian, no BOM",
        "refused: UTF-16",
    ),
    ("fw_cboe_utf16_be_bom.csv", cboe().encode("utf-16"), "UTF-16 with its BOM", "refused: UTF-16"),
    ("fw_cboe_utf32.csv", cboe().encode("utf-32"), "UTF-32", "refused: UTF-16"),
    (
        "fw_cboe_cp1252_title.csv",
        cboe(title="S&P 500 \u201cSPDR\u201d,Last: 470.5").encode("cp1252"),
        "Windows quotes in the title",
        "refused: is not UTF-8",
    ),
    (
        "fw_cboe_latin1_cell.csv",
        cboe(row(470, c3="0.2\xb1")).encode("latin-1"),
        "a Latin-1 byte in a cell",
        "refused: is not UTF-8",
    ),
    (
        "fw_cboe_overlong_utf8.csv",
        cboe().encode() + b"\xc0\xaf\n",
        "an overlong UTF-8 sequence",
        "refused: is not UTF-8",
    ),
    (
        "fw_cboe_encoded_surrogate.csv",
        cboe().encode() + b"\xed\xa0\x80\n",
        "a UTF-8-encoded surrogate",
        "refused: is not UTF-8",
    ),
    (
        "ok_cboe_double_bom.csv",
        "\ufeff\ufeff" + cboe(),
        "two byte-order marks (the second one on the blank first line)",
        "stored: net_gex>0",
    ),
    (
        "fw_cboe_escape_byte.csv",
        cboe(row(470, c3="\x1b[31m")),
        "a terminal escape in a cell",
        "refused: binary",
    ),
    (
        "fw_cboe_del_in_title.csv",
        cboe(title="SPDR\x7f,Last: 470.5"),
        "DEL in the title",
        "refused: binary",
    ),
    ("fw_generic_utf16.csv", generic().encode("utf-16"), "UTF-16 generic", "refused: UTF-16"),
    (
        "fw_generic_latin1.csv",
        generic(g_row(465, symbol="SP\xc9")).encode("latin-1"),
        "a Latin-1 symbol",
        "refused: is not UTF-8",
    ),
    (
        "fw_generic_nul_header.csv",
        generic(header=GENERIC_HEADER.replace("iv", "i\x00v")),
        "NUL in the header",
        "refused: binary",
    ),
    (
        "fw_json_utf16.json",
        js(reply()).encode("utf-16"),
        "a saved reply in UTF-16",
        "refused: UTF-16",
    ),
    (
        "fw_json_latin1.json",
        js(reply()).replace('"volume": 0', '"note": "\xe9", "volume": 0').encode("latin-1"),
        "a Latin-1 byte in a reply",
        "refused: is not UTF-8",
    ),
    (
        "fw_json_nul.json",
        js(reply()).encode() + b"\x00",
        "a NUL after the reply",
        "refused: binary",
    ),
]

# --- chain files: huge lines and bodies -----------------------------------------------------

HUGE: list[Case] = [
    (
        "fw_cboe_title_of_50000_chars.csv",
        cboe(title="S" * 50_000 + ",Last: 470.5"),
        "a 50,000-character title",
        "refused: line 2: is 50,012 characters long",
    ),
    (
        "fw_cboe_header_of_20000_chars.csv",
        cboe(header=HEADER + "," * 20_000),
        "a header padded to 20,000 commas",
        "refused: line 4: is 20,149 characters long",
    ),
    (
        "fw_cboe_row_of_10001_chars.csv",
        cboe(row(465), row(470, c2="1" + "0" * 9_990)),
        "a row just over the line limit",
        "refused: characters long",
    ),
    (
        "fw_cboe_100000_fields.csv",
        cboe(row(465), row(470) + ",x" * 50_000),
        "a row of 50,022 fields",
        "refused: characters long",
    ),
    (
        "fw_generic_row_of_60000_chars.csv",
        generic(g_row(465), g_row(470, symbol="S" * 60_000)),
        "a 60,000-character cell",
        "refused: characters long",
    ),
    (
        "fw_generic_header_of_30000_chars.csv",
        generic(header=GENERIC_HEADER + ",x" * 15_000),
        "a 30,000-character header",
        "refused: header",
    ),
    (
        "fw_json_one_line_of_100000_chars.json",
        js(reply(note="n" * 100_000)),
        "a 100,000-character field in a valid reply",
        "stored: net_gex>0",
    ),
    (
        "fw_json_option_id_of_50000_chars.json",
        js(reply([opt("S" * 50_000)])),
        "a 50,000-character option id",
        "refused: OSI",
    ),
    (
        "fw_json_deep_nesting.json",
        "[" * 20_000 + "]" * 20_000,
        "20,000 nested lists",
        "refused: nests JSON too deeply",
    ),
]


# --- chain files: shapes the readers once met with an internal error ------------------------

SHAPES: list[Case] = [
    (
        "fw_parquet_list_column.parquet",
        parquet(g_frame(strike=[[465.0], [465.0], [470.0], [475.0]])),
        "strike as lists",
        "refused: column 'strike'",
    ),
    (
        "fw_parquet_struct_column.parquet",
        parquet(g_frame(iv=[{"a": 1}] * 4)),
        "IV as structs",
        "refused: column 'iv'",
    ),
    (
        "fw_parquet_duration_oi.parquet",
        parquet(g_frame(open_interest=pl.Series([1, 2, 3, 4]).cast(pl.Duration("us")))),
        "OI as durations",
        "refused: column 'open_interest'",
    ),
    (
        "fw_parquet_bool_strike.parquet",
        parquet(g_frame(strike=[True] * 4)),
        "strike as booleans",
        "refused: is not a number",
    ),
    (
        "fw_parquet_null_strikes.parquet",
        parquet(g_frame(strike=pl.Series([None] * 4, dtype=pl.Float64))),
        "every strike null",
        "refused: is empty",
    ),
    (
        "fw_parquet_uint64_max_oi.parquet",
        parquet(g_frame(open_interest=pl.Series([2**64 - 1] * 4, dtype=pl.UInt64))),
        "OI 2^64 - 1",
        "refused: implausibly",
    ),
    (
        "fw_parquet_zero_rows.parquet",
        parquet(g_frame().head(0)),
        "columns, no rows",
        "refused: has no contract rows",
    ),
    (
        "ok_parquet_all_null_symbol.parquet",
        parquet(g_frame(symbol=pl.Series([None] * 4, dtype=pl.String))),
        "a symbol column of nulls: the file name's OK is the symbol",
        "stored: net_gex>0",
    ),
    (
        "fw_generic_symbol_with_space.csv",
        generic(g_row(465, symbol="SP Y")),
        "symbol 'SP Y'",
        "refused: symbol 'SP Y'",
    ),
    (
        "fw_generic_symbol_caret.csv",
        generic(g_row(465, symbol="^SPX")),
        "symbol ^SPX",
        "refused: symbol '^SPX'",
    ),
    (
        "fw_generic_symbol_40_chars.csv",
        generic(g_row(465, symbol="A" * 40)),
        "a 40-character symbol",
        "refused: symbol",
    ),
    (
        "fw_generic_as_of_year_1.csv",
        generic(g_row(465, as_of="0001-01-02T00:00:00+00:00")),
        "as_of in year 1",
        "refused: outside the years",
    ),
    (
        "fw_generic_as_of_offset_24h.csv",
        generic(g_row(465, as_of="2024-01-05T16:15:00+24:00")),
        "offset +24:00",
        "refused: as_of",
    ),
    (
        "fw_generic_all_expired.csv",
        generic(g_row(465, expiration="2023-12-15")),
        "every expiry before as_of",
        "refused: no contract left",
    ),
    (
        "fw_json_options_object.json",
        js(reply(options={"0": opt()})),
        "options an object",
        "refused: not a list",
    ),
    (
        "fw_json_options_empty.json",
        js({**reply(), "data": {**reply()["data"], "options": []}}),
        "options an empty list",
        "refused: the reply lists no contract",
    ),
    ("fw_json_option_null.json", js(reply([None])), "a null contract", "refused: not an object"),
    (
        "fw_json_option_id_number.json",
        js(reply([opt(470)])),
        "an option id that is a number",
        "refused: not an option id",
    ),
    (
        "fw_json_data_list.json",
        js({"timestamp": STAMP, "symbol": "SPY", "data": []}),
        "data a list",
        "refused: not an object",
    ),
    ("fw_json_top_list.json", "[1, 2]", "a JSON list", "refused: not an object"),
    (
        "fw_json_timestamp_number.json",
        js({**reply(), "timestamp": 1704489300}),
        "timestamp a number",
        "refused: timestamp",
    ),
    (
        "fw_json_no_symbol.json",
        js({"timestamp": STAMP, "data": {**reply()["data"], "symbol": None}}),
        "no symbol at all",
        "refused: names no symbol",
    ),
]

# --- chain files that are odd and valid: they must be read, priced and stored ---------------


def _quoted(line: str) -> str:
    """Return a CSV line with every cell in double quotes."""
    return ",".join(f'"{c}"' for c in line.split(","))


VALID: list[Case] = [
    ("ok_cboe_plain.csv", cboe(), "the plain file the others vary", "stored: net_gex>0"),
    ("ok_cboe_utf8_bom.csv", "\ufeff" + cboe(), "a UTF-8 byte-order mark", "stored: net_gex>0"),
    ("ok_cboe_crlf.csv", cboe().replace("\n", "\r\n"), "Windows line ends", "stored: net_gex>0"),
    ("ok_cboe_cr_only.csv", cboe().replace("\n", "\r"), "old Mac line ends", "stored: net_gex>0"),
    (
        "ok_cboe_trailing_blank_lines.csv",
        cboe() + "\n\n  \n",
        "blank lines at the end",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_no_final_newline.csv",
        cboe().rstrip("\n"),
        "no line break after the last row",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_all_quoted.csv",
        "\n".join(["", TITLE, DATE, _quoted(HEADER), *map(_quoted, BASE_ROWS)]) + "\n",
        "every cell quoted",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_quoted_numbers.csv",
        cboe(row(460, c10='"100"', c7='"0.14"'), *BASE_ROWS[1:]),
        "some numbers quoted",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_trailing_commas.csv",
        cboe(*(r + ",," for r in BASE_ROWS)),
        "rows padded with empty cells",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_spaces_after_commas.csv",
        cboe().replace(",", ", "),
        "a space after every comma",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_oi_zero_everywhere.csv",
        cboe(*(row(k, c10="0", c21="0") for k in (465, 470, 475))),
        "open interest 0 everywhere",
        "stored: net_gex=0",
    ),
    (
        "ok_cboe_half_strikes.csv",
        cboe(*(row(k) for k in (469.5, 470, 470.5, 471))),
        "strikes in 0.5 steps",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_odd_decimals.csv",
        cboe(*(row(k) for k in (12.375, 12.5, 12.625)), title="X,Last: 12.5"),
        "strikes with three decimals",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_spx_weeklies.csv",
        cboe(
            row(4700, root="SPXW"),
            row(4700, root="SPX"),
            row(4710, root="SPXW"),
            title="SPX,Last: 4705",
        ),
        "SPX and SPXW on one strike",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_iv_empty.csv",
        cboe(*(row(k, c7="", c18="") for k in (465, 470))),
        "no IV: solved from the quotes",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_volume_empty.csv",
        cboe(*(row(k, c6="", c17="") for k in (465, 470))),
        "no volume",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_oi_999999999.csv",
        cboe(row(470, c10="999999999")),
        "OI just under the bound",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_iv_19_99.csv",
        cboe(row(470, c7="19.99", c18="19.99")),
        "IV just under 2000 %",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_expired_and_live.csv",
        cboe(
            row(470),
            row(470, day="Fri Jan 05 2024", ymd="240105"),
            row(470, day="Fri Dec 29 2023", ymd="231229"),
        ),
        "an expired expiry beside a live one",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_title_with_comma.csv",
        cboe(title='"SPDR S&P 500 ETF Trust, Series 1",Last: 470.5'),
        "a quoted comma in the title",
        "stored: net_gex>0",
    ),
    (
        "ok_cboe_long_title.csv",
        cboe(title="S" * 5_000 + ",Last: 470.5"),
        "a 5,000-character title",
        "stored: net_gex>0",
    ),
    ("ok_cboe_single_strike.csv", cboe(row(470)), "one strike", "stored: net_gex>0"),
    (
        "ok_cboe_puts_heavy.csv",
        cboe(*(row(k, c10="1", c21="90000") for k in (465, 470, 475))),
        "puts' OI dominates",
        "stored: net_gex<0",
    ),
    ("ok_generic_plain.csv", generic(), "the plain generic file", "stored: net_gex>0"),
    (
        "ok_generic_utf8_bom.csv",
        "\ufeff" + generic(),
        "a UTF-8 byte-order mark",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_crlf.csv",
        generic().replace("\n", "\r\n"),
        "Windows line ends",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_trailing_blank_line.csv",
        generic() + "\n",
        "a blank line at the end",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_quoted.csv",
        "\n".join([_quoted(GENERIC_HEADER), *map(_quoted, G_BASE)]) + "\n",
        "every cell quoted",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_calls_only.csv",
        generic(g_row(465), g_row(470), g_row(475)),
        "calls only",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_puts_only.csv",
        generic(g_row(465, "P"), g_row(470, "P")),
        "puts only",
        "stored: net_gex<0",
    ),
    (
        "ok_generic_oi_zero_everywhere.csv",
        generic(*(g_row(k, r, "0") for k in (465, 470) for r in "CP")),
        "open interest 0 everywhere",
        "stored: net_gex=0",
    ),
    (
        "ok_generic_half_strikes.csv",
        generic(*(g_row(k) for k in (469.5, 470, 470.5))),
        "strikes in 0.5 steps",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_words_for_rights.csv",
        generic(g_row(465, "call"), g_row(465, "Put"), g_row(470, " c ")),
        "call / Put / c",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_midnight_expiry.csv",
        generic(
            g_row(465, expiration="2024-01-19 00:00:00"), g_row(470, expiration="2024-01-19T00:00")
        ),
        "expiry written with a midnight time",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_lower_case_symbol.csv",
        generic(*(g_row(k, symbol="spy") for k in (465, 470))),
        "symbol in lower case",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_utc_z.csv",
        generic(g_row(465, as_of="2024-01-05T21:15:00Z")),
        "as_of in UTC with Z",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_float_counts.csv",
        generic(g_row(465, oi="100.0", volume="10.0")),
        "counts written as 100.0",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_header_spacing.csv",
        generic(header=GENERIC_HEADER.replace("open_interest", " Open Interest ")),
        "'Open Interest' with spaces",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_spx_ids.csv",
        generic(
            f"SPXW240119C04700000,{g_row(4700, symbol='SPX', underlying_price='4705')}",
            f"SPX240119P04700000,{g_row(4700, 'P', '40', symbol='SPX', underlying_price='4705')}",
            header=G_IDS,
        ),
        "SPX with SPXW and SPX ids",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_ndx_ids.csv",
        generic(
            f"NDXP240119C16800000,{g_row(16800, symbol='NDX', underlying_price='16750')}",
            header=G_IDS,
        ),
        "NDX with an NDXP id",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_padded_ids.csv",
        generic(
            f"{PAD}240119C00465000,{g_row(465)}",
            f"{PAD}240119P00465000,{g_row(465, 'P', '40')}",
            header=G_IDS,
        ),
        "padded OSI ids, each once",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_own_ids.csv",
        generic(f"row-1,{g_row(465)}", f"row-2,{g_row(470)}", header=G_IDS),
        "ids that are not OSI",
        "stored: net_gex>0",
    ),
    (
        "ok_generic_extra_columns.csv",
        with_columns(GENERIC_HEADER, "theta", (g_row(465), "-0.2"), (g_row(470), "-0.1")),
        "a column gammalake does not read",
        "stored: net_gex>0",
    ),
    (
        "ok_parquet_typed.parquet",
        parquet(g_frame()),
        "numbers typed as numbers",
        "stored: net_gex>0",
    ),
    (
        "ok_parquet_date_expiry.parquet",
        parquet(g_frame().with_columns(pl.col("expiration").str.to_date())),
        "expiry typed as a date",
        "stored: net_gex>0",
    ),
    (
        "ok_parquet_datetime_expiry.parquet",
        parquet(g_frame().with_columns(pl.col("expiration").str.to_datetime("%Y-%m-%d"))),
        "expiry as a midnight timestamp",
        "stored: net_gex>0",
    ),
    (
        "ok_parquet_datetime_as_of.parquet",
        parquet(
            g_frame().with_columns(
                pl.col("as_of").str.to_datetime("%Y-%m-%dT%H:%M:%S%z", time_zone="America/New_York")
            )
        ),
        "as_of typed as a zoned timestamp",
        "stored: net_gex>0",
    ),
    (
        "ok_parquet_categorical.parquet",
        parquet(g_frame().with_columns(pl.col("right").cast(pl.Categorical))),
        "right as a categorical",
        "stored: net_gex>0",
    ),
    ("ok_json_plain.json", js(reply()), "a saved reply", "stored: net_gex>0"),
    (
        "ok_json_utf8_bom.json",
        "\ufeff" + js(reply()),
        "a saved reply with a BOM",
        "stored: net_gex>0",
    ),
    (
        "ok_json_crlf_pretty.json",
        json.dumps(reply(), indent=2).replace("\n", "\r\n"),
        "pretty-printed, Windows line ends",
        "stored: net_gex>0",
    ),
    (
        "ok_json_padded_roots.json",
        js(reply([opt(f"{PAD}240119C00470000"), opt(f"{PAD}240119P00465000", delta=-0.4)])),
        "padded OSI ids, each once",
        "stored: net_gex>0",
    ),
    (
        "ok_json_spx_roots.json",
        js(spx_reply(("SPXW", "SPX"))),
        "SPX and SPXW contracts",
        "stored: net_gex>0",
    ),
    (
        "ok_json_integers.json",
        js(reply([opt(bid=5, ask=6, iv=1, gamma=0, delta=1)])),
        "whole numbers where floats are usual",
        "stored: net_gex>0",
    ),
    (
        "ok_json_unknown_fields.json",
        js(reply([opt(theta=-0.2, vega=0.1, rho=None, last_trade_time=None)], iv30=14.2)),
        "fields gammalake does not read",
        "stored: net_gex>0",
    ),
]

CHAIN_CASES: list[Case] = [
    *ABSURD_CBOE,
    *ABSURD_GENERIC,
    *ABSURD_PARQUET,
    *ABSURD_JSON,
    *DUPLICATES,
    *ROOT_CASES,
    *ENCODINGS,
    *HUGE,
    *SHAPES,
    *VALID,
]


# --- hostile feed replies (replies/): each asked for the symbol its name starts with --------


def _with(base: dict[str, Any], **top: Any) -> str:
    """Return `base` with top-level fields replaced (None removes one), as JSON text."""
    out = dict(base) | top
    return js({k: v for k, v in out.items() if v is not None})


def _one(**fields: Any) -> str:
    """Return a SPY reply whose first contract has `fields` replaced (None: as sent)."""
    return js(reply([opt("SPY240119C00465000", **fields), *BASE_OPTIONS[1:]]))


REPLY_CASES: list[Case] = [
    # who the reply is for
    (
        "spy_reply_for_qqq.json",
        js(reply(symbol="QQQ")),
        "a QQQ reply to a SPY request",
        "refused: the reply is for QQQ",
    ),
    (
        "spy_symbols_disagree.json",
        _with(reply(), symbol="IWM"),
        "symbol IWM, data.symbol SPY",
        "refused: the reply is for IWM",
    ),
    (
        "spy_symbol_missing.json",
        js({"timestamp": STAMP, "data": {**reply()["data"], "symbol": None}}),
        "no symbol anywhere",
        "refused: names no symbol",
    ),
    ("spy_symbol_number.json", _with(reply(), symbol=42), "symbol 42", "refused: not a symbol"),
    (
        "spy_contracts_all_qqq.json",
        js(reply([opt("QQQ240119C00470000"), opt("QQQ240119P00470000")])),
        "SPY reply, QQQ contracts",
        "refused: root 'QQQ' does not belong to SPY",
    ),
    (
        "spy_one_contract_iwm.json",
        js(reply([*BASE_OPTIONS, opt("IWM240119C00200000")])),
        "one IWM contract",
        "refused: root 'IWM' does not belong to SPY",
    ),
    (
        "spx_contracts_of_ndx.json",
        js(spx_reply(("NDXP",))),
        "SPX reply, NDXP contracts",
        "refused: root 'NDXP' does not belong to SPX",
    ),
    (
        "spx_contracts_of_spy.json",
        js(spx_reply(("SPY",))),
        "SPX reply, SPY contracts",
        "refused: root 'SPY' does not belong to SPX",
    ),
    (
        "ndx_contracts_of_spxw.json",
        js(spx_reply(("SPXW",), symbol="NDX", spot=16800.0)),
        "NDX reply, SPXW contracts",
        "refused: root 'SPXW' does not belong to NDX",
    ),
    (
        "vix_contracts_of_vxx.json",
        js(spx_reply(("VXX",), symbol="VIX", spot=13.0)),
        "VIX reply, VXX contracts",
        "refused: root 'VXX' does not belong to VIX",
    ),
    # time
    (
        "spy_timestamp_missing.json",
        _with(reply(), timestamp=None),
        "no timestamp",
        "refused: timestamp",
    ),
    (
        "spy_timestamp_garbage.json",
        _with(reply(), timestamp="soon"),
        "timestamp 'soon'",
        "refused: timestamp",
    ),
    (
        "spy_timestamp_year_1.json",
        _with(reply(), timestamp="0001-01-01 00:00:00"),
        "timestamp in year 1",
        "refused: timestamp",
    ),
    (
        "spy_timestamp_in_2400.json",
        _with(reply(), timestamp="2400-01-05 21:15:00"),
        "timestamp in 2400",
        "refused: in the future",
    ),
    (
        "spy_timestamp_bad_offset.json",
        _with(reply(), timestamp="2024-01-05T21:15:00+25:00"),
        "offset +25:00",
        "refused: timestamp",
    ),
    # spot
    (
        "spy_spot_missing.json",
        js(reply(current_price=None, close=None)),
        "no price",
        "refused: no spot",
    ),
    (
        "spy_spot_text.json",
        js(reply(current_price="470.5")),
        "price as text",
        "refused: data.current_price",
    ),
    (
        "spy_spot_true.json",
        js(reply(current_price=True)),
        "price true",
        "refused: data.current_price",
    ),
    (
        "spy_spot_nan.json",
        js(reply(current_price=float("nan"))),
        "price NaN",
        "refused: data.current_price",
    ),
    (
        "spy_spot_infinity.json",
        js(reply(current_price=float("inf"))),
        "price Infinity",
        "refused: data.current_price",
    ),
    (
        "spy_spot_negative.json",
        js(reply(current_price=-470.5)),
        "price -470.5",
        "refused: data.current_price",
    ),
    ("spy_spot_zero.json", js(reply(current_price=0)), "price 0", "refused: data.current_price"),
    ("spy_spot_1e300.json", js(reply(current_price=1e300)), "price 1e300", "refused: spot"),
    ("spy_spot_1e8.json", js(reply(current_price=1e8)), "price 1e8", "refused: spot"),
    (
        "spy_spot_400_digit_integer.json",
        js(reply(current_price=10**400)),
        "a 400-digit integer price",
        "refused: data.current_price",
    ),
    # the contract list
    (
        "spy_options_missing.json",
        js(
            reply(options=None)
            | {"data": {k: v for k, v in reply()["data"].items() if k != "options"}}
        ),
        "no options",
        "refused: data.options",
    ),
    (
        "spy_options_string.json",
        js(reply(options="none")),
        "options a string",
        "refused: data.options",
    ),
    (
        "spy_options_of_numbers.json",
        js(reply(options=[1, 2, 3])),
        "options of numbers",
        "refused: not an object",
    ),
    (
        "spy_option_id_lower_case.json",
        js(reply([opt("spy240119c00470000")])),
        "a lower-case id",
        "refused: not an OSI option id",
    ),
    (
        "spy_option_id_garbage.json",
        js(reply([opt("???")])),
        "id ???",
        "refused: not an OSI option id",
    ),
    (
        "spy_option_id_february_30.json",
        js(reply([opt("SPY240230C00470000")])),
        "an expiry of Feb 30",
        "refused: names no real expiration",
    ),
    (
        "spy_option_id_strike_0.json",
        js(reply([opt("SPY240119C00000000")])),
        "strike 0",
        "refused: names a strike of 0",
    ),
    (
        "spy_option_id_strike_far.json",
        js(reply([opt("SPY240119C99999999")])),
        "strike 99,999.999",
        "refused: strike",
    ),
    (
        "spy_option_expiry_2099.json",
        js(reply([opt("SPY990116C00470000")])),
        "expiry in 2099",
        "refused: expiration",
    ),
    # numbers of one contract
    ("spy_iv_nan.json", _one(iv=float("nan")), "IV NaN", "refused: iv"),
    ("spy_iv_infinity.json", _one(iv=float("inf")), "IV Infinity", "refused: iv"),
    ("spy_iv_negative.json", _one(iv=-0.1), "IV -0.1", "refused: iv"),
    ("spy_iv_1e6.json", _one(iv=1e6), "IV 1e6", "refused: iv"),
    ("spy_iv_text.json", _one(iv="0.14"), "IV as text", "refused: iv"),
    ("spy_iv_400_digit_integer.json", _one(iv=10**400), "a 400-digit integer IV", "refused: iv"),
    ("spy_oi_negative.json", _one(open_interest=-1), "OI -1", "refused: open_interest"),
    ("spy_oi_fraction.json", _one(open_interest=1.5), "OI 1.5", "refused: open_interest"),
    ("spy_oi_1e10.json", _one(open_interest=1e10), "OI 1e10", "refused: open_interest"),
    (
        "spy_oi_missing.json",
        js(reply([{k: v for k, v in opt().items() if k != "open_interest"}])),
        "no OI",
        "refused: open_interest",
    ),
    (
        "spy_oi_400_digit_integer.json",
        _one(open_interest=10**400),
        "a 400-digit integer OI",
        "refused: open_interest",
    ),
    ("spy_oi_true.json", _one(open_interest=True), "OI true", "refused: open_interest"),
    ("spy_volume_1e10.json", _one(volume=1e10), "volume 1e10", "refused: volume"),
    ("spy_gamma_negative.json", _one(gamma=-1), "gamma -1", "refused: gamma"),
    ("spy_gamma_1e300.json", _one(gamma=1e300), "gamma 1e300", "refused: gamma"),
    ("spy_gamma_nan.json", _one(gamma=float("nan")), "gamma NaN", "refused: gamma"),
    ("spy_delta_2.json", _one(delta=2), "delta 2", "refused: delta"),
    ("spy_bid_1e8.json", _one(bid=1e8), "bid 1e8", "refused: bid"),
    ("spy_ask_infinity.json", _one(ask=float("inf")), "ask Infinity", "refused: ask"),
    # duplicates
    (
        "spy_duplicate_contract.json",
        js(reply([*BASE_OPTIONS, BASE_OPTIONS[0]])),
        "one contract twice",
        "refused: SPY240119C00465000 listed 2 times",
    ),
    (
        "spy_padded_duplicate.json",
        js(reply([*BASE_OPTIONS, opt(f"{PAD}240119C00465000")])),
        "plain and padded",
        "refused: SPY240119C00465000 listed 2 times",
    ),
    (
        "spx_padded_duplicate.json",
        js(
            reply(
                [opt("SPXW  240119C04700000"), opt("SPXW240119C04700000")],
                symbol="_SPX",
                current_price=4700.0,
            )
        ),
        "SPXW plain and padded",
        "refused: SPXW240119C04700000 listed 2 times",
    ),
    # the body
    ("spy_body_empty.json", "", "an empty body", "refused: empty"),
    ("spy_body_truncated.json", js(reply())[:300], "cut off mid-reply", "refused: truncated"),
    (
        "spy_body_not_json.json",
        "<html>429 Too Many Requests</html>",
        "an HTML page",
        "refused: not valid JSON",
    ),
    ("spy_body_list.json", "[]", "a JSON list", "refused: not an object"),
    (
        "spy_body_deep.json",
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        "20,000 nested objects",
        "refused: nests JSON too deeply",
    ),
    ("spy_body_utf16.json", js(reply()).encode("utf-16"), "UTF-16", "refused: not UTF-8"),
    (
        "spy_body_latin1.json",
        js(reply(note="\xe9")).replace("\\u00e9", "\xe9").encode("latin-1"),
        "Latin-1",
        "refused: not UTF-8",
    ),
    # valid replies, odd but real: they must be stored
    ("spy_ok_plain.json", js(reply()), "a plain reply", "stored: net_gex>0"),
    (
        "spy_ok_padded_roots.json",
        js(reply([opt(f"{PAD}240119C00470000"), opt(f"{PAD}240119P00465000", delta=-0.4)])),
        "padded ids, each once",
        "stored: net_gex>0",
    ),
    (
        "spy_ok_oi_zero.json",
        js(reply([opt(open_interest=0), opt("SPY240119P00470000", open_interest=0)])),
        "OI 0 everywhere",
        "stored: net_gex=0",
    ),
    (
        "spy_ok_calls_only.json",
        js(reply([opt("SPY240119C00465000"), opt("SPY240119C00470000")])),
        "calls only",
        "stored: net_gex>0",
    ),
    (
        "spy_ok_half_strikes.json",
        js(reply([opt("SPY240119C00470500"), opt("SPY240119P00469500", delta=-0.4)])),
        "strikes 470.5 and 469.5",
        "stored: net_gex>0",
    ),
    (
        "spy_ok_nulls.json",
        js(reply([opt("SPY240119C00465000", iv=None, gamma=None, delta=None), *BASE_OPTIONS[1:]])),
        "a contract without IV and greeks",
        "stored: net_gex<0",
    ),
    (
        "spy_ok_close_only.json",
        js(reply(current_price=None)),
        "no current_price, a close",
        "stored: net_gex>0",
    ),
    (
        "spx_ok_weeklies.json",
        js(spx_reply(("SPXW", "SPX"))),
        "SPX and SPXW contracts",
        "stored: net_gex>0",
    ),
    (
        "ndx_ok_ndxp.json",
        js(spx_reply(("NDX", "NDXP"), symbol="NDX", spot=16800.0)),
        "NDX and NDXP contracts",
        "stored: net_gex>0",
    ),
    (
        "vix_ok_vixw.json",
        js(spx_reply(("VIX", "VIXW"), symbol="VIX", spot=13.0)),
        "VIX and VIXW contracts",
        "stored: net_gex>0",
    ),
]
