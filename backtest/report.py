"""Self-contained HTML reports (plotly.js embedded, opens offline) and the JSON of their figures.

`backtest_report` and `study_report` turn the figures of `run.run_backtest` and
`study.run_study` into sections of charts and tables; `write_report` writes NAME.html next to
NAME.json, which holds every number the charts draw.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

TEMPLATES = Path(__file__).with_name("templates")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


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

    def chart(self, title: str, figure: go.Figure) -> None:
        """Add a chart under `title`."""
        key = f"{self.anchor}-{len(self.blocks)}"
        figure.update_layout(margin={"l": 50, "r": 20, "t": 30, "b": 40}, height=380)
        self.figures[key] = figure
        self.blocks.append({"title": title, "chart": key})

    def table(self, title: str, rows: list[dict[str, Any]], limit: int = 500) -> None:
        """Add a table of `rows` (at most `limit`, the rest counted in the title)."""
        shown = rows[:limit]
        more = f" (first {limit} of {len(rows)})" if len(rows) > limit else ""
        self.blocks.append({"title": title + more, "table": Markup(html_table(shown))})


def html_table(rows: list[dict[str, Any]]) -> str:
    """Return rows as an HTML table, numbers formatted, text escaped."""
    if not rows:
        return "<p class='note'>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    """Return a table cell: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def write_report(
    path: Path,
    title: str,
    subtitle: str,
    sections: list[Section],
    data: dict[str, Any],
    cautions: list[str] | None = None,
) -> tuple[Path, Path]:
    """Write `path` (.html, self-contained) and its .json of figures; return both paths.

    Written to temporary names and renamed, so a reader never sees half a report.
    """
    import jinja2
    from plotly.offline import get_plotlyjs

    page, numbers = path.with_suffix(".html"), path.with_suffix(".json")
    page.parent.mkdir(parents=True, exist_ok=True)
    figures = {k: json.loads(f.to_json()) for s in sections for k, f in s.figures.items()}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True
    )
    text = env.get_template("report.html").render(
        title=title,
        subtitle=subtitle,
        cautions=cautions or [],
        sections=sections,
        plotly_js=Markup(get_plotlyjs().replace("</script", "<\\/script")),
        figures=Markup(json.dumps(figures).replace("</", "<\\/")),
        version=_version(),
        written=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        json_name=numbers.name,
    )
    _atomic_write(numbers, json.dumps(data, indent=1, default=str) + "\n")
    _atomic_write(page, text)
    return page, numbers


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


def equity_chart(figures: dict[str, Any]) -> go.Figure:
    """Return growth of 1 for the strategy and buy-and-hold over the same sessions."""
    equity = figures["equity"]
    fig = go.Figure()
    for name, label in (("strategy", "strategy"), ("buy_and_hold", "buy and hold")):
        fig.add_trace(go.Scatter(x=equity["dates"], y=equity[name], name=label, mode="lines"))
    fig.update_yaxes(title="growth of 1")
    return fig


def drawdown_chart(figures: dict[str, Any]) -> go.Figure:
    """Return the strategy's drawdown from its running peak, in %."""
    dd = figures["drawdown"]
    values = [None if v is None else 100 * v for v in dd["strategy"]]
    fig = go.Figure(go.Scatter(x=dd["dates"], y=values, fill="tozeroy", name="drawdown"))
    fig.update_yaxes(title="% from peak")
    return fig


def monthly_chart(figures: dict[str, Any]) -> go.Figure:
    """Return monthly returns (%) as a year x month heatmap."""
    months = figures["monthly_returns"]
    years = sorted({m["month"][:4] for m in months})
    grid = {(m["month"][:4], int(m["month"][5:])): m["return"] for m in months}
    z = [[_pct(grid.get((y, n))) for n in range(1, 13)] for y in years]
    fig = go.Figure(
        go.Heatmap(z=z, x=_MONTHS, y=years, colorscale="RdYlGn", zmid=0, texttemplate="%{z:.1f}")
    )
    fig.update_layout(yaxis={"type": "category"})
    return fig


