"""`Backtest`: bars + a strategy + friendly settings, validated at once; `run` backtests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradeforge.api.inputs import (
    Bars,
    StrategyLike,
    bars_of,
    execution_of,
    sizing_of,
    strategy_of,
)
from tradeforge.api.run import BacktestRun
from tradeforge.backtest import run_backtest
from tradeforge.trading.execution import ExecutionModel, Sizing
from tradeforge.trading.fx import Conversion
from tradeforge.trading.spec import RunSpec


class Backtest:
    """A backtest ready to run; every input is checked here (`ConfigError` naming the problem).

    * ``bars``: a DataFrame (give ``symbol=``) or ``{symbol: DataFrame}`` of UTC OHLCV bars;
    * ``strategy``: a registered name (``"sma_cross"``), a `Strategy` class or instance;
      its parameters as keywords (``fast=10``) or ``params={...}``;
    * costs: ``commission`` (money per lot per side), ``spread`` (pips or ``"data"``),
      ``slippage`` (pips, ``"atr:0.05"``, ``"random:1"``), ``swap_long``/``swap_short``,
      ``slippage_seed`` — or a ready ``execution=ExecutionModel(...)``;
    * ``sizing``: lots (``0.1``), ``"fixed:0.1"``, ``"risk:1"`` (% of balance) or a `Sizing`;
    * ``capital``, ``portfolio`` (``"shared"``: several symbols trade one balance of
      ``capital``; ``"sub-accounts"``: each symbol its own ``capital``),
      ``position_mode`` (``"symbol"`` or ``"tag"``), ``timeframe``
      (inferred from the bars when omitted), ``account_currency`` and ``conversion`` (see
      `tradeforge.backtest.run_backtest`), ``workers`` (symbols in parallel processes).
    """

    def __init__(
        self,
        bars: Bars,
        strategy: StrategyLike,
        *,
        symbol: str | None = None,
        timeframe: str | None = None,
        capital: float = 100_000.0,
        sizing: Sizing | str | float = 1.0,
        execution: ExecutionModel | None = None,
        commission: float | None = None,
        spread: str | float | None = None,
        slippage: str | float | None = None,
        swap_long: float | None = None,
        swap_short: float | None = None,
        slippage_seed: int | None = None,
        position_mode: str = "symbol",
        portfolio: str = "shared",
        account_currency: str | None = None,
        conversion: Conversion | None = None,
        workers: int = 1,
        params: Mapping[str, Any] | None = None,
        **strategy_params: Any,
    ) -> None:
        self.bars = bars_of(bars, symbol)
        self.strategy = strategy_of(strategy, {**dict(params or {}), **strategy_params})
        # the run specification checks every setting here, not at `run()`
        self.spec = RunSpec.from_keywords(
            self.strategy,
            self.bars,
            conversion,
            execution=execution_of(
                execution,
                commission=commission,
                spread=spread,
                slippage=slippage,
                swap_long=swap_long,
                swap_short=swap_short,
                slippage_seed=slippage_seed,
            ),
            sizing=sizing_of(sizing),
            timeframe=timeframe,
            initial_capital=capital,
            position_mode=position_mode,
            portfolio=portfolio,
            account_currency=account_currency,
        )
        self.conversion = conversion
        self.workers = workers

    @property
    def execution(self) -> ExecutionModel:
        return self.spec.execution

    @property
    def sizing(self) -> Sizing:
        return self.spec.sizing

    def run(self) -> BacktestRun:
        """Features → signals → simulation for every symbol (`run_backtest`)."""
        result = run_backtest(
            self.strategy, self.bars, self.spec, conversion=self.conversion, workers=self.workers
        )
        return BacktestRun(result, self.bars)

    def __repr__(self) -> str:
        return (
            f"Backtest({self.strategy!r} on {', '.join(self.bars)}, "
            f"sizing={self.sizing.mode}:{self.sizing.value:g}, "
            f"capital={self.spec.initial_capital:,.0f})"
        )
