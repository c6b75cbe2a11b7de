"""HTML reports of backtests and studies, and the JSON of every number they draw.

`backtest_sections` and `study_sections` turn the figures of `run.run_backtest` and
`study.run_study` into sections of charts (drawn by `backtest.charts`) and tables;
`write_report` writes NAME.html next to NAME.json. Pages load plotly.js from one shared copy,
`plotly.min.js` beside them (copied from the installed plotly package; nothing comes from a
CDN), or embed it with `self_contained=True` for a single file that can be mailed.

Tables follow one convention: returns, rates and drawdowns in % with 2 decimals, ratios such
as Sharpe as plain numbers, headers in words. The JSON keeps raw values under their own keys.
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from backtest import charts
from backtest.ledger import TRADE_RETURN
from backtest.tearsheet import tearsheet

TEMPLATES = Path(__file__).with_name("templates")
#: The shared copy of plotly.js every page of a reports folder loads (unless self-contained).
PLOTLY_JS = "plotly.min.js"
#: The units note every report carries.
UNITS = (
    "Tables show returns, rates and drawdowns in % (2 decimals) and ratios such as Sharpe as "
    "plain numbers; Sharpe, Sortino and volatility are annualised on 252 sessions. The JSON of "
    "figures ({json}) keeps the raw values under their own keys: fractions (0.0123 is 1.23%), "
    "except keys ending in _pct, which are already in %."
)


@dataclass(frozen=True)
class Column:
    """One table column: the row key it shows, its header, and how its values read.

    `kind`: `pct` (a fraction, shown in %), `pp` (already in %), `num` (2 decimals), `num3`
    (3 decimals), `int`, `money` (2 decimals, thousands separated) or `text`.
    """

    key: str
    header: str
    kind: str = "text"


def _fmt_pct(value: float) -> str:
    """Return a fraction as a percentage with 2 decimals."""
    return f"{100 * value:.2f}%"


_FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": _fmt_pct,
    "pp": lambda v: f"{v:.2f}%",
    "num": lambda v: f"{v:.2f}",
    "num3": lambda v: f"{v:.3f}",
    "int": lambda v: f"{v:,}",
    "money": lambda v: f"{v:,.2f}",
}


def cell(value: Any, kind: str = "text") -> str:
    """Return one table cell: `value` read as `kind` (see `Column`); None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, bool) or kind == "text" or not isinstance(value, int | float):
        return str(value).replace("_", " ") if isinstance(value, str) else str(value)
    return _FORMATS[kind](value)


def _columns(rows: list[dict[str, Any]], columns: Sequence[Column]) -> list[Column]:
    """Return `columns`, then a column for each row key they leave out (header from the key)."""
    named = {c.key for c in columns}
    extra = [k for k in rows[0] if k not in named] if rows else []
    return [*columns, *(Column(k, k.replace("_", " ").capitalize(), _kind(rows, k)) for k in extra)]


def _kind(rows: list[dict[str, Any]], key: str) -> str:
    """Return how an unlisted column reads: `_pct` keys in %, other floats 2 decimals."""
    if key.endswith("_pct"):
        return "pp"
    values = [r[key] for r in rows if r.get(key) is not None]
    return "num" if values and isinstance(values[0], float) else "text"


def html_table(rows: list[dict[str, Any]], columns: Sequence[Column] = ()) -> str:
    """Return rows as an HTML table: `columns` first (headers, formats), text escaped."""
    if not rows:
        return "<p class='note'>none</p>"
    shown = _columns(rows, columns)
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in shown)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(cell(row.get(c.key), c.kind))}</td>" for c in shown)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class Section:
    """One heading of a report: notes, then charts and tables in order."""

    title: str
    notes: list[str] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, go.Figure] = field(default_factory=dict)

    @property
    def anchor(self) -> str:
        """Return the section's HTML id."""
        return "".join(c if c.isalnum() else "-" for c in self.title.lower())

    def chart(self, title: str, figure: go.Figure, note: str = "") -> None:
        """Add a chart under `title`, with an optional `note` line under it."""
        key = f"{self.anchor}-{len(self.blocks)}"
        self.figures[key] = figure
        self.blocks.append({"title": title, "chart": key, "note": note})

    def table(
        self,
        title: str,
        rows: list[dict[str, Any]],
        columns: Sequence[Column] = (),
        limit: int = 500,
        note: str = "",
    ) -> None:
        """Add a table of `rows` (at most `limit`, the rest counted in the title), `note` above."""
        shown = rows[:limit]
        more = f" (first {limit} of {len(rows)})" if len(rows) > limit else ""
        table = Markup(html_table(shown, columns))
        self.blocks.append({"title": title + more, "table": table, "note": note})


