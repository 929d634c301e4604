"""The engine state, typed. A session runs one or several strategy instances on one account:
each instance's `StrategyState` holds what it runs (strategy, symbol, timeframe, parameters,
window) and what it holds (positions with their exit-plan state, entry orders at the broker
and queued behind exits, the ATR snapshot, its counters and guard state); the session keeps
the account's daily and risk counters and totals, the last event applied, and the operator's
runtime control (pause / enable flags, blackout windows, and the commands acknowledged but not
applied yet: `tradeforge.live.control`).

Each class mirrors one JSON object of the stored state (same key names; `to_json` and
`from_json`); the repository stores, diffs and journals that JSON form
(`tradeforge.live.state`). `from_json` expects a body the loader has migrated
(`tradeforge.live.migrations`) and validated (`tradeforge.live.schema`); it copies every
container the engine mutates, so a working copy never changes the committed document.
Dataclasses rather than pydantic models: the engine builds a working copy on every tick, and
plain ``cls(**body)`` construction costs a fraction of model validation — validation runs
once, when a document is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
# One row of a strategy's `Signals` as `strategy_signals.signal_row` gives it (every column of
# the Signals schema, NaN as None): kept as that JSON record, since its columns follow the
# schema in `tradeforge.strategy`; never mutated, so copies of the state share it.
SignalRow = Json


def _plain(obj: Any) -> Json:
    """The fields of a flat dataclass as a JSON object (containers shared, not copied)."""
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Identity:
    """Which registered strategy, symbol and timeframe one instance of a session trades."""

    strategy: str
    symbol: str
    timeframe: str

    def to_json(self) -> Json:
        return _plain(self)


@dataclass(slots=True)
class PendingOrder:
    """An entry order the broker accepted and has not filled yet (keyed by client id)."""

    signal: SignalRow
    signal_time: int  # open time of the signal bar (ns)
    tag: str
    steps: int  # lot steps ordered
    lots: float
    bars_left: int | None  # closed bars a limit/stop entry still lives; None for market
    ref: float | None  # the price it was sized against (its fill's slippage); None: unknown

    def to_json(self) -> Json:
        return _plain(self)

    @classmethod
    def from_json(cls, body: Json) -> PendingOrder:
        return cls(**body)


@dataclass(slots=True)
class QueuedEntry:
    """An entry waiting for the next quote, behind the exits due at that open."""

    signal: SignalRow
    signal_time: int
    tag: str
    ref: float  # the reference entry price the size is computed from
    seq: int  # placing order among the queued entries

    def to_json(self) -> Json:
        return _plain(self)

    @classmethod
    def from_json(cls, body: Json) -> QueuedEntry:
        return cls(**body)


@dataclass(slots=True)
class Position:
    """A filled entry managed by the shared exit rules, and what its exit legs booked."""

    cid: str  # client id of the entry order
    trade_id: int
    ticket: int  # the broker's position ticket
    tag: str
    side: int  # +1 long, -1 short
    signal_time: int
    entry_time: int  # open time of the fill's bar (ns)
    entry_price: float
    entry_type: str
    fill_at_open: bool  # filled at its bar's open (else inside the bar)
    steps: int  # lot steps filled
    initial_stop: float
    risk_money: float
    pf: list[float | None]  # the exit plan: `trading.rules` state vector (NaN as None)
    bars: int  # closed bars held (the time stop counts these)
    time_stop: int  # bars to hold at most (0: no time stop)
    time_due: bool  # the time stop fell due: closes at the next open
    signal_exit: bool  # an opposite signal: closes at the next open
    legs: int  # exit legs booked
    booked: list[str]  # client ids of the deals booked (a redo recognises its own)
    pnl: float
    commission: float
    exit_value: float  # sum of exit price x steps over the legs
    exit_time: int | None  # bar of the last exit leg
    exit_reason: str | None

    def to_json(self) -> Json:
        return _plain(self)

    @classmethod
    def from_json(cls, body: Json) -> Position:
        return cls(**{**body, "pf": list(body["pf"]), "booked": list(body["booked"])})


@dataclass(frozen=True, slots=True)
class AtrSnapshot:
    """The execution model's ATR at the close of bar ``bar``, and the one before it."""

    bar: int
    value: float | None
    prev: float | None

    def to_json(self) -> Json:
        return _plain(self)


