"""Interactive research pages in the style of ``report.html`` (Bokeh, offline, JS inlined,
byte-identical for the same input): ``optimize.html``, ``walkforward.html``,
``consistency.html``.

* optimisation: a heatmap of the first two parameters with **every** cell of the grid — a
  cell shows its best ``ok`` trial, and a cell without one shows its best other trial in grey
  with its status (rejected by a constraint, undefined, invalid), so a grid whose trials were
  mostly rejected still shows where; one sensitivity plot per parameter (every trial's
  objective against the parameter, the best ``ok`` trial per value joined by a line); the
  trials table (sortable). Clicking a heatmap cell selects its trials in the table.
* walk-forward: in-sample vs out-of-sample objective per fold, the stitched out-of-sample
  equity coloured by fold, the folds table.
* consistency: cumulative PnL of the expected and the actual trades on one time axis, entry
  slippage and entry delay histograms of the matched trades, the checks.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.analytics.writers import frame_html, standalone_page
from tradeforge.core.atomic import atomic_write_bytes
from tradeforge.research.charts import STATUS_COLORS, heatmap_cells

OK_PALETTE = "Viridis256"
FOLD_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"

_CELL_JS = """
const i = cells.selected.indices[0];
if (i === undefined) { trials.selected.indices = []; return; }
const a = cells.data.x[i], b = cells.data.y[i], out = [];
for (let k = 0; k < trials.data.cell_x.length; k++)
  if (trials.data.cell_x[k] === a && trials.data.cell_y[k] === b) out.push(k);
trials.selected.indices = out;
"""


def _label(value: Any) -> str:
    """A parameter value as an axis factor: ``5``, ``0.25``, ``ema``."""
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def _factors(values: pd.Series) -> list[str]:
    """The distinct values in their natural order (numbers numerically), as labels."""
    uniq = pd.unique(values.dropna())
    try:
        uniq = sorted(uniq)
    except TypeError:
        uniq = sorted(uniq, key=str)
    return [_label(v) for v in uniq]


def _write(path: Path, page: str) -> Path:
    atomic_write_bytes(path, page.encode("utf-8"), durable=False)
    return path


def _py_rows(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Columns as JSON-ready lists (NaN kept as NaN: Bokeh sends it as NaN)."""
    out: dict[str, list[Any]] = {}
    for col in frame.columns:
        s = frame[col]
        if s.dtype.kind in "fiub":
            out[str(col)] = s.to_numpy(dtype=np.float64).tolist()
        else:
            out[str(col)] = ["" if v is None or v is pd.NaT else str(v) for v in s.tolist()]
    return out


# -- optimisation -------------------------------------------------------------------------------
def _heatmap(result: Any, trials_src: Any) -> Any:
    from bokeh.models import (
        ColorBar,
        ColumnDataSource,
        CustomJS,
        HoverTool,
        LinearColorMapper,
        TapTool,
    )
    from bokeh.palettes import Viridis256
    from bokeh.plotting import figure

    x, y = result.space.names[:2]
    metric = result.objective.metric
    cells = heatmap_cells(result.trials, x, y, result.objective.sign)
    ok = (cells["status"] == "ok").to_numpy()
    value = cells["objective"].to_numpy(dtype=np.float64)
    lo, hi = (float(np.min(value[ok])), float(np.max(value[ok]))) if ok.any() else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    idx = np.clip(((value - lo) / (hi - lo) * 255).round(), 0, 255)
    colors = [
        Viridis256[int(i)] if k else STATUS_COLORS.get(s, "#e6e6e6")
        for i, k, s in zip(np.nan_to_num(idx), ok, cells["status"], strict=True)
    ]
    text = [
        f"{v:.3g}" if k else f"{s}\n{v:.3g}" if math.isfinite(v) else s
        for v, k, s in zip(value, ok, cells["status"], strict=True)
    ]
    src = ColumnDataSource(
        {"x": [_label(v) for v in cells[x]], "y": [_label(v) for v in cells[y]],
         "objective": value, "status": cells["status"].astype(str).tolist(), "color": colors,
         "text": text,
         "text_color": ["white" if k and i < 170 else "#222222"
                        for k, i in zip(ok, np.nan_to_num(idx), strict=True)],
         "trades": cells["trades"].to_numpy(dtype=np.float64),
         "failed": cells["failed"].astype(str).tolist(),
         "n": cells["n"].to_numpy(np.int64), "n_ok": cells["n_ok"].to_numpy(np.int64)},
        name="cells",
    )  # fmt: skip
    p = figure(
        name="heatmap", title=f"{metric} by {x} × {y} (grey: no ok trial; click a cell)",
        x_range=_factors(result.trials[x]), y_range=_factors(result.trials[y]), height=460,
        width=760, tools="tap,save", toolbar_location="above",
    )  # fmt: skip
    p.rect("x", "y", 0.96, 0.96, source=src, fill_color="color", line_color="white",
           name="cells_glyph")  # fmt: skip
    p.text("x", "y", "text", source=src, text_align="center", text_baseline="middle",
           text_font_size="9pt", text_color="text_color")  # fmt: skip
    p.xaxis.axis_label, p.yaxis.axis_label = x, y
    p.add_tools(HoverTool(
        renderers=[p.renderers[0]],
        tooltips=[(x, "@x"), (y, "@y"), (metric, "@objective{0.0000}"), ("status", "@status"),
                  ("failed", "@failed"), ("trades", "@trades{0}"),
                  ("trials (ok)", "@n (@n_ok)")],
    ))  # fmt: skip
    p.select_one(TapTool).renderers = [p.renderers[0]]
    mapper = LinearColorMapper(palette=Viridis256, low=lo, high=hi)
    p.add_layout(ColorBar(color_mapper=mapper, title=metric), "right")
    src.selected.js_on_change("indices", CustomJS(args={"cells": src, "trials": trials_src},
                                                  code=_CELL_JS))  # fmt: skip
    return p