def write_report(
    path: Path,
    title: str,
    subtitle: str,
    sections: list[Section],
    data: dict[str, Any],
    cautions: list[str] | None = None,
    *,
    self_contained: bool = False,
) -> tuple[Path, Path]:
    """Write `path`.html and its .json of figures; return both paths.

    The page loads `plotly.min.js` from its own folder (copied there once, see
    `shared_plotly`), or embeds plotly.js with `self_contained=True`. Written to temporary
    names and renamed, so a reader never sees half a report.
    """
    page, numbers = path.with_suffix(".html"), path.with_suffix(".json")
    page.parent.mkdir(parents=True, exist_ok=True)
    if not self_contained:
        shared_plotly(page.parent)
    figures = {k: f.to_plotly_json() for s in sections for k, f in s.figures.items()}
    text = _render(
        title=title,
        subtitle=subtitle,
        cautions=cautions or [],
        sections=sections,
        plotly_src=None if self_contained else f"./{PLOTLY_JS}",
        plotly_js=_inline_plotly() if self_contained else None,
        zoom_js=Markup(charts.ZOOM_SCRIPT),
        figures=Markup(_script_json(figures)),
        units=UNITS.format(json=numbers.name),
        version=_version(),
        written=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        json_name=numbers.name,
    )
    _atomic_write(numbers, json.dumps(data, indent=1, default=str) + "\n")
    _atomic_write(page, text)
    return page, numbers


def _render(**values: Any) -> str:
    """Return the report page rendered from templates/report.html."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True
    )
    return env.get_template("report.html").render(**values)


def _script_json(value: Any) -> str:
    """Return `value` as JSON that is safe inside a <script> element."""
    from plotly.utils import PlotlyJSONEncoder

    return json.dumps(value, cls=PlotlyJSONEncoder).replace("</", "<\\/")


def plotly_source() -> Path:
    """Return the plotly.min.js bundled with the installed plotly package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


def shared_plotly(folder: Path) -> Path:
    """Return `folder`/plotly.min.js, copied from the plotly package when missing or different.

    Copied to a temporary name and renamed, so a page never loads half a file.
    """
    source, target = plotly_source(), folder / PLOTLY_JS
    if target.exists() and target.stat().st_size == source.stat().st_size:
        return target
    temp = folder / f".{PLOTLY_JS}.tmp"
    shutil.copyfile(source, temp)
    temp.replace(target)
    return target


def _inline_plotly() -> Markup:
    """Return plotly.js to embed in a page's <script> element."""
    return Markup(plotly_source().read_text(encoding="utf-8").replace("</script", "<\\/script"))


def _atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file and a rename."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


def _version() -> str:
    """Return the installed gammalake version, or 'dev'."""
    try:
        return version("gammalake")
    except PackageNotFoundError:
        return "dev"


# -- tables ------------------------------------------------------------------------------------

