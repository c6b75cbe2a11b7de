// gammalake dashboard: plain JavaScript, no build step, nothing fetched from outside this server.
// State lives in the URL query (?symbol=SPY&at=2024-03-15&method=...&overlay=...), so a view can
// be linked. `overlay`: a second method whose flip and walls are drawn over the first's charts.
// Figures come as plotly JSON from /dashboard/* (drawn by backtest/charts.py on the server).
// Timing: every rendered session adds a performance measure "gl-day" (request to last chart
// drawn) and a row to window.gammalake.timings; "gl-ready" marks the first complete view.
"use strict";

(() => {
  // A phone has no room for plotly's mode bar (it would sit over the legend): no bar there,
  // pinch and drag zoom the charts.
  const NARROW = window.matchMedia("(max-width: 700px)");
  const MODEBAR_ROOM = 40; // px right of a plot for the (vertical) mode bar
  const CONFIG = {
    displaylogo: false,
    responsive: true,
    displayModeBar: NARROW.matches ? false : "hover",
    modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"],
  };
  const PLAY_MS = 900; // one session per step when replaying
  const REFRESH_MS = 60000; // how often the last session is asked again (new snapshots)
  const KEEP = 120; // sessions kept in each cache of the page
  const LEVEL_COLOURS = { call_wall: "#2f6fde", put_wall: "#f0700c", gamma_flip: "#e3a008" };

  const $ = (id) => document.getElementById(id);
  // at: the session shown (a date); moment: a snapshot of it (2024-03-28T12:30, New York) or
  // null for its last; moments: per session with several snapshots, their as_of.
  const state = { symbol: null, at: null, moment: null, moments: {}, method: null, defaultMethod: null, methods: [], overlay: null, sessions: [], index: 0, expiry: "", kind: "" };
  const days = new Map(); // method|overlay|symbol|at -> Promise of the day's JSON
  const greeks = new Map(); // method|symbol|at -> Promise of the day's DEX/VEX/CHEX
  const sides = new Map(); // method|at -> Promise of the scanner
  const feeds = new Map(); // method|kind|at -> Promise of the alerts feed
  const expiries = new Map(); // method|symbol|at|expiry -> Promise of one expiry's GEX
  const timings = [];
  let latest = 0; // the newest session asked for wins; older answers are dropped
  let player = null;
  // pending: requests in flight; waiting(): charts whose figure waits to scroll into view
  window.gammalake = { state, timings, pending: 0, waiting: () => waiting.size, waitingIds: () => [...waiting.keys()] };

  // --- formatting ---------------------------------------------------------------------------
  const nf2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const nf0 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const missing = (v) => v === null || v === undefined || Number.isNaN(v);
  const price = (v) => (missing(v) ? "-" : nf2.format(v));
  const level = (v) => (missing(v) ? "-" : Number.isInteger(v) ? nf0.format(v) : nf2.format(v));
  const pct = (v) => (missing(v) ? "-" : `${v > 0 ? "+" : ""}${v.toFixed(2)}%`);
  const count = (v, signed = false) => (missing(v) ? "-" : `${signed && v > 0 ? "+" : ""}${nf0.format(v)}`);
  // narrow tables: contracts to 3 significant digits (138,674 -> 139K), shares to 0.1%,
  // expiries without the session's year (2024-03-18 -> Mar 18; 2025-01-17 -> Jan 17 '25)
  const nfc = new Intl.NumberFormat("en-US", { notation: "compact", maximumSignificantDigits: 3 });
  const compact = (v) => (missing(v) ? "-" : nfc.format(v));
  const share = (v) => (missing(v) ? "-" : `${v.toFixed(1)}%`);
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function shortDate(iso, session = "") {
    const [y, m, d] = String(iso).slice(0, 10).split("-");
    if (!d) return String(iso);
    const text = `${MONTHS[Number(m) - 1]} ${Number(d)}`;
    return session.startsWith(y) ? text : `${text} '${y.slice(2)}`;
  }
  const tone = (v) => (missing(v) || v === 0 ? "" : v > 0 ? "pos" : "neg");
  function money(v) {
    if (missing(v)) return "-";
    const a = Math.abs(v);
    const [d, unit] = a >= 1e9 ? [1e9, " bn"] : a >= 1e6 ? [1e6, " mn"] : a >= 1e3 ? [1e3, " k"] : [1, ""];
    return `${v < 0 ? "-" : "+"}$${nf2.format(a / d)}${unit}`;
  }
  function brief(v) { // money to 3 significant digits, for narrow tables: -$982 mn, +$1.32 bn
    if (missing(v)) return "-";
    const a = Math.abs(v);
    const [d, unit] = a >= 1e9 ? [1e9, " bn"] : a >= 1e6 ? [1e6, " mn"] : a >= 1e3 ? [1e3, " k"] : [1, ""];
    const x = a / d;
    return `${v < 0 ? "-" : "+"}$${x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2)}${unit}`;
  }
  // the scanner's "all aligned" flag: net GEX, DEX, VEX and CHEX of one sign
  const ALIGNED = {
    1: ["▲ all +", "pos", "GEX, DEX, VEX and CHEX all positive"],
    "-1": ["▼ all −", "neg", "GEX, DEX, VEX and CHEX all negative"],
    0: ["mixed", "muted", "GEX, DEX, VEX and CHEX disagree in sign"],
    null: ["-", "muted", "not every exposure is stored"],
  };
  const words = (text) => String(text || "").replace(/_/g, " ");
  const withoutSymbol = (message) => String(message).replace(/^[A-Z0-9.^_-]+:\s*/, "");

  // --- DOM helpers --------------------------------------------------------------------------
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") node.className = v;
      else if (k === "on") Object.entries(v).forEach(([e, f]) => node.addEventListener(e, f));
      else if (k in node) node[k] = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function table(id, head, rows) {
    const t = $(id);
    t.replaceChildren(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))), el("tbody", {}, ...rows));
  }
  const td = (text, cls = "") => el("td", { class: cls }, text);
  function note(id, text) {
    const n = $(id);
    if (n) n.textContent = text || "";
  }
  // A deep link the page cannot follow (unknown symbol, not a date) falls back and says so.
  function showNotice(lines) {
    $("notice-text").replaceChildren(...lines.map((line) => el("div", {}, line)));
    $("notice").hidden = !lines.length;
  }
  function showError(error) {
    const box = $("error");
    box.textContent = String(error && error.message ? error.message : error);
    box.hidden = false;
  }

  // --- data ---------------------------------------------------------------------------------
  // With keys configured (GAMMALAKE_API_KEYS) the data answers 401 until the page holds one:
  // it is asked once and kept in a same-site cookie, which fetches and report links then send.
  let asking = null;
  function askKey() {
    if (!asking) {
      asking = Promise.resolve().then(() => {
        const key = window.prompt("This gammalake API asks for a key (GAMMALAKE_API_KEYS):");
        if (key) document.cookie = `gammalake_key=${encodeURIComponent(key.trim())}; path=/; SameSite=Strict`;
        return Boolean(key);
      }).finally(() => { asking = null; });
    }
    return asking;
  }
  async function getJSON(url, retry = true) {
    window.gammalake.pending += 1;
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    } finally {
      window.gammalake.pending -= 1;
    }
    if (response.status === 401 && retry && (await askKey())) return getJSON(url, false);
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || `${response.status} on ${url}`);
    return body;
  }
  function query(extra = {}) {
    const p = new URLSearchParams();
    Object.entries(extra).forEach(([k, v]) => v && p.set(k, v));
    if (state.method && state.method !== state.defaultMethod) p.set("method", state.method);
    const text = p.toString();
    return text ? `?${text}` : "";
  }
  function once(cache, key, load) {
    if (!cache.has(key)) {
      cache.set(key, load().catch((e) => { cache.delete(key); throw e; }));
      if (cache.size > KEEP) cache.delete(cache.keys().next().value); // the oldest
    }
    return cache.get(key);
  }
  const greekKey = (at) => `${state.method}|${state.symbol}|${at}`;
  const dayKey = (at) => `${state.method}|${state.overlay || ""}|${state.symbol}|${at}`;
  const fetchDay = (at) =>
    once(days, dayKey(at), () =>
      getJSON(`/dashboard/day/${encodeURIComponent(state.symbol)}${query({ at, overlay: state.overlay })}`));
  const fetchGreeks = (at) =>
    once(greeks, greekKey(at), () => getJSON(`/dashboard/greeks/${encodeURIComponent(state.symbol)}${query({ at })}`));
  const fetchScan = (at) => once(sides, `${state.method}|${at}`, () => getJSON(`/dashboard/scanner${query({ at })}`));
  const fetchFeed = (at) =>
    once(feeds, `${state.method}|${state.kind}|${at}`, () => getJSON(`/dashboard/alerts${query({ at, kinds: state.kind })}`));
  const fetchSide = (at) => Promise.all([fetchScan(at), fetchFeed(at)]);
  const fetchExpiry = (at, expiration) =>
    once(expiries, `${state.method}|${state.symbol}|${at}|${expiration}`, () =>
      getJSON(`/dashboard/gex/${encodeURIComponent(state.symbol)}${query({ at, expiration })}`));
  // what the page asks the server for: the snapshot picked, else the session (its last)
  const shownAt = () => state.moment || state.at;

  // --- charts -------------------------------------------------------------------------------
  // A chart's figure comes from `get` (a function returning a figure, null or a promise of
  // one). Charts off screen wait in `waiting` and are drawn when they scroll into view, so a
  // session switch draws (and for DEX/VEX/CHEX, fetches) what is on screen.
  const waiting = new Map();
  const MARGIN = 100; // px around the viewport where a chart counts as on screen
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const get = waiting.get(entry.target.id);
      if (entry.isIntersecting && get) {
        waiting.delete(entry.target.id);
        show(entry.target, get).catch(showError);
      }
    }
  }, { rootMargin: `${MARGIN}px 0px` });
  // on screen as the observer sees it (its margin included): a chart it already counts as in
  // view would never be reported again, and would wait for ever
  function onScreen(node) {
    const box = node.getBoundingClientRect();
    return box.bottom >= -MARGIN && box.top <= window.innerHeight + MARGIN;
  }
  function draw(node, figure) {
    node.style.minHeight = `${figure.layout.height || 300}px`;
    // the mode bar stands at the right edge, off the legend row at the top
    const layout = { ...figure.layout, modebar: { ...(figure.layout.modebar || {}), orientation: "v" } };
    const legend = layout.legend || {};
    if (legend.xanchor === "right" && !NARROW.matches) { // a legend at the right leaves it room
      layout.margin = { ...(layout.margin || {}), r: Math.max((layout.margin || {}).r || 0, MODEBAR_ROOM) };
    }
    return Plotly.react(node, figure.data, layout, CONFIG);
  }
  // A legend at the top of a chart (legend_above_labels) holds one row on a wide card; the
  // overlay's groups, or a narrow card, wrap it onto more rows, over the spot and flip labels.
  // The chart then grows by what it needs, so the legend, the labels and the plot each keep
  // their room.
  const LABEL_ROOM = 22; // px above the plot for the spot and flip labels
  function clearLabels(node) {
    const legend = node.querySelector(".legend");
    const layout = node._fullLayout;
    if (!legend || !layout || !layout.margin) return Promise.resolve();
    const plotTop = node.getBoundingClientRect().top + layout.margin.t;
    const overlap = legend.getBoundingClientRect().bottom - (plotTop - LABEL_ROOM);
    if (overlap <= 0) return Promise.resolve();
    const grow = Math.ceil(overlap) + 4;
    node.style.minHeight = `${layout.height + grow}px`;
    return Plotly.relayout(node, { "margin.t": layout.margin.t + grow, height: layout.height + grow });
  }
  // what follows a chart's drawing: the across-time charts hook their zoom and marker there;
  // the others keep their legend clear of the line labels
  const afterDraw = new Map();
  async function show(node, get) {
    const token = (node._glToken = (node._glToken || 0) + 1);
    const figure = await get();
    if (token !== node._glToken) return; // a newer session was asked for meanwhile
    if (figure) return draw(node, figure).then(() => (afterDraw.get(node.id) || clearLabels)(node));
    Plotly.purge(node);
    node.style.minHeight = "0px";
  }
  function plot(id, get, after = null) {
    const node = $(id);
    waiting.delete(id);
    if (after) afterDraw.set(id, after);
    if (!node.dataset.watched) {
      node.dataset.watched = "1";
      observer.observe(node);
    }
    if (onScreen(node)) return show(node, get);
    node._glToken = (node._glToken || 0) + 1;
    waiting.set(id, get);
    return Promise.resolve();
  }

  // The session shown, as a dotted line over the across-time charts: an overlay placed from
  // the chart's axes (no plotly redraw), moved again whenever the chart is zoomed or resized.
  function markSession(id, at) {
    const node = $(id);
    const marker = $(`${id}-marker`);
    const layout = node && node._fullLayout;
    if (!layout || !layout.xaxis || !at) return;
    const xa = layout.xaxis;
    const ya = layout.yaxis;
    const x = xa._offset + xa.l2p(xa.d2l(at));
    const inside = x >= xa._offset && x <= xa._offset + xa._length;
    marker.hidden = !inside;
    Object.assign(marker.style, { left: `${x - 1}px`, top: `${ya._offset}px`, height: `${ya._length}px` });
  }
  // The legend row sits above the range buttons (dashboard.py); a narrow chart wraps the legend
  // onto more rows, so the top margin grows until the legend clears the buttons.
  function clearButtons(node) {
    const legend = node.querySelector(".legend");
    const buttons = node.querySelector(".rangeselector");
    const layout = node._fullLayout;
    if (!legend || !buttons || !layout) return;
    const overlap = legend.getBoundingClientRect().bottom - buttons.getBoundingClientRect().top;
    if (overlap > -4 && !node._glClearing) {
      node._glClearing = true;
      Plotly.relayout(node, { "margin.t": layout.margin.t + Math.ceil(overlap) + 6 })
        .finally(() => { node._glClearing = false; });
    }
  }
  // The across-time charts (asked after the day's views are drawn) follow the session shown:
  // centred on it, with its marker.
  function across(id, figure) {
    const node = $(id);
    return draw(node, figure).then(() => hookAcross(node));
  }
  function hookAcross(node) {
    const id = node.id;
    clearButtons(node);
    centre(id, state.at);
    markSession(id, state.at);
    if (node._glHooked) return;
    node._glHooked = true;
    if (window.gammalakeZoom) window.gammalakeZoom(node);
    node.on("plotly_afterplot", () => { markSession(id, state.at); clearButtons(node); });
    node.on("plotly_click", (event) => {
      const day = String(event.points[0].x).slice(0, 10);
      const index = state.sessions.indexOf(day);
      if (index >= 0) showDay(index, true);
    });
  }
  // Centre a drawn across-time chart on the session `at`, keeping its width (the zoom the
  // user chose) and its range within the stored sessions. A chart showing them all stays.
  const DAY_MS = 86400000;
  function centre(id, at) {
    const node = $(id);
    const xa = node && node._fullLayout && node._fullLayout.xaxis;
    if (!xa || !xa.range || !at || !state.sessions.length) return;
    const [a, b] = xa.range.map((v) => xa.r2l(v));
    const width = b - a;
    const first = xa.d2l(state.sessions[0]) - DAY_MS;
    const last = xa.d2l(state.sessions[state.sessions.length - 1]) + DAY_MS;
    if (width >= last - first) return;
    const start = Math.max(first, Math.min(xa.d2l(at) - width / 2, last - width));
    if (Math.abs(start - a) < DAY_MS / 2) return; // there already
    Plotly.relayout(node, { "xaxis.range": [xa.l2r(start), xa.l2r(start + width)] });
  }

  // --- panels -------------------------------------------------------------------------------
  function renderHeadline(day) {
    const h = day.headline;
    const when = `${day.as_of.replace("T", " ").slice(0, 16)} New York`;
    $("headline").className = `headline ${h.side}`;
    $("hl-symbol").textContent = day.symbol;
    $("hl-spot").textContent = price(h.spot);
    $("hl-regime").textContent = words(h.regime).toUpperCase();
    $("hl-label").textContent = `dealers ${words(h.net_gex_label)}`;
    $("hl-when").textContent = `as of ${when}`;
    $("hl-flip").textContent = missing(h.gamma_flip) ? `- (${words(h.gamma_flip_status)})` : price(h.gamma_flip);
    $("hl-distance").textContent = pct(h.distance_to_flip_pct);
    $("hl-side").textContent = h.side === "above" ? "spot above the flip" : h.side === "below" ? "spot below the flip" : "";
    $("hl-gex").textContent = money(h.net_gex);
    $("hl-dex").textContent = money(h.net_dex);
    $("hl-vex").textContent = money(h.net_vex);
    $("hl-chex").textContent = money(h.net_chex);
    const zero = h.zero_dte && h.zero_dte.expiration
      ? ` 0DTE (${h.zero_dte.expiration}): ${pct(h.zero_dte.pct_of_total_gex).replace("+", "")} of GEX.` : "";
    $("hl-reading").textContent = `${(h.interpretation && h.interpretation.gamma) || ""}${zero}`;
    $("asof").textContent = `snapshot ${when} · ${day.method}`;
    document.title = `${day.symbol} ${day.trade_date} · gammalake`;
  }

  function renderLevels(day) {
    const rows = day.levels.map((l) =>
      el("tr", {},
        el("td", { class: "lbl" }, el("span", { class: "swatch", style: `background:${LEVEL_COLOURS[l.key] || "#afb8c1"}` }), l.label),
        td(price(l.value)),
        td(missing(l.distance_pct) ? "-" : pct(-l.distance_pct), tone(-l.distance_pct))));
    table("levels", ["Level", "Price", "vs spot"], rows);
    note("levels-note", `vs spot: (level - spot) / spot. Spot ${price(day.headline.spot)}.`);
    const h = day.headline;
    const read = h.interpretation || {};
    const items = [
      ["Vanna", read.vanna], ["Charm", read.charm],
      ["0DTE", h.zero_dte && h.zero_dte.expiration
        ? `${brief(h.zero_dte.net_gex)} net GEX expires ${h.zero_dte.expiration} (${pct(h.zero_dte.pct_of_total_gex).replace("+", "")} of the total)`
        : "no same-day expiry in this snapshot"],
    ].filter(([, text]) => text);
    $("readings").replaceChildren(...items.flatMap(([k, text]) => [el("dt", {}, k), el("dd", {}, text)]));
  }

  function renderExpiries(day) {
    const rows = day.expiries.map((e) => {
      const width = Math.min(100, Math.abs(e.pct_of_total_gex || 0));
      return el("tr", {},
        el("td", { title: e.expiration }, shortDate(e.expiration, day.trade_date)),
        td(missing(e.days_to_expiry) ? "-" : e.days_to_expiry.toFixed(e.days_to_expiry < 1 ? 2 : 0)),
        td(brief(e.net_gex), tone(e.net_gex)),
        el("td", { class: "bar-cell" }, el("span", { class: "fill", style: `width:${width}%` }), el("span", { class: "txt" }, share(e.pct_of_total_gex))),
        td(level(e.top_strike)));
    });
    table("expiries", ["Expiry", "DTE", "Net GEX", "Share", "Top"], rows);
    $("expiries").tHead.rows[0].cells[4].title = "the strike with the most net GEX of that expiry";
    $("expiries").tHead.rows[0].cells[3].title = "share of the total net GEX, %";
  }

  function renderMovers(day) {
    const rows = day.oi_movers.rows.map((r) =>
      el("tr", { title: `open interest: calls ${count(r.call_oi)}, puts ${count(r.put_oi)}` },
        td(level(r.strike)),
        td(count(r.call_oi_change, true), tone(r.call_oi_change)),
        td(count(r.put_oi_change, true), tone(r.put_oi_change)),
        td(`${compact(r.call_oi)} / ${compact(r.put_oi)}`, "muted")));
    table("oi", ["Strike", "Δ call OI", "Δ put OI", "OI call / put"], rows);
    note("oi-note", day.oi_movers.note);
  }

  function renderScanner(scan) {
    $("scan-at").textContent = scan.at ? `at ${scan.at}` : "latest";
    const rows = [];
    for (const r of scan.rows) {
      const current = r.symbol === state.symbol ? " current" : "";
      const pick = { click: () => selectSymbol(r.symbol) };
      if (r.note) {
        rows.push(el("tr", { class: `sym${current}`, on: pick }, td(r.symbol), el("td", { colSpan: 5, class: "lbl muted" }, "not stored at this moment")));
        continue;
      }
      const aligned = ALIGNED[String(r.aligned)] || ALIGNED.null;
      rows.push(el("tr", { class: `sym${current}`, on: pick, title: `${r.symbol}: show it; walls call ${level(r.call_wall)} / put ${level(r.put_wall)}` },
        el("td", {}, el("strong", {}, r.symbol)),
        td(price(r.spot)),
        el("td", {}, el("span", { class: `pill ${r.regime}` }, r.regime === "positive_gamma" ? "POS" : r.regime === "negative_gamma" ? "NEG" : "-")),
        el("td", { class: "stack" }, level(r.gamma_flip), el("small", { class: tone(r.distance_to_flip_pct) }, pct(r.distance_to_flip_pct))),
        td(brief(r.net_gex), tone(r.net_gex)),
        el("td", { class: `aligned ${aligned[1]}`, title: aligned[2] }, aligned[0])));
      if (r.alerts.length) {
        rows.push(el("tr", { class: "alerts" }, el("td", { colSpan: 6 }, r.alerts.map((a) => withoutSymbol(a.message)).join(" · "))));
      }
    }
    table("scanner", ["Symbol", "Spot", "Regime", "Flip / to it", "Net GEX", "Aligned"], rows);
    const head = $("scanner").tHead.rows[0].cells;
    head[3].title = "gamma flip (price) and spot's distance above it, % of spot";
    head[4].title = "net GEX, $ per 1% move";
    head[5].title = "GEX, DEX, VEX and CHEX all of one sign (the article's highest-conviction setup)";
  }

  function renderAlerts(feed) {
    const items = feed.rows.map((a) =>
      el("li", { title: "show this session", on: { click: () => selectSymbol(a.symbol, a.trade_date) } },
        el("span", { class: "when" }, a.as_of.replace("T", " ").slice(0, 16)),
        el("span", { class: "sym" }, a.symbol),
        el("span", { class: "kind" }, words(a.kind)),
        withoutSymbol(a.message)));
    const kind = state.kind ? `no ${words(state.kind)} alert` : "no alert";
    $("alerts").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, `${kind} in the last two weeks`)]));
  }

  function renderReports(reports) {
    const items = reports.map((r) =>
      el("li", {},
        el("span", { class: "kind" }, r.kind),
        el("a", { href: r.url, target: "_blank", rel: "noopener" }, r.title),
        el("div", { class: "meta" }, `${r.name} · ${r.modified} · ${r.kb} KB`)));
    $("reports").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "no report yet: gammalake backtest / study")]));
  }

  // The overlay's level lines join a chart's figure: its traces added, its layout merged one
  // level deep (the legend keeps its place and gains the groups naming both methods).
  function withOverlay(figure, extra) {
    if (!figure || !extra) return figure;
    const layout = { ...figure.layout };
    for (const [k, v] of Object.entries(extra.layout)) {
      const mine = layout[k];
      layout[k] = mine && typeof mine === "object" && !Array.isArray(mine) ? { ...mine, ...v } : v;
    }
    return { data: [...figure.data, ...extra.data], layout };
  }

  function renderOverlay(day) {
    const over = day.overlay;
    $("overlay-box-levels").hidden = !over;
    if (!over) return;
    $("overlay-name").textContent = `${over.method} over ${day.method}`;
    const shown = Object.fromEntries(day.levels.map((l) => [l.key, l.value]));
    const rows = ["gamma_flip", "call_wall", "put_wall"].map((key) => {
      const mine = shown[key];
      const theirs = over.levels[key];
      const gap = missing(mine) || missing(theirs) ? null : theirs - mine;
      return el("tr", {},
        el("td", { class: "lbl" }, el("span", { class: "swatch", style: `background:${LEVEL_COLOURS[key]}` }), words(key)),
        td(price(mine)),
        td(missing(theirs) && key === "gamma_flip" && over.gamma_flip_status ? `- (${words(over.gamma_flip_status)})` : price(theirs)),
        td(missing(gap) ? "-" : `${gap > 0 ? "+" : ""}${nf2.format(gap)}`, tone(gap)));
    });
    table("overlay-levels", ["Level", "Shown", "Overlay", "Δ"], rows);
    const head = $("overlay-levels").tHead.rows[0].cells;
    head[1].title = `${day.method} (price)`;
    head[2].title = `${over.method} (price)`;
    head[3].title = "overlay minus shown, in the underlying's price";
    note("overlay-note", over.note || "dotted lines on the charts; hover a line for its method, price and distance from spot");
  }

  // The snapshots of the session shown (its times, New York); one option when it has one.
  function renderMoments(day) {
    const moments = state.moments[day.trade_date] || [day.as_of];
    const options = moments.map((m) => el("option", { value: m.slice(0, 16) }, m.slice(11, 16)));
    $("moment").replaceChildren(...options);
    $("moment").value = day.as_of.slice(0, 16);
    $("moment").disabled = moments.length < 2;
    $("moment").title = `${moments.length} snapshot${moments.length > 1 ? "s" : ""} stored in this session (New York time)`;
  }

  // The dealers' hedge for a move of spot (the summary's estimate): shares and their $ value.
  function renderHedging(day) {
    const rows = (day.hedging || []).map((h) =>
      el("tr", {},
        td(`${h.move_pct > 0 ? "+" : ""}${h.move_pct}%`, "lbl"),
        td(h.direction, h.direction === "buy" ? "pos" : "neg"),
        td(compact(Math.abs(h.shares))),
        td(money(h.direction === "buy" ? h.notional : -h.notional).replace("+", ""), tone(h.shares))));
    table("hedging", ["Spot move", "Dealers", "Shares", "Notional"], rows);
    note("hedging-note", day.hedging
      ? `what dealers trade to stay hedged if ${day.symbol} moves that much from ${price(day.headline.spot)}`
      : "no hedging estimate stored (vendor payloads without /summary)");
  }

  // The expiry filter of GEX by strike: every stored expiry of the snapshot, re-priced from
  // its raw chain by the server (as the API's ?expiration= does).
  function renderExpiryFilter(day) {
    const stored = day.expiries.map((e) => e.expiration);
    if (!stored.includes(state.expiry)) state.expiry = "";
    $("expiry").replaceChildren(el("option", { value: "" }, "all expiries"),
      ...stored.map((e) => el("option", { value: e }, `${shortDate(e, day.trade_date)} (${e})`)));
    $("expiry").value = state.expiry;
  }
  function gexFigure(day) {
    if (!state.expiry) return withOverlay(day.figures.gex, day.overlay && day.overlay.figures.gex);
    return fetchExpiry(day.as_of, state.expiry).then((x) => {
      note("gex-note", `expiry ${x.expiration} only: net GEX ${money(x.net_gex)} per 1% move`);
      return x.figure;
    });
  }

  async function renderDay(day, at) {
    renderHeadline(day);
    renderMoments(day);
    renderLevels(day);
    renderHedging(day);
    renderOverlay(day);
    renderExpiries(day);
    renderExpiryFilter(day);
    renderMovers(day);
    note("profile-note", day.notes.profile);
    note("gex-note", "");
    const greek = (g) => () => fetchGreeks(at).then((x) => { note(`${g}-note`, x.notes[g]); return x.figures[g]; });
    await Promise.all([
      plot("gex-chart", () => gexFigure(day)),
      plot("profile-chart", () => withOverlay(day.figures.profile, day.overlay && day.overlay.figures.profile)),
      ...["dex", "vex", "chex"].map((g) => plot(`${g}-chart`, greek(g))),
    ]);
    for (const id of ["price-chart", "netgex-chart"]) {
      centre(id, state.at);
      markSession(id, state.at);
    }
  }

  // --- navigation ---------------------------------------------------------------------------
  function syncControls() {
    $("slider").value = String(state.index);
    $("date").value = state.at;
    $("prev").disabled = state.index <= 0;
    $("next").disabled = state.index >= state.sessions.length - 1;
  }
  function writeUrl(push) {
    const p = new URLSearchParams({ symbol: state.symbol, at: shownAt() });
    if (state.method !== state.defaultMethod) p.set("method", state.method);
    if (state.overlay) p.set("overlay", state.overlay);
    const search = `?${p}`;
    if (location.search !== search) history[push ? "pushState" : "replaceState"](null, "", search);
  }
  function pickIndex(at) {
    const n = state.sessions.length;
    if (!at) return n - 1;
    const day = at.slice(0, 10);
    let index = 0;
    state.sessions.forEach((s, i) => { if (s <= day) index = i; });
    return index;
  }

  // Show session `index`: its last snapshot, or `moment` (a snapshot of it, 2024-03-28T12:30).
  async function showDay(index, push = false, moment = null) {
    const session = state.sessions[index];
    if (!session) return;
    const mine = ++latest;
    state.index = index;
    state.at = session;
    state.moment = moment;
    const at = shownAt();
    syncControls();
    const cached = days.has(dayKey(at));
    performance.mark(`gl-day-start-${mine}`);
    if (onScreen($("dex-chart"))) fetchGreeks(at).catch(() => {}); // asked with the day
    try {
      const [day, [scan, feed]] = await Promise.all([fetchDay(at), fetchSide(at)]);
      if (mine !== latest) return;
      const fetched = performance.now();
      renderScanner(scan);
      renderAlerts(feed);
      await renderDay(day, at);
      if (mine !== latest) return;
      performance.mark(`gl-day-end-${mine}`);
      const m = performance.measure("gl-day", `gl-day-start-${mine}`, `gl-day-end-${mine}`);
      const data = fetched - m.startTime;
      timings.push({ symbol: state.symbol, at, ms: m.duration, data_ms: data, draw_ms: m.duration - data, cached });
      $("error").hidden = true;
      Object.assign(document.body.dataset, { state: "ready", day: session, moment: day.as_of, symbol: state.symbol, overlay: state.overlay || "" });
      writeUrl(push);
      setTimeout(() => prefetch(index), 0);
    } catch (error) {
      if (mine === latest) showError(error);
    }
  }
  function prefetch(index) {
    for (const i of [index + 1, index - 1]) {
      const at = state.sessions[i];
      if (!at) continue;
      fetchDay(at).catch(() => {});
      fetchSide(at).catch(() => {});
      if (onScreen($("dex-chart"))) fetchGreeks(at).catch(() => {});
    }
  }

  // The symbol's sessions and their snapshots (cheap: the controls need them first), then its
  // across-time figures (below the day's views).
  async function loadSessions() {
    const found = await getJSON(`/dashboard/sessions/${encodeURIComponent(state.symbol)}${query()}`);
    state.sessions = found.sessions;
    state.moments = found.moments;
    $("date").replaceChildren(...[...found.sessions].reverse().map((d) => el("option", { value: d }, d)));
    $("slider").max = String(Math.max(0, found.sessions.length - 1));
    $("symbol").value = state.symbol;
  }
  async function loadFigures() {
    const asked = `${state.method}|${state.overlay}|${state.symbol}`;
    const series = await getJSON(`/dashboard/series/${encodeURIComponent(state.symbol)}${query({ overlay: state.overlay })}`);
    if (asked !== `${state.method}|${state.overlay}|${state.symbol}`) return; // another view since
    note("price-note", [series.note, series.overlay && series.overlay.note].filter(Boolean).join(" · "));
    await Promise.all([across("price-chart", series.figures.price), across("netgex-chart", series.figures.net_gex)]);
  }
  async function loadSeries() {
    await loadSessions();
    await loadFigures();
  }

  async function selectSymbol(symbol, at = state.at) {
    if (symbol === state.symbol) return showDay(pickIndex(at), true);
    state.symbol = symbol;
    await loadSessions();
    await Promise.all([showDay(pickIndex(at), true), loadFigures()]);
  }

  async function loadMeta() {
    const meta = await getJSON(`/dashboard/meta${state.method ? `?method=${encodeURIComponent(state.method)}` : ""}`);
    state.defaultMethod = meta.default_method;
    state.method = meta.method;
    $("method").replaceChildren(...meta.methods.map((m) => el("option", { value: m }, m)));
    $("method").value = meta.method;
    $("method-box").hidden = meta.methods.length < 2;
    state.methods = meta.methods;
    fillOverlay();
    $("symbol").replaceChildren(...meta.symbols.map((s) => el("option", { value: s }, s)));
    state.coverage = meta.coverage || {};
    $("alert-kind").replaceChildren(el("option", { value: "" }, "all kinds"), ...meta.alert_kinds.map((k) => el("option", { value: k }, words(k))));
    $("alert-kind").value = state.kind;
    renderReports(meta.reports);
    return meta;
  }

  // The overlay select offers every stored method but the one shown ("none" first).
  function fillOverlay() {
    const others = state.methods.filter((m) => m !== state.method);
    if (state.overlay && !others.includes(state.overlay)) state.overlay = null;
    $("overlay").replaceChildren(el("option", { value: "" }, "none"), ...others.map((m) => el("option", { value: m }, m)));
    $("overlay").value = state.overlay || "";
    $("overlay-box").hidden = !others.length;
  }

  async function selectOverlay(method) {
    state.overlay = method || null;
    await loadSeries();
    await showDay(state.index, true);
  }

  async function selectMethod(method) {
    state.method = method;
    const meta = await loadMeta();
    if (!meta.symbols.includes(state.symbol)) state.symbol = meta.symbols[0];
    await loadSeries();
    await showDay(pickIndex(state.at), true);
  }

  function step(by) {
    const index = state.index + by;
    if (index >= 0 && index < state.sessions.length) showDay(index);
  }
  function togglePlay() {
    if (player) {
      clearInterval(player);
      player = null;
      $("play").textContent = "play";
      return;
    }
    if (state.index >= state.sessions.length - 1) showDay(0);
    $("play").textContent = "pause";
    player = setInterval(() => {
      if (state.index >= state.sessions.length - 1) togglePlay();
      else step(1);
    }, PLAY_MS);
  }

  // The page stays open: every REFRESH_MS the sessions are read again and the last one's views
  // dropped from the caches, so new snapshots show; a view of the last session follows them.
  async function refresh() {
    if (document.hidden || player || !state.symbol) return;
    const last = state.sessions[state.sessions.length - 1];
    const following = state.at === last;
    days.delete(dayKey(last));
    greeks.delete(greekKey(last));
    sides.delete(`${state.method}|${last}`);
    feeds.delete(`${state.method}|${state.kind}|${last}`);
    try {
      await loadSeries();
      if (following) return await showDay(state.sessions.length - 1);
      state.index = Math.max(0, state.sessions.indexOf(state.at));
      syncControls();
      markSession("price-chart", state.at);
      markSession("netgex-chart", state.at);
    } catch (error) {
      showError(error);
    }
  }

  function wire() {
    $("symbol").addEventListener("change", (e) => selectSymbol(e.target.value));
    $("method").addEventListener("change", (e) => selectMethod(e.target.value));
    $("overlay").addEventListener("change", (e) => selectOverlay(e.target.value));
    $("date").addEventListener("change", (e) => showDay(state.sessions.indexOf(e.target.value), true));
    $("moment").addEventListener("change", (e) => showDay(state.index, true, e.target.value));
    $("expiry").addEventListener("change", (e) => { state.expiry = e.target.value; showDay(state.index, false, state.moment); });
    $("alert-kind").addEventListener("change", (e) => {
      state.kind = e.target.value;
      fetchFeed(shownAt()).then(renderAlerts).catch(showError);
    });
    $("slider").addEventListener("input", (e) => showDay(Number(e.target.value)));
    $("prev").addEventListener("click", () => step(-1));
    $("next").addEventListener("click", () => step(1));
    $("play").addEventListener("click", togglePlay);
    $("notice-close").addEventListener("click", () => showNotice([]));
    document.addEventListener("keydown", (e) => {
      if (e.target.closest && e.target.closest("select, input")) return;
      if (e.key === "ArrowLeft") step(-1);
      if (e.key === "ArrowRight") step(1);
    });
    window.addEventListener("popstate", () => start(false));
    setInterval(refresh, REFRESH_MS);
  }

  // A deep link's `at`: a date (2024-03-15), optionally with a time; anything else is ignored.
  function validMoment(at) {
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\- ]\d{2}:?\d{2})?)?$/.exec(at);
    if (!m) return false;
    const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    return d.toISOString().slice(0, 10) === at.slice(0, 10);
  }
  const shorten = (text) => (text.length > 40 ? `${text.slice(0, 40)}…` : text);

  async function start(first = true) {
    const url = new URLSearchParams(location.search);
    const method = url.get("method") || null;
    const overlay = url.get("overlay") || null;
    const notices = [];
    try {
      if (first || (method || state.defaultMethod) !== state.method) {
        state.method = method;
        const meta = await loadMeta();
        if (!meta.symbols.length) {
          $("empty").textContent = `Nothing is stored in ${meta.home} yet (method ${meta.method}). ` +
            "Fill it with `gammalake backfill --symbols SPY --start 2024-01-02 --end 2024-03-28`, then reload.";
          $("empty").hidden = false;
          document.querySelector("main").hidden = true;
          document.body.dataset.state = "empty";
          return;
        }
        state.symbol = null;
      }
      // A linked overlay that is not stored is dropped, with a notice; one equal to the method
      // shown is nothing to compare.
      const wantedOverlay = overlay && overlay !== state.method ? overlay : null;
      if (wantedOverlay && !state.methods.includes(wantedOverlay)) {
        notices.push(`overlay=${shorten(wantedOverlay)} is not stored; showing no overlay`);
      }
      const overlayNow = state.methods.includes(wantedOverlay) ? wantedOverlay : null;
      const overlayChanged = overlayNow !== state.overlay;
      state.overlay = overlayNow;
      fillOverlay();
      const symbols = [...$("symbol").options].map((o) => o.value);
      const wanted = (url.get("symbol") || "").toUpperCase();
      const symbol = symbols.includes(wanted) ? wanted : symbols.includes("SPY") ? "SPY" : symbols[0];
      if (wanted && symbol !== wanted) notices.push(`${shorten(wanted)} is not stored; showing ${symbol}`);
      let at = (url.get("at") || "").trim() || null;
      const [first_, last_] = state.coverage[symbol] || [];
      if (at && !validMoment(at)) {
        notices.push(`at=${shorten(at)} is not a date; showing the latest session`);
        at = null;
      } else if (at && first_ && at.slice(0, 10) < first_) {
        notices.push(`${symbol} has no session stored by ${at.slice(0, 10)}; showing its first, ${first_}`);
        at = first_;
      }
      // a moment with a time of day keeps it (the snapshot latest then); a date, its last
      const moment = at && at.length > 10 ? at : null;
      showNotice(notices);
      // Everything the view needs is asked at once: the day and the side panels go with the
      // sessions, not after them (the coverage in meta names the latest session).
      const changed = symbol !== state.symbol || overlayChanged;
      state.symbol = symbol;
      const ask = moment || (at ? at.slice(0, 10) : last_);
      if (ask) {
        fetchDay(ask).catch(() => {});
        fetchSide(ask).catch(() => {});
      }
      if (changed) await loadSessions();
      await showDay(pickIndex(at), false, moment);
      if (first) performance.mark("gl-ready");
      // the across-time charts sit below the day's views: asked once those are drawn
      if (changed) await loadFigures();
    } catch (error) {
      showError(error);
    }
  }

  function boot() {
    if (!window.Plotly) {
      showError("plotly.js did not load from /assets/plotly.min.js");
      return;
    }
    wire();
    start(true);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
