"""Every chart of gammalake: plotly figures for the reports and the dashboard.

Functions take plain sequences (ISO dates, floats, None for missing) and return a
`plotly.graph_objects.Figure`; `figure.to_plotly_json()` gives the dict a page hands to
plotly.js. Colours are named once, in `COLOURS`: candles green and red, the call wall blue,
the put wall orange, the gamma flip amber, regimes as translucent shading. Returns come in as
fractions and are drawn in %; exposures come in dollars and are drawn in $ bn.

Time-series charts open on their last `WINDOW` sessions with a range slider and range buttons.
The price chart draws candles when the visible span is short and a close line when it is long:
`ZOOM_SCRIPT` (JavaScript, run once per page, then `gammalakeZoom(div)` per chart) switches
them and refits the price axis to what is visible as the reader zooms; charts given the same
`link` (price, net GEX) zoom together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

#: Every colour a chart uses, by meaning.
COLOURS = {
    "up": "#1a7f37",  # candles closing up, call GEX, positive net GEX
    "down": "#cf222e",  # candles closing down, put GEX, negative net GEX
    "close": "#24292f",  # the close line at long spans, the spot line
    "gamma_flip": "#e3a008",  # amber
    "call_wall": "#2f6fde",  # blue
    "put_wall": "#f0700c",  # orange
    "net": "#6e40c9",  # net GEX by strike, the gamma profile
    "positive_gamma": "rgba(26, 127, 55, 0.08)",  # regime shading, translucent
    "negative_gamma": "rgba(207, 34, 46, 0.09)",
    "entry": "#0a3069",
    "exit": "#bf3989",
    "strategy": "#2f6fde",
    "buy_and_hold": "#8c959f",
    "intraday": "#54aeff",  # wall holds through the session
    "at_close": "#0a3069",  # wall holds at the close
    "grid": "#eaeef2",
    "text": "#1f2328",
}
#: Sessions a time-series chart shows when it opens (about six months).
WINDOW = 126
#: Longest visible span (calendar days) still drawn as candles; longer spans draw a line.
CANDLE_DAYS = 250
#: Display names of the backtest's series.
SERIES_NAMES = {"strategy": "strategy", "buy_and_hold": "buy and hold"}
LEVELS = {"gamma_flip": "gamma flip", "call_wall": "call wall", "put_wall": "put wall"}
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

#: A light template (white, faint grid): a few hundred bytes per figure, not plotly's 7 kB.
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": {"gridcolor": COLOURS["grid"], "linecolor": "#d0d7de", "zeroline": False},
        "yaxis": {"gridcolor": COLOURS["grid"], "linecolor": "#d0d7de", "zerolinecolor": "#afb8c1"},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
    }
)

#: Switches candles and the close line by the visible span, and refits the y axis to it.
ZOOM_SCRIPT = """
function gammalakeZoom(el) {
  const meta = (el.layout.meta || {}).gammalake;
  if (!meta) return;
  let busy = false;
  const refit = () => {
    if (busy) return;
    const range = el.layout.xaxis.range.map(v => String(v).slice(0, 10));
    const days = (Date.parse(range[1]) - Date.parse(range[0])) / 864e5;
    const candles = days <= meta.candle_days;
    const visible = el.data.map(t => t.meta === "candles" ? candles
      : t.meta === "close" ? !candles : t.visible);
    let lo = Infinity, hi = -Infinity;
    el.data.forEach((t, i) => {
      if (visible[i] === false || !t.x || t.meta === "key") return;
      t.x.forEach((x, j) => {
        if (x < range[0] || x > range[1]) return;
        for (const v of [t.low ? t.low[j] : t.y[j], t.high ? t.high[j] : t.y[j]]) {
          if (v !== null && v !== undefined) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        }
      });
    });
    if (meta.zero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
    const pad = (hi - lo) * 0.04 || 1;
    const layout = isFinite(lo) ? {"yaxis.range": [lo - pad, hi + pad]} : {};
    busy = true;
    Plotly.update(el, {visible: visible}, layout).then(() => { busy = false; });
  };
  const linked = gammalakeZoom.linked = gammalakeZoom.linked || [];
  if (meta.link) linked.push(el);
  el.on("plotly_relayout", ev => {
    if (!Object.keys(ev).some(k => k.startsWith("xaxis."))) return;
    refit();
    if (!meta.link || gammalakeZoom.syncing) return;
    gammalakeZoom.syncing = true;
    const range = el.layout.xaxis.range.slice();
    const others = linked.filter(o => o !== el && o.layout.meta.gammalake.link === meta.link);
    Promise.all(others.map(o => Plotly.relayout(o, {"xaxis.range": range})))
      .finally(() => { gammalakeZoom.syncing = false; });
  });
}
"""


def _styled(figure: go.Figure, height: int, **layout: Any) -> go.Figure:
    """Return `figure` with the gammalake template, `height` (px) and extra layout applied."""
    figure.update_layout(template=TEMPLATE, height=height, **layout)
    return figure


def _percent(values: Sequence[float | None]) -> list[float | None]:
    """Return fractions in %, None kept."""
    return [None if v is None else 100 * v for v in values]


def _window(dates: Sequence[str], sessions: int = WINDOW) -> list[str] | None:
    """Return the x range of the last `sessions` dates, None when all of them fit."""
    if len(dates) <= sessions:
        return None
    return [dates[-sessions], dates[-1]]


def _time_axis(figure: go.Figure, dates: Sequence[str], slider: bool = True) -> None:
    """Give `figure` range buttons, a range slider and the opening window of its dates."""
    buttons = [
        {"count": 1, "label": "1m", "step": "month", "stepmode": "backward"},
        {"count": 3, "label": "3m", "step": "month", "stepmode": "backward"},
        {"count": 6, "label": "6m", "step": "month", "stepmode": "backward"},
        {"count": 1, "label": "YTD", "step": "year", "stepmode": "todate"},
        {"count": 1, "label": "1y", "step": "year", "stepmode": "backward"},
        {"label": "all", "step": "all"},
    ]
    first, last = _window(dates) or (list(dates[:1]) + list(dates[-1:]))
    half = timedelta(hours=18)  # the first and last bar whole, not cut at their middle
    figure.update_xaxes(
        rangeselector={"buttons": buttons, "x": 0, "y": 1.0, "yanchor": "bottom"},
        rangeslider={"visible": slider, "thickness": 0.07},
        range=[_shift(first, -half), _shift(last, half)] if dates else None,
        type="date",
    )
    figure.update_layout(legend={"x": 1, "xanchor": "right"})


def _span_days(dates: Sequence[str]) -> int:
    """Return the calendar days from the first to the last ISO date (0 when fewer than 2)."""
    if len(dates) < 2:
        return 0
    return (date.fromisoformat(dates[-1][:10]) - date.fromisoformat(dates[0][:10])).days


def _fit(values: Sequence[Sequence[float | None]], pad: float = 0.04) -> list[float] | None:
    """Return a y range holding every non-None value of `values`, padded, None when empty."""
    found = [v for series in values for v in series if v is not None]
    if not found:
        return None
    low, high = min(found), max(found)
    margin = (high - low) * pad or 1.0
    return [low - margin, high + margin]


def price_chart(
    dates: Sequence[str],
    bars: Mapping[str, Sequence[float | None]],
    levels: Mapping[str, Sequence[float | None]],
    *,
    regime: Sequence[str | None] | None = None,
    trades: Sequence[Mapping[str, Any]] | None = None,
    link: str = "sessions",
) -> go.Figure:
    """Return daily bars with the known levels, regime shading and trade markers.

    `bars`: open, high, low, close (prices); `levels`: any of gamma_flip, call_wall, put_wall
    (prices, the value known each session); `regime`: "positive"/"negative"/None per session;
    `trades`: rows with entry, exit (ISO dates), side (Long/Short), entry_price, exit_price,
    status (Open/Closed) and return_pct (%). Opens on the last `WINDOW` sessions as candles;
    spans longer than `CANDLE_DAYS` draw the close as a line (see `ZOOM_SCRIPT`). Zooms with
    the charts of the same `link`.
    """
    shown = _window(dates) or list(dates[:1]) + list(dates[-1:])
    candles = _span_days(shown) <= CANDLE_DAYS
    fig = go.Figure()
    _add_bars(fig, dates, bars, candles)
    for name, label in LEVELS.items():
        if name in levels:
            _add_level(fig, dates, levels[name], name, label)
    _add_trades(fig, trades or [])
    _add_regimes(fig, dates, regime or [])
    _time_axis(fig, dates)
    start = shown[0]
    visible = [
        [v for d, v in zip(dates, series, strict=True) if d >= start]
        for series in (bars["low"], bars["high"], *(levels.get(n, []) for n in LEVELS))
        if len(series) == len(dates)
    ]
    fig.update_yaxes(title="price", range=_fit(visible))
    meta = {"gammalake": {"candle_days": CANDLE_DAYS, "link": link}}
    return _styled(fig, 560, meta=meta)


def _add_bars(
    fig: go.Figure, dates: Sequence[str], bars: Mapping[str, Sequence[float | None]], candles: bool
) -> None:
    """Add the candles and the close line; `candles` says which one shows first."""
    fig.add_trace(
        go.Candlestick(
            x=dates,
            open=[c if o is None else o for o, c in zip(bars["open"], bars["close"], strict=True)],
            high=bars["high"],
            low=bars["low"],
            close=bars["close"],
            name="price",
            meta="candles",
            visible=candles,
            increasing={"line": {"color": COLOURS["up"]}, "fillcolor": COLOURS["up"]},
            decreasing={"line": {"color": COLOURS["down"]}, "fillcolor": COLOURS["down"]},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=bars["close"],
            name="close",
            meta="close",
            visible=not candles,
            mode="lines",
            line={"color": COLOURS["close"], "width": 1.4},
        )
    )


def _add_level(
    fig: go.Figure, dates: Sequence[str], values: Sequence[float | None], name: str, label: str
) -> None:
    """Add one known level as a step line in its colour (dashed for the flip)."""
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=values,
            name=label,
            mode="lines",
            line={
                "color": COLOURS[name],
                "width": 1.6,
                "shape": "hv",
                "dash": "dash" if name == "gamma_flip" else "solid",
            },
        )
    )


def _add_trades(fig: go.Figure, trades: Sequence[Mapping[str, Any]]) -> None:
    """Add entry markers (triangles up for long, down for short) and exit markers (crosses)."""
    if not trades:
        return
    fig.add_trace(
        go.Scatter(
            x=[t["entry"] for t in trades],
            y=[t["entry_price"] for t in trades],
            name="entry",
            mode="markers",
            marker={
                "symbol": [
                    "triangle-up" if t["side"] == "Long" else "triangle-down" for t in trades
                ],
                "size": 11,
                "color": COLOURS["entry"],
                "line": {"color": "white", "width": 1},
            },
            text=[f"{t['side']} entry" for t in trades],
            hovertemplate="%{text} %{y:.2f}<extra></extra>",
        )
    )
    closed = [t for t in trades if t.get("status") == "Closed"]
    fig.add_trace(
        go.Scatter(
            x=[t["exit"] for t in closed],
            y=[t["exit_price"] for t in closed],
            name="exit",
            mode="markers",
            marker={"symbol": "x", "size": 9, "color": COLOURS["exit"]},
            text=[f"exit, trade {t['return_pct']:+.2f}%" for t in closed],
            hovertemplate="%{text} at %{y:.2f}<extra></extra>",
        )
    )


def regime_runs(dates: Sequence[str], regime: Sequence[str | None]) -> list[tuple[Any, str, str]]:
    """Return (regime, first date, last date) of each run of equal regimes (None included)."""
    runs: list[tuple[Any, str, str]] = []
    for day, state in zip(dates, regime, strict=True):
        if runs and state == runs[-1][0]:
            runs[-1] = (state, runs[-1][1], day)
        else:
            runs.append((state, day, day))
    return runs


def _between(before: str, after: str) -> str:
    """Return the moment halfway between two ISO dates (a run's edge: no gap over weekends)."""
    first, last = datetime.fromisoformat(before[:10]), datetime.fromisoformat(after[:10])
    return (first + (last - first) / 2).isoformat(sep=" ")


def _add_regimes(fig: go.Figure, dates: Sequence[str], regime: Sequence[str | None]) -> None:
    """Shade each run of positive or negative gamma, from and to halfway to its neighbours."""
    if not any(regime):
        return
    runs = regime_runs(dates, regime)
    half = timedelta(hours=12)
    for i, (state, first, last) in enumerate(runs):
        if state is None:
            continue
        start = _between(runs[i - 1][2], first) if i else _shift(first, -half)
        stop = _between(last, runs[i + 1][1]) if i + 1 < len(runs) else _shift(last, half)
        fig.add_vrect(
            x0=start, x1=stop, fillcolor=COLOURS[f"{state}_gamma"], line_width=0, layer="below"
        )
    for state in ("positive", "negative"):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                name=f"{state} gamma",
                meta="key",
                mode="markers",
                marker={
                    "symbol": "square",
                    "size": 14,
                    "color": COLOURS[f"{state}_gamma"],
                    "line": {"color": COLOURS["up" if state == "positive" else "down"], "width": 1},
                },
            )
        )


