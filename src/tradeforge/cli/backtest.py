"""``tradeforge backtest``: run a strategy on cached bars and write the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradeforge.cli.common import (
    HomeOption,
    InstrumentsOption,
    console,
    expand_user,
    home_dir,
    iso_time,
    load_frames,
    load_instruments,
    progress_bar,
    run_options,
    run_spec,
    stages,
    symbol_names,
    with_options,
)

if TYPE_CHECKING:
    from tradeforge.trading.spec import RunSpec


def run_and_write(
    strategy: Any,
    frames: Any,
    spec: RunSpec,
    out: Path,
    *,
    conversion: dict[str, Any] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    stream_days: int | None = None,
) -> Any:
    """Library call behind the command: run, write the folder, print a summary table.

    ``frames`` is ``{symbol: bars}`` or a `StoreSlice` (each job reads its symbol; the
    report then has no candle charts). With ``stream_days`` the run is streamed
    in windows of that many days (`run_streamed`: bounded memory, the same files) and the report
    is built from the written folder. The folder is written beside ``out`` and renamed into
    place complete (`staged_folder`): Ctrl-C leaves the previous folder or none."""
    import pandas as pd

    from tradeforge.analytics import load_run, print_summary, write_report
    from tradeforge.backtest import run_backtest, write_result
    from tradeforge.backtest.io import execution_notes, staged_folder
    from tradeforge.backtest.stream import run_streamed

    ohlc = frames if isinstance(frames, dict) else None
    with staged_folder(out) as folder:
        with progress_bar("backtest", len(spec.symbols)) as advance:

            def stage(symbol: str | None, name: str) -> None:
                text = f"backtest {symbol}: {name}" if symbol else f"backtest: {name}"
                advance(0, description=text)

            options: dict[str, Any] = dict(
                conversion=conversion,
                workers=workers,
                scheduler=scheduler,
                progress=lambda _sym, _done, _total: advance(),
                stage=stage,
            )
            if stream_days is not None:
                window = pd.Timedelta(days=stream_days)
                result = run_streamed(strategy, frames, spec, folder, chunk=window, **options)
            else:
                result = run_backtest(strategy, frames, spec, **options)
        with stages("backtest") as step:
            if stream_days is not None:
                step("report")
                full = load_run(folder)
                paths = write_report(full, folder, ohlc=ohlc, progress=step)
            else:
                step("run folder")
                write_result(result, folder)
                paths = write_report(
                    result, folder, ohlc=ohlc, signals=result.signals, progress=step
                )
    paths = type(paths)(**{k: _moved(v, folder, out) for k, v in vars(paths).items()})
    print_summary(paths.report, console, paths)
    counters = ", ".join(f"{k} {v:,}" for k, v in result.counters.items())
    console.print(f"[dim]counters:[/] {counters}")
    for note in execution_notes(result.config):
        console.print(f"[dim]note:[/] {note}")
    ex = result.execution
    console.print(f"[dim]executed:[/] {ex['backend']} × {ex['workers']} ({ex['reason']})")
    console.print(f"run folder: {out} (trades.csv, legs.csv, equity.csv, run.json)")
    return result


def _moved(value: Any, stage: Path, out: Path) -> Any:
    """A path written into the staging folder, as it is now under ``out``."""
    if isinstance(value, Path) and value.is_relative_to(stage):
        return out / value.relative_to(stage)
    if isinstance(value, (list, tuple)):
        return type(value)(_moved(v, stage, out) for v in value)
    if isinstance(value, dict):
        return {k: _moved(v, stage, out) for k, v in value.items()}
    return value


@with_options([], run_options())
def backtest_command(
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="Registered strategy name, e.g. sma_cross.")
    ] = None,
    symbol: Annotated[
        list[str],
        typer.Option("--symbol", "-s", help="Symbol (repeat for several).", callback=symbol_names),
    ] = ["EURUSD"],  # noqa: B006
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="Bar timeframe.")] = "H1",
    start: Annotated[
        str | None, typer.Option(help="First bar (UTC), e.g. 2019-01-01.", callback=iso_time)
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="End, exclusive (UTC).", callback=iso_time)
    ] = None,
    param: Annotated[
        list[str], typer.Option("--param", "-p", help="Strategy parameter name=value (repeat).")
    ] = [],  # noqa: B006
    config: Annotated[
        Path | None, typer.Option(help="YAML/TOML file: strategy and/or params.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Run folder to write.", callback=expand_user)] = Path(
        "runs/backtest"
    ),
    workers: Annotated[
        int,
        typer.Option(
            help="Threads running symbols in parallel (serial when the work is too small to "
            "pay; the output says which ran).",
            min=1,
        ),
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address (tcp://host:8786): the symbols run on its workers, "
            "which read the bars from --home (a path every worker can read)."
        ),
    ] = None,
    store_url: Annotated[
        str | None,
        typer.Option(
            help="Read the bars from this fsspec URL of a bar store (file:///shared/tf, "
            "s3://bucket/tf with s3fs installed) instead of --home: each job, on a Dask "
            "worker too, reads its own symbol from there.",
        ),
    ] = None,
    stream: Annotated[
        int | None,
        typer.Option(
            help="Stream the run in windows of this many days: each symbol's kernel inputs "
            "(a shared portfolio) or run (sub-accounts) are spilled to disk and the run "
            "folder is written as the windows run, so a large universe needs memory for one "
            "window, not all its bars (same files).",
            min=1,
        ),
    ] = None,
    home: HomeOption = None,
    instruments: InstrumentsOption = None,
    **kw: Any,
) -> None:
    """Backtest a strategy on cached bars; writes trades.csv, legs.csv, equity.csv, run.json."""
    from tradeforge.backtest.conversion import load_conversion
    from tradeforge.backtest.runner import start_kernel_compile
    from tradeforge.strategy import resolve_strategy

    load_instruments(instruments)
    strat = resolve_strategy(strategy, param, config)
    spec = run_spec(kw, strat, symbols=symbol, timeframe=timeframe, start=start, end=end)
    # on a cold cache the kernel compiles while the bars load (a streamed run's loop is called
    # with other argument types: the spilled arrays, memory-mapped)
    if stream is None:
        start_kernel_compile(spec, in_process=not scheduler)
    where: str | Path = home_dir(home)  # the bar store: traded and conversion bars alike
    if scheduler or store_url:
        from tradeforge.data.cache import ParquetStore, StoreSlice, is_url

        if store_url:
            if not is_url(store_url):
                raise typer.BadParameter("give a URL (scheme://…)", param_hint="--store-url")
            ParquetStore(store_url)  # an unknown scheme or a missing package: one line
            where = store_url
        frames: Any = StoreSlice(str(where), str(spec.timeframe), start, end)
    else:
        frames = load_frames(where, list(spec.symbols), str(spec.timeframe), start, end)
    spec, conversion = load_conversion(spec, where)
    if stream is not None and len(spec.symbols) < 2:
        raise typer.BadParameter("--stream runs several symbols", param_hint="--stream")
    run_and_write(
        strat, frames, spec, out, conversion=conversion, workers=workers, scheduler=scheduler,
        stream_days=stream,
    )  # fmt: skip


def run_demo_backtest(*, frames: dict, out: Path, timeframe: str) -> Any:
    """`sma_cross` with its defaults on the demo bars (called by ``tradeforge demo``)."""
    from tradeforge.strategy import create_strategy

    strategy = create_strategy("sma_cross")
    from tradeforge.trading.spec import RunSpec

    spec = RunSpec.for_strategy(strategy, symbols=tuple(frames), timeframe=timeframe)
    return run_and_write(strategy, frames, spec, out)


def register(app: typer.Typer) -> None:
    """Add the ``backtest`` command to the root app."""
    app.command("backtest")(backtest_command)
