"""The interactive ``report.html``: one self-contained, offline page built with Bokeh.

Why Bokeh and not Plotly: Bokeh's inline resources put its JavaScript into the page, so the
file opens offline and makes no request; only the bundles used are inlined (core, widgets,
tables: ~1.9 MB, vs Plotly's ~3.5 MB ``plotly.min.js``, which cannot be
split). Bokeh also gives, out of the box, what the page is made of: ranges shared
by several figures (price, equity and drawdown pan and zoom together), a `DataTable` (virtual
scrolling, sortable columns) whose selection drives a `CustomJS` callback (a selected trade
zooms the price pane to it), and binary (base64 typed-array) serialization of numpy columns,
which keeps a 50,000-trade page small.

Long runs: the candles are precomputed at several resolutions (``LEVEL_FACTOR`` times
coarser each), the finest one coarse enough that all levels together hold at most
``CANDLE_BUDGET`` candles (split between the symbols; on the reference run of 736,000 M5
bars that is every 4 bars grouped, M20, or with the `structure` strategy's seven indicator
lines every 6, M30: see ``VALUE_BUDGET``). A `CustomJS` callback on the shared x range
picks the finest level showing at most ``VIEW_POINTS`` candles in the visible span, copies
that slice (plus one span either side, for panning) into the drawn source and fits the
price axis to it. So the zoomed-out view holds a few thousand candles and zooming in reveals
detail down to the finest level. The equity and drawdown curves are reduced the same way to
``CURVE_POINTS`` (last equity and deepest drawdown of each group of bars), and their axes are
fitted to the points in view (`_CURVES_JS`).

Indicators: the strategy's features (`tradeforge.analytics.indicators` picks the columns and
their scale) ride in the same level sources as the candles, one value per candle (the value
at the group's last bar, like the close), so the level switch slices them with the candles.
Price-scale lines are drawn on the candle pane; the others get one pane per feature below
it, on the shared time axis, their y axis fitted to the visible values. Lines cost page size,
so with many of them the candle budget is lowered (``VALUE_BUDGET``).

Trades: entry and exit markers for every trade; over each trade's life its stop (initial,
break-even, each trailing step) and every target level, filled or not, and the strategy's
signals (`tradeforge.analytics.tradepath` recomputes them). There can be several per trade
and 50,000 trades, so they are kept in hidden sources and copied into the drawn ones only
when the visible span holds at most ``PATH_VIEW`` of them (another `CustomJS` on the x
range): zoomed out the page draws none, and its first render does not pay for them. The
entry and exit markers follow the same rule, read from the trades' table source itself (in
entry order; no second copy, no per-symbol filter lists in the page): drawing and
hit-indexing 50,000 entries and 50,000 exits measured about a quarter of the reference page's
first render. A run of at most ``PATH_VIEW`` trades shows its markers from the start. So that
a view of more trades still shows where the run traded and how it fared, a strip under each
symbol's candles counts the trades entered in each drawn candle (its group of bars), winners
up and losers down (hover: longs/shorts, net P&L): the level callback fills it from the trade
source for the candles it draws, at every zoom (and once at the first render, when the strip
is laid out), so its counts add up to the trades of the candles in view and cost the page no
data. The price pane's legend title says which layer shows the trades (`MARKER_NOTES`).

Per tag and per symbol: the closed P&L accumulated over time, one line per tag (symbol),
at most ``GROUP_POINTS`` points each, beside the breakdown tables.

Deterministic output: Bokeh numbers its models from a process-wide counter and gives the
document and its roots random UUIDs, with no supported setting to seed them. The page is
therefore rewritten after rendering: every model id and every UUID is replaced, in order of
first appearance, by a sequential one, so the same run gives a byte-identical page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from bokeh.embed import components
from bokeh.layouts import column, row
from bokeh.models import (
    BasicTickFormatter,
    ColumnDataSource,
    CustomJS,
    DataTable,
    DateFormatter,
    HoverTool,
    HTMLTemplateFormatter,
    NumberFormatter,
    NumeralTickFormatter,
    Range1d,
    TableColumn,
)
from bokeh.plotting import figure
from bokeh.resources import Resources

from tradeforge.analytics.indicators import Indicators
from tradeforge.analytics.tradepath import STOP_KINDS, TradePaths
from tradeforge.trading.result import BacktestResult

NO_INDICATORS = Indicators()

#: the most candles the visible span shows (the level switch keeps below it)
VIEW_POINTS = 4_000
#: candles of all levels of all symbols together
CANDLE_BUDGET = 260_000
#: numbers (float32 each; a float64 time counts as two) of the candle levels of all symbols
#: together, indicator lines included: with the candles alone ~1.6 M (CANDLE_BUDGET), so
#: indicators lower the candle count only beyond a few lines
VALUE_BUDGET = 2_400_000
#: each level groups this many bars of the previous one
LEVEL_FACTOR = 4
#: points of the equity and drawdown curves
CURVE_POINTS = 20_000
#: the BokehJS bundles the page needs (not WebGL nor MathJax: ~1.9 MB instead of ~3.9 MB)
COMPONENTS = ("bokeh", "bokeh-widgets", "bokeh-tables")
UP, DOWN = "#26a69a", "#ef5350"
#: indicator line colours, in the order of the strategy's feature columns (Category10
#: without its green and red, which mean up and down here)
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")  # fmt: skip
TOOLS = "xpan,xwheel_zoom,box_zoom,reset,save"
#: stop colour by kind (`STOP_KINDS`: initial, breakeven, trailing)
STOP_COLORS = (DOWN, "#212121", "#ef6c00")
#: stops, targets and signals are drawn when the visible span holds at most this many of each
PATH_VIEW = 3_000
#: points of each per-tag / per-symbol P&L line
GROUP_POINTS = 4_000
#: items per row of a price pane's legend (drawn above the candles)
LEGEND_COLUMNS = 6
#: money on an axis: 105,000 rather than Bokeh's default 1.050e+5
MONEY_TICKS = "0,0"
#: the look of a legend icon whose glyph takes it from its data (`_legend_icons`)
ICON_LOOK = {"color": DOWN, "marker": "triangle"}
#: the price pane's legend title: trades drawn as markers, or too many in view for them
MARKER_NOTES = (
    "trades: each entry and exit",
    f"trades: over {PATH_VIEW:,} in view, counted per candle below (zoom in for markers)",
)

_LEVEL_JS = """
const s = xr.start, e = xr.end;
function lower(xs, v) { let lo = 0, hi = xs.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (xs[m] < v) lo = m + 1; else hi = m; }
  return lo; }