def _shift(day: str, by: timedelta) -> str:
    """Return the ISO moment `by` from midnight of `day`."""
    return (datetime.fromisoformat(day[:10]) + by).isoformat(sep=" ")


def net_gex_chart(
    dates: Sequence[str], net_gex: Sequence[float | None], link: str = "sessions"
) -> go.Figure:
    """Return net GEX ($ per 1% move, drawn in $ bn) per session: green above 0, red below.

    Zooms with the charts of the same `link` (see `price_chart`).
    """
    billions = [None if v is None else v / 1e9 for v in net_gex]
    colours = [COLOURS["up"] if (v or 0) >= 0 else COLOURS["down"] for v in billions]
    fig = go.Figure(
        go.Bar(
            x=dates,
            y=billions,
            name="net GEX",
            marker={"color": colours, "line": {"width": 0}},
            hovertemplate="%{x}: %{y:.2f} $bn<extra></extra>",
        )
    )
    _time_axis(fig, dates, slider=False)
    fig.update_yaxes(title="net GEX, $ bn per 1% move")
    window = _window(dates)
    if window:
        shown = [v for d, v in zip(dates, billions, strict=True) if d >= window[0]]
        fig.update_yaxes(range=_fit([shown, [0.0]]))
    meta = {"gammalake": {"candle_days": 0, "zero": True, "link": link}}
    return _styled(fig, 300, showlegend=False, meta=meta)


