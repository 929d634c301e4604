"""tradeforge.analytics: metrics, breakdowns, stability and report writers for backtest results.

Typical use::

    report = build_report(result)            # all metrics and tables (fast, no charts)
    paths = write_report(result, "runs/x", ohlc={"EURUSD": bars})
    print_summary(paths.report, console, paths)
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