@dataclass(slots=True)
class Daily:
    """The current UTC day and the balance it started with (the daily-loss guard)."""

    day: int | None  # days since the epoch
    start_balance: float

    def to_json(self) -> Json:
        return _plain(self)


@dataclass(slots=True)
class Risk:
    halted: str | None  # why trading stopped (the kill switch), None while trading
    peak_equity: float  # the drawdown guard's peak

    def to_json(self) -> Json:
        return _plain(self)


@dataclass(slots=True)
class Stats:
    """The account's totals (the sums of the strategies' `StrategyStats`)."""

    trades: int  # closed trades
    realized: float  # realized P&L
    orders: int  # entry orders accepted by the broker
    next_trade_id: int
    expired: int  # entry orders cancelled unfilled (expiry, opposite signal)

    def to_json(self) -> Json:
        return _plain(self)


@dataclass(slots=True)
class StrategyStats:
    """One strategy's counters (the account's `Stats` are their sums)."""

    trades: int  # closed trades
    realized: float  # realized P&L
    orders: int  # entry orders accepted by the broker
    expired: int  # entry orders cancelled unfilled

    def to_json(self) -> Json:
        return _plain(self)


@dataclass(frozen=True, slots=True)
class Slip:
    """An entry fill that slipped past a ``max_slippage`` guard: when, and by how many pips
    (adverse: positive)."""

    time: int  # ns
    pips: float

    def to_json(self) -> Json:
        return _plain(self)


@dataclass(slots=True)
class StrategyRisk:
    """What one strategy's own guards judge: its equity is ``capital`` plus its realized and
    open P&L (as if it traded the account alone), with its UTC day's opening balance and its
    equity peak — counted only while the instance has guards of its own. ``capital`` is None
    in a state migrated from one strategy until the engine starts.

    ``orders`` and ``slips`` are always kept (the account's guards count every instance's):
    the send times of its entry orders in the last minute (``max_orders_per_minute``) and its
    entry fills that slipped past a ``max_slippage`` guard, while they can still pause entries."""

    capital: float | None
    day: int | None  # days since the epoch
    day_start: float  # equity at the start of ``day``
    peak: float
    orders: list[int]  # ns
    slips: list[Slip]

    def to_json(self) -> Json:
        return {**_plain(self), "orders": list(self.orders),
                "slips": [s.to_json() for s in self.slips]}  # fmt: skip

    @classmethod
    def from_json(cls, body: Json) -> StrategyRisk:
        return cls(**{**body, "orders": list(body["orders"]),
                      "slips": [Slip(**s) for s in body["slips"]]})  # fmt: skip