def _pct(value: float | None) -> float | None:
    """Return a fraction in %, None kept."""
    return None if value is None else 100 * value


def levels_chart(figures: dict[str, Any]) -> go.Figure:
    """Return the daily bars with the gamma flip, call wall and put wall known each session."""
    lv = figures["levels"]
    fig = go.Figure(
        go.Candlestick(
            x=lv["dates"],
            open=lv["open"],
            high=lv["high"],
            low=lv["low"],
            close=lv["close"],
            name="price",
        )
    )
    styles = {"gamma_flip": "#8250df", "call_wall": "#1a7f37", "put_wall": "#cf222e"}
    for name, colour in styles.items():
        fig.add_trace(
            go.Scatter(
                x=lv["dates"],
                y=lv[name],
                name=name.replace("_", " "),
                mode="lines",
                line={"color": colour, "width": 1.2, "shape": "hv"},
            )
        )
    fig.update_layout(xaxis_rangeslider_visible=False)
    return fig


def heatmap_chart(heatmap: dict[str, Any]) -> go.Figure:
    """Return the sweep's Sharpe over its two most varied parameters."""
    fig = go.Figure(
        go.Heatmap(
            z=heatmap["sharpe"],
            x=heatmap["x_values"],
            y=heatmap["y_values"],
            colorscale="RdBu",
            zmid=0,
            texttemplate="%{z:.2f}",
            colorbar={"title": "Sharpe"},
        )
    )
    fig.update_xaxes(title=heatmap["x"], type="category")
    fig.update_yaxes(title=heatmap["y"], type="category")
    return fig


def _stats_rows(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the strategy-vs-buy-and-hold statistics with readable units (%)."""
    rows = []
    for row in figures["stats"]:
        rows.append(
            {
                "series": row["series"].replace("_", " "),
                "total return %": _pct(row["total_return"]),
                "CAGR %": _pct(row["cagr"]),
                "volatility %": _pct(row["volatility"]),
                "Sharpe (252)": row["sharpe"],
                "Sortino": row["sortino"],
                "max drawdown %": _pct(row["max_drawdown"]),
            }
        )
    return rows


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
    timing, costs = request["timing"], request["costs"]
    first, last = result["covered"]
    return (
        f"{result['summary']}. Method {methods_text(result)}; sessions {first} .. {last}; "
        f"{result['walk_forward_mode']}; decide {timing['decide']} New York, "
        f"fill {timing['fill']}; "
        f"fees {costs['fees']:.2%}, slippage {costs['slippage']:.2%} per fill; "
        "Sharpe on 252 sessions."
    )


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


def backtest_sections(result: dict[str, Any]) -> tuple[list[Section], list[str]]:
    """Return the sections of a backtest report and its cautions (trades, bars, testing)."""
    sections, cautions = [], []
    for symbol, figures in result["symbols"].items():
        section = Section(
            f"{symbol} - {result['strategy']}",
            [_source_line(figures, f"reported: {figures['selection']}")],
        )
        if figures["no_trade"]:  # one line, not charts of a flat line
            section.notes.append(f"{figures['no_trade']}: no returns, trades or charts of them.")
            cautions.append(f"{figures['no_trade']}.")
        else:
            fallback = fallback_line(symbol, figures)
            section.notes.extend([fallback] if fallback else [])
            cautions.extend([fallback] if fallback else [])
            _traded_blocks(section, figures)
            cautions.append(_caution(symbol, figures["multiple_testing"]))
        section.chart("Price with the known gamma flip and walls", levels_chart(figures))
        ranked = sorted(figures["sweep"]["table"], key=lambda r: -(r["sharpe"] or -1e9))
        section.table("Every configuration tried, best Sharpe first", ranked)
        sections.append(section)
    return sections, cautions


def _traded_blocks(section: Section, figures: dict[str, Any]) -> None:
    """Add the statistics, charts and tables of a symbol whose reported returns traded."""
    section.table("Statistics against buy and hold over the same sessions", _stats_rows(figures))
    section.chart("Equity: strategy against buy and hold", equity_chart(figures))
    section.chart("Drawdown", drawdown_chart(figures))
    section.chart("Monthly returns (%)", monthly_chart(figures))
    if figures["sweep"]["heatmap"]:
        section.chart(
            "Sweep: Sharpe by parameter (best over the others)",
            heatmap_chart(figures["sweep"]["heatmap"]),
        )
    section.table("Multiple testing", [figures["multiple_testing"]])
    if figures["walk_forward"]:
        section.table(
            "Walk-forward windows (chosen in-sample, reported out-of-sample)",
            figures["walk_forward"],
        )
    section.table("Trades", figures["trades"])


def _caution(symbol: str, tests: dict[str, Any]) -> str:
    """Return the multiple-testing warning line of one symbol."""
    dsr, p = tests["deflated_sharpe"], tests["reality_check_p"]
    return (
        f"{symbol}: {tests['configurations']} configuration(s) tried. The best full-span "
        f"Sharpe {_cell(tests['best_sharpe'])} has a deflated Sharpe probability of "
        f"{_cell(dsr)} (chance its true Sharpe beats the best of that many lucky tries) and a "
        f"reality-check p-value of {_cell(p)} against buy and hold. Treat anything with a "
        "deflated Sharpe below 0.95 or p above 0.05 as unproven."
    )


def _error_bars(values: list[float], lows: list[float], highs: list[float]) -> dict[str, Any]:
    """Return plotly's asymmetric error bars reaching from each value to its interval ends."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [h - v for v, h in zip(values, highs, strict=True)],
        "arrayminus": [v - lo for v, lo in zip(values, lows, strict=True)],
    }