def _sensitivity(result: Any, trials_src: Any) -> list[Any]:
    from bokeh.models import BooleanFilter, CDSView, ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    trials, metric = result.trials, result.objective.metric
    figs = []
    for name in result.space.names:
        factors = _factors(trials[name])
        p = figure(name=f"sensitivity_{name}", title=f"{metric} vs {name}", x_range=factors,
                   height=300, width=420, tools=TOOLS)  # fmt: skip
        for status, color, marker in (("ok", "#1f77b4", "circle"), (None, "#9e9e9e", "x")):
            mask = (trials["status"] == "ok") if status else (trials["status"] != "ok")
            view = CDSView(filter=BooleanFilter(mask.tolist()))
            p.scatter(f"{name}_label", "objective", source=trials_src, view=view, size=7,
                      color=color, marker=marker, alpha=0.8,
                      legend_label="ok" if status else "not ok")  # fmt: skip
        ok = trials[trials["status"] == "ok"]
        if len(ok):
            best = ok.groupby(name, sort=True)["objective"]
            best = best.max() if result.objective.sign > 0 else best.min()
            line = ColumnDataSource({"x": [_label(v) for v in best.index],
                                     "y": best.to_numpy(np.float64)})  # fmt: skip
            p.line("x", "y", source=line, color="#1f77b4", legend_label="best ok")
        p.add_tools(HoverTool(renderers=p.renderers[:1],
                              tooltips=[("trial", "@trial_id"), (metric, "@objective{0.0000}"),
                                        ("status", "@status")]))  # fmt: skip
        p.xaxis.axis_label, p.yaxis.axis_label = name, metric
        p.legend.location = "top_left"
        p.legend.click_policy = "hide"
        figs.append(p)
    return figs


def _table(src: Any, frame: pd.DataFrame, name: str, height: int = 320) -> Any:
    from bokeh.models import DataTable, NumberFormatter, TableColumn

    cols = []
    for col in frame.columns:
        kw = {}
        if frame[col].dtype.kind in "fiu":
            v = frame[col].to_numpy(np.float64)
            whole = bool(np.all(np.mod(v[np.isfinite(v)], 1) == 0))
            kw["formatter"] = NumberFormatter(format="0,0" if whole else "0,0.0000")
        cols.append(TableColumn(field=str(col), title=str(col), **kw))
    return DataTable(source=src, columns=cols, name=name, height=height, sortable=True,
                     sizing_mode="stretch_width", index_position=None)  # fmt: skip