let lvl = levels.length - 1;
for (let i = 0; i < levels.length; i++) {
  const xs = levels[i].data.x;
  if (lower(xs, e) - lower(xs, s) <= view_points) { lvl = i; break; }
}
const d = levels[lvl].data, xs = d.x, n = xs.length;
const i0 = lower(xs, s), i1 = lower(xs, e), pad = Math.max(i1 - i0, 10);
const a = Math.max(0, i0 - pad), b = Math.min(n, i1 + pad);
const o = d.o.slice(a, b), c = d.c.slice(a, b), color = new Array(b - a);
for (let i = 0; i < b - a; i++) color[i] = c[i] >= o[i] ? up : down;
function fit(range, cols) {
  let lo = Infinity, hi = -Infinity;
  for (const col of cols) { const v = d[col];
    for (let i = Math.max(0, i0 - 1); i < Math.min(n, i1 + 1); i++) {
      if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i]; } }
  if (hi > lo) { const m = (hi - lo) * 0.05; range.setv({start: lo - m, end: hi + m}); }
}
const data = {x: xs.slice(a, b), o: o, h: d.h.slice(a, b), l: d.l.slice(a, b), c: c,
              w: new Array(b - a).fill(widths[lvl]), color: color};
for (const col of lines) data[col] = d[col].slice(a, b);
view.tags = [lvl];  // before the data: the trade counts read it on the data's change
view.data = data;
fit(yr, ["l", "h"]);
for (let k = 0; k < panes.length; k++) fit(panes[k], pane_cols[k]);
"""

_COUNTS_JS = """
// the trades entered in each drawn candle (view: the level callback's slice of level
// view.tags[0]; a candle's group of bars starts half its span before its x), by outcome
const lvl = view.tags[0], xs = view.data.x, m = xs.length, h0 = halves[lvl];
const all = levels[lvl].data.x, t = trades.data, et = t.entry_time;
function lower(v, x) { let lo = 0, hi = v.length;
  while (lo < hi) { const k = (lo + hi) >> 1; if (v[k] < x) lo = k + 1; else hi = k; }
  return lo; }
const next = m ? lower(all, xs[m - 1]) + 1 : 0;
const stop = next < all.length ? all[next] - h0 : Infinity;
const win = new Float64Array(m), lost = new Float64Array(m), loss = new Float64Array(m),
      longs = new Float64Array(m), net = new Float64Array(m);
for (let j = m ? lower(et, xs[0] - h0) : et.length, k = 0; j < et.length && et[j] < stop; j++) {
  if (t.symbol[j] !== symbol) continue;
  while (k + 1 < m && xs[k + 1] - h0 <= et[j]) k++;
  if (t.pnl[j] > 0) win[k]++; else { lost[k]++; loss[k]--; }
  if (t.side[j] === long) longs[k]++;
  net[k] += t.pnl[j];
}
const entered = win.map((v, k) => v + lost[k]);
counts.data = {x: xs, w: view.data.w, start: xs.map((v) => v - h0), win: win, loss: loss,
               lost: lost, entered: entered, long: longs,
               short: entered.map((v, k) => v - longs[k]), net: net};
let top = 1;
for (let k = Math.max(0, lower(xs, xr.start) - 1); k < Math.min(m, lower(xs, xr.end) + 1); k++)
  top = Math.max(top, win[k], lost[k]);
cr.setv({start: -top * 1.1, end: top * 1.1});
"""

_CURVES_JS = """
// the equity and drawdown axes fitted to the curves' points in view (drawdown up to 0)
const s = xr.start, e = xr.end, d = src.data, xs = d.x;
function lower(v, x) { let lo = 0, hi = v.length;
  while (lo < hi) { const k = (lo + hi) >> 1; if (v[k] < x) lo = k + 1; else hi = k; }
  return lo; }
const a = Math.max(0, lower(xs, s) - 1), b = Math.min(xs.length, lower(xs, e) + 1);
for (const [range, col, top] of [[eq_y, "equity", -Infinity], [dd_y, "dd", 0]]) {
  let lo = Infinity, hi = top;
  for (let i = a; i < b; i++) { const v = d[col][i]; if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo > hi) continue;
  const m = (hi - lo) * 0.05 || Math.abs(hi) * 1e-3 || 1;
  range.setv({start: lo - m, end: hi + m});
}
"""

_PATHS_JS = """
const s = xr.start, e = xr.end;
function lower(xs, v) { let lo = 0, hi = xs.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (xs[m] < v) lo = m + 1; else hi = m; }
  return lo; }
