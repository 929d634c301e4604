"""Write a run's report: ``report.json``, ``report.txt``, ``report.html`` and ``charts/``.

The charts come from `tradeforge.plotting`, imported only when charts are asked for, so the
metrics path never loads matplotlib. Every file is written to a temporary name and renamed,
and identical input gives byte-identical files.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tradeforge.analytics.console import header_line, render_text
from tradeforge.analytics.format import (
    BREAKDOWN_VIEW,
    COLUMN_FORMATS,
    KEY_METRICS,
    SECTION_TITLES,
    fmt,
    sign,
    trade_paths_line,
)
from tradeforge.analytics.indicators import Indicators, strategy_features, strategy_indicators
from tradeforge.analytics.report import NO_TRADES, Report, build_report
from tradeforge.analytics.schema import SCHEMA_VERSION
from tradeforge.core.atomic import atomic_write_bytes
from tradeforge.core.paths import user_path
from tradeforge.trading.result import BacktestResult

if TYPE_CHECKING:
    from tradeforge.analytics.tradepath import TradePaths

CHARTS_DIR = "charts"


@dataclass
class ReportPaths:
    """Where a report was written (and the report itself, for printing a summary)."""

    out_dir: Path
    json: Path
    txt: Path
    html: Path
    charts: list[Path] = field(default_factory=list)
    report: Report | None = field(default=None, repr=False)


def _write(path: Path, data: str | bytes) -> None:
    atomic_write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data, durable=False)


def write_report(
    result: BacktestResult,
    out_dir: str | Path,
    ohlc: Mapping[str, pd.DataFrame] | None = None,
    signals: Mapping[str, Any] | None = None,
    charts: bool = True,
    *,
    report: Report | None = None,
    indicators: Mapping[str, Indicators] | None = None,
    paths: TradePaths | None = None,
    progress: Any = None,
    **chart_options: Any,
) -> ReportPaths:
    """Build (unless given) and write the report of ``result`` into ``out_dir``.

    ``indicators`` ({symbol: `Indicators`}) are the lines drawn over the candles of
    ``report.html`` and the trade charts; by default the run's strategy features, recomputed
    on ``ohlc`` (`strategy_indicators`); ``paths`` each trade's stops and targets and the
    signals, by default `trade_paths` of the run on ``ohlc`` (with ``signals``).
    ``chart_options`` go to `tradeforge.plotting.render_charts` (``n_best``, ``n_worst``,
    ``window``). ``progress(stage)`` (optional) is told each stage as it starts: indicators,
    trade paths, charts, report files. Returns the paths written, with ``.report`` set.
    """
    say = progress or (lambda _stage: None)
    out = user_path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep = report if report is not None else build_report(result)
    features = None  # the strategy's feature frames: computed once for indicators and paths
    if indicators is None:
        say("indicators")
        features = strategy_features(result.config, ohlc)
        indicators = strategy_indicators(result.config, ohlc, features)
    if paths is None:
        from tradeforge.analytics.tradepath import trade_paths

        say("trade paths")
        paths = trade_paths(result, ohlc, signals, features)
    rep = replace(rep, trade_paths=paths.tally(result.trades["trade_id"]))
    chart_paths: list[Path] = []
    if charts:
        from tradeforge.plotting import render_charts

        say("charts")
        chart_paths = render_charts(
            rep, result, out / CHARTS_DIR, ohlc, signals, indicators=indicators, paths=paths,
            **chart_options,
        )  # fmt: skip
    say("report files")
    files = ReportPaths(
        out_dir=out,
        json=out / "report.json",
        txt=out / "report.txt",
        html=out / "report.html",
        charts=chart_paths,
        report=rep,
    )
    _write(files.json, rep.to_json())
    _write(files.txt, render_text(rep))
    _write(files.html, render_html(rep, chart_paths, result, ohlc, indicators, paths))
    return files


# -- HTML ---------------------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1180px;color:#222;font-size:14px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid
#ddd;padding-bottom:4px}.sub{color:#666;margin-top:0}.grid{display:flex;gap:28px;
flex-wrap:wrap;align-items:flex-start}table{border-collapse:collapse;margin:6px 0 12px}td,th{padding:3px 10px;
border-bottom:1px solid #eee;text-align:right;white-space:nowrap}th{background:#f5f7fa}
td.l,th.l{text-align:left}.pos{color:#2e7d32}.neg{color:#c62828}.warn{background:#fff3cd;
padding:10px 14px;border:1px solid #e0c36c;border-radius:4px;font-weight:bold}
img{max-width:100%;border:1px solid #eee;margin:8px 0}.note{color:#555}
""".strip()


