"""tradeforge.analytics: metrics, breakdowns, stability and report writers for backtest results.

Quick use::

    import tempfile
    from rich.console import Console
    from tradeforge.analytics import build_report, print_summary, write_report
    from tradeforge.backtest import run_backtest
    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.strategy import create_strategy

    bars = generate_bars("EURUSD", "H1", "2024-01-01", "2024-04-01", seed=1)
    result = run_backtest(create_strategy("sma_cross"), {"EURUSD": bars})
    report = build_report(result)            # all metrics and tables (fast, no charts)
    paths = write_report(result, tempfile.mkdtemp(), ohlc={"EURUSD": bars})
    print_summary(paths.report, Console(), paths)
"""

from __future__ import annotations

from tradeforge.analytics.compare import compare_reports
from tradeforge.analytics.console import print_summary, render_text
from tradeforge.analytics.report import Report, build_report, build_summary
from tradeforge.analytics.runio import RunFolderError, load_run
from tradeforge.analytics.schema import SCHEMA_VERSION
from tradeforge.analytics.writers import ReportPaths, write_report

__all__ = [
    "SCHEMA_VERSION",
    "Report",
    "ReportPaths",
    "RunFolderError",
    "build_report",
    "build_summary",
    "compare_reports",
    "load_run",
    "print_summary",
    "render_text",
    "write_report",
]
