"""``tradeforge dry-run | live | status | kill``: run the live engine, inspect and stop it."""

from __future__ import annotations

import json
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
    load_instruments,
)
from tradeforge.core.errors import ConfigError

StateOption = Annotated[Path, typer.Option("--state", help="State directory of this session.")]
StrategyOpt = Annotated[str | None, typer.Option("--strategy", help="Registered strategy name.")]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="Strategy parameter k=v (repeatable).")
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Strategy config file.")]
SymbolOpt = Annotated[str | None, typer.Option("--symbol", "-s")]
TimeframeOpt = Annotated[str | None, typer.Option("--timeframe", "-t")]


def _echo(decision: dict[str, Any]) -> None:
    if decision["kind"] in ("order", "filled", "exit", "guard", "kill", "reconcile", "start"):
        console.print(
            f"[dim]{decision.get('time') or ''}[/] [bold]{decision['kind']}[/] {decision['reason']}",
            highlight=False,
        )


def _limits(
    max_daily_loss: float | None,
    max_drawdown: float | None,
    max_positions: int | None,
    stale_seconds: float | None,
    max_spread: float | None,
) -> dict[str, Any]:
    raw = {
        "max_daily_loss_pct": max_daily_loss,
        "max_drawdown_pct": max_drawdown,
        "max_positions": max_positions,
        "stale_seconds": stale_seconds,
        "max_spread_pips": max_spread,
    }
    return {k: v for k, v in raw.items() if v is not None}


def _strategy_params(strategy, params, config) -> tuple[str, dict[str, Any]]:
    from tradeforge.strategy.registry import resolve_strategy

    strat = resolve_strategy(strategy, params or [], config)
    return strat.name, strat.params.model_dump(mode="json")


def _print_summary(state_dir: Path) -> None:
    from tradeforge.live.engine import engine_summary
    from tradeforge.live.state import StateRepository

    state, report = StateRepository(state_dir).load(heal=False)  # read-only observer
    summary = engine_summary(state)
    console.print(f"[bold]state[/]: {report.message()}")
    console.print_json(json.dumps(summary, default=str))


