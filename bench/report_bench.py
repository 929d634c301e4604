"""Reporting benchmark: `build_report` (all metrics and tables, no charts) and the chart set on
a synthetic result of the reference size (~50,000 trades, ~736,000 M5 equity points).

Also the interactive ``report.html`` (Bokeh), with the reference strategy's (``structure``)
indicators computed on the bars (five price-scale lines, two ATR lines in a pane): its build
time and size and, when Playwright and Debian's Chromium are installed, the time Chromium
takes to open it until the page (charts and trade table) is drawn.

Bars: ``python bench/report_bench.py`` -> build_report < 0.3 s, charts < 5 s, report.html
built < 10 s, < 25 MB and drawn by Chromium in < 3 s. Prints the timings (best and median of
``--repeat`` runs) and writes them to ``bench/results/report.json``.

The render time depends on the machine and its load, so the same browser also opens a
yardstick: a page of one small Bokeh figure with the same inlined BokehJS (what any report
pays to load the library); the report's render is given as a ratio to it, and the page's
data as its largest sources (what dominates the size).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tradeforge.analytics.sample import CHROMIUM, CHROMIUM_ARGS

RESULTS = Path(__file__).with_name("results")
BUILD_BAR_S, CHARTS_BAR_S = 0.3, 5.0
HTML_BAR_S, HTML_BAR_MB = 10.0, 25.0
RENDER_BAR_S = 3.0  # first render of report.html in Chromium
#: the reference benchmark's strategy, whose features the page draws
REFERENCE_STRATEGY = {"strategy": {"name": "structure", "params": {}}, "timeframe": "M5"}


def first_render_s(pages: dict[str, Path], rounds: int = 2) -> dict[str, float] | None:
    """Best seconds, per page, from navigation until Chromium has drawn it (its Bokeh
    document idle, and a trade table's rows when it has one), over ``rounds`` rounds of
    opening every page in turn in one browser; None when there is no browser here."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.exists():
        return None
    best: dict[str, float] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        for _ in range(rounds):
            for name, page in pages.items():
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})
                t0 = time.perf_counter()
                tab.goto(page.as_uri(), timeout=300_000)
                tab.wait_for_function("window.Bokeh && Bokeh.documents.length > 0",
                                      timeout=300_000)  # fmt: skip
                if tab.evaluate("() => !!Bokeh.documents[0].get_model_by_name('trade_table')"):
                    tab.wait_for_selector(".slick-row", timeout=300_000)
                tab.wait_for_function("() => Bokeh.documents[0].is_idle", timeout=300_000)
                elapsed = time.perf_counter() - t0
                tab.close()
                best[name] = min(elapsed, best.get(name, elapsed))
        browser.close()
    return best


def yardstick_page() -> str:
    """One small Bokeh figure on a page built like the report (BokehJS inlined)."""
    from bokeh.plotting import figure

    from tradeforge.analytics.writers import standalone_page

    p = figure(height=200, width=400)
    p.line([1, 2, 3], [1, 3, 2])
    return standalone_page("yardstick", [p])