def optimize_page(result: Any, out: Path) -> Path:
    """Write ``optimize.html`` (see the module docstring) into ``out``."""
    from bokeh.layouts import row
    from bokeh.models import ColumnDataSource

    trials, names = result.trials, result.space.names
    shown = ["trial_id", *names, "status", "objective", "rank", "failed", "trades"]
    shown += [c for c in ("net_profit", "expectancy_r", "max_drawdown_pct") if c in trials]
    data = _py_rows(trials[[c for c in dict.fromkeys(shown) if c in trials]])
    for name in names:
        data[f"{name}_label"] = [_label(v) for v in trials[name]]
    if len(names) >= 2:
        data["cell_x"] = [_label(v) for v in trials[names[0]]]
        data["cell_y"] = [_label(v) for v in trials[names[1]]]
    src = ColumnDataSource(data, name="trials")
    counts = ", ".join(f"{k} {v}" for k, v in result.status_counts().items())
    intro = (
        f"<p class=sub>{html.escape(result.method)} search, {len(trials)} trials ({counts}); "
        f"objective {html.escape(result.objective.metric)} "
        f"({html.escape(result.objective.direction)})</p>"
    )
    blocks: list[Any] = [intro]
    if len(names) >= 2 and len(trials):
        more = f" (best over the other parameters: {', '.join(names[2:])})" if names[2:] else ""
        blocks += [f"<h2>Grid{html.escape(more)}</h2>", _heatmap(result, src)]
    if len(trials):
        blocks += ["<h2>Parameter sensitivity</h2>", row(*_sensitivity(result, src))]
        table = trials[[c for c in dict.fromkeys(shown) if c in trials]]
        blocks += ["<h2>Trials</h2>", _table(src, table, "trials_table")]
    page = standalone_page("tradeforge optimisation", blocks)
    return _write(out / "optimize.html", page)