def register(app: typer.Typer) -> None:
    """Add ``dry-run``, ``live``, ``status`` and ``kill`` to the root app."""

    @app.command("dry-run")
    def dry_run(
        state: StateOption,
        strategy: StrategyOpt = None,
        param: ParamOpt = None,
        config: ConfigOpt = None,
        symbol: SymbolOpt = None,
        timeframe: TimeframeOpt = None,
        replay: Annotated[
            str | None,
            typer.Option(
                help="START:END of the replay, e.g. 2024-01-01:2024-03-31 (START..END with times)."
            ),
        ] = None,
        bars: Annotated[
            Path | None, typer.Option(help="Parquet file of bars (else the cache).")
        ] = None,
        window: Annotated[int, typer.Option(help="Bars handed to the strategy per candle.")] = 300,
        sizing: Annotated[str, typer.Option(help="risk:PCT or fixed:LOTS.")] = "risk:1",
        spread: SpreadOption = "data",
        slippage: SlippageOption = None,
        commission: CommissionOption = 0.0,
        swap_long: SwapLongOption = 0.0,
        swap_short: SwapShortOption = 0.0,
        seed: SeedOption = 0,
        capital: Annotated[float, typer.Option(help="Paper account balance.")] = 100_000.0,
        leverage: float = 100.0,
        position_mode: Annotated[str, typer.Option(help="symbol or tag.")] = "symbol",
        close_at_end: Annotated[bool, typer.Option(help="Close open trades at the end.")] = False,
        max_lots: float | None = None,
        max_daily_loss: Annotated[float | None, typer.Option(help="Percent of day start.")] = None,
        max_drawdown: Annotated[float | None, typer.Option(help="Percent from the peak.")] = None,
        max_positions: int | None = None,
        stale_seconds: float | None = None,
        max_spread: Annotated[float | None, typer.Option(help="Pips.")] = None,
        pace: Annotated[float, typer.Option(help="Seconds per bar (0: full speed).")] = 0.0,
        home: HomeOption = None,
        instruments: InstrumentsOption = None,
    ) -> None:
        """Replay history through the live engine with a paper broker (resumable: run it again
        with only --state to continue after a stop or crash)."""
        from tradeforge.backtest.io import write_trades_csv
        from tradeforge.live.runner import DryRunSpec, run_dry, trades_frame

        load_instruments(instruments)
        spec = None
        if strategy or config or symbol or replay:
            if not (symbol and timeframe and replay):
                raise ConfigError("dry-run needs --symbol, --timeframe and --replay START:END")
            start, sep, end = replay.partition("..") if ".." in replay else replay.partition(":")
            if not sep or not start or not end:
                raise ConfigError(f"--replay must be START:END (or START..END), got {replay!r}")
            name, params = _strategy_params(strategy, param, config)
            spec = DryRunSpec(
                strategy=name,
                symbol=symbol.upper(),
                timeframe=timeframe,
                start=start,
                end=end,
                params=params,
                bars_file=str(bars) if bars else None,
                home=str(home) if home else None,
                window=window,
                sizing=sizing,
                spread=spread,
                slippage=slippage,
                commission=commission,
                swap_long=swap_long,
                swap_short=swap_short,
                slippage_seed=seed,
                capital=capital,
                leverage=leverage,
                position_mode=position_mode,
                close_at_end=close_at_end,
                max_lots=max_lots,
                limits=_limits(
                    max_daily_loss, max_drawdown, max_positions, stale_seconds, max_spread
                ),
                pace=pace,
            )
        engine = run_dry(state, spec, echo=_echo)
        trades = trades_frame(state)
        csv_path = write_trades_csv(trades, Path(state) / "trades.csv")
        console.print(
            f"[bold]dry-run[/] {engine.cfg.strategy_name} {engine.symbol} {engine.tf}: "
            f"{len(trades)} closed trade(s), P&L {trades['pnl'].sum():,.2f}, "
            f"balance {engine.broker.account().balance:,.2f}; state in {state}; "
            f"closed trades in {csv_path}"
        )

    @app.command("live")
    def live(
        state: StateOption,
        broker: Annotated[str, typer.Option(help="Broker adapter (mt5).")] = "mt5",
        strategy: StrategyOpt = None,
        param: ParamOpt = None,
        config: ConfigOpt = None,
        symbol: SymbolOpt = None,
        timeframe: TimeframeOpt = None,
        window: int = 300,
        sizing: str = "risk:1",
        max_lots: float | None = None,
        max_daily_loss: float | None = None,
        max_drawdown: float | None = None,
        max_positions: int | None = None,
        stale_seconds: Annotated[float | None, typer.Option()] = 30.0,
        max_spread: float | None = None,
        magic: Annotated[int, typer.Option(help="MT5 magic number of this session.")] = 240_601,
        instruments: InstrumentsOption = None,
    ) -> None:
        """Trade through a real broker (MetaTrader 5 terminal; Windows only)."""
        from tradeforge.live.runner import run_live

        load_instruments(instruments)
        if broker != "mt5":
            raise ConfigError(f"unknown broker {broker!r}; available: mt5")
        if not (symbol and timeframe):
            raise ConfigError("live needs --symbol and --timeframe")
        name, params = _strategy_params(strategy, param, config)
        run_live(
            state,
            strategy=name,
            params=params,
            symbol=symbol,
            timeframe=timeframe,
            window=window,
            sizing=sizing,
            max_lots=max_lots,
            limits=_limits(max_daily_loss, max_drawdown, max_positions, stale_seconds, max_spread),
            magic=magic,
            echo=_echo,
        )

    @app.command("status")
    def status(state: StateOption) -> None:
        """Positions, P&L and guard state of a session."""
        _print_summary(state)

    @app.command("kill")
    def kill(
        state: StateOption,
        reason: Annotated[str, typer.Option(help="Recorded in the journal.")] = "operator",
    ) -> None:
        """Kill switch: the running session closes everything and stops trading."""
        from tradeforge.live.guards import request_kill

        path = request_kill(state, reason)
        console.print(f"kill switch set ({path}); the engine closes everything on its next event")
