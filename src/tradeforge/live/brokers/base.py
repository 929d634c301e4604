"""The `Broker` protocol shared by the paper and MetaTrader 5 adapters, and its records.

Every state-changing call carries a *client id* (see `client_order_id`), derived only from
what caused it (strategy, symbol, signal bar, tag, action). A broker that already executed a
client id returns the original result instead of acting again, so an engine that crashed after
the broker acted but before it recorded the result can simply redo its work.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from tradeforge.core.errors import TradeforgeError

BUY, SELL = 1, -1


class BrokerError(TradeforgeError):
    """A broker refused or failed a request (the message says which and why)."""

    def __init__(self, message: str, code: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class OrderRejected(BrokerError):
    """The broker rejected an order (volume, stops, money, market closed, …)."""


class PositionClosedError(BrokerError):
    """The position is already closed (e.g. its stop fired at the broker)."""


def client_order_id(
    strategy: str, symbol: str, bar_time: Any, tag: str, action: str = "entry"
) -> str:
    """Deterministic id of one intended broker action: equal inputs, equal id.

    ``bar_time`` is the signal bar's open time; ``action`` names the step (``entry``,
    ``leg1``, ``time``, ``kill`` …). The id is short enough for an MT5 comment (31 chars).
    """
    ts = pd.Timestamp(bar_time)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    key = f"{strategy}|{symbol.upper()}|{ts.as_unit('ns').value}|{tag}|{action}"
    return "tf" + hashlib.sha256(key.encode()).hexdigest()[:22]


def is_client_order_id(text: str) -> bool:
    """Whether ``text`` has the form of a `client_order_id` (an order this engine placed)."""
    return (
        len(text) == 24 and text.startswith("tf") and all(c in "0123456789abcdef" for c in text[2:])
    )


@dataclass(frozen=True)
class AccountInfo:
    balance: float
    equity: float
    margin_free: float
    currency: str = "USD"
    leverage: float = 100.0


ORDER_TYPES = ("market", "limit", "stop")


@dataclass(frozen=True)
class OrderRequest:
    """An entry order: ``market``, or a resting ``limit`` / ``stop`` order at ``price`` (an ask
    level for buys, a bid level for sells) that stays until it fills or is cancelled; the
    engine cancels it when it expires. Stops and targets are managed by the engine."""

    client_id: str
    symbol: str
    side: int  # +1 buy, -1 sell
    lots: float
    stop: float | None = None
    target: float | None = None
    comment: str = ""
    order_type: str = "market"
    price: float | None = None  # level of a limit / stop order


@dataclass(frozen=True)
class OrderResult:
    """State of an order the broker knows by client id."""

    client_id: str
    status: str  # "pending" | "filled" | "rejected"
    ticket: int | None = None  # position ticket once filled
    price: float | None = None  # fill price
    lots: float = 0.0
    time: int | None = None  # fill time, ns since epoch UTC
    commission: float = 0.0
    reason: str = ""
    at_open: bool = True  # filled at the opening quote of a bar (False: inside the bar)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BrokerPosition:
    ticket: int
    symbol: str
    side: int
    lots: float
    price_open: float
    stop: float | None
    target: float | None
    client_id: str  # the entry order's client id (MT5: the comment)
    time: int = 0
    swap: float = 0.0  # accrued and not yet paid out (paid with the next closing deal)


@dataclass(frozen=True)
class Deal:
    """One execution closing (part of) a position."""

    client_id: str
    ticket: int
    side: int  # side of the position closed
    lots: float
    price: float
    time: int  # ns since epoch UTC
    profit: float = 0.0
    commission: float = 0.0
    reason: str = ""
    swap: float = 0.0  # swap accrued on the position, paid with this deal

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BrokerEvent:
    kind: str  # "fill" | "close" | "modify" | "reject"
    client_id: str
    data: dict[str, Any] = field(default_factory=dict)


def accepts_entry(broker: Any, entry_type: str) -> bool:
    """Whether ``broker`` takes ``entry_type`` (market / limit / stop) entry orders."""
    if broker.simulated:
        return True
    return entry_type in getattr(broker, "entry_types", ("market",))


@runtime_checkable
class Broker(Protocol):
    """What the engine needs from a broker. All prices are in the instrument's quote currency.

    Optional capability: ``entry_types``, the `ORDER_TYPES` a real broker accepts as entries
    (without it: market only; a simulated broker takes all). See `accepts_entry`."""

    name: str
    simulated: bool  # True: exits may be executed at the level the shared rules computed

    def account(self) -> AccountInfo: ...

    def positions(self, symbol: str | None = None) -> list[BrokerPosition]: ...

    def orders(self, symbol: str | None = None) -> list[OrderResult]: ...

    def place(self, request: OrderRequest) -> OrderResult: ...

    def order_status(self, client_id: str) -> OrderResult | None: ...

    def modify(self, ticket: int, stop: float | None, target: float | None = None) -> None: ...

    def close(
        self,
        ticket: int,
        lots: float | None,
        client_id: str,
        price: float | None = None,
        reason: str = "",
    ) -> Deal: ...

    def deal(self, client_id: str) -> Deal | None: ...

    def deals_for(self, ticket: int) -> list[Deal]: ...

    def cancel(self, client_id: str) -> None: ...

    def events(self) -> list[BrokerEvent]: ...