def gex_by_strike_chart(
    strikes: Sequence[float],
    call_gex: Sequence[float],
    put_gex: Sequence[float],
    *,
    spot: float | None = None,
    flip: float | None = None,
) -> go.Figure:
    """Return call, put (green, red bars) and net GEX (line) by strike, $ bn per 1% move.

    `put_gex` as stored (negative for dealers short puts); spot and the gamma flip as lines.
    """
    fig = _call_put_net(strikes, call_gex, put_gex, 1e9, ("call GEX", "put GEX", "net GEX"))
    _spot_and_flip(fig, spot, flip)
    fig.update_xaxes(title="strike")
    fig.update_yaxes(title="GEX, $ bn per 1% move")
    return _styled(fig, 420, barmode="relative", hovermode="x")


def _call_put_net(
    strikes: Sequence[float],
    calls: Sequence[float],
    puts: Sequence[float],
    divisor: float,
    names: tuple[str, str, str],
    *,
    markers: bool = True,
) -> go.Figure:
    """Return call and put bars (green, red) and their sum as a line, each divided by `divisor`.

    `puts` as stored (negative for dealers short puts); `markers`: dots on the net line.
    """
    call = [v / divisor for v in calls]
    put = [v / divisor for v in puts]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=strikes, y=call, name=names[0], marker_color=COLOURS["up"]))
    fig.add_trace(go.Bar(x=strikes, y=put, name=names[1], marker_color=COLOURS["down"]))
    line = {"color": COLOURS["net"], "width": 2}
    net = [c + p for c, p in zip(call, put, strict=True)]
    if markers:
        fig.add_trace(
            go.Scatter(
                x=strikes, y=net, name=names[2], mode="lines+markers", line=line, marker={"size": 4}
            )
        )
    else:
        fig.add_trace(go.Scatter(x=strikes, y=net, name=names[2], mode="lines", line=line))
    return fig


