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
    expand_user,
    home_dir,
    iso_time,
    load_frames,
    load_instruments,
    positive,
    progress_bar,
    symbol_names,
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
    account_currency: str | None = None,
    conversion: dict[str, Any] | None = None,
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
            account_currency=account_currency,
            conversion=conversion,
        )
    write_result(result, out)
    from tradeforge.analytics import print_summary, write_report

    with console.status("writing report and charts"):
        paths = write_report(result, out, ohlc=frames, signals=result.signals)
    print_summary(paths.report, console, paths)
    counters = ", ".join(f"{k} {v:,}" for k, v in result.counters.items())
    console.print(f"[dim]counters:[/] {counters}")
    for note in execution_notes(result.config):
        console.print(f"[dim]note:[/] {note}")
    console.print(f"run folder: {out} (trades.csv, legs.csv, equity.csv, run.json)")
    return result


def parse_fx_rates(items: list[str]) -> dict[str, float]:
    """``["GBPUSD=1.27", …]`` → ``{"GBPUSD": 1.27}`` (constant conversion rates)."""
    from tradeforge.core.errors import ConfigError

    rates: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = float("nan")
        if not sep or not name.strip() or not rate > 0 or rate == float("inf"):
            raise ConfigError(f"--fx-rate must be SYMBOL=RATE with a rate > 0, got {item!r}")
        rates[name.strip().upper()] = rate
    return rates


def load_conversion(
    home: Path,
    symbols: list[str],
    timeframe: str,
    start: str | None,
    end: str | None,
    account_currency: str | None,
    constants: dict[str, float],
) -> dict[str, Any]:
    """Conversion bars/rates the symbols need for ``account_currency``: constants first, else
    the cached bars of ``{QUOTE}{ACCOUNT}`` or ``{ACCOUNT}{QUOTE}`` on ``timeframe`` (from a
    little before ``start``, so the first bar has a completed conversion bar)."""
    import pandas as pd

    from tradeforge.core.errors import ConfigError, DataError
    from tradeforge.core.instruments import get_instrument
    from tradeforge.core.timeframes import Timeframe
    from tradeforge.core.timeutil import to_utc
    from tradeforge.data.cache import ParquetStore
    from tradeforge.trading.fx import plan_conversion

    conversion: dict[str, Any] = dict(constants)
    if account_currency is None:
        if conversion:
            raise ConfigError("--fx-rate needs --account-currency (money is in quote currency)")
        return conversion
    store = ParquetStore(home)
    first = to_utc(start, "start")
    if first is not None:
        first = first - max(pd.Timedelta(days=7), 3 * Timeframe.parse(timeframe).delta)
    for sym in symbols:
        plan = plan_conversion(get_instrument(sym), account_currency, conversion)
        if plan.symbol is None or plan.symbol in conversion:
            continue
        inverse = plan.symbol[3:] + plan.symbol[:3]
        for name in (plan.symbol, inverse):
            try:
                conversion[name] = store.load(name, timeframe, first, end)
                break
            except DataError:
                continue
        else:
            raise ConfigError(
                f"{sym.upper()} with a {account_currency} account needs {plan.symbol} "
                f"(or {inverse}) bars on {timeframe}: download them into the cache, or give "
                f"a constant with --fx-rate {plan.symbol}=RATE"
            )
    return conversion


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
    capital: Annotated[
        float, typer.Option(help="Initial capital per symbol.", callback=positive)
    ] = 100_000.0,
    account_currency: Annotated[
        str | None,
        typer.Option(
            help="Account currency of capital, PnL and sizing (default: each symbol's quote "
            "currency), e.g. USD."
        ),
    ] = None,
    fx_rate: Annotated[
        list[str],
        typer.Option(
            "--fx-rate",
            help="Constant conversion rate SYMBOL=RATE, e.g. GBPUSD=1.27 (repeat); else the "
            "conversion symbol's cached bars are used.",
        ),
    ] = [],  # noqa: B006
    workers: Annotated[int, typer.Option(help="Processes (symbols run in parallel).", min=1)] = 1,
    home: HomeOption = None,
    instruments: InstrumentsOption = None,
) -> None:
    """Backtest a strategy on cached bars; writes trades.csv, legs.csv, equity.csv, run.json."""
    from tradeforge.backtest import ExecutionModel, Sizing
    from tradeforge.core.timeframes import Timeframe
    from tradeforge.strategy import resolve_strategy
    from tradeforge.trading.fx import normalize_currency

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
    account = normalize_currency(account_currency)
    conversion = load_conversion(
        home_dir(home), list(frames), tf, start, end, account, parse_fx_rates(fx_rate)
    )
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
        account_currency=account,
        conversion=conversion or None,
    )


def run_demo_backtest(*, frames: dict, out: Path, timeframe: str) -> Any:
    """`sma_cross` with its defaults on the demo bars (called by ``tradeforge demo``)."""
    from tradeforge.backtest import ExecutionModel, Sizing
    from tradeforge.strategy import create_strategy

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
