"""`CTraderBroker`: the `Broker` protocol over the cTrader Open API (its live ticks and
closed bars: `tradeforge.live.brokers.ctrader_feed`, over the same connection).

A synchronous facade: the asyncio `CTraderClient` runs on its own event loop in a background
thread and every call waits for its result (``timeout`` seconds, then a retryable
`BrokerError`). Volumes go to the server in cents of a unit (``lots × lotSize``, which must be a
multiple of the symbol's ``stepVolume`` and at least ``minVolume``).

At start it connects, authorises and settles the closes a previous process left unfinished
(below); the engine's own reconciliation then reads `positions` and `orders`.

Idempotence after a crash:

* entries carry the engine's client id as the order ``label`` (and ``clientOrderId``). Before
  sending, `place` looks for it among open positions and pending orders (reconcile) and then in
  the account's order history (``ProtoOAOrderListReq``), so a resubmission returns what the
  first submission did;
* a close request has no label field, so closes are journaled locally: the intent (client id,
  position, its volume before) is written to ``state_file`` before the request is sent and the
  resulting deal after it. A close whose intent has no deal is resolved on the next call by
  looking at the position: if its volume is unchanged the close never happened and is sent;
  otherwise the closing deal is found in the deal list.

Market entries are sent without stops (the protocol refuses absolute ones on market orders)
and their stop and target are set by an amendment right after the fill; limit and stop entries
carry them. Prices are the instrument's quote currency; money fields are scaled by
``moneyDigits``. `account` reads the balance (trader), the equity (balance plus the open
positions' net unrealised P&L) and the free margin (equity less the positions' used margin);
the account's currency is the name of its deposit asset (asset list, read once).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.ctrader.client import CTraderClient
from tradeforge.ctrader.config import ClientSettings, Credentials
from tradeforge.ctrader.errors import ConnectionLost, CTraderError, RequestTimeout
from tradeforge.ctrader.messages import EXECUTION_EVENT, ORDER_ERROR_EVENT
from tradeforge.ctrader.proto import openapi_pb2 as pb
from tradeforge.ctrader.symbols import SymbolSpec, resolve_symbol
from tradeforge.live.brokers.base import (
    ORDER_TYPES,
    AccountInfo,
    BrokerError,
    BrokerEvent,
    BrokerPosition,
    Deal,
    OrderRejected,
    OrderRequest,
    OrderResult,
    PositionClosedError,
)
from tradeforge.live.persist import read_document, write_document

log = logging.getLogger(__name__)
T = TypeVar("T")

STATE_FILE = "ctrader_broker.json"
MS_NS = 1_000_000
_ORDER_TYPES = {"market": pb.MARKET, "limit": pb.LIMIT, "stop": pb.STOP}
_GONE = {"POSITION_NOT_FOUND", "POSITION_NOT_OPEN", "ENTITY_NOT_FOUND", "ORDER_NOT_FOUND"}
_RETRYABLE = {"TIMEOUT_ERROR", "CANT_ROUTE_REQUEST", "CONCURRENT_MODIFICATION", "NO_QUOTES"}
_TERMINAL = {pb.ORDER_FILLED, pb.ORDER_REJECTED, pb.ORDER_CANCELLED, pb.ORDER_EXPIRED}


@dataclass(frozen=True)
class CTraderLogin:
    """Where and as whom a session reaches its account (what `CTraderBroker` connects with);
    ``symbols`` maps tradeforge symbols to the broker's names."""

    credentials: Credentials
    account_id: int
    settings: ClientSettings | None = None
    on_token: Callable[[Credentials], None] | None = None
    symbols: Mapping[str, str] = field(default_factory=dict)

    def broker(self, state_file: str | Path | None, **kwargs: Any) -> CTraderBroker:
        return CTraderBroker(
            self.credentials, self.account_id, self.settings, state_file=state_file,
            symbols=self.symbols, on_token=self.on_token, **kwargs,
        )  # fmt: skip