@dataclass(slots=True)
class StrategyState:
    """One strategy instance of the session (keyed by its name): what it runs and holds.

    ``params`` and ``window`` are what it trades with now — its configuration's, or what a
    ``reload`` set (a restart keeps them); None in a state migrated from one strategy until
    the engine starts (it then records the configuration's). ``code``: the code version a
    ``reload --code/--reimport`` installed (`tradeforge.strategy.code.CodeVersion` as JSON),
    None for the code imported at start."""

    identity: Identity
    params: Json | None
    window: int | None
    code: Json | None
    positions: dict[str, Position]  # by entry client id
    pending: dict[str, PendingOrder]  # by client id
    queued: dict[str, QueuedEntry]  # by client id
    atr: AtrSnapshot | None  # ``atr`` slippage only; None before the first bar
    signals: dict[str, int]  # entry client ids acted on -> signal bar (ns), the window's
    stats: StrategyStats
    risk: StrategyRisk

    @classmethod
    def initial(
        cls, identity: Identity, params: Json | None, window: int | None, capital: float
    ) -> StrategyState:
        return cls(
            identity=identity,
            params=params,
            window=window,
            code=None,
            positions={},
            pending={},
            queued={},
            atr=None,
            signals={},
            stats=StrategyStats(trades=0, realized=0.0, orders=0, expired=0),
            risk=StrategyRisk(
                capital=capital, day=None, day_start=capital, peak=capital, orders=[], slips=[]
            ),
        )

    def to_json(self) -> Json:
        return {
            "identity": self.identity.to_json(),
            "params": None if self.params is None else dict(self.params),
            "window": self.window,
            "code": None if self.code is None else dict(self.code),
            "positions": {k: v.to_json() for k, v in self.positions.items()},
            "pending": {k: v.to_json() for k, v in self.pending.items()},
            "queued": {k: v.to_json() for k, v in self.queued.items()},
            "atr": None if self.atr is None else self.atr.to_json(),
            "signals": dict(self.signals),
            "stats": self.stats.to_json(),
            "risk": self.risk.to_json(),
        }

    @classmethod
    def from_json(cls, body: Json) -> StrategyState:
        atr, params, code = body["atr"], body["params"], body["code"]
        return cls(
            identity=Identity(**body["identity"]),
            params=None if params is None else dict(params),
            window=body["window"],
            code=None if code is None else dict(code),
            positions={k: Position.from_json(v) for k, v in body["positions"].items()},
            pending={k: PendingOrder.from_json(v) for k, v in body["pending"].items()},
            queued={k: QueuedEntry.from_json(v) for k, v in body["queued"].items()},
            atr=None if atr is None else AtrSnapshot(**atr),
            signals=dict(body["signals"]),
            stats=StrategyStats(**body["stats"]),
            risk=StrategyRisk.from_json(body["risk"]),
        )

    def entries(self) -> int:
        """Open positions plus entry orders pending or queued."""
        return len(self.positions) + len(self.pending) + len(self.queued)


@dataclass(slots=True)
class StrategyControl:
    """The operator's switches for one strategy of the session."""

    paused: bool  # no new entries; open positions still managed
    disabled: str | None  # why it is switched off (entry orders cancelled), None if enabled

    def to_json(self) -> Json:
        return _plain(self)


@dataclass(slots=True)
class Control:
    """Runtime control: the global pause and each strategy's switches (by strategy name)."""

    paused: bool
    strategies: dict[str, StrategyControl]

    def to_json(self) -> Json:
        return {
            "paused": self.paused,
            "strategies": {k: v.to_json() for k, v in self.strategies.items()},
        }

    @classmethod
    def from_json(cls, body: Json) -> Control:
        strategies = {k: StrategyControl(**v) for k, v in body["strategies"].items()}
        return cls(paused=body["paused"], strategies=strategies)


@dataclass(slots=True)
class Blackout:
    """A window without new entries: one-off (``start``..``end``, ns, both included) or daily
    (from minute ``at`` of each UTC day for ``minutes``); with ``flatten`` positions close at
    the last bar boundary before each occurrence (``flattened``: the last occurrence's start)."""

    start: int | None
    end: int | None
    at: int | None
    minutes: int | None
    flatten: bool
    label: str
    flattened: int | None

    def to_json(self) -> Json:
        return _plain(self)


@dataclass(slots=True)
class Command:
    """An operator command journaled and acknowledged, applied at the next event boundary."""

    id: int  # the seq of the journal record that acknowledged it
    name: str
    args: Json  # checked and normalised when it was acknowledged
    who: Json  # OS user, uid and pid of the client
    received: str  # wall-clock time of the acknowledgement (audit only)

    def to_json(self) -> Json:
        return _plain(self)

    @classmethod
    def from_json(cls, body: Json) -> Command:
        return cls(**body)