def _bars(rows: list[dict[str, Any]], key: str, title: str) -> go.Figure:
    """Return realised vol (%) per group with its 95% CI as error bars (groups of 5+)."""
    rows = [r for r in rows if None not in (r["vol_ci_low"], r["vol_ci_high"])]
    vols = [r["realised_vol_pct"] for r in rows]
    fig = go.Figure(
        go.Bar(
            x=[str(r[key]) for r in rows],
            y=vols,
            error_y=_error_bars(
                vols, [r["vol_ci_low"] for r in rows], [r["vol_ci_high"] for r in rows]
            ),
            name="realised vol",
        )
    )
    fig.update_yaxes(title="next-day realised vol, % a year")
    fig.update_xaxes(title=title, type="category")
    return fig


def _rate_chart(rows: list[dict[str, Any]]) -> go.Figure:
    """Return wall hold rates (%) with their Wilson intervals."""
    fig = go.Figure()
    for when in ("intraday", "close"):
        picked = [r for r in rows if r["held"] == when and r["rate"] is not None]
        pct = [[100 * r[k] for r in picked] for k in ("rate", "ci_low", "ci_high")]
        fig.add_trace(
            go.Bar(
                x=[r["wall"].replace("_", " ") for r in picked],
                y=pct[0],
                error_y=_error_bars(*pct),
                name=f"held {when}",
            )
        )
    fig.update_yaxes(title="% of sessions", range=[0, 100])
    return fig


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
        ratio = figures["vol_ratio"]
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
        section.chart("Realised vol by regime", _bars(figures["by_regime"], "gamma", "regime"))
        section.table("By regime", figures["by_regime"])
        section.table("Vol ratio, negative over positive gamma (95% bootstrap CI)", [ratio])
        if figures["by_gex_quantile"]:
            section.chart(
                "Realised vol by net GEX quantile (Q1 lowest)",
                _bars(figures["by_gex_quantile"], "gex_bucket", "net GEX quantile"),
            )
            section.table("By net GEX quantile", figures["by_gex_quantile"])
        if figures["wall_holds"]:
            section.chart("Wall hold rates (95% Wilson CI)", _rate_chart(figures["wall_holds"]))
        section.table("Did the walls hold the next session?", figures["wall_holds"])
        section.table("Forward returns after a close through a wall", figures["after_breach"])
        section.table(
            "What GEX adds once implied vol is controlled for (rank correlations "
            "with the next day's absolute return)",
            [figures["gex_beyond_iv"]],
        )
        sections.append(section)
    return sections