def largest_sources(report, result, ohlc, indicators, n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` data sources of the page holding the most serialized bytes (MB)."""
    from bokeh.core.serialization import Serializer
    from bokeh.document import Document
    from bokeh.models import ColumnDataSource

    from tradeforge.analytics.interactive import report_models
    from tradeforge.analytics.tradepath import trade_paths

    doc = Document()
    models = report_models(report, result, ohlc, indicators, trade_paths(result, ohlc))
    for root in models.values():
        doc.add_root(root)
    encode = Serializer(deferred=False).encode
    sizes = [
        (str(m.name), sum(len(json.dumps(encode(v))) for v in m.data.values()) / 1e6)
        for m in doc.models
        if isinstance(m, ColumnDataSource)
    ]
    return sorted(sizes, key=lambda x: -x[1])[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=50_000)
    parser.add_argument("--bars", type=int, default=736_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chart-repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "report.json")
    args = parser.parse_args(argv)

    from tradeforge.analytics import build_report
    from tradeforge.analytics.sample import sample_result

    t0 = time.perf_counter()
    result, ohlc = sample_result(args.trades, args.bars, seed=42, max_hold=100, edge=0.6)
    setup_s = time.perf_counter() - t0
    print(
        f"synthetic result: {len(result.trades):,} trades, {len(result.equity):,} equity "
        f"points ({setup_s:.2f} s to generate, not timed)"
    )

    build = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        report = build_report(result)
        build.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    from tradeforge.plotting import render_charts

    import_s = time.perf_counter() - t0
    charts, n_charts = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.chart_repeat):
            t0 = time.perf_counter()
            n_charts = len(render_charts(report, result, Path(tmp) / str(i), ohlc))
            charts.append(time.perf_counter() - t0)

    from tradeforge.analytics.indicators import strategy_indicators
    from tradeforge.analytics.writers import render_html

    t0 = time.perf_counter()
    indicators = strategy_indicators(REFERENCE_STRATEGY, ohlc)
    indicators_s = time.perf_counter() - t0
    lines = len(next(iter(indicators.values())).columns) if indicators else 0
    html_s, html_bytes, render_s, yardstick_s = [], 0, None, None
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.chart_repeat):
            t0 = time.perf_counter()
            page = render_html(report, [], result, ohlc, indicators).encode("utf-8")
            html_s.append(time.perf_counter() - t0)
        html_bytes = len(page)
        paths = {"report": Path(tmp) / "report.html", "yardstick": Path(tmp) / "yardstick.html"}
        paths["report"].write_bytes(page)
        paths["yardstick"].write_text(yardstick_page())
        rendered = first_render_s(paths)
        if rendered is not None:
            render_s, yardstick_s = rendered["report"], rendered["yardstick"]
    html_mb = html_bytes / 1e6
    sources = largest_sources(report, result, ohlc, indicators)

    out = {
        "trades": len(result.trades),
        "equity_points": len(result.equity),
        "build_report_s": {"best": min(build), "median": statistics.median(build)},
        "charts_s": {"best": min(charts), "median": statistics.median(charts)},
        "charts": n_charts,
        "plotting_import_s": import_s,
        "indicators_s": indicators_s,
        "indicator_lines": lines,
        "report_html_s": {"best": min(html_s), "median": statistics.median(html_s)},
        "report_html_mb": round(html_mb, 2),
        "report_html_first_render_s": render_s,
        "yardstick_first_render_s": yardstick_s,
        "report_html_largest_sources_mb": dict(sources),
        "bars_s": {"build_report": BUILD_BAR_S, "charts": CHARTS_BAR_S, "report_html": HTML_BAR_S},
        "bar_report_html_mb": HTML_BAR_MB,
        "bar_report_html_first_render_s": RENDER_BAR_S,
    }
    print(
        f"build_report : best {min(build):.3f} s, median {statistics.median(build):.3f} s "
        f"(bar {BUILD_BAR_S} s)"
    )
    print(
        f"charts ({n_charts}): best {min(charts):.2f} s, median "
        f"{statistics.median(charts):.2f} s (bar {CHARTS_BAR_S} s; +{import_s:.2f} s "
        "first import of matplotlib)"
    )
    print(f"indicators   : {lines} lines of the structure strategy in {indicators_s:.2f} s")
    shown = "no Chromium/Playwright here"
    if render_s is not None and yardstick_s is not None:
        shown = (
            f"{render_s:.2f} s, {render_s / yardstick_s:.1f}x the yardstick page of one small "
            f"figure ({yardstick_s:.2f} s in the same browser)"
        )
    print(
        f"report.html  : best {min(html_s):.2f} s, {html_mb:.1f} MB (bars {HTML_BAR_S} s, "
        f"{HTML_BAR_MB} MB); first render in Chromium: {shown} (bar {RENDER_BAR_S} s)"
    )
    print("  largest data: " + ", ".join(f"{name} {mb:.2f} MB" for name, mb in sources))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    ok = min(build) < BUILD_BAR_S and min(charts) < CHARTS_BAR_S
    ok = ok and min(html_s) < HTML_BAR_S and html_mb < HTML_BAR_MB
    ok = ok and (render_s is None or render_s < RENDER_BAR_S)
    print("OK" if ok else "SLOWER THAN THE BAR")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