SHARPE = "Sharpe (ann., 252 d)"
PERFORMANCE = [
    Column("total_return", "Total return", "pct"),
    Column("cagr", "CAGR", "pct"),
    Column("volatility", "Volatility (ann.)", "pct"),
    Column("sharpe", SHARPE, "num"),
    Column("sortino", "Sortino (ann., 252 d)", "num"),
    Column("max_drawdown", "Max drawdown", "pct"),
]
STATS = [Column("series", "Series"), *PERFORMANCE]
RISK = [
    Column("series", "Series"),
    *PERFORMANCE[:5],
    Column("calmar", "Calmar", "num"),
    Column("max_drawdown", "Max drawdown", "pct"),
    Column("var_95", "VaR 95% (1 session)", "pct"),
    Column("cvar_95", "CVaR 95% (1 session)", "pct"),
    Column("skew", "Skew", "num"),
    Column("kurtosis", "Excess kurtosis", "num"),
    Column("best_day", "Best session", "pct"),
    Column("worst_day", "Worst session", "pct"),
    Column("consecutive_losses", "Longest losing streak (sessions)", "int"),
    Column("beta", "Beta to buy and hold", "num"),
    Column("alpha", "Alpha (ann.)", "pct"),
    Column("correlation", "Correlation to buy and hold", "num"),
]
TRADE_STATS = [
    Column("trades", "Trades", "int"),
    Column("win_rate", "Win rate", "pct"),
    Column("profit_factor", "Profit factor", "num"),
    Column("expectancy", "Expectancy (mean trade return)", "pct"),
    Column("expectancy_usd", "Expectancy ($ per trade)", "money"),
    Column("time_in_market", "Time in the market", "pct"),
]
SWEEP_TAIL = [
    *PERFORMANCE,
    Column("trades", "Trades", "int"),
    Column("win_rate", "Win rate", "pct"),
    Column("exposure", "Time in the market", "pct"),
]
MULTIPLE = [
    Column("configurations", "Configurations tried", "int"),
    Column("best_config", "Best configuration"),
    Column("best_sharpe", f"Best {SHARPE}", "num"),
    Column("deflated_sharpe", "Deflated Sharpe (probability)", "num"),
    Column("reality_check_p", "Reality-check p-value", "num3"),
]
WALK = [
    Column("train_start", "Train from"),
    Column("train_end", "Train to"),
    Column("test_start", "Test from"),
    Column("test_end", "Test to"),
    Column("config", "Configuration"),
    Column("params", "Parameters"),
    Column("train_sharpe", f"Train {SHARPE}", "num"),
    Column("test_sharpe", f"Test {SHARPE}", "num"),
    Column("test_return", "Test return", "pct"),
]
TRADES = [
    Column("config", "Configuration"),
    Column("entry", "Entry"),
    Column("exit", "Exit"),
    Column("side", "Side"),
    Column("entry_price", "Entry price", "money"),
    Column("exit_price", "Exit price", "money"),
    Column("pnl", "P&L ($)", "money"),
    Column("return", "Return (on the account)", "pct"),
    Column("status", "Status"),
]
#: The trade table of a walk-forward adds the configuration in force at the exit.
WALKED_TRADES = [*TRADES[:1], Column("exit_config", "Configuration at exit"), *TRADES[1:]]
#: The trade table of an option strategy: one row per leg, prices $ per share.
LEGS = [
    Column("config", "Configuration"),
    Column("package", "Package"),
    Column("contract", "Contract"),
    Column("side", "Side"),
    Column("contracts", "Contracts", "int"),
    Column("entry_at", "Entry (snapshot, New York)"),
    Column("entry_price", "Entry price ($/share)", "money"),
    Column("exit_at", "Exit"),
    Column("exit_price", "Exit price ($/share)", "money"),
    Column("fees", "Fees ($)", "money"),
    Column("pnl", "P&L ($)", "money"),
    Column("return", "Return (on the account)", "pct"),
    Column("status", "Status"),
]
#: What an option leg's return is (stated under the legs table).
LEG_RETURN = (
    "A leg's return is its P&L, fees included, over the account's value before it (legs in "
    "entry order), so the legs compound to the reported total return."
)
MISSES = [
    Column("session", "Session"),
    Column("moment", "Snapshot (New York)"),
    Column("kind", "Fill"),
    Column("contract", "Contract"),
    Column("reason", "Why"),
]
DRAWDOWNS = [
    Column("start", "Start"),
    Column("trough", "Trough"),
    Column("recovery", "Recovery"),
    Column("depth", "Depth", "pct"),
    Column("sessions", "Sessions under water", "int"),
]
YEARS = [
    Column("year", "Year"),
    Column("strategy", "Strategy", "pct"),
    Column("buy_and_hold", "Buy and hold", "pct"),
    Column("difference", "Strategy minus buy and hold", "pct"),
]
VOL_GROUPS = [
    Column("sessions", "Sessions", "int"),
    Column("mean_1d_pct", "Mean 1-day return", "pp"),
    Column("sd_1d_pct", "SD of 1-day returns", "pp"),
    Column("sd_5d_pct", "SD of 5-day returns", "pp"),
    Column("realised_vol_pct", "Realised vol (ann.)", "pp"),
    Column("vol_ci_low", "Vol 95% CI low", "pp"),
    Column("vol_ci_high", "Vol 95% CI high", "pp"),
]
VOL_RATIO = [
    Column("ratio", "Vol ratio, negative / positive gamma", "num"),
    Column("ci_low", "95% CI low", "num"),
    Column("ci_high", "95% CI high", "num"),
    Column("negative", "Negative-gamma sessions", "int"),
    Column("positive", "Positive-gamma sessions", "int"),
]
HOLDS = [
    Column("wall", "Wall"),
    Column("held", "Held"),
    Column("sessions", "Sessions", "int"),
    Column("rate", "Hold rate", "pct"),
    Column("ci_low", "95% CI low", "pct"),
    Column("ci_high", "95% CI high", "pct"),
]
BREACHES = [
    Column("event", "Event"),
    Column("sessions", "Sessions", "int"),
    Column("mean_1d_pct", "Mean 1-day return", "pp"),
    Column("ci_low_pct", "95% CI low", "pp"),
    Column("ci_high_pct", "95% CI high", "pp"),
    Column("mean_5d_pct", "Mean 5-day return", "pp"),
    Column("up_1d_rate", "Up the next day", "pct"),
]
BEYOND_IV = [
    Column("available", "Available"),
    Column("sessions", "Sessions", "int"),
    Column("spearman_gex_move", "Rank corr., net GEX vs move", "num3"),
    Column("spearman_iv_move", "Rank corr., IV vs move", "num3"),
    Column("partial_gex_move_given_iv", "Partial rank corr., GEX given IV", "num3"),
    Column("ci_low", "95% CI low", "num3"),
    Column("ci_high", "95% CI high", "num3"),
]
ALERTS_BY_KIND = [
    Column("kind", "Alert kind"),
    Column("sessions", "Sessions with it", "int"),
    Column("rate", "Share of sessions", "pct"),
    Column("rate_ci_low", "95% CI low", "pct"),
    Column("rate_ci_high", "95% CI high", "pct"),
    Column("with_return", "With a next-day return", "int"),
    Column("mean_1d_pct", "Mean next-day return", "pp"),
    Column("mean_abs_1d_pct", "Mean next-day |return|", "pp"),
    Column("realised_vol_pct", "Realised vol after (ann.)", "pp"),
    Column("vol_ci_low", "Vol 95% CI low", "pp"),
    Column("vol_ci_high", "Vol 95% CI high", "pp"),
    Column("vol_vs_all", "Vol / all sessions' vol", "num"),
    Column("mean_5d_pct", "Mean 5-day return", "pp"),
]
ALERTS_NOTE = (
    "A session counts for a kind when an alert of that kind was stored for it by its decision "
    "time; returns run from that session's close. The first row is every session, for "
    "comparison. Thresholds: settings wall_alert_pct and wall_move_pct (docs/alerts.md)."
)


