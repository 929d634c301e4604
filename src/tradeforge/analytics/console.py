"""Rich console summary of a `Report`, and the same tables as plain text (``report.txt``)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from tradeforge.analytics.format import (
    BREAKDOWN_VIEW,
    COLUMN_FORMATS,
    KEY_METRICS,
    SECTION_TITLES,
    fmt,
    sign,
    trade_paths_line,
)
from tradeforge.analytics.report import NO_TRADES, Report

if TYPE_CHECKING:
    from tradeforge.analytics.writers import ReportPaths

TEXT_WIDTH = 110
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SIGNED = {"net_profit", "expectancy", "expectancy_r", "return_pct", "pnl"}
_CONSOLE_BREAKDOWNS = ("symbol", "tag", "side", "exit_reason", "year")


def _style(value: Any, column: str) -> str:
    if column not in _SIGNED:
        return ""
    return {1: "green", -1: "red", 0: ""}[sign(value)]


def header_line(report: Report) -> str:
    run = report.run
    parts = [", ".join(run["symbols"]) or "no symbols"]
    if report.strategy_label:
        parts.append(report.strategy_label)
    if run["start"] is not None:
        parts.append(f"{fmt(run['start'], 'time')} → {fmt(run['end'], 'time')} UTC")
    parts.append(f"{run['bars']:,} bars")
    parts.append(f"{report.summary['trades']['trades']:,} trades")
    return " · ".join(parts)


def key_metrics(report: Report, width: int = 120) -> Table:
    """The three key-metric tables (returns, drawdown, trades) side by side, or stacked in
    two columns when the console is narrower than 120 characters."""
    grid = Table.grid(padding=(0, 2))
    tables = []
    for section, rows in KEY_METRICS.items():
        t = Table(title=SECTION_TITLES[section], box=box.SIMPLE_HEAD, show_header=False)
        t.add_column("metric", style="bold", no_wrap=True)
        t.add_column("value", justify="right", no_wrap=True)
        values = report.summary[section]
        for key, label, kind in rows:
            v = values.get(key)
            t.add_row(label, Text(fmt(v, kind), style=_style(v, key)))
        tables.append(t)
    per_row = len(tables) if width >= 120 else 2
    for _ in range(per_row):
        grid.add_column(vertical="top")
    for i in range(0, len(tables), per_row):
        row = tables[i : i + per_row]
        grid.add_row(*row, *([""] * (per_row - len(row))))
    return grid


def frame_table(frame: pd.DataFrame, title: str, columns: Iterable[str] | None = None) -> Table:
    """A table of a breakdown/stability/period frame with formatted cells."""
    cols = list(columns) if columns is not None else list(frame.columns)
    t = Table(
        title=title, box=box.SIMPLE_HEAD, title_justify="left", padding=(0, 1), pad_edge=False
    )
    for c in cols:
        header, kind = COLUMN_FORMATS.get(c, (c, "text"))
        t.add_column(header, justify="left" if kind == "text" else "right", no_wrap=True)
    data = [frame[c].tolist() for c in cols]
    for row in zip(*data, strict=True):
        cells = []
        for c, v in zip(cols, row, strict=True):
            kind = COLUMN_FORMATS.get(c, (c, "text"))[1]
            cells.append(Text(fmt(v, kind), style=_style(v, c)))
        t.add_row(*cells)
    return t


def breakdown_table(report: Report, name: str) -> Table:
    frame = report.breakdowns[name]
    title = "By " + name.replace("_", " ")
    return frame_table(frame, title, (name, *BREAKDOWN_VIEW))


def monthly_grid(report: Report) -> Table | None:
    """Monthly returns (%) as a year x month grid with the year's return."""
    monthly, yearly = report.periods["monthly"], report.periods["yearly"]
    if len(monthly) == 0:
        return None
    t = Table(title="Monthly returns (%)", box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("Year", no_wrap=True)
    for m in _MONTHS:
        t.add_column(m, justify="right", no_wrap=True)
    t.add_column("Year %", justify="right", no_wrap=True, style="bold")
    cells: dict[tuple[int, int], float] = {
        (int(y), int(m)): r
        for y, m, r in zip(monthly["year"], monthly["month"], monthly["return_pct"], strict=True)
    }
    for y, r_year in zip(yearly["year"], yearly["return_pct"], strict=True):
        row = []
        for m in range(1, 13):
            v = cells.get((int(y), m))
            txt = "" if v is None else f"{v:.1f}".replace("-0.0", "0.0")
            row.append(Text(txt, style=_style(v, "return_pct")))
        row.append(Text(f"{r_year:.1f}", style=_style(r_year, "return_pct")))
        t.add_row(str(int(y)), *row)
    return t


_STABILITY_FULL = ("window", "start", "end", "trades", "net_profit", "win_rate_pct")
_STABILITY_FULL += ("profit_factor", "expectancy", "expectancy_r", "return_pct", "max_drawdown_pct")
_STABILITY_COMPACT = ("window", "start", "trades", "net_profit", "expectancy_r", "return_pct")
_STABILITY_COMPACT += ("max_drawdown_pct",)


def stability_view(stab: dict | None, title: str, compact: bool = False) -> RenderableType | None:
    if not stab:
        return None
    cols = _STABILITY_COMPACT if compact else _STABILITY_FULL
    table = frame_table(stab["table"], title, cols)
    line = (
        f"profitable windows {stab['profitable_windows']}/{stab['windows']} "
        f"({fmt(stab['profitable_share_pct'], 'pct')}); expectancy per window: "
        f"mean {fmt(stab['expectancy_mean'], 'money')}, std {fmt(stab['expectancy_std'], 'money')}"
        f"; in R: mean {fmt(stab['expectancy_r_mean'], 'r')}, "
        f"std {fmt(stab['expectancy_r_std'], 'ratio')}, cv {fmt(stab['expectancy_r_cv'], 'ratio')}"
    )
    return Group(table, Text("  " + line))


def paths_view(paths: ReportPaths) -> Text:
    text = Text()
    text.append("written: ", style="bold")
    text.append(", ".join(str(p) for p in (paths.json, paths.txt, paths.html) if p is not None))
    if paths.charts:
        text.append(f"\ncharts ({len(paths.charts)}): ", style="bold")
        text.append(str(paths.charts[0].parent))
        for p in paths.charts:
            text.append(f"\n  {p.name}")
    return text


def summary_renderables(
    report: Report,
    *,
    full: bool = False,
    paths: ReportPaths | None = None,
    width: int = TEXT_WIDTH,
) -> list[RenderableType]:
    """What the console shows; ``full`` adds the month table, monthly grid and yearly windows.
    Below `TEXT_WIDTH` columns the stability table drops its less important columns."""
    out: list[RenderableType] = [Text(header_line(report), style="bold")]
    if report.no_trades:
        out.append(Text(f"{NO_TRADES}: the run closed no trades", style="bold yellow"))
    out.append(key_metrics(report, width))
    checked = trade_paths_line(report.trade_paths)
    if checked:
        out.append(Text(checked))
    if not report.no_trades:
        names = (*_CONSOLE_BREAKDOWNS, "month") if full else _CONSOLE_BREAKDOWNS
        out.extend(breakdown_table(report, n) for n in names)
    if full:
        grid = monthly_grid(report)
        if grid is not None:
            out.append(grid)
    compact = width < TEXT_WIDTH
    stab = stability_view(report.stability.get("equal"), "Stability: equal windows", compact)
    if stab is not None and not report.no_trades:
        out.append(stab)
    if full and not report.no_trades:
        yearly = stability_view(report.stability.get("yearly"), "Stability: calendar years")
        if yearly is not None:
            out.append(yearly)
    if paths is not None:
        out.append(paths_view(paths))
    return out


def print_summary(report: Report, console: Console, paths: ReportPaths | None = None) -> None:
    """Print the key metrics, the breakdown tables and (if given) the paths written."""
    for item in summary_renderables(report, paths=paths, width=console.width):
        console.print(item)


def render_text(report: Report, width: int = TEXT_WIDTH) -> str:
    """All console tables as plain text at a fixed width (deterministic, no ANSI codes)."""
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        color_system=None,
        force_terminal=False,
        no_color=True,
        highlight=False,
        emoji=False,
        legacy_windows=False,
        soft_wrap=False,
    )
    for item in summary_renderables(report, full=True, width=width):
        console.print(item)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"