for (const [store, views, span, colors] of items) {
  const d = store.data, x0 = d.x0, x1 = d.x1 || x0, n = x0.length;  // points: no x1
  const a = lower(x0, s - span), b = lower(x0, e);
  const out = views.map(() => ({x0: [], x1: [], y: [], color: [], marker: []}));
  if (b - a <= limit) {
    for (let i = a; i < b; i++) {
      if (x1[i] < s) continue;
      const k = d.kind[i], o = out[views.length > 1 ? k : 0];
      o.x0.push(x0[i]); o.x1.push(x1[i]); o.y.push(d.y[i]);
      o.color.push(colors[k % colors.length]);
      o.marker.push(k > 0 ? "triangle" : "inverted_triangle");
    }
  }
  views.forEach((v, k) => { v.data = out[k]; });
}
"""

_MARKERS_JS = """
const s = xr.start, e = xr.end, d = src.data, et = d.entry_time;
function lower(xs, v) { let lo = 0, hi = xs.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (xs[m] < v) lo = m + 1; else hi = m; }
  return lo; }
const a = lower(et, s - span), b = lower(et, e);
const out = views.map(() => ({x0: [], y: []}));  // long entries, short entries, exits
if (b - a <= limit) {
  for (let i = a; i < b; i++) {
    if (d.symbol[i] !== symbol) continue;  // codes (see _trade_source)
    if (et[i] >= s) { const o = out[d.side[i] === long ? 0 : 1];
                      o.x0.push(et[i]); o.y.push(d.entry_price[i]); }
    const x = d.exit_time[i];
    if (x >= s && x <= e) { out[2].x0.push(x); out[2].y.push(d.exit_price[i]); }
  }
}
views.forEach((v, k) => { v.data = out[k]; });
const title = b - a <= limit ? exact : counted;
if (legend.title !== title) legend.title = title;  // a new title lays the page out again
"""

_SELECT_JS = """
const i = src.selected.indices[0];
if (i === undefined) return;
const a = src.data.entry_time[i], b = src.data.exit_time[i];
const span = Math.max(b - a, bar_ms * 12);
xr.setv({start: a - span * 0.4, end: b + span * 0.4});
"""


def _ms(index: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    t = pd.DatetimeIndex(index)
    if t.tz is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return (t.as_unit("ns").asi8 // 1_000_000).astype(np.float64)


def _bar_ms(x: np.ndarray) -> float:
    return float(np.median(np.diff(x))) if len(x) > 1 else 60_000.0


def _group(
    x: np.ndarray, o, h, lo, c, f: int, bar_ms: float, lines: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Bars grouped by ``f`` consecutive bars: OHLC of each group, and each indicator line's
    value at the group's last bar (as the close)."""
    starts = np.arange(0, len(x), f)
    ends = np.r_[starts[1:], len(x)] - 1
    level = {
        "x": x[starts] + (f * bar_ms) / 2 - bar_ms / 2,
        "o": o[starts].astype(np.float32),
        "h": np.maximum.reduceat(h, starts).astype(np.float32),
        "l": np.minimum.reduceat(lo, starts).astype(np.float32),
        "c": c[ends].astype(np.float32),
    }
    for name, v in lines.items():
        level[name] = v[ends].astype(np.float32)
    return level


