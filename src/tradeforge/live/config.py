"""`EngineConfig`: what one strategy instance runs (strategy, symbol, timeframe) and how it
trades."""

from __future__ import annotations

from dataclasses import dataclass, field

from tradeforge.core.errors import ConfigError
from tradeforge.core.timeframes import Timeframe
from tradeforge.live.guards import RiskLimits
from tradeforge.live.model import Identity
from tradeforge.trading.execution import ExecutionModel, Sizing


@dataclass(frozen=True)
class EngineConfig:
    """``strategy_name`` names the instance (its client ids carry it); ``strategy`` is the
    registered strategy it runs when the two differ (a session's instances)."""

    strategy_name: str
    symbol: str
    timeframe: str
    window: int = 300  # bars handed to the strategy on each closed candle
    sizing: Sizing = field(default_factory=lambda: Sizing("risk", 1.0))
    execution: ExecutionModel = field(default_factory=ExecutionModel)
    limits: RiskLimits = field(default_factory=RiskLimits)
    position_mode: str = "symbol"  # one position per symbol, or per tag
    exit_mode: str = "bar"  # "bar": exits on closed bars (= backtest); "tick": on every tick
    close_at_end: bool = False  # replay: close what is open at the last bar's close ("end")
    max_lots: float | None = None
    leverage: float = 100.0
    orphans: str = "close"  # broker positions nobody knows: "close" or "ignore"
    strategy: str | None = None  # the registered strategy (None: ``strategy_name``)

    def __post_init__(self) -> None:
        if self.position_mode not in ("symbol", "tag"):
            raise ConfigError("position_mode must be 'symbol' or 'tag'")
        if self.exit_mode not in ("bar", "tick"):
            raise ConfigError("exit_mode must be 'bar' or 'tick'")
        if self.orphans not in ("close", "ignore"):
            raise ConfigError("orphans must be 'close' or 'ignore'")
        if self.window < 2:
            raise ConfigError("window must be >= 2 bars")
        Timeframe.parse(self.timeframe)

    def identity(self) -> Identity:
        return Identity(self.strategy or self.strategy_name, self.symbol.upper(), self.timeframe)