def _spot_and_flip(fig: go.Figure, spot: float | None, flip: float | None) -> None:
    """Draw vertical lines at spot (dark) and the gamma flip (amber, dashed), when known."""
    # The shapes and labels `add_vline(annotation_position="top")` makes, without its cost
    # (about 3 ms a line; the dashboard draws ten of them per session).
    for value, name, dash in ((spot, "close", "solid"), (flip, "gamma_flip", "dash")):
        if value is not None:
            label = "spot" if name == "close" else "flip"
            fig.add_shape(
                type="line",
                x0=value,
                x1=value,
                xref="x",
                y0=0,
                y1=1,
                yref="y domain",
                line={"color": COLOURS[name], "dash": dash, "width": 1.5},
            )
            fig.add_annotation(
                x=value,
                xref="x",
                xanchor="center",
                y=1,
                yref="y domain",
                yanchor="bottom",
                text=f"{label} {value:,.2f}",
                showarrow=False,
            )


def gamma_profile_chart(
    spots: Sequence[float],
    total_gex: Sequence[float],
    *,
    spot: float | None = None,
    flip: float | None = None,
) -> go.Figure:
    """Return total GEX ($ bn per 1% move) re-priced at hypothetical spots, with its flip."""
    values = [v / 1e9 for v in total_gex]
    fig = go.Figure(
        go.Scatter(
            x=spots,
            y=values,
            name="total GEX",
            mode="lines",
            line={"color": COLOURS["net"], "width": 2},
            fill="tozeroy",
            fillcolor="rgba(110, 64, 201, 0.10)",
        )
    )
    fig.add_hline(y=0, line={"color": "#afb8c1", "width": 1})
    _spot_and_flip(fig, spot, flip)
    fig.update_xaxes(title="hypothetical spot")
    fig.update_yaxes(title="total GEX, $ bn per 1% move")
    return _styled(fig, 380, showlegend=False, hovermode="x")


