"""`EngineContext`: what every step of the engine works with besides the state — the
configuration, instrument, strategy, feed and broker, and the numbers derived from them once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.live.brokers.base import Broker, client_order_id
from tradeforge.live.config import EngineConfig
from tradeforge.live.feeds import Feed
from tradeforge.live.model import PendingOrder, Position, QueuedEntry
from tradeforge.live.sizing import RiskSizer


@dataclass(frozen=True)
class EngineContext:
    cfg: EngineConfig
    strategy: Any
    feed: Feed
    broker: Broker
    dir: Path
    inst: Instrument

    @classmethod
    def build(
        cls,
        cfg: EngineConfig,
        strategy: Any,
        feed: Feed,
        broker: Broker,
        state_dir: str | Path,
        instrument: Instrument | None = None,
    ) -> EngineContext:
        inst = instrument or get_instrument(cfg.symbol)
        return cls(cfg, strategy, feed, broker, Path(state_dir), inst)

    @property
    def symbol(self) -> str:
        return self.inst.symbol

    @cached_property
    def tf(self) -> Timeframe:
        return Timeframe.parse(self.cfg.timeframe)

    @cached_property
    def step_ns(self) -> int:
        """One bar in nanoseconds."""
        return self.tf.seconds * 1_000_000_000

    @cached_property
    def comm_step(self) -> float:
        """Commission per side per lot step."""
        return self.cfg.execution.commission * self.inst.lot_step

    @cached_property
    def sizer(self) -> RiskSizer:
        return RiskSizer(self.cfg.sizing, self.cfg.max_lots, self.cfg.leverage)

    def bar_of(self, t: int) -> int:
        """Open time of the bar holding ``t`` (nanoseconds)."""
        return t - t % self.step_ns

    def spread(self, quoted: float) -> float:
        """The spread in force: the quoted one, or the execution model's fixed pips."""
        if self.cfg.execution.spread == "data":
            return quoted
        return float(self.cfg.execution.spread) * self.inst.pip_size

    def lots(self, steps: int) -> float:
        return round(steps * self.inst.lot_step, 8)

    def client_id(self, owner: Position | PendingOrder | QueuedEntry, action: str) -> str:
        """The idempotent broker client id of ``action`` on a position or pending order."""
        return client_order_id(
            self.cfg.strategy_name, self.symbol, owner.signal_time, owner.tag, action
        )
