"""``tradeforge report RUN`` and ``tradeforge compare RUN_A RUN_B``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradeforge.cli.common import HomeOption, console, home_dir

RunArg = Annotated[Path, typer.Argument(help="Run folder written by `tradeforge backtest`.")]


def _no_candles(symbol: str, error: Exception) -> None:
    console.print(f"[yellow]no candlestick charts for {symbol}:[/] {error}")


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        run: RunArg,
        out: Annotated[
            Path | None, typer.Option(help="Where to write the report (default: the run folder).")
        ] = None,
        charts: Annotated[
            bool, typer.Option("--charts/--no-charts", help="Write PNG charts.")
        ] = True,
        trade_charts: Annotated[
            bool,
            typer.Option(
                "--trade-charts/--no-trade-charts",
                help="Candlestick charts of trades (need the run's cached bars, unchanged).",
            ),
        ] = True,
        best: Annotated[int, typer.Option(min=0, help="Charts of the N best trades.")] = 3,
        worst: Annotated[int, typer.Option(min=0, help="Charts of the N worst trades.")] = 3,
        window_start: Annotated[
            str | None, typer.Option(help="Chart this window (UTC) instead of best/worst trades.")
        ] = None,
        window_end: Annotated[
            str | None, typer.Option(help="End of --window-start's window.")
        ] = None,
        windows: Annotated[int, typer.Option(help="Equal windows of the stability table.")] = 4,
        home: HomeOption = None,
    ) -> None:
        """Rebuild the report (console, JSON, text, HTML, charts) of a saved run."""
        from tradeforge.analytics import build_report, load_run, print_summary, write_report
        from tradeforge.core.errors import ConfigError
        from tradeforge.core.timeutil import to_utc

        if (window_start is None) != (window_end is None):
            raise ConfigError("give both --window-start and --window-end, or neither")
        if windows < 1:
            raise ConfigError("--windows must be >= 1")
        result = load_run(run)
        from tradeforge.analytics.rundata import load_run_bars
        from tradeforge.data.cache import ParquetStore

        store = ParquetStore(home_dir(home))
        wanted = charts and trade_charts
        ohlc = load_run_bars(result, store, on_missing=_no_candles) if wanted else {}
        window = None
        if window_start is not None:
            window = (to_utc(window_start, "window start"), to_utc(window_end, "window end"))
        paths = write_report(
            result,
            out or run,
            ohlc,
            charts=charts,
            report=build_report(result, windows=windows),
            n_best=best,
            n_worst=worst,
            window=window,
        )
        print_summary(paths.report, console, paths)

    @app.command("compare")
    def compare(run_a: RunArg, run_b: RunArg) -> None:
        """Key metrics of two runs side by side, with B − A deltas."""
        from tradeforge.analytics import build_report, compare_reports, load_run
        from tradeforge.analytics.compare import compare_table

        a, b = build_report(load_run(run_a)), build_report(load_run(run_b))
        name_a, name_b = run_a.name or str(run_a), run_b.name or str(run_b)
        if name_a == name_b:
            name_a, name_b = str(run_a), str(run_b)
        console.print(compare_table(compare_reports(a, b), name_a, name_b))