def _series_lines(
    dates: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    scale: float = 1.0,
    fill: bool = False,
) -> go.Figure:
    """Return one line per series (strategy, buy and hold), values times `scale`."""
    fig = go.Figure()
    for name, values in series.items():
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=[None if v is None else scale * v for v in values],
                name=SERIES_NAMES.get(name, name),
                mode="lines",
                line={"color": COLOURS.get(name), "width": 1.6},
                fill="tozeroy" if fill and name == "strategy" else None,
            )
        )
    return fig


def equity_chart(dates: Sequence[str], growth: Mapping[str, Sequence[float | None]]) -> go.Figure:
    """Return growth of 1 of each series (strategy, buy and hold) over the same sessions."""
    fig = _series_lines(dates, growth)
    fig.update_yaxes(title="growth of 1")
    return _styled(fig, 360)


def drawdown_chart(
    dates: Sequence[str], drawdowns: Mapping[str, Sequence[float | None]]
) -> go.Figure:
    """Return each series' drawdown from its running peak (fractions in, % drawn)."""
    fig = _series_lines(dates, drawdowns, scale=100, fill=True)
    fig.update_yaxes(title="% below the peak", ticksuffix="%")
    return _styled(fig, 320)


def rolling_chart(
    dates: Sequence[str], values: Mapping[str, Sequence[float | None]], title: str, scale: float
) -> go.Figure:
    """Return a rolling statistic of each series (`scale` 100 draws fractions in %)."""
    fig = _series_lines(dates, values, scale=scale)
    fig.update_yaxes(title=title, ticksuffix="%" if scale == 100 else "")
    fig.add_hline(y=0, line={"color": "#afb8c1", "width": 1})
    return _styled(fig, 300)