def _cls(value: Any, column: str) -> str:
    if column not in {"net_profit", "expectancy", "expectancy_r", "return_pct"}:
        return ""
    return {1: ' class="pos"', -1: ' class="neg"', 0: ""}[sign(value)]


def _key_tables(report: Report) -> str:
    parts = ['<div class="grid">']
    for section, rows in KEY_METRICS.items():
        parts.append(f"<table><tr><th class=l colspan=2>{SECTION_TITLES[section]}</th></tr>")
        values = report.summary[section]
        for key, label, kind in rows:
            v = values.get(key)
            parts.append(
                f"<tr><td class=l>{html.escape(label)}</td>"
                f"<td{_cls(v, key)}>{html.escape(fmt(v, kind))}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</div>")
    return "".join(parts)


def frame_html(frame: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> str:
    head = "".join(
        f"<th{' class=l' if COLUMN_FORMATS.get(c, (c, 'text'))[1] == 'text' else ''}>"
        f"{html.escape(COLUMN_FORMATS.get(c, (c, 'text'))[0])}</th>"
        for c in columns
    )
    rows = []
    data = [frame[c].tolist() for c in columns]
    for row in zip(*data, strict=True):
        cells = []
        for c, v in zip(columns, row, strict=True):
            kind = COLUMN_FORMATS.get(c, (c, "text"))[1]
            cls = " class=l" if kind == "text" else _cls(v, c)
            cells.append(f"<td{cls}>{html.escape(fmt(v, kind))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _stability_html(stab: dict | None, title: str) -> str:
    if not stab:
        return ""
    cols = ["window", "start", "end", "trades", "net_profit", "win_rate_pct", "profit_factor"]
    cols += ["expectancy", "expectancy_r", "return_pct", "max_drawdown_pct"]
    note = (
        f"Profitable windows {stab['profitable_windows']}/{stab['windows']} "
        f"({fmt(stab['profitable_share_pct'], 'pct')}). Expectancy per window: mean "
        f"{fmt(stab['expectancy_r_mean'], 'r')}, std {fmt(stab['expectancy_r_std'], 'ratio')}R, "
        f"cv {fmt(stab['expectancy_r_cv'], 'ratio')}."
    )
    return (
        f"<h2>{html.escape(title)}</h2>"
        + frame_html(stab["table"], cols)
        + f"<p class=note>{html.escape(note)}</p>"
    )


def summary_html(report: Report, heading: str = "") -> str:
    """The title, run line and key metric tables (the notebook view of a report), the tables
    under an ``<h2>`` ``heading`` when given."""
    title = "tradeforge report — " + (", ".join(report.run["symbols"]) or "run")
    parts = [f"<h1>{html.escape(title)}</h1><p class=sub>{html.escape(header_line(report))}</p>"]
    if report.no_trades:
        parts.append(f"<p class=warn>{NO_TRADES}: the run closed no trades.</p>")
    if heading:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
    parts.append(_key_tables(report))
    return "\n".join(parts)


def render_html(
    report: Report,
    chart_paths: list[Path] | None = None,
    result: BacktestResult | None = None,
    ohlc: Mapping[str, pd.DataFrame] | None = None,
    indicators: Mapping[str, Indicators] | None = None,
    paths: TradePaths | None = None,
) -> str:
    """One self-contained, offline page. With ``result``: interactive (Bokeh, inlined; see
    `tradeforge.analytics.interactive`): candles with trades and the strategy's
    ``indicators``, each trade's stops and targets and the signals (``paths``, by default
    `trade_paths` on ``ohlc``), equity and drawdown on one zoomable time axis, a sortable
    trade table that zooms the chart to the selected trade, R-multiple histogram and monthly
    returns, closed P&L per tag and per symbol beside their tables; then the other tables.
    The PNG charts stay in ``charts/`` (linked, not embedded)."""
    title = "tradeforge report — " + (", ".join(report.run["symbols"]) or "run")
    head, script, divs = "", "", {}
    if result is not None and len(result.equity):
        from tradeforge.analytics import interactive

        if paths is None:
            from tradeforge.analytics.tradepath import trade_paths

            paths = trade_paths(result, ohlc)
        script, divs = interactive.interactive_components(report, result, ohlc, indicators, paths)
        head = interactive.bokeh_resources()
        if report.trade_paths is None:
            report = replace(report, trade_paths=paths.tally(result.trades["trade_id"]))
    body = [summary_html(report, "Key metrics")]
    if divs and not report.no_trades:
        body.append(_verified_note(report.trade_paths))
    if divs:
        body.append("<h2>Price, equity and drawdown</h2>")
        body.append(
            "<p class=note>Wheel: zoom time; drag: pan; select a trade in the table to zoom to "
            "it; click a column header to sort. Zoomed in, each trade shows its stop (red: "
            "initial, black: break-even, orange: trailing), its targets (solid: filled, "
            "dashed: not filled) and the strategy's signals (grey triangles).</p>"
        )
        body.append(divs["charts"])
        if not report.no_trades:
            body.append("<h2>Trades</h2>" + divs["table"])
        body.append("<h2>Distribution</h2>" + divs["dist"])
    if not report.no_trades:
        for name, frame in report.breakdowns.items():
            body.append(f"<h2>By {html.escape(name.replace('_', ' '))}</h2>")
            body.append(frame_html(frame, (name, *BREAKDOWN_VIEW)))
            if f"by_{name}" in divs:
                body.append(divs[f"by_{name}"])
        body.append(_stability_html(report.stability.get("equal"), "Stability: equal windows"))
        body.append(_stability_html(report.stability.get("yearly"), "Stability: calendar years"))
    yearly = report.periods["yearly"]
    if len(yearly):
        body.append("<h2>Yearly returns</h2>")
        body.append(frame_html(yearly, list(yearly.columns)))
    if chart_paths:
        links = " · ".join(
            f'<a href="{CHARTS_DIR}/{html.escape(p.name)}">{html.escape(p.stem)}</a>'
            for p in sorted(chart_paths)
        )
        body.append(f"<h2>PNG charts</h2><p class=note>{links}</p>")
    body.append(f"<p class=note>report schema {SCHEMA_VERSION}; all times UTC.</p>")
    page = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>{head}</head><body>\n"
        + "\n".join(body)
        + f"\n{script}\n</body></html>\n"
    )
    if divs:
        from tradeforge.analytics.interactive import stable_ids

        page = stable_ids(page)
    return page


def _verified_note(tally: Mapping[str, Any] | None) -> str:
    """How many trades' drawn paths were verified (`TradePaths.tally`)."""
    return (
        f"<p class=note id=verified><b>{html.escape(trade_paths_line(tally))}</b> — replayed "
        "through the backtest's rules, they reproduced their recorded exits, so their stop "
        "moves and every target are drawn; the others show only what the run recorded "
        "(initial stop, filled targets). The trade table's <i>verified</i> column says "
        "which.</p>"
    )


def notebook_html(report: Report, figure: Any, height: int = 900) -> str:
    """The notebook view: the summary tables, then ``figure`` (a Bokeh model) on its own
    offline page inside an ``<iframe srcdoc>``, so its BokehJS neither needs a notebook
    extension nor meets another Bokeh version loaded in the notebook."""
    page = standalone_page("tradeforge", [figure])
    return (
        summary_html(report)
        + f'\n<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;'
        + f'height:{int(height)}px;border:0" sandbox="allow-scripts"></iframe>'
    )


def standalone_page(title: str, blocks: list[Any]) -> str:
    """A self-contained, offline page in the report's style: ``blocks`` in order, each an
    HTML string or a Bokeh model (rendered with BokehJS inlined and deterministic ids, as
    `render_html`). The research pages (optimisation, walk-forward, consistency) use it."""
    from bokeh.embed import components

    from tradeforge.analytics import interactive

    models = {f"block{i}": b for i, b in enumerate(blocks) if not isinstance(b, str)}
    script, divs = components(models) if models else ("", {})
    body = [b if isinstance(b, str) else divs[f"block{i}"] for i, b in enumerate(blocks)]
    head = interactive.bokeh_resources() if models else ""
    page = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>{head}</head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n" + "\n".join(body) + f"\n{script}\n</body></html>\n"
    )
    return interactive.stable_ids(page)
