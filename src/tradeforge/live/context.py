"""`EngineContext`: what every step of the engine works with besides the state — one strategy
instance's configuration, instrument, strategy, feed and the broker, and the numbers derived
from them once — and the `Desk` every instance of a session shares: all the instances'
contexts, the last quote of each symbol and the account's guards.

A step works on its instance's part of the state, ``new.strategies[ctx.name]`` (`book`);
what concerns the account (its equity, a global kill, the orphans of a reconciliation) goes
through the desk."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.live.brokers.base import Broker, client_order_id
from tradeforge.live.config import EngineConfig
from tradeforge.live.feeds import Feed, Tick
from tradeforge.live.guards import RiskLimits
from tradeforge.live.model import EngineState, PendingOrder, Position, QueuedEntry, StrategyState
from tradeforge.live.sizing import RiskSizer


@dataclass(eq=False)
class Desk:
    """What the instances of one session share (in memory; rebuilt on every start):
    ``contexts`` by instance name (sorted), the last quote of each symbol, the account's
    guards, each instance's window setting (None: derived from the strategy's warm-up,
    which a ``reload`` derives again), and the session's notifier when it runs with one
    (`tradeforge.notify.session.SessionNotifier`, which a ``notify_reload`` reconfigures)."""

    limits: RiskLimits = field(default_factory=RiskLimits)
    contexts: dict[str, EngineContext] = field(default_factory=dict)
    quotes: dict[str, Tick] = field(default_factory=dict)
    windows: dict[str, int | None] = field(default_factory=dict)
    notifier: Any = None
    #: broker positions under this engine's client ids that the state does not hold, found by
    #: the start-up reconciliation of a live broker: client id -> (ticket, symbol). An entry
    #: sent just before a crash, whose commit was lost: the redo of its event adopts it; one
    #: still here after its symbol's first bar is an orphan (`settle_in_doubt`)
    in_doubt: dict[str, tuple[int, str]] = field(default_factory=dict)

    def first_on(self, symbol: str) -> EngineContext:
        """The first instance (by name) trading ``symbol``."""
        return next(c for c in self.contexts.values() if c.symbol == symbol)


@dataclass(frozen=True)
class EngineContext:
    cfg: EngineConfig
    strategy: Any
    feed: Feed
    broker: Broker
    dir: Path
    inst: Instrument
    desk: Desk = field(default_factory=Desk, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        cfg: EngineConfig,
        strategy: Any,
        feed: Feed,
        broker: Broker,
        state_dir: str | Path,
        instrument: Instrument | None = None,
        desk: Desk | None = None,
    ) -> EngineContext:
        inst = instrument or get_instrument(cfg.symbol)
        return cls(cfg, strategy, feed, broker, Path(state_dir), inst, desk or Desk())

    @property
    def name(self) -> str:
        """The instance's name in its session (its client ids carry it)."""
        return self.cfg.strategy_name

    @property
    def symbol(self) -> str:
        return self.inst.symbol

    def book(self, state: EngineState) -> StrategyState:
        """This instance's part of ``state``."""
        return state.strategies[self.name]

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