def monthly_chart(months: Mapping[str, Sequence[Mapping[str, Any]]]) -> go.Figure:
    """Return monthly returns (%) as year x month heatmaps, one panel per series.

    `months`: per series, rows of `period` (YYYY-MM) and `return` (fraction); one colour
    scale (red below 0, green above) for all panels.
    """
    names = list(months)
    years = sorted({row["period"][:4] for rows in months.values() for row in rows})
    fig = make_subplots(
        rows=len(names),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=[SERIES_NAMES.get(n, n) for n in names],
    )
    cells = [[100 * (r["return"] or 0) for r in rows] for rows in months.values()]
    edge = max((abs(v) for row in cells for v in row), default=1.0) or 1.0
    for panel, name in enumerate(names, start=1):
        fig.add_trace(_month_grid(months[name], years, name, edge), row=panel, col=1)
        fig.update_yaxes(type="category", autorange="reversed", row=panel, col=1)
    return _styled(fig, 110 + 70 * len(years) * len(names), hovermode="closest")


def _month_grid(
    rows: Sequence[Mapping[str, Any]], years: list[str], name: str, edge: float
) -> go.Heatmap:
    """Return one series' heatmap: a row per year, a column per month, values in %."""
    grid = {(r["period"][:4], int(r["period"][5:7])): r["return"] for r in rows}
    z = [[_pct_or_none(grid.get((y, m))) for m in range(1, 13)] for y in years]
    return go.Heatmap(
        z=z,
        x=_MONTHS,
        y=years,
        name=SERIES_NAMES.get(name, name),
        colorscale="RdYlGn",
        zmin=-edge,
        zmax=edge,
        text=[["" if v is None else f"{v:.2f}%" for v in row] for row in z],
        texttemplate="%{text}",
        hovertemplate="%{y} %{x}: %{z:.2f}%<extra>" + SERIES_NAMES.get(name, name) + "</extra>",
        colorbar={"title": "%", "len": 0.9},
        showscale=name == "strategy",
    )


def _pct_or_none(value: float | None) -> float | None:
    """Return a fraction in %, None kept."""
    return None if value is None else 100 * value


def yearly_chart(years: Mapping[str, Sequence[Mapping[str, Any]]]) -> go.Figure:
    """Return end-of-year returns (%) of each series side by side."""
    fig = go.Figure()
    for name, rows in years.items():
        fig.add_trace(
            go.Bar(
                x=[r["period"] for r in rows],
                y=[_pct_or_none(r["return"]) for r in rows],
                name=SERIES_NAMES.get(name, name),
                marker_color=COLOURS.get(name),
                texttemplate="%{y:.2f}%",
            )
        )
    fig.update_xaxes(type="category")
    fig.update_yaxes(title="return, %", ticksuffix="%")
    return _styled(fig, 320, barmode="group", hovermode="x")


def distribution_chart(histogram: Mapping[str, Any]) -> go.Figure:
    """Return sessions per daily-return bin (%), series overlaid.

    `histogram`: `edges` (fractions), one list of counts per series, and optionally `flat`
    (sessions left out at exactly 0, per series; see `backtest.tearsheet.histogram`).
    """
    edges = [100 * e for e in histogram["edges"]]
    centres = [(a + b) / 2 for a, b in pairwise(edges)]
    fig = go.Figure()
    for name in (k for k in histogram if k not in ("edges", "flat")):
        fig.add_trace(
            go.Bar(
                x=centres,
                y=histogram[name],
                width=(edges[1] - edges[0]) if len(edges) > 1 else None,
                name=SERIES_NAMES.get(name, name),
                marker_color=COLOURS.get(name),
                opacity=0.6,
            )
        )
    fig.update_xaxes(title="daily return, %", ticksuffix="%")
    fig.update_yaxes(title="sessions")
    return _styled(fig, 320, barmode="overlay", bargap=0, hovermode="x")


def sweep_chart(heatmap: Mapping[str, Any]) -> go.Figure:
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
    return _styled(fig, 380, hovermode="closest")


