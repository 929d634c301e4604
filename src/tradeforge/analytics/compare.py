"""Side-by-side comparison of the key metrics of two reports."""

from __future__ import annotations

import pandas as pd
from rich import box
from rich.table import Table
from rich.text import Text

from tradeforge.analytics.format import KEY_METRICS, MISSING, SECTION_TITLES, duration, fmt
from tradeforge.analytics.report import Report

_NUMERIC = {"money", "pct", "ratio", "r", "int", "duration"}
#: metrics where a smaller value is better (drawdowns are negative numbers: larger is better)
_LOWER_IS_BETTER = {
    "volatility_ann_pct",
    "max_loss_streak",
    "commission",
    "duration_s",
    "longest_underwater_s",
}
#: metrics that are neither better nor worse when they grow (deltas are not coloured)
_NEUTRAL = {
    "initial_capital",
    "trading_days",
    "exposure_pct",
    "trades",
    "trades_per_day",
    "avg_holding_s",
}


def compare_reports(a: Report, b: Report) -> pd.DataFrame:
    """One row per key metric: section, key, label, kind, a, b, delta (b - a; None if n/a)."""
    rows = []
    for section, metrics in KEY_METRICS.items():
        for key, label, kind in metrics:
            va, vb = a.summary[section].get(key), b.summary[section].get(key)
            delta = None
            if kind in _NUMERIC and va is not None and vb is not None:
                delta = float(vb) - float(va)
            rows.append(
                {
                    "section": section,
                    "key": key,
                    "label": label,
                    "kind": kind,
                    "a": va,
                    "b": vb,
                    "delta": delta,
                }
            )
    return pd.DataFrame(rows)


def _delta_text(delta: float | None, kind: str, key: str) -> Text:
    if delta is None:
        return Text(MISSING if kind in _NUMERIC else "")
    if kind == "pct":
        txt = f"{delta:+,.2f}pp"
    elif kind == "duration":
        txt = ("-" if delta < 0 else "+") + duration(abs(delta))
    elif kind == "int":
        txt = f"{int(delta):+,d}"
    elif kind == "r":
        txt = f"{delta:+.3f}R"
    else:
        txt = f"{delta:+,.2f}"
    if key in _NEUTRAL:
        return Text(txt)
    better = -delta if key in _LOWER_IS_BETTER else delta
    style = "green" if better > 0 else "red" if better < 0 else ""
    return Text(txt, style=style)


def compare_table(table: pd.DataFrame, name_a: str, name_b: str) -> Table:
    """A rich table of `compare_reports` output (delta coloured green where B is better)."""
    t = Table(title=f"{name_a}  vs  {name_b}", box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("Metric", no_wrap=True, style="bold")
    t.add_column(name_a, justify="right", no_wrap=True)
    t.add_column(name_b, justify="right", no_wrap=True)
    t.add_column("Δ (B − A)", justify="right", no_wrap=True)
    last = None
    for row in table.itertuples(index=False):
        if row.section != last:
            if last is not None:
                t.add_section()
            t.add_row(Text(SECTION_TITLES[row.section], style="underline"), "", "", "")
            last = row.section
        t.add_row(
            row.label,
            fmt(row.a, row.kind),
            fmt(row.b, row.kind),
            _delta_text(None if pd.isna(row.delta) else row.delta, row.kind, row.key),
        )
    return t