def _sweep_columns(rows: list[dict[str, Any]]) -> list[Column]:
    """Return the sweep table's columns: configuration, its parameters as named, then results."""
    tail = {c.key for c in SWEEP_TAIL}
    params = [k for k in rows[0] if k != "config" and k not in tail] if rows else []
    return [Column("config", "Configuration"), *(Column(k, k) for k in params), *SWEEP_TAIL]


def yearly_rows(yearly: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Return end-of-year returns (fractions) of the strategy and buy and hold, per year."""
    bench = {r["period"]: r["return"] for r in yearly["buy_and_hold"]}
    rows = []
    for row in yearly["strategy"]:
        other = bench.get(row["period"])
        both = None not in (row["return"], other)
        rows.append(
            {
                "year": row["period"],
                "strategy": row["return"],
                "buy_and_hold": other,
                "difference": row["return"] - other if both else None,
            }
        )
    return rows


# -- subtitles and notes -----------------------------------------------------------------------


def _source_line(figures: dict[str, Any], what: str) -> str:
    """Return a section's first note: source, method, sessions, span and `what` they are."""
    span = " .. ".join(figures["span"])
    return (
        f"Source {figures['source']}, method {figures['method']}; {figures['sessions']} "
        f"sessions ({span}); {what}."
    )


def methods_text(result: dict[str, Any]) -> str:
    """Return the method(s) of the snapshots a result used: one, or one per symbol."""
    used = {symbol: figures["method"] for symbol, figures in result["symbols"].items()}
    if len(set(used.values())) == 1:
        return next(iter(used.values()))
    return ", ".join(f"{method} ({symbol})" for symbol, method in used.items())


def backtest_subtitle(result: dict[str, Any]) -> str:
    """Return a backtest report's subtitle: method, sessions covered, selection, frictions."""
    request = result["request"]
    timing = request["timing"]
    first, last = result["covered"]
    fill = "at the snapshot known then" if "options" in request else timing["fill"]
    return (
        f"{result['summary']}. Method {methods_text(result)}; sessions {first} .. {last}; "
        f"{result['walk_forward_mode']}; decide {timing['decide']} New York, "
        f"fill {fill}; {_friction_text(request)}; Sharpe on 252 sessions."
    )


def _friction_text(request: dict[str, Any]) -> str:
    """Return the frictions a report states: option terms, or fees and slippage per fill."""
    options = request.get("options")
    if options is None:
        costs = request["costs"]
        return f"fees {costs['fees']:.2%}, slippage {costs['slippage']:.2%} per fill"
    return (
        f"option legs fill at the {options_fill_text(options['fill'])} of the stored quotes, "
        f"fee ${options['fee']:.2f} per contract, legs of whole contracts worth up to "
        f"{options['size']:g} x the account's value of underlying (at least one)"
    )


def options_fill_text(fill: str) -> str:
    """Return the fill setting in words: `mid` or crossing the spread."""
    return "mid" if fill == "mid" else "bid/ask (crossing the spread)"


def study_subtitle(result: dict[str, Any]) -> str:
    """Return a study report's subtitle: method and the sessions covered."""
    first, last = result["covered"]
    return (
        f"Method {methods_text(result)}; sessions {first} .. {last}; facts of the stored "
        "history, no trading."
    )


def fallback_line(symbol: str, figures: dict[str, Any]) -> str | None:
    """Return the caution about close-only bars of one symbol, None when every bar was full."""
    counts = figures["close_fallback"]
    if not counts["sessions_without_range"]:
        return None
    return (
        f"{symbol}: {counts['sessions_without_open']} of {figures['sessions']} reported "
        f"sessions have no open and {counts['sessions_without_range']} no high-low range "
        f"(close-only bars): {counts['fills_at_close']} fill(s) meant for the next open used "
        f"the close instead, and {counts['stop_checks_at_close']} stop check(s) saw "
        "high = low = close."
    )


def _caution(symbol: str, tests: dict[str, Any]) -> str:
    """Return the multiple-testing warning line of one symbol."""
    dsr, p = tests["deflated_sharpe"], tests["reality_check_p"]
    return (
        f"{symbol}: {tests['configurations']} configuration(s) tried. The best full-span "
        f"Sharpe {cell(tests['best_sharpe'], 'num')} has a deflated Sharpe probability of "
        f"{cell(dsr, 'num')} (chance its true Sharpe beats the best of that many lucky tries) "
        f"and a reality-check p-value of {cell(p, 'num3')} against buy and hold. Treat anything "
        "with a deflated Sharpe below 0.95 or p above 0.05 as unproven."
    )


# -- backtest sections -------------------------------------------------------------------------


def regimes(levels: dict[str, Any]) -> list[str | None]:
    """Return each session's gamma regime, "positive", "negative" or None.

    Positive where the close is above the gamma flip known that session, negative below it;
    without a flip, the sign of net GEX when known; None when neither is known.
    """
    flips = levels.get("gamma_flip") or [None] * len(levels["dates"])
    gex = levels.get("net_gex") or [None] * len(levels["dates"])
    out: list[str | None] = []
    for close, flip, net in zip(levels["close"], flips, gex, strict=True):
        if close is not None and flip is not None and close != flip:
            out.append("positive" if close > flip else "negative")
        elif flip is None and net:
            out.append("positive" if net > 0 else "negative")
        else:
            out.append(None)
    return out


def price_figure(figures: dict[str, Any], link: str = "sessions") -> go.Figure:
    """Return one symbol's price chart: bars, known levels, regime shading, reported trades.

    It zooms with the charts of the same `link` (the symbol's net GEX).
    """
    lv = figures["levels"]
    bars = {k: lv[k] for k in ("open", "high", "low", "close")}
    known = {k: lv[k] for k in charts.LEVELS if k in lv}
    trades = [] if "options" in figures else figures.get("trades") or []
    return charts.price_chart(
        lv["dates"], bars, known, regime=regimes(lv), trades=trades, link=link
    )


def _has_net_gex(figures: dict[str, Any]) -> bool:
    """Return whether the levels carry any known net GEX."""
    return any(v is not None for v in figures["levels"].get("net_gex") or [])


def _market_blocks(section: Section, figures: dict[str, Any]) -> None:
    """Add the price chart (levels, regimes, trades) and net GEX over time, zoomed together."""
    section.chart(
        "Price with the known gamma flip and walls",
        price_figure(figures, section.anchor),
        "Shading: positive gamma where the close was above the gamma flip known that session, "
        "negative below it. Triangles mark entries (up long, down short), crosses exits. "
        "Candles at spans up to 8 months, the close line beyond; the range buttons and slider "
        "zoom, and net GEX below follows.",
    )
    if _has_net_gex(figures):
        lv = figures["levels"]
        net = charts.net_gex_chart(lv["dates"], lv["net_gex"], section.anchor)
        section.chart("Net GEX known each session", net)


def backtest_sections(result: dict[str, Any]) -> tuple[list[Section], list[str]]:
    """Return the sections of a backtest report and its cautions (trades, bars, testing).

    Adds each traded symbol's `tearsheet` (see `backtest.tearsheet`) to `result`, so the JSON
    written with the page holds every number it draws.
    """
    sections, cautions = [], []
    for symbol, figures in result["symbols"].items():
        section = Section(
            f"{symbol} - {result['strategy']}",
            [_source_line(figures, f"reported: {figures['selection']}")],
        )
        if "options" in figures:
            section.notes.append(option_line(figures["options"]))
            cautions.append(f"{symbol}: {miss_line(figures['options'])}")
        if figures["no_trade"]:  # one line, not charts of a flat line
            section.notes.append(f"{figures['no_trade']}: no returns, trades or charts of them.")
            cautions.append(f"{figures['no_trade']}.")
            _market_blocks(section, figures)
        else:
            fallback = fallback_line(symbol, figures)
            section.notes.extend([fallback] if fallback else [])
            cautions.extend([fallback] if fallback else [])
            _traded_blocks(section, figures)
            cautions.append(_caution(symbol, figures["multiple_testing"]))
        rows = figures["sweep"]["table"]
        ranked = sorted(rows, key=lambda r: -(r["sharpe"] if r["sharpe"] is not None else -1e9))
        section.table("Every configuration tried, best Sharpe first", ranked, _sweep_columns(rows))
        sections.append(section)
    return sections, cautions


def _traded_blocks(section: Section, figures: dict[str, Any]) -> None:
    """Add the statistics, charts and tables of a symbol whose reported returns traded."""
    sheet = figures["tearsheet"] = tearsheet(figures["equity"])
    dates = figures["equity"]["dates"]
    section.table("Statistics against buy and hold over the same sessions", figures["stats"], STATS)
    section.table(
        "Risk figures (computed by vectorbt), side by side",
        figures["risk"],
        RISK,
        note="Beta, alpha and correlation are to buy and hold over the same sessions; VaR and "
        "CVaR are historical (the worst 5% of sessions).",
    )
    span = "out-of-sample" if figures["walk_forward"] else "reported"
    section.table(f"Trade statistics ({span})", [figures["trade_stats"]], TRADE_STATS)
    _market_blocks(section, figures)
    growth = {k: figures["equity"][k] for k in charts.SERIES_NAMES}
    section.chart("Equity: strategy against buy and hold", charts.equity_chart(dates, growth))
    section.chart("Drawdown from the running peak", charts.drawdown_chart(dates, sheet["drawdown"]))
    section.table("Worst drawdown periods of the strategy", sheet["worst_drawdowns"], DRAWDOWNS)
    section.chart("Monthly returns", charts.monthly_chart(sheet["monthly"]))
    section.chart("End-of-year returns", charts.yearly_chart(sheet["yearly"]))
    section.table("End-of-year returns", yearly_rows(sheet["yearly"]), YEARS)
    _rolling_blocks(section, dates, sheet["rolling"])
    flat = sheet["distribution"]["flat"]
    section.chart(
        "Distribution of daily returns",
        charts.distribution_chart(sheet["distribution"]),
        f"Sessions per bin of daily return. Left out, sessions with no change at all (out of "
        f"the market): strategy {flat['strategy']}, buy and hold {flat['buy_and_hold']}.",
    )
    _testing_blocks(section, figures)


def _rolling_blocks(section: Section, dates: list[str], rolling: dict[str, Any]) -> None:
    """Add the rolling Sharpe and volatility charts (annualised, trailing window)."""
    window = rolling["window"]
    if len(dates) < window:
        section.notes.append(f"Fewer than {window} sessions: no rolling Sharpe or volatility.")
        return
    sharpe = charts.rolling_chart(dates, rolling["sharpe"], "Sharpe (ann.)", 1.0)
    vol = charts.rolling_chart(dates, rolling["volatility"], "volatility (ann.)", 100.0)
    section.chart(f"Rolling Sharpe ({window} sessions, annualised on 252)", sharpe)
    section.chart(f"Rolling volatility ({window} sessions, annualised)", vol)


def _testing_blocks(section: Section, figures: dict[str, Any]) -> None:
    """Add the sweep heatmap, the multiple-testing table, walk-forward windows and trades."""
    if figures["sweep"]["heatmap"]:
        section.chart(
            "Sweep: Sharpe by parameter (best over the others)",
            charts.sweep_chart(figures["sweep"]["heatmap"]),
        )
    section.table("Multiple testing", [figures["multiple_testing"]], MULTIPLE)
    if figures["walk_forward"]:
        section.table(
            "Walk-forward windows (chosen in-sample, reported out-of-sample)",
            figures["walk_forward"],
            WALK,
            note=figures["boundary_rule"],
        )
    if "options" in figures:
        _option_blocks(section, figures)
        return
    columns = WALKED_TRADES if figures["walk_forward"] else TRADES
    rows = [{c.key: t.get(c.key) for c in columns} for t in figures["trades"]]
    section.table("Trades", rows, columns, note=ledger_line(figures))


def _option_blocks(section: Section, figures: dict[str, Any]) -> None:
    """Add the option legs (the trade ledger), the fill setting and the misses."""
    section.table("Option legs", figures["trades"], LEGS, note=ledger_line(figures))
    section.table(
        f"Fills without a stored quote: {figures['options']['misses']}",
        figures["options"]["miss_list"],
        MISSES,
        note="Not filled; the first ones, all are counted above.",
    )


def miss_line(options: dict[str, Any]) -> str:
    """Return the one-line summary of an option report's fill setting and misses."""
    return (
        f"option legs filled at the {options_fill_text(options['fill'])} of the stored quotes, "
        f"${options['fee_per_contract']:.2f} per contract; {options['misses']} fill(s) found "
        f"no stored quote and were not made ({options['entry_misses']} entry, "
        f"{options['exit_misses']} exit), {options['settlement_misses']} settlement(s) lacked "
        "the expiry session's bar."
    )


def option_line(options: dict[str, Any]) -> str:
    """Return the line stating the fill setting and the misses of an option report."""
    return (
        f"Fill setting: {options['fill']} ({options_fill_text(options['fill'])} at the "
        f"snapshot each decision knew), fee ${options['fee_per_contract']:.2f} per contract "
        f"per fill, none at expiry. Misses (fills with no stored quote, not filled): "
        f"{options['misses']} ({options['entry_misses']} entry, {options['exit_misses']} "
        f"exit, {options['settlement_misses']} settlement without the expiry session's bar); "
        f"{options['stale_marks']} mark(s) kept an earlier quote. Expiry settles at intrinsic: "
        "PM-settled contracts at the stored close of the expiration session, AM-settled roots "
        "(SPX, NDX, RUT, VIX) at its opening price from the bars."
    )


def ledger_line(figures: dict[str, Any]) -> str:
    """Return the line that reconciles the trade ledger with the reported total return."""
    check = figures["ledger"]
    what, why = ("leg(s)", LEG_RETURN) if "options" in figures else ("trade(s)", TRADE_RETURN)
    return (
        f"{check['trades']} {what} compound to {cell(check['compounded'], 'pct')}; the "
        "reported total return is "
        f"{cell(check['total_return'], 'pct')} (difference {check['difference']:.1e}). "
        f"{why}"
    )


# -- study sections ----------------------------------------------------------------------------


def _neither_line(figures: dict[str, Any]) -> str:
    """Return the note on sessions exactly at the regime boundary (in neither group)."""
    at = (
        "spot exactly at the flip"
        if figures["regime_basis"].startswith("spot")
        else ("net GEX of exactly 0")
    )
    return f"{figures['neither_regime']} session(s) with {at}: counted in neither regime."


def study_sections(result: dict[str, Any]) -> list[Section]:
    """Return the sections of a study report."""
    sections = []
    for symbol, figures in result["symbols"].items():
        section = Section(
            f"{symbol} - study",
            [
                _source_line(figures, f"regime by {figures['regime_basis']}"),
                "Returns run from each session's close to the next close (1 day) or the fifth "
                "(5 days), using only the levels known after that session's snapshot.",
            ],
        )
        if figures["neither_regime"]:
            section.notes.append(_neither_line(figures))
        _study_blocks(section, figures)
        sections.append(section)
    return sections


def _study_blocks(section: Section, figures: dict[str, Any]) -> None:
    """Add a study's charts and tables: vol by regime and quantile, wall holds, breaches."""
    by_regime = charts.vol_bars_chart(figures["by_regime"], "gamma", "regime")
    section.chart("Realised vol by regime", by_regime)
    section.table("By regime", figures["by_regime"], [Column("gamma", "Gamma"), *VOL_GROUPS])
    section.table(
        "Vol ratio, negative over positive gamma (95% bootstrap CI)",
        [figures["vol_ratio"]],
        VOL_RATIO,
    )
    if figures["by_gex_quantile"]:
        section.chart(
            "Realised vol by net GEX quantile (Q1 lowest)",
            charts.vol_bars_chart(figures["by_gex_quantile"], "gex_bucket", "net GEX quantile"),
        )
        quantile = [Column("gex_bucket", "Net GEX quantile"), *VOL_GROUPS]
        section.table("By net GEX quantile", figures["by_gex_quantile"], quantile)
    if figures["wall_holds"]:
        section.chart(
            "Wall hold rates (95% Wilson CI)", charts.hold_rate_chart(figures["wall_holds"])
        )
    section.table("Did the walls hold the next session?", figures["wall_holds"], HOLDS)
    section.table("Forward returns after a close through a wall", figures["after_breach"], BREACHES)
    section.table(
        "What GEX adds once implied vol is controlled for (rank correlations "
        "with the next day's absolute return)",
        [figures["gex_beyond_iv"]],
        BEYOND_IV,
    )
    if figures.get("by_alert_kind"):
        section.table(
            "Alerts by kind: how often each fired, and the next session after it",
            figures["by_alert_kind"],
            ALERTS_BY_KIND,
            note=ALERTS_NOTE,
        )