def _error_bars(values: list[float], lows: list[float], highs: list[float]) -> dict[str, Any]:
    """Return plotly's asymmetric error bars reaching from each value to its interval ends."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [h - v for v, h in zip(values, highs, strict=True)],
        "arrayminus": [v - lo for v, lo in zip(values, lows, strict=True)],
    }


def vol_bars_chart(rows: Sequence[Mapping[str, Any]], key: str, title: str) -> go.Figure:
    """Return realised vol (% a year) per group with its 95% CI as error bars."""
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
            marker_color=[_group_colour(str(r[key])) for r in rows],
        )
    )
    fig.update_yaxes(title="next-day realised vol, % a year", ticksuffix="%")
    fig.update_xaxes(title=title, type="category")
    return _styled(fig, 360, hovermode="closest")


def _group_colour(group: str) -> str:
    """Return a group's bar colour: green for positive gamma, red for negative, else blue."""
    return {"positive": COLOURS["up"], "negative": COLOURS["down"]}.get(group, COLOURS["strategy"])


def hold_rate_chart(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Return wall hold rates (%) with their Wilson intervals, intraday and at the close."""
    fig = go.Figure()
    for when, colour in (("intraday", COLOURS["intraday"]), ("close", COLOURS["at_close"])):
        picked = [r for r in rows if r["held"] == when and r["rate"] is not None]
        pct = [[100 * r[k] for r in picked] for k in ("rate", "ci_low", "ci_high")]
        fig.add_trace(
            go.Bar(
                x=[LEVELS.get(r["wall"], r["wall"]) for r in picked],
                y=pct[0],
                error_y=_error_bars(*pct),
                name=f"held {when}",
                marker_color=colour,
            )
        )
    fig.update_yaxes(title="% of sessions", range=[0, 100], ticksuffix="%")
    return _styled(fig, 360, hovermode="closest")


#: How the dashboard draws DEX, VEX and CHEX by strike: title, axis unit and divisor.
GREEKS = {
    "dex": ("DEX", "$ bn of underlying", 1e9),
    "vex": ("VEX", "$ mn per vol point", 1e6),
    "chex": ("CHEX", "$ mn per day", 1e6),
}


def greek_by_strike_chart(
    greek: str,
    strikes: Sequence[float],
    calls: Sequence[float],
    puts: Sequence[float],
    *,
    spot: float | None = None,
    flip: float | None = None,
) -> go.Figure:
    """Return call and put (green, red bars) and net (line) exposure of one greek by strike.

    `greek`: dex ($), vex ($ per vol point) or chex ($ per day), stored dollars in; drawn
    divided as `GREEKS` says ($ bn for DEX, $ mn for VEX and CHEX). Traces are named calls,
    puts and net (the y axis names the greek, so small charts keep a one-row legend). Spot and
    the flip as lines, their labels kept apart (see `keep_line_labels_apart`).
    """
    title, unit, divisor = GREEKS[greek]
    fig = _call_put_net(strikes, calls, puts, divisor, ("calls", "puts", "net"), markers=False)
    _spot_and_flip(fig, spot, flip)
    keep_line_labels_apart(fig)
    fig.update_xaxes(title="strike")
    fig.update_yaxes(title=f"{title}, {unit}")
    _styled(fig, 300, barmode="relative", hovermode="x")
    return legend_above_labels(fig)


def keep_line_labels_apart(figure: go.Figure) -> go.Figure:
    """Return `figure` with the labels of its spot and flip lines anchored away from each other.

    Labels centred on two close lines overlap; the left one is anchored at its right edge and
    the right one at its left edge, so they read side by side. Other annotations stay.
    """
    marks = [a for a in figure.layout.annotations if str(a.text).startswith(("spot ", "flip "))]
    if len(marks) != 2:
        return figure
    left, right = sorted(marks, key=lambda a: a.x)
    left.xanchor, right.xanchor = "right", "left"
    return figure


def legend_above_labels(figure: go.Figure, top: int = 62) -> go.Figure:
    """Return `figure` with its legend in a row of its own above the labels of its lines.

    The template's legend sits just above the plot, where the spot and flip labels are drawn;
    this moves it to the top of the figure (`top` px of margin holds both rows).
    """
    figure.update_layout(
        margin={"t": top},
        legend={"yref": "container", "y": 1, "yanchor": "top", "x": 0, "xanchor": "left"},
    )
    return figure