def candle_levels(
    bars: pd.DataFrame, budget: int, lines: Mapping[str, np.ndarray] | None = None
) -> tuple[list[dict[str, np.ndarray]], list[float]]:
    """The candles (and indicator ``lines``, one value per bar) at each resolution, finest
    first, with each level's candle width in ms (see the module docstring)."""
    x = _ms(bars.index)
    o, h, lo, c = (bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
    n, bar_ms, lines = len(x), _bar_ms(x), dict(lines or {})
    # all levels hold ~ finest * LEVEL_FACTOR / (LEVEL_FACTOR - 1) candles
    finest = max(int(budget * (LEVEL_FACTOR - 1) / LEVEL_FACTOR), VIEW_POINTS)
    f = max(1, -(-n // finest))
    levels, widths = [_group(x, o, h, lo, c, f, bar_ms, lines)], [f * bar_ms * 0.7]
    while len(levels[-1]["x"]) > VIEW_POINTS:
        f *= LEVEL_FACTOR
        levels.append(_group(x, o, h, lo, c, f, bar_ms, lines))
        widths.append(f * bar_ms * 0.7)
    return levels, widths


def candle_budget(n_symbols: int, n_lines: int) -> int:
    """Candles per symbol: `CANDLE_BUDGET` shared by the symbols, lowered when indicator
    lines ride along so the page's data stays within `VALUE_BUDGET` numbers."""
    per_candle = 6 + n_lines  # x (float64: two numbers' worth), o, h, l, c, the lines
    return max(VIEW_POINTS, min(CANDLE_BUDGET, VALUE_BUDGET // per_candle) // max(n_symbols, 1))


def _curves(result: BacktestResult) -> dict[str, np.ndarray]:
    eq = result.equity
    x = _ms(eq.index)
    equity = eq["equity"].to_numpy(np.float64)
    peak = np.maximum.accumulate(np.maximum(equity, float(result.initial_capital)))
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 100.0 * (equity - peak) / peak, 0.0)
    f = max(1, -(-len(x) // CURVE_POINTS))
    if f > 1:
        starts = np.arange(0, len(x), f)
        ends = np.r_[starts[1:], len(x)] - 1
        x, equity, dd = x[ends], equity[ends], np.minimum.reduceat(dd, starts)
    return {"x": x, "equity": equity, "dd": dd}


def _trade_source(result: BacktestResult, verified: frozenset[int]) -> ColumnDataSource:
    """The trades' table and marker source, in entry order (the markers' callback searches
    it by entry time); ``verified``: the ids whose replayed path reproduced the recorded
    exits (`TradePaths.verified`), "yes" in the table. Text columns (symbol, tag, side,
    exit reason, verified) are small integer codes into their sorted labels, kept in the
    source's ``tags`` (`labels_of`): 50,000 trades' texts as JSON strings were 2.3 MB of the
    page, as codes they are 0.3 MB, and sorting by a code sorts by its label."""
    t = result.trades.sort_values("entry_time", kind="stable", ignore_index=True)
    ids = t["trade_id"].to_numpy(np.int64)
    verified_text = np.where(np.isin(ids, list(verified)), "yes", "no")
    labels: dict[str, list[str]] = {}

    def coded(column: str, values: Any) -> np.ndarray:
        values = np.asarray(values, dtype=str)
        labels[column] = sorted(set(values.tolist()))
        codes = np.searchsorted(np.asarray(labels[column], dtype=str), values)
        return codes.astype(np.int8 if len(labels[column]) <= 127 else np.int32)

    data = {
        "trade_id": t["trade_id"].to_numpy(np.int32),
        "symbol": coded("symbol", t["symbol"].astype(str)),
        "tag": coded("tag", t["tag"].astype(str)),
        "side": coded("side", t["side"].astype(str)),
        "entry_time": _ms(t["entry_time"]),
        "exit_time": _ms(t["exit_time"]),
        "entry_price": t["entry_price"].to_numpy(np.float32),
        "exit_price": t["exit_price"].to_numpy(np.float32),
        "stop": t["initial_stop"].to_numpy(np.float32),
        "size": t["size"].to_numpy(np.float32),
        "pnl": t["pnl"].to_numpy(np.float64).round(2),
        "r_multiple": t["r_multiple"].to_numpy(np.float32),
        "exit_reason": coded("exit_reason", t["exit_reason"].astype(str)),
        "bars_held": t["bars_held"].to_numpy(np.int32),
        "verified": coded("verified", verified_text),
    }
    return ColumnDataSource(data, name="trades", tags=[labels])


def labels_of(trades: ColumnDataSource) -> dict[str, list[str]]:
    """The labels of the trade source's text columns, each stored as codes into its sorted
    labels (`_trade_source`)."""
    return trades.tags[0]


def decoded(trades: ColumnDataSource, column: str) -> np.ndarray:
    """A text column of the trade source as its labels."""
    return np.asarray(labels_of(trades)[column], dtype=object)[np.asarray(trades.data[column])]


def _price_pane(
    symbol: str,
    bars: pd.DataFrame,
    budget: int,
    xr: Range1d,
    trades: ColumnDataSource,
    ind: Indicators,
    paths: TradePaths,
) -> list:
    """The symbol's candle figure (with its price-scale indicators) and one figure per
    oscillator-like feature, all driven by one level-switching callback."""
    levels, widths = candle_levels(bars, budget, ind.values)
    first = float(_ms(bars.index[:1])[0])
    level_sources = [
        ColumnDataSource(lv, name=f"level_{symbol}_{i}") for i, lv in enumerate(levels)
    ]
    top = levels[-1]
    view = ColumnDataSource(
        {**top, "w": np.full(len(top["x"]), widths[-1], np.float32),
         "color": np.where(top["c"] >= top["o"], UP, DOWN).tolist()},
        name=f"candles_{symbol}",
        tags=[len(levels) - 1],
    )  # fmt: skip
    yr = Range1d(*_fit(top, ("l", "h")), name=f"y_{symbol}")
    p = figure(
        name=f"price_{symbol}", title=f"{symbol} (UTC)", x_axis_type="datetime", x_range=xr,
        y_range=yr, height=420, sizing_mode="stretch_width", tools=TOOLS,
        active_scroll="xwheel_zoom", active_drag="xpan",
    )  # fmt: skip
    p.segment("x", "h", "x", "l", source=view, color="color")
    p.vbar("x", "w", "o", "c", source=view, fill_color="color", line_color="color")
    colors = iter(PALETTE * (1 + len(ind.columns) // len(PALETTE)))
    for col in ind.price:
        p.line("x", col, source=view, color=next(colors), line_width=1.4, legend_label=col,
               name=f"line_{symbol}_{col}")  # fmt: skip
    _trade_markers(p, symbol, xr, trades)
    _path_glyphs(p, symbol, xr, paths)
    p.legend.name = f"legend_{symbol}"  # named once complete (Bokeh adds to unnamed ones)
    _legend_icons(p)
    legend = p.legend[0]  # above the candles, in rows: zoomed to a trade it hid candles
    p.center.remove(legend)
    p.add_layout(legend, "above")
    legend.orientation = "horizontal"
    legend.location = "top_left"
    legend.ncols = LEGEND_COLUMNS
    legend.click_policy = "hide"
    legend.border_line_alpha = 0
    figures, pane_ranges = [p], []
    codes = labels_of(trades)
    counts, cr = None, None
    if symbol in codes["symbol"]:
        counts, cr, strip = _trade_strip(symbol, xr)
        figures.append(strip)
    for feature, cols in ind.panes:
        pr = Range1d(*_fit(top, cols), name=f"y_{symbol}_{feature}")
        q = figure(
            name=f"pane_{symbol}_{feature}", title=f"{symbol} {feature}",
            x_axis_type="datetime", x_range=xr, y_range=pr, height=150,
            sizing_mode="stretch_width", tools=TOOLS, active_scroll="xwheel_zoom",
            active_drag="xpan",
        )  # fmt: skip
        for col in cols:
            q.line("x", col, source=view, color=next(colors), line_width=1.2, legend_label=col,
                   name=f"line_{symbol}_{col}")  # fmt: skip
        q.legend.location = "top_left"
        q.legend.background_fill_alpha = 0.6
        q.yaxis.formatter = BasicTickFormatter(use_scientific=False)  # ATR 0.001, not 1e-3
        figures.append(q)
        pane_ranges.append(pr)
    cb = CustomJS(
        args={"xr": xr, "yr": yr, "levels": level_sources, "view": view,
              "view_points": VIEW_POINTS, "up": UP, "down": DOWN, "widths": widths,
              "lines": list(ind.columns), "panes": pane_ranges,
              "pane_cols": [list(cols) for _, cols in ind.panes]},
        code=_LEVEL_JS,
    )  # fmt: skip
    xr.js_on_change("start", cb)
    xr.js_on_change("end", cb)
    if counts is not None:
        count = CustomJS(
            args={"view": view, "levels": level_sources, "trades": trades, "counts": counts,
                  "cr": cr, "xr": xr, "halves": [float(lv["x"][0] - first) for lv in levels],
                  "symbol": _code(codes["symbol"], symbol),
                  "long": _code(codes["side"], "long")},
            code=_COUNTS_JS,
        )  # fmt: skip
        view.js_on_change("data", count)  # each new slice of candles
        figures[1].js_on_change("inner_width", count)  # laid out: the first render's counts
    return figures


def _legend_icons(p) -> None:
    """Bokeh draws a legend item's icon from its renderer's first row, so the items of the
    sources filled only when zoomed in (markers, stops, targets, signals) had no icon zoomed
    out: each such item also holds a renderer of one row, at NaN (drawn nowhere on the
    plot), with the same glyph (`ICON_LOOK` where the look is a column)."""
    for item in p.legend[0].items:
        r = item.renderers[0]
        data = r.data_source.data
        if len(next(iter(data.values()))):
            continue
        row = {k: [ICON_LOOK.get(k, np.nan)] for k in data}
        item.renderers.append(p.add_glyph(ColumnDataSource(row), r.glyph.clone()))


def _code(labels: list[str], label: str) -> int:
    """The code of ``label`` in a text column of the trade source (-1: absent)."""
    return labels.index(label) if label in labels else -1


def _trade_strip(symbol: str, xr: Range1d) -> tuple[ColumnDataSource, Range1d, Any]:
    """The strip under ``symbol``'s candles: the trades entered in each drawn candle, winners
    up and losers (P&L <= 0) down, which `_LEVEL_JS` fills from the trade source for the
    candles it draws (at every zoom, so a run of too many trades for markers still shows
    where it traded and how it fared)."""
    cols = ("x", "w", "start", "win", "loss", "lost", "entered", "long", "short", "net")
    counts = ColumnDataSource({c: [] for c in cols}, name=f"trade_counts_{symbol}")
    cr = Range1d(-1.1, 1.1, name=f"trade_counts_y_{symbol}")
    q = figure(
        name=f"trades_{symbol}", title=f"{symbol} trades entered per candle: winners up, "
        "losers (P&L ≤ 0) down", x_axis_type="datetime", x_range=xr, y_range=cr, height=130,
        sizing_mode="stretch_width", tools=TOOLS, active_scroll="xwheel_zoom",
        active_drag="xpan",
    )  # fmt: skip
    q.vbar("x", "w", "win", 0, source=counts, color=UP)
    q.vbar("x", "w", 0, "loss", source=counts, color=DOWN)
    q.add_tools(HoverTool(tooltips=[
        ("candle from", "@start{%F %H:%M}"), ("entered", "@entered (@long long, @short short)"),
        ("winners", "@win"), ("losers", "@lost"), ("net P&L", "@net{0,0.00}"),
    ], formatters={"@start": "datetime"}))  # fmt: skip
    q.yaxis.axis_label = "trades"
    return counts, cr, q


def _path_store(name: str, frame: pd.DataFrame, kind: np.ndarray, x0: str, x1: str):
    """A hidden source of segments (or points: ``x0 == x1``, stored without ``x1``) sorted
    by ``x0``, and the longest one's span in ms (how far before the view a visible segment
    may start)."""
    a, b = _ms(frame[x0]), _ms(frame[x1])
    data = {"x0": a, "y": frame["price"].to_numpy(np.float32), "kind": kind.astype(np.int8)}
    if x1 != x0:
        data["x1"] = b
    span = float(np.max(b - a)) if len(a) else 0.0
    return ColumnDataSource(data, name=name), span


def _trade_markers(p, symbol: str, xr: Range1d, trades: ColumnDataSource) -> None:
    """Entry and exit markers of ``symbol``'s trades on the price figure ``p``, copied from
    the trades' own source by the `_MARKERS_JS` callback when the view holds at most
    `PATH_VIEW` trades (see the module docstring); a run of so few shows them at once."""
    d = trades.data
    mine = decoded(trades, "symbol") == symbol
    long = decoded(trades, "side") == "long"
    entry, exit_ = np.asarray(d["entry_time"]), np.asarray(d["exit_time"])
    by_exit = np.flatnonzero(mine)[np.argsort(exit_[mine], kind="stable")]
    rows = (np.flatnonzero(mine & long), np.flatnonzero(mine & ~long), by_exit)
    drawn = len(entry) <= PATH_VIEW  # as the callback draws them zoomed out (all symbols)
    views = []
    for (name, x, y, marker, color, label), picked in zip((
        ("entries_long", entry, "entry_price", "triangle", "#1565c0", "long entry"),
        ("entries_short", entry, "entry_price", "inverted_triangle", "#ef6c00", "short entry"),
        ("exits", exit_, "exit_price", "x", "#333333", "exit"),
    ), rows, strict=True):  # fmt: skip
        picked = picked if drawn else picked[:0]
        data = {"x0": x[picked], "y": np.asarray(d[y])[picked]}
        views.append(ColumnDataSource(data, name=f"{name}_{symbol}"))
        p.scatter("x0", "y", source=views[-1], marker=marker, size=9, color=color,
                  legend_label=label)  # fmt: skip
    span = float(np.max(exit_[mine] - entry[mine])) if mine.any() else 0.0
    exact, counted = MARKER_NOTES
    p.legend.title = exact if drawn else counted
    cb = CustomJS(
        args={"xr": xr, "src": trades, "views": views, "span": span, "limit": PATH_VIEW,
              "symbol": _code(labels_of(trades)["symbol"], symbol),
              "long": _code(labels_of(trades)["side"], "long"), "legend": p.legend[0],
              "exact": exact, "counted": counted},
        code=_MARKERS_JS,
    )  # fmt: skip
    xr.js_on_change("start", cb)
    xr.js_on_change("end", cb)


def _path_glyphs(p, symbol: str, xr: Range1d, paths: TradePaths) -> None:
    """Stops, targets and signal markers of ``symbol`` on the price figure ``p``, drawn from
    sources the `_PATHS_JS` callback fills when zoomed in (see the module docstring)."""

    def empty(name: str) -> ColumnDataSource:
        return ColumnDataSource({"x0": [], "x1": [], "y": [], "color": [], "marker": []},
                                name=name)  # fmt: skip

    stops = paths.stops[paths.stops["symbol"] == symbol]
    targets = paths.targets[paths.targets["symbol"] == symbol]
    signals = paths.signals[paths.signals["symbol"] == symbol]
    kind = pd.Categorical(stops["kind"], categories=STOP_KINDS).codes
    stop_store, stop_span = _path_store(f"stops_all_{symbol}", stops, kind, "start", "end")
    filled = targets["filled"].to_numpy(bool)
    tgt_store, tgt_span = _path_store(
        f"targets_all_{symbol}", targets, np.where(filled, 0, 1), "start", "end"
    )
    sig_store, _ = _path_store(
        f"signals_all_{symbol}", signals, (signals["side"].to_numpy() > 0).astype(int),
        "time", "time",
    )  # fmt: skip
    stop_view, hit_view, open_view, sig_view = (
        empty(f"{k}_{symbol}") for k in ("stops", "targets_hit", "targets_open", "signals")
    )
    sig_glyph = p.scatter("x0", "y", source=sig_view, marker="marker", size=8, color="#9e9e9e",
                          legend_label="signal")  # fmt: skip
    sig_glyph.level = "underlay"
    p.segment("x0", "y", "x1", "y", source=stop_view, color="color", line_width=2,
              legend_label="stop (initial / break-even / trailing)")  # fmt: skip
    p.segment("x0", "y", "x1", "y", source=hit_view, color=UP, line_width=2,
              legend_label="target (filled)")  # fmt: skip
    p.segment("x0", "y", "x1", "y", source=open_view, color=UP, line_width=1.5,
              line_dash="dashed", alpha=0.7, legend_label="target (not filled)")  # fmt: skip
    items = [
        [stop_store, [stop_view], stop_span, list(STOP_COLORS)],
        [tgt_store, [hit_view, open_view], tgt_span, [UP, UP]],
        [sig_store, [sig_view], 0.0, ["#9e9e9e"]],
    ]
    cb = CustomJS(args={"xr": xr, "items": items, "limit": PATH_VIEW}, code=_PATHS_JS)
    xr.js_on_change("start", cb)
    xr.js_on_change("end", cb)


def _group_pnl(result: BacktestResult, column: str):
    """Closed P&L accumulated at each exit, one line per value of ``column`` (tag, symbol)."""
    t = result.trades
    p = figure(name=f"pnl_by_{column}", title=f"Closed P&L by {column}", height=260,
               sizing_mode="stretch_width", x_axis_type="datetime",
               tools="xpan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom")  # fmt: skip
    order = np.lexsort((t["trade_id"].to_numpy(), _ms(t["exit_time"])))
    t = t.iloc[order]
    groups = sorted({str(v) for v in t[column]})
    colors = PALETTE * (1 + len(groups) // len(PALETTE))
    for k, g in enumerate(groups):
        mine = t[t[column].astype(str) == g]
        x = _ms(mine["exit_time"])
        y = np.cumsum(mine["pnl"].to_numpy(np.float64))
        if len(x) > GROUP_POINTS:  # keep the last point of each of GROUP_POINTS groups
            ends = np.unique(np.linspace(0, len(x) - 1, GROUP_POINTS).round().astype(np.int64))
            x, y = x[ends], y[ends]
        p.step(x, y, mode="after", color=colors[k], line_width=1.5, legend_label=g)
    if groups:
        p.legend.location = "top_left"
        p.legend.click_policy = "hide"
        p.legend.background_fill_alpha = 0.6
    p.yaxis.axis_label = "P&L"
    p.yaxis.formatter = NumeralTickFormatter(format=MONEY_TICKS)
    return p


def daily_figure(report) -> Any:
    """Daily equity and drawdown of a report on one time axis (what a `Report` alone can
    draw: it holds no trades or bars)."""
    d = report.daily
    x = _ms(pd.DatetimeIndex(pd.to_datetime(d["date"], utc=True))) if len(d) else np.empty(0)
    src = ColumnDataSource({"x": x, "equity": d["equity"].to_numpy(np.float64),
                            "dd": d["drawdown_pct"].to_numpy(np.float64)})  # fmt: skip
    eq = figure(name="daily_equity", title="Equity (daily)", x_axis_type="datetime",
                height=240, sizing_mode="stretch_width", tools=TOOLS,
                active_scroll="xwheel_zoom")  # fmt: skip
    eq.line("x", "equity", source=src, color="#1565c0")
    eq.yaxis.formatter = NumeralTickFormatter(format=MONEY_TICKS)
    dd = figure(name="daily_drawdown", title="Drawdown (%)", x_axis_type="datetime",
                x_range=eq.x_range, height=150, sizing_mode="stretch_width", tools=TOOLS,
                active_scroll="xwheel_zoom")  # fmt: skip
    dd.varea("x", "dd", 0, source=src, color=DOWN, alpha=0.5)
    return column(eq, dd, sizing_mode="stretch_width")


def _fit(level: Mapping[str, np.ndarray], cols) -> tuple[float, float]:
    """A y range around the values of ``cols`` (5 % margin)."""
    vals = np.concatenate([np.asarray(level[c], np.float64) for c in cols])
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return 0.0, 1.0
    lo, hi = float(vals.min()), float(vals.max())
    margin = (hi - lo) * 0.05 or abs(hi) * 1e-4 or 1e-4
    return lo - margin, hi + margin


def _label_formatter(labels: list[str]) -> HTMLTemplateFormatter:
    """Shows a code of the trade source as its label (HTML-escaped)."""
    names = json.dumps(labels).replace("<", "\\u003c").replace(">", "\\u003e")
    return HTMLTemplateFormatter(template=f"<%- {names}[value] %>")


def price_digits(config: Mapping[str, Any]) -> int:
    """Decimals of the trade table's prices: the most any of the run's instruments quotes
    (``config["instruments"]``, as `run.json` records them), 5 when the run records none."""
    instruments = (config or {}).get("instruments") or {}
    return max((int(i.get("digits", 5)) for i in instruments.values()), default=5)


def _trade_table(trades: ColumnDataSource, digits: int) -> DataTable:
    text = {k: _label_formatter(v) for k, v in labels_of(trades).items()}
    dt = DateFormatter(format="%Y-%m-%d %H:%M")
    price = NumberFormatter(format="0." + "0" * digits if digits > 0 else "0")
    money = NumberFormatter(format="0,0.00")
    cols = [
        TableColumn(field="trade_id", title="#", width=50),
        TableColumn(field="symbol", title="symbol", formatter=text["symbol"], width=70),
        TableColumn(field="side", title="side", formatter=text["side"], width=50),
        TableColumn(field="tag", title="tag", formatter=text["tag"], width=80),
        TableColumn(field="entry_time", title="entry", formatter=dt, width=135),
        TableColumn(field="entry_price", title="entry price", formatter=price, width=85),
        TableColumn(field="exit_time", title="exit", formatter=dt, width=135),
        TableColumn(field="exit_price", title="exit price", formatter=price, width=85),
        TableColumn(field="stop", title="stop", formatter=price, width=85),
        TableColumn(field="size", title="lots", formatter=NumberFormatter(format="0.00"), width=50),
        TableColumn(field="pnl", title="P&L", formatter=money, width=80),
        TableColumn(
            field="r_multiple", title="R", formatter=NumberFormatter(format="0.00"), width=55
        ),
        TableColumn(
            field="exit_reason", title="exit reason", formatter=text["exit_reason"], width=80
        ),
        TableColumn(field="bars_held", title="bars", width=50),
        TableColumn(field="verified", title="verified", formatter=text["verified"], width=60),
    ]
    return DataTable(
        source=trades, columns=cols, name="trade_table", height=320, sortable=True,
        sizing_mode="stretch_width", index_position=None, selectable=True,
    )  # fmt: skip


def _r_histogram(trades: ColumnDataSource):
    r = np.asarray(trades.data["r_multiple"], np.float64)
    r = r[np.isfinite(r)]
    p = figure(name="r_hist", title="R-multiples", height=300, width=520, tools="save")
    if len(r):
        counts, edges = np.histogram(r, bins=min(60, max(10, int(np.sqrt(len(r))))))
        color = np.where(edges[:-1] + edges[1:] >= 0, UP, DOWN).tolist()
        p.quad(top=counts, bottom=0, left=edges[:-1], right=edges[1:], fill_color=color,
               line_color="white")  # fmt: skip
    p.xaxis.axis_label, p.yaxis.axis_label = "R", "trades"
    return p


def _monthly(monthly: pd.DataFrame):
    p = figure(name="monthly", title="Monthly returns (%)", height=300, width=620,
               x_axis_type="datetime", tools="xpan,xwheel_zoom,reset,save")  # fmt: skip
    if len(monthly):
        x = (
            pd.to_datetime({"year": monthly["year"], "month": monthly["month"], "day": 1})
            .to_numpy("datetime64[ms]")
            .astype(np.int64)
            .astype(np.float64)
        )
        r = monthly["return_pct"].to_numpy(np.float64)
        src = ColumnDataSource({"x": x + 14 * 86_400_000, "r": r,
                                "color": np.where(r >= 0, UP, DOWN).tolist()})  # fmt: skip
        p.vbar("x", 24 * 86_400_000, "r", source=src, fill_color="color", line_color="color")
        p.add_tools(HoverTool(tooltips=[("month", "@x{%Y-%m}"), ("return", "@r{0.00}%")],
                              formatters={"@x": "datetime"}))  # fmt: skip
    return p


def interactive_components(
    report,
    result: BacktestResult,
    ohlc: Mapping[str, pd.DataFrame] | None,
    indicators: Mapping[str, Indicators] | None = None,
    paths: TradePaths | None = None,
) -> tuple[str, dict[str, str]]:
    """(``<script>`` of the document, {name: ``<div>``}) of `report_models`."""
    script, divs = components(report_models(report, result, ohlc, indicators, paths))
    return script, dict(divs)


def report_models(
    report,
    result: BacktestResult,
    ohlc: Mapping[str, pd.DataFrame] | None,
    indicators: Mapping[str, Indicators] | None = None,
    paths: TradePaths | None = None,
) -> dict[str, Any]:
    """The page's Bokeh roots: ``charts`` (candles, indicators, trades, equity, drawdown on
    one time axis), ``table`` (the trades, with whether each one's path was ``verified``),
    ``dist`` (R histogram, monthly returns) and, with
    trades, ``by_tag`` / ``by_symbol`` (closed P&L per tag / symbol). ``indicators``
    ({symbol: `Indicators`}, from `strategy_indicators`) adds the strategy's feature lines,
    ``paths`` (`trade_paths`) each trade's stops, targets and the signals."""
    curves = _curves(result)
    t0 = float(curves["x"][0]) if len(curves["x"]) else 0.0
    t1 = float(curves["x"][-1]) if len(curves["x"]) else 1.0
    pad = (t1 - t0) * 0.01 or 3_600_000.0
    xr = Range1d(t0 - pad, t1 + pad, name="x_range")
    paths = paths or TradePaths()
    trades = _trade_source(result, paths.verified)
    bars = {s: b for s, b in (ohlc or {}).items() if s in report.run["symbols"] and len(b)}
    indicators = dict(indicators or {})
    n_lines = max((len(indicators.get(s, NO_INDICATORS).columns) for s in bars), default=0)
    budget = candle_budget(len(bars), n_lines)
    panes = []
    for s in sorted(bars):
        ind = indicators.get(s, NO_INDICATORS)
        panes.extend(_price_pane(s, bars[s], budget, xr, trades, ind, paths))
    eq_src = ColumnDataSource(curves, name="curves")
    eq_y = Range1d(*_fit(curves, ("equity",)), name="equity_y")
    dd_y = Range1d(*_fit({"dd": np.r_[curves["dd"], 0.0]}, ("dd",)), name="drawdown_y")
    eq = figure(name="equity", title="Equity", x_axis_type="datetime", x_range=xr, y_range=eq_y,
                height=220, sizing_mode="stretch_width", tools=TOOLS,
                active_scroll="xwheel_zoom")  # fmt: skip
    eq.line("x", "equity", source=eq_src, color="#1565c0")
    eq.yaxis.formatter = NumeralTickFormatter(format=MONEY_TICKS)
    dd = figure(name="drawdown", title="Drawdown (%)", x_axis_type="datetime", x_range=xr,
                y_range=dd_y, height=160, sizing_mode="stretch_width", tools=TOOLS,
                active_scroll="xwheel_zoom")  # fmt: skip
    dd.varea("x", "dd", 0, source=eq_src, color=DOWN, alpha=0.5)
    fit = CustomJS(args={"xr": xr, "src": eq_src, "eq_y": eq_y, "dd_y": dd_y}, code=_CURVES_JS)
    xr.js_on_change("start", fit)
    xr.js_on_change("end", fit)
    bar_ms = _bar_ms(_ms(next(iter(bars.values())).index)) if bars else _bar_ms(curves["x"])
    trades.selected.js_on_change(
        "indices", CustomJS(args={"src": trades, "xr": xr, "bar_ms": bar_ms}, code=_SELECT_JS)
    )
    roots = {
        "charts": column(*panes, eq, dd, sizing_mode="stretch_width"),
        "table": _trade_table(trades, price_digits(result.config)),
        "dist": row(_r_histogram(trades), _monthly(report.periods["monthly"])),
    }
    if len(result.trades):  # in a layout, like every other figure of the page
        for name in ("tag", "symbol"):
            roots[f"by_{name}"] = column(_group_pnl(result, name), sizing_mode="stretch_width")
    return roots


_MODEL_ID = re.compile(r'"id":"(p\d+)"')
_ID_STRING = re.compile(r'"(p\d+)"')
_UUID = re.compile(r"\b(?:bk-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def stable_ids(page: str) -> str:
    """Replace Bokeh's counter ids and random UUIDs by sequential ones (see the docstring)."""
    ids: dict[str, str] = {}
    for m in _MODEL_ID.finditer(page):
        ids.setdefault(m.group(1), f"q{len(ids) + 1}")
    if ids:
        page = _ID_STRING.sub(lambda m: f'"{ids.get(m.group(1), m.group(1))}"', page)
    uuids: dict[str, str] = {}
    return _UUID.sub(lambda m: uuids.setdefault(m.group(0), f"tf-{len(uuids) + 1:04d}"), page)


def bokeh_resources() -> str:
    """BokehJS and its CSS, inlined."""
    return Resources(mode="inline", components=list(COMPONENTS)).render()