@dataclass(slots=True)
class EngineState:
    """Everything the engine needs to continue after a restart (without the repository's
    ``seq`` and ``schema_version``, which `StateRepository` stamps on the stored form).

    Events of several feeds are applied in the order ``(time, priority, symbol)``;
    ``last_key`` and ``last_symbol`` say where that merged stream stands."""

    strategies: dict[str, StrategyState]  # by instance name
    last_key: tuple[int, int] | None  # feed ordering key of the last event applied
    last_symbol: str | None  # the symbol of that event
    daily: Daily
    risk: Risk
    stats: Stats
    control: Control
    blackouts: dict[str, Blackout]  # by id
    commands: dict[str, Command]  # acknowledged, not applied yet; by id (as text)

    @classmethod
    def initial(
        cls, strategies: dict[str, StrategyState] | Identity, balance: float
    ) -> EngineState:
        """A new session's state: of its instances by name, or of one strategy (``Identity``,
        named after its strategy, its parameters left to the engine)."""
        if isinstance(strategies, Identity):
            one = StrategyState.initial(strategies, None, None, balance)
            strategies = {strategies.strategy: one}
        return cls(
            strategies=dict(sorted(strategies.items())),
            last_key=None,
            last_symbol=None,
            daily=Daily(day=None, start_balance=balance),
            risk=Risk(halted=None, peak_equity=balance),
            stats=Stats(trades=0, realized=0.0, orders=0, next_trade_id=0, expired=0),
            control=Control(
                paused=False,
                strategies={k: StrategyControl(False, None) for k in sorted(strategies)},
            ),
            blackouts={},
            commands={},
        )

    # -- views across the strategies (read only) -------------------------------------------------
    @property
    def identity(self) -> Identity:
        """The session's identity: its one strategy's, else the instance names, symbols and
        timeframes joined with ``+`` (for messages and ``status``)."""
        books = list(self.strategies.values())
        if len(books) == 1:
            return books[0].identity
        return Identity(
            "+".join(self.strategies),
            "+".join(dict.fromkeys(b.identity.symbol for b in books)),
            "+".join(dict.fromkeys(b.identity.timeframe for b in books)),
        )

    @property
    def positions(self) -> dict[str, Position]:
        """Every strategy's open positions by entry client id: a session of one's own
        mapping, else a new one merging them (read only)."""
        if len(self.strategies) == 1:
            return next(iter(self.strategies.values())).positions
        return {k: v for b in self.strategies.values() for k, v in b.positions.items()}

    def owner(self, client_id: str) -> str | None:
        """The strategy holding position or entry order ``client_id``."""
        for name, book in self.strategies.items():
            if client_id in book.positions or client_id in book.pending:
                return name
        return None

    def to_json(self) -> Json:
        return {
            "strategies": {k: v.to_json() for k, v in self.strategies.items()},
            "last_key": None if self.last_key is None else list(self.last_key),
            "last_symbol": self.last_symbol,
            "daily": self.daily.to_json(),
            "risk": self.risk.to_json(),
            "stats": self.stats.to_json(),
            "control": self.control.to_json(),
            "blackouts": {k: v.to_json() for k, v in self.blackouts.items()},
            "commands": {k: v.to_json() for k, v in self.commands.items()},
        }

    @classmethod
    def from_json(cls, body: Json) -> EngineState:
        last = body["last_key"]
        return cls(
            strategies={k: StrategyState.from_json(v) for k, v in body["strategies"].items()},
            last_key=None if last is None else (last[0], last[1]),
            last_symbol=body["last_symbol"],
            daily=Daily(**body["daily"]),
            risk=Risk(**body["risk"]),
            stats=Stats(**body["stats"]),
            control=Control.from_json(body["control"]),
            blackouts={k: Blackout(**v) for k, v in body["blackouts"].items()},
            commands={k: Command.from_json(v) for k, v in body["commands"].items()},
        )
