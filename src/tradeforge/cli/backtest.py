"""``tradeforge backtest``: run a strategy on cached bars and write the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tradeforge.cli.common import (
    CommissionOption,
    HomeOption,
    InstrumentsOption,
    SeedOption,
    SlippageOption,
    SpreadOption,
    SwapLongOption,
    SwapShortOption,
    console,
    home_dir,
    load_frames,
    load_instruments,
    progress_bar,
)


def run_and_write(
    *,
    strategy: Any,
    frames: dict,
    timeframe: str,
    out: Path,
    execution: Any,
    sizing: Any,
    position_mode: str,
    capital: float,
    workers: int,
    extra_config: dict[str, Any] | None = None,
) -> Any:
    """Library call behind the command: run, write the folder, print a summary table."""
    from tradeforge.backtest import run_backtest, write_result
    from tradeforge.backtest.io import execution_notes

    with progress_bar("backtesting", len(frames)) as advance:
        result = run_backtest(
            strategy,
            frames,
            execution=execution,
            sizing=sizing,
            position_mode=position_mode,
            initial_capital=capital,
            timeframe=timeframe,
            workers=workers,
            progress=lambda _sym, _done, _total: advance(),
            extra_config=extra_config,
        )
    write_result(result, out)
    from tradeforge.analytics import print_summary, write_report

    with console.status("writing report and charts"):
        paths = write_report(result, out, ohlc=frames)
    print_summary(paths.report, console, paths)
    counters = ", ".join(f"{k} {v:,}" for k, v in result.counters.items())
    console.print(f"[dim]counters:[/] {counters}")
    for note in execution_notes(result.config):
        console.print(f"[dim]note:[/] {note}")
    console.print(f"run folder: {out} (trades.csv, legs.csv, equity.csv, run.json)")
    return result


def backtest_command(
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="Registered strategy name, e.g. sma_cross.")
    ] = None,
    symbol: Annotated[
        list[str], typer.Option("--symbol", "-s", help="Symbol (repeat for several).")
    ] = ["EURUSD"],  # noqa: B006
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="Bar timeframe.")] = "H1",
    start: Annotated[str | None, typer.Option(help="First bar (UTC), e.g. 2019-01-01.")] = None,
    end: Annotated[str | None, typer.Option(help="End, exclusive (UTC).")] = None,
    param: Annotated[
        list[str], typer.Option("--param", "-p", help="Strategy parameter name=value (repeat).")
    ] = [],  # noqa: B006
    config: Annotated[
        Path | None, typer.Option(help="YAML/TOML file: strategy and/or params.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path("runs/backtest"),
    spread: SpreadOption = "data",
    slippage: SlippageOption = None,
    commission: CommissionOption = 0.0,
    swap_long: SwapLongOption = 0.0,
    swap_short: SwapShortOption = 0.0,
    seed: SeedOption = 0,
    sizing: Annotated[str, typer.Option(help="Lots ('0.1', 'fixed:0.1') or 'risk:1' (%).")] = "1",
    position_mode: Annotated[
        str, typer.Option(help="'symbol' (one position per symbol) or 'tag' (one per tag).")
    ] = "symbol",
    capital: Annotated[float, typer.Option(help="Initial capital per symbol.")] = 100_000.0,
    workers: Annotated[int, typer.Option(help="Processes (symbols run in parallel).")] = 1,
    home: HomeOption = None,
    instruments: InstrumentsOption = None,
) -> None:
    """Backtest a strategy on cached bars; writes trades.csv, legs.csv, equity.csv, run.json."""
    from tradeforge.backtest import ExecutionModel, Sizing
    from tradeforge.core.timeframes import Timeframe
    from tradeforge.strategy import resolve_strategy

    load_instruments(instruments)
    strat = resolve_strategy(strategy, param, config)
    tf = Timeframe.parse(timeframe).name
    execution = ExecutionModel(
        spread=spread,
        commission=commission,
        swap_long=swap_long,
        swap_short=swap_short,
        seed=seed,
        **ExecutionModel.parse_slippage(slippage),
    )
    frames = load_frames(home_dir(home), list(symbol), tf, start, end)
    run_and_write(
        strategy=strat,
        frames=frames,
        timeframe=tf,
        out=out,
        execution=execution,
        sizing=Sizing.parse(sizing),
        position_mode=position_mode,
        capital=capital,
        workers=workers,
        extra_config={"start": start, "end": end},
    )


def run_demo_backtest(*, home: Path, out: Path, symbol: str, timeframe: str) -> Any:
    """`sma_cross` with its defaults on the demo data (called by ``tradeforge demo``)."""
    from tradeforge.backtest import ExecutionModel, Sizing
    from tradeforge.strategy import create_strategy

    frames = load_frames(home, [symbol], timeframe, None, None)
    return run_and_write(
        strategy=create_strategy("sma_cross"),
        frames=frames,
        timeframe=timeframe,
        out=out,
        execution=ExecutionModel(),
        sizing=Sizing(),
        position_mode="symbol",
        capital=100_000.0,
        workers=1,
    )


def register(app: typer.Typer) -> None:
    """Add the ``backtest`` command to the root app."""
    app.command("backtest")(backtest_command)