class _LoopThread:
    """An event loop running in a daemon thread; `run` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ctrader", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:  # not the builtin one before Python 3.11
            future.cancel()
            raise BrokerError(
                f"cTrader call took longer than {timeout:g} s", retryable=True
            ) from None

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self.loop.close()


class CTraderBroker:
    """See the module docstring. ``symbols`` maps tradeforge symbols to broker names;
    ``history_days`` bounds the order and deal history searched for client ids."""

    name = "ctrader"
    simulated = False
    entry_types = ORDER_TYPES  # market, limit and stop entries

    def __init__(
        self,
        credentials: Credentials,
        account_id: int,
        settings: ClientSettings | None = None,
        *,
        state_file: str | Path | None = None,
        symbols: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        history_days: int = 30,
        on_token: Callable[[Credentials], None] | None = None,
    ) -> None:
        if not timeout > 0 or history_days < 1:
            raise ConfigError("timeout must be > 0 and history_days >= 1")
        self.currency: str | None = None  # the deposit asset's name, read with the account
        self.timeout = float(timeout)
        self.history_ms = history_days * 86_400_000
        self.symbol_names = {k.upper(): v for k, v in (symbols or {}).items()}
        self.path = Path(state_file) if state_file is not None else None
        self.doc = self._load()
        self._specs: dict[str, SymbolSpec] = {}
        self._names: dict[int, str] = {}
        self._events: deque[BrokerEvent] = deque()
        self._outcomes: dict[int, asyncio.Future[Any]] = {}
        self._thread = _LoopThread()
        self.client = CTraderClient(credentials, account_id, settings, on_token=on_token)
        self.client.add_listener(self._on_event)
        try:
            self._run(self.client.connect())
            self._resolve_pending_closes()
        except BaseException:
            self.shutdown()
            raise

    # ------------------------------------------------------------------ plumbing

    def shutdown(self) -> None:
        """Close the connection and stop the background loop (again: nothing)."""
        if self._thread.loop.is_closed():
            return
        try:
            self._thread.run(self.client.close(), self.timeout)
        finally:
            self._thread.stop()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._thread.run(coro, self.timeout)
        except (ConnectionLost, RequestTimeout) as exc:
            raise BrokerError(str(exc), retryable=True) from None
        except CTraderError as exc:
            if exc.code in _GONE:
                raise PositionClosedError(str(exc)) from None
            raise BrokerError(str(exc), retryable=exc.code in _RETRYABLE) from None

    @property
    def account_id(self) -> int:
        return self.client.account_id

    def _load(self) -> dict[str, Any]:
        if self.path is not None and self.path.exists():
            doc = read_document(self.path)
            if not isinstance(doc, dict) or doc.get("kind") != "ctrader_broker":
                raise StateError(f"{self.path}: not a cTrader broker state file")
            return doc
        return {"kind": "ctrader_broker", "closes": {}}

    def _save(self) -> None:
        if self.path is not None:
            write_document(self.path, self.doc)

    def _on_event(self, payload_type: int, message: Any) -> None:
        """Runs on the loop thread: keep engine events, settle waiters on terminal outcomes."""
        if payload_type == ORDER_ERROR_EVENT:
            self._events.append(BrokerEvent("reject", "", {"reason": message.errorCode}))
            return
        if payload_type != EXECUTION_EVENT:
            return
        order, kind = message.order, message.executionType
        label = order.tradeData.label
        if kind in _TERMINAL and order.orderId:
            future = self._outcome(order.orderId)
            if not future.done():
                future.set_result(message)
        if kind in (pb.ORDER_FILLED, pb.ORDER_PARTIAL_FILL):
            what = "close" if order.closingOrder else "fill"
            data = {"ticket": message.position.positionId, "price": order.executionPrice}
            self._events.append(BrokerEvent(what, label, data))
        elif kind == pb.ORDER_REPLACED:
            data = {"stop": message.position.stopLoss or None}
            self._events.append(BrokerEvent("modify", message.position.tradeData.label, data))
        elif kind in (pb.ORDER_REJECTED, pb.ORDER_CANCELLED, pb.ORDER_EXPIRED):
            reason = pb.ProtoOAExecutionType.Name(kind).lower()
            self._events.append(BrokerEvent("reject", label, {"reason": reason}))

    def _outcome(self, order_id: int) -> asyncio.Future[Any]:
        future = self._outcomes.get(order_id)
        if future is None:
            future = self._thread.loop.create_future()
            self._outcomes[order_id] = future
        return future

    async def _settled(self, event: Any) -> Any:
        """The terminal execution event of the order ``event`` belongs to."""
        order_id = event.order.orderId
        if event.executionType in _TERMINAL:
            self._outcomes.pop(order_id, None)
            return event
        try:
            return await self._outcome(order_id)
        finally:
            self._outcomes.pop(order_id, None)

    # ------------------------------------------------------------------ symbols, volumes

    def symbol_spec(self, symbol: str) -> SymbolSpec:
        """The account's cTrader symbol for a tradeforge symbol (cached)."""
        return self._spec(symbol)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the broker's client loop (errors mapped as for broker calls)."""
        return self._run(coro)

    def _spec(self, symbol: str) -> SymbolSpec:
        key = symbol.upper()
        if key not in self._specs:
            try:
                spec = self._run(resolve_symbol(self.client, self.symbol_names.get(key, key)))
            except ConfigError as exc:
                raise OrderRejected(str(exc)) from None
            self._specs[key] = spec
            self._names[spec.symbol_id] = key
        return self._specs[key]

    def _symbol_of(self, symbol_id: int) -> str:
        if symbol_id not in self._names:
            res = self._run(
                self.client.request(pb.ProtoOASymbolsListReq(ctidTraderAccountId=self.account_id))
            )
            reverse = {v.upper(): k for k, v in self.symbol_names.items()}
            for s in res.symbol:
                self._names.setdefault(s.symbolId, reverse.get(s.symbolName.upper(), s.symbolName))
        return self._names.get(symbol_id, str(symbol_id))

    def _cents(self, spec: SymbolSpec, lots: float) -> int:
        cents = round(lots * spec.lot_size)
        step = spec.step_volume or 1
        if cents <= 0 or cents % step or cents < spec.min_volume:
            raise OrderRejected(
                f"cTrader {spec.name}: {lots:g} lots = {cents} cents of volume, which is not a "
                f"multiple of the step {step} ({step / spec.lot_size:g} lots) of at least "
                f"{spec.min_volume} ({spec.min_volume / spec.lot_size:g} lots)"
            )
        return cents

    def _lots(self, symbol_id: int, cents: int) -> float:
        spec = self._spec(self._symbol_of(symbol_id))
        return cents / spec.lot_size

    # ------------------------------------------------------------------ queries

    def link(self) -> dict[str, Any]:
        """The connection's state for the health monitor (`CTraderClient.link`)."""
        return self.client.link()

    def account(self) -> AccountInfo:
        ask = self.client.request
        res = self._run(ask(pb.ProtoOATraderReq(ctidTraderAccountId=self.account_id)))
        t = res.trader
        balance = t.balance / 10**t.moneyDigits
        leverage = t.leverageInCents / 100 if t.leverageInCents else 100.0
        if self.currency is None:
            assets = self._run(ask(pb.ProtoOAAssetListReq(ctidTraderAccountId=self.account_id)))
            names = {a.assetId: a.name for a in assets.asset}
            if t.depositAssetId not in names:
                raise BrokerError(
                    f"cTrader: deposit asset {t.depositAssetId} not in the asset list"
                )
            self.currency = names[t.depositAssetId]
        positions = self._reconcile().position
        used = sum(p.usedMargin / 10 ** (p.moneyDigits or t.moneyDigits) for p in positions)
        pnl = 0.0
        if positions:
            req = pb.ProtoOAGetPositionUnrealizedPnLReq(ctidTraderAccountId=self.account_id)
            res = self._run(ask(req))
            pnl = sum(x.netUnrealizedPnL for x in res.positionUnrealizedPnL) / 10**res.moneyDigits
        equity = balance + pnl
        return AccountInfo(balance, equity, equity - used, self.currency, leverage)

    def _reconcile(self) -> Any:
        return self._run(
            self.client.request(pb.ProtoOAReconcileReq(ctidTraderAccountId=self.account_id))
        )

    def _position(self, p: Any) -> BrokerPosition:
        trade = p.tradeData
        digits = p.moneyDigits or 2
        return BrokerPosition(
            ticket=int(p.positionId),
            symbol=self._symbol_of(trade.symbolId),
            side=1 if trade.tradeSide == pb.BUY else -1,
            lots=self._lots(trade.symbolId, trade.volume),
            price_open=float(p.price),
            stop=float(p.stopLoss) if p.HasField("stopLoss") else None,
            target=float(p.takeProfit) if p.HasField("takeProfit") else None,
            client_id=trade.label,
            time=int(trade.openTimestamp) * MS_NS,
            swap=p.swap / 10**digits,
        )

    def positions(self, symbol: str | None = None) -> list[BrokerPosition]:
        found = [self._position(p) for p in self._reconcile().position]
        wanted = symbol.upper() if symbol else None
        return sorted(
            (p for p in found if wanted is None or p.symbol == wanted), key=lambda p: p.ticket
        )

    def _pending(self, o: Any) -> OrderResult:
        price = o.limitPrice if o.orderType == pb.LIMIT else o.stopPrice
        lots = self._lots(o.tradeData.symbolId, o.tradeData.volume)
        return OrderResult(o.tradeData.label, "pending", int(o.orderId), float(price), lots)

    def orders(self, symbol: str | None = None) -> list[OrderResult]:
        wanted = symbol.upper() if symbol else None
        return [
            self._pending(o)
            for o in self._reconcile().order
            if wanted is None or self._symbol_of(o.tradeData.symbolId) == wanted
        ]

    def _history(self) -> list[Any]:
        now = int(time.time() * 1000)
        req = pb.ProtoOAOrderListReq(
            ctidTraderAccountId=self.account_id,
            fromTimestamp=now - self.history_ms,
            toTimestamp=now + 86_400_000,
        )
        return list(self._run(self.client.request(req)).order)

    def order_status(self, client_id: str) -> OrderResult | None:
        state = self._reconcile()
        for p in state.position:
            if p.tradeData.label == client_id:
                pos = self._position(p)
                return OrderResult(
                    client_id, "filled", pos.ticket, pos.price_open, pos.lots, pos.time
                )
        for o in state.order:
            if o.tradeData.label == client_id:
                return self._pending(o)
        for o in self._history():
            if o.tradeData.label != client_id or o.closingOrder:
                continue
            lots = self._lots(o.tradeData.symbolId, o.executedVolume or o.tradeData.volume)
            if o.orderStatus == pb.ORDER_STATUS_FILLED:
                when = int(o.utcLastUpdateTimestamp or o.tradeData.openTimestamp) * MS_NS
                return OrderResult(
                    client_id, "filled", int(o.positionId), float(o.executionPrice), lots, when
                )
            if o.orderStatus != pb.ORDER_STATUS_ACCEPTED:
                status = pb.ProtoOAOrderStatus.Name(o.orderStatus).lower()
                return OrderResult(client_id, "rejected", reason=status)
        return None

    def _deals(self) -> list[Any]:
        now = int(time.time() * 1000)
        req = pb.ProtoOADealListReq(
            ctidTraderAccountId=self.account_id,
            fromTimestamp=now - self.history_ms,
            toTimestamp=now + 86_400_000,
        )
        return list(self._run(self.client.request(req)).deal)

    def _deal(self, d: Any, client_id: str) -> Deal:
        close = d.closePositionDetail
        scale = 10 ** (close.moneyDigits or d.moneyDigits or 2)
        return Deal(
            client_id=client_id,
            ticket=int(d.positionId),
            side=-1 if d.tradeSide == pb.BUY else 1,  # a buy deal closes a short
            lots=self._lots(d.symbolId, close.closedVolume or d.filledVolume),
            price=float(d.executionPrice),
            time=int(d.executionTimestamp) * MS_NS,
            profit=close.grossProfit / scale,
            commission=-close.commission / scale,
            swap=close.swap / scale,
        )

    def deal(self, client_id: str) -> Deal | None:
        entry = self.doc["closes"].get(client_id)
        if entry is None:
            return None
        if entry.get("deal") is None:
            self._resolve_close(client_id, entry)
        return Deal(**entry["deal"]) if entry.get("deal") else None

    def deals_for(self, ticket: int) -> list[Deal]:
        by_deal = {e["deal_id"]: cid for cid, e in self.doc["closes"].items() if e.get("deal_id")}
        return [
            self._deal(d, by_deal.get(int(d.dealId), ""))
            for d in self._deals()
            if int(d.positionId) == int(ticket) and d.HasField("closePositionDetail")
        ]

    def events(self) -> list[BrokerEvent]:
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    # ------------------------------------------------------------------ trading

    def place(self, request: OrderRequest) -> OrderResult:
        known = self.order_status(request.client_id)
        if known is not None:
            return known
        if request.order_type not in _ORDER_TYPES:
            raise OrderRejected(f"cTrader: unknown order type {request.order_type!r}")
        spec = self._spec(request.symbol)
        market = request.order_type == "market"
        req = pb.ProtoOANewOrderReq(
            ctidTraderAccountId=self.account_id,
            symbolId=spec.symbol_id,
            orderType=_ORDER_TYPES[request.order_type],
            tradeSide=pb.BUY if request.side > 0 else pb.SELL,
            volume=self._cents(spec, request.lots),
            label=request.client_id,
            clientOrderId=request.client_id,
            comment=request.comment,
        )
        if not market:
            if request.price is None:
                raise OrderRejected(f"cTrader: a {request.order_type} order needs a price")
            setattr(
                req, "limitPrice" if request.order_type == "limit" else "stopPrice", request.price
            )
            if request.stop is not None:
                req.stopLoss = request.stop
            if request.target is not None:
                req.takeProfit = request.target
        try:
            accepted = self._run(self.client.request(req, resend=False))
        except BrokerError as exc:
            if exc.retryable:  # the link dropped: did the order reach the server?
                found = self.order_status(request.client_id)
                if found is not None:
                    return found
            raise self._rejection(exc, request.client_id) from None
        if not market:
            return self._pending(accepted.order)
        filled = self._run(self._settled(accepted))
        executed = filled.order.executedVolume  # a partial fill whose rest was cancelled counts
        if filled.executionType != pb.ORDER_FILLED and not executed:
            reason = pb.ProtoOAExecutionType.Name(filled.executionType).lower()
            raise OrderRejected(f"cTrader order {request.client_id} {reason}")
        position = filled.position
        result = OrderResult(
            request.client_id,
            "filled",
            int(position.positionId),
            float(filled.order.executionPrice or position.price),
            executed / spec.lot_size if executed else request.lots,
            int(filled.deal.executionTimestamp or time.time() * 1000) * MS_NS,
        )
        if request.stop is not None or request.target is not None:
            try:
                self.modify(result.ticket or 0, request.stop, request.target)
            except BrokerError as exc:  # the position stands; the engine's next modify retries
                log.error("cTrader: stop/target of %s not set: %s", request.client_id, exc)
                return OrderResult(**{**result.to_dict(), "reason": f"stop/target not set: {exc}"})
        return result

    @staticmethod
    def _rejection(exc: BrokerError, client_id: str) -> BrokerError:
        if exc.retryable or isinstance(exc, PositionClosedError):
            return exc
        return OrderRejected(f"cTrader order {client_id}: {exc}")

    def modify(self, ticket: int, stop: float | None, target: float | None = None) -> None:
        req = pb.ProtoOAAmendPositionSLTPReq(ctidTraderAccountId=self.account_id, positionId=ticket)
        if stop is not None:
            req.stopLoss = stop
        if target is not None:
            req.takeProfit = target
        self._run(self.client.request(req, resend=False))

    def cancel(self, client_id: str) -> None:
        for o in self._reconcile().order:
            if o.tradeData.label == client_id:
                req = pb.ProtoOACancelOrderReq(
                    ctidTraderAccountId=self.account_id, orderId=o.orderId
                )
                # filled or cancelled meanwhile: nothing rests any more
                with contextlib.suppress(PositionClosedError):
                    self._run(self.client.request(req, resend=False))
                return

    def close(
        self,
        ticket: int,
        lots: float | None,
        client_id: str,
        price: float | None = None,
        reason: str = "",
    ) -> Deal:
        known = self.deal(client_id)
        if known is not None:
            return known
        current = {int(p.positionId): p for p in self._reconcile().position}.get(int(ticket))
        if current is None:
            raise PositionClosedError(f"cTrader position {ticket} is closed")
        volume = current.tradeData.volume
        spec = self._spec(self._symbol_of(current.tradeData.symbolId))
        cents = volume if lots is None else self._cents(spec, lots)
        entry = {"ticket": int(ticket), "volume_before": int(volume), "cents": int(cents)}
        entry["since"] = int(time.time() * 1000)
        self.doc["closes"][client_id] = entry
        self._save()  # the intent, before the request
        req = pb.ProtoOAClosePositionReq(
            ctidTraderAccountId=self.account_id, positionId=ticket, volume=cents
        )
        try:
            reply = self._run(self.client.request(req, resend=False))
        except BrokerError as exc:
            if exc.retryable:  # the link dropped: the next call resolves the intent
                raise
            del self.doc["closes"][client_id]
            self._save()
            raise
        filled = self._run(self._settled(reply))
        if filled.executionType != pb.ORDER_FILLED or not filled.HasField("deal"):
            del self.doc["closes"][client_id]
            self._save()
            kind = pb.ProtoOAExecutionType.Name(filled.executionType).lower()
            raise BrokerError(f"cTrader close of {ticket} {kind}", retryable=True)
        return self._record(client_id, entry, filled.deal, reason)

    def _record(self, client_id: str, entry: dict[str, Any], d: Any, reason: str) -> Deal:
        deal = self._deal(d, client_id)
        deal = Deal(**{**deal.to_dict(), "reason": reason})
        entry["deal_id"] = int(d.dealId)
        entry["deal"] = deal.to_dict()
        self._save()
        return deal

    def _resolve_pending_closes(self) -> None:
        """At start: settle closes a previous process journaled but did not see complete."""
        for client_id, entry in list(self.doc["closes"].items()):
            if entry.get("deal") is None:
                self._resolve_close(client_id, entry)

    def _resolve_close(self, client_id: str, entry: dict[str, Any]) -> None:
        """A close journaled without its deal (a crash or a drop mid-request): find out."""
        current = {int(p.positionId): p for p in self._reconcile().position}.get(entry["ticket"])
        if current is not None and current.tradeData.volume == entry["volume_before"]:
            del self.doc["closes"][client_id]  # never executed: the caller may send it
            self._save()
            return
        for d in self._deals():
            if (
                int(d.positionId) == entry["ticket"]
                and d.HasField("closePositionDetail")
                and d.closePositionDetail.closedVolume == entry["cents"]
                and d.executionTimestamp >= entry["since"] - 60_000
                and int(d.dealId) not in {e.get("deal_id") for e in self.doc["closes"].values()}
            ):
                self._record(client_id, entry, d, "")
                return
        raise StateError(
            f"cTrader close {client_id} of position {entry['ticket']}: the position changed "
            "but no matching closing deal was found; check the account"
        )


__all__ = ["STATE_FILE", "CTraderBroker", "CTraderLogin"]