# -- walk-forward -------------------------------------------------------------------------------
def walkforward_page(result: Any, out: Path) -> Path:
    """Write ``walkforward.html`` (see the module docstring) into ``out``."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure
    from bokeh.transform import dodge

    folds = result.folds
    objective = result.summary.get("objective", "objective")
    blocks: list[Any] = []
    if len(folds):
        f = folds.assign(fold_label=folds["fold"].astype(int).astype(str))
        src = ColumnDataSource(
            {"fold": f["fold_label"].tolist(),
             "is": f["is_objective"].to_numpy(np.float64),
             "oos": f["oos_objective"].to_numpy(np.float64),
             "test": [f"{a:%Y-%m-%d} → {b:%Y-%m-%d}" if a is not None else ""
                      for a, b in zip(f["test_start"], f["test_end"], strict=True)],
             "status": f["status"].astype(str).tolist()},
            name="folds",
        )  # fmt: skip
        p = figure(name="is_oos", x_range=f["fold_label"].tolist(), height=320,
                   sizing_mode="stretch_width", tools="save,reset",
                   title=f"{objective}: in sample vs out of sample per fold")  # fmt: skip
        p.vbar(dodge("fold", -0.18, range=p.x_range), top="is", width=0.34, source=src,
               color="#1f77b4", legend_label="in sample", name="is_bars")  # fmt: skip
        p.vbar(dodge("fold", 0.18, range=p.x_range), top="oos", width=0.34, source=src,
               color="#ff7f0e", legend_label="out of sample", name="oos_bars")  # fmt: skip
        p.add_tools(HoverTool(tooltips=[("fold", "@fold"), ("test", "@test"),
                                        ("in sample", "@is{0.0000}"),
                                        ("out of sample", "@oos{0.0000}"),
                                        ("status", "@status")]))  # fmt: skip
        p.xaxis.axis_label, p.yaxis.axis_label = "fold", objective
        p.legend.click_policy = "hide"
        blocks += ["<h2>In sample vs out of sample</h2>", p]
    eq = result.equity
    if len(eq):
        p = figure(name="oos_equity", x_axis_type="datetime", height=340,
                   sizing_mode="stretch_width", tools=TOOLS, active_scroll="wheel_zoom",
                   title="stitched out-of-sample equity (colour: fold)")  # fmt: skip
        ms = pd.DatetimeIndex(eq.index).as_unit("ns").asi8 // 1_000_000
        for k, (fold, part) in enumerate(eq.groupby("fold", sort=True)):
            sel = (eq["fold"] == fold).to_numpy()
            src = ColumnDataSource({"x": ms[sel].astype(np.float64),
                                    "equity": part["equity"].to_numpy(np.float64)},
                                   name=f"equity_fold_{int(fold)}")  # fmt: skip
            p.line("x", "equity", source=src, color=FOLD_PALETTE[k % len(FOLD_PALETTE)],
                   legend_label=f"fold {int(fold)}")  # fmt: skip
        p.add_tools(HoverTool(tooltips=[("time", "@x{%Y-%m-%d %H:%M}"),
                                        ("equity", "@equity{0,0.00}")],
                              formatters={"@x": "datetime"}, mode="vline"))  # fmt: skip
        p.legend.click_policy = "hide"
        p.legend.location = "top_left"
        blocks += ["<h2>Stitched out-of-sample equity</h2>", p]
    if len(folds):
        from bokeh.models import ColumnDataSource as CDS

        blocks += ["<h2>Folds</h2>", _table(CDS(_py_rows(folds)), folds, "folds_table", 260)]
    summary = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in result.summary.items() if not isinstance(v, dict | list))  # fmt: skip
    blocks.insert(0, f"<p class=sub>{html.escape(summary)}</p>")
    return _write(out / "walkforward.html", standalone_page("tradeforge walk-forward", blocks))


# -- consistency --------------------------------------------------------------------------------
def _cumulative(trades: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    if not len(trades):
        return np.empty(0), np.empty(0)
    t = pd.DatetimeIndex(pd.to_datetime(trades["exit_time"], utc=True))
    ns = t.as_unit("ns").asi8
    order = np.argsort(ns, kind="stable")
    pnl = pd.to_numeric(trades["pnl"], errors="coerce").fillna(0).to_numpy(np.float64)[order]
    return (ns[order] // 1_000_000).astype(np.float64), np.cumsum(pnl)


def _histogram(values: pd.Series, name: str, title: str, color: str) -> Any:
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    v = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    v = v[np.isfinite(v)]
    p = figure(name=name, title=title, height=280, width=480, tools="save")
    if len(v):
        counts, edges = np.histogram(v, bins=min(40, max(5, int(math.sqrt(len(v))))))
        src = ColumnDataSource({"left": edges[:-1], "right": edges[1:], "n": counts})
        p.quad(top="n", bottom=0, left="left", right="right", source=src, color=color,
               line_color="white")  # fmt: skip
        p.add_tools(HoverTool(tooltips=[("from", "@left{0.000}"), ("to", "@right{0.000}"),
                                        ("trades", "@n")]))  # fmt: skip
    return p


def consistency_page(
    doc: Mapping[str, Any], expected: pd.DataFrame, actual: pd.DataFrame, out: Path
) -> Path:
    """Write ``consistency.html`` (see the module docstring) into ``out``."""
    from bokeh.layouts import row
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    p = figure(name="cum_pnl", x_axis_type="datetime", height=340, sizing_mode="stretch_width",
               tools=TOOLS, active_scroll="wheel_zoom",
               title="cumulative PnL: expected (backtest) vs actual")  # fmt: skip
    for label, trades, color in (("expected", expected, "#1f77b4"),
                                 ("actual", actual, "#ff7f0e")):  # fmt: skip
        x, y = _cumulative(trades)
        src = ColumnDataSource({"x": x, "pnl": y}, name=f"pnl_{label}")
        p.step("x", "pnl", source=src, mode="after", color=color, legend_label=label,
               line_width=1.5)  # fmt: skip
    p.add_tools(HoverTool(tooltips=[("time", "@x{%Y-%m-%d %H:%M}"), ("PnL", "@pnl{0,0.00}")],
                          formatters={"@x": "datetime"}))  # fmt: skip
    p.legend.location = "top_left"
    p.legend.click_policy = "hide"
    matched = doc["matched"]
    verdict = "PASS" if doc["passed"] else "FAIL"
    s = doc["summary"]
    blocks: list[Any] = [
        f"<p class=sub>{verdict}: {s['matched']} of {s['expected_trades']} expected trades "
        f"matched, {s['missing']} missing, {s['extra']} extra</p>",
        "<h2>Cumulative PnL</h2>",
        p,
    ]
    if len(matched):
        blocks += [
            "<h2>Matched trades</h2>",
            row(
                _histogram(matched["entry_slippage_pips"], "entry_slippage",
                           "entry slippage (pips, + = worse)", "#ff7f0e"),
                _histogram(matched["entry_delay_s"], "entry_delay",
                           "entry delay (s, actual − expected)", "#9467bd"),
            ),
        ]  # fmt: skip
    checks = pd.DataFrame(doc["checks"])
    if len(checks):
        cols = [c for c in ("check", "value", "limit", "kind", "passed") if c in checks]
        blocks += ["<h2>Checks</h2>", frame_html(checks.astype({"passed": str}), cols)]
    return _write(out / "consistency.html", standalone_page("tradeforge consistency", blocks))
