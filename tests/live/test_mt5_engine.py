"""The engine's resting entries through `MT5Broker` on the honest stand-in: a limit (or stop)
entry goes to the server as a pending order with a server-side expiry, fills there when the
quote reaches it or is cancelled when its bars run out (or expires at the server first), and
every trade the engine books is what the server's deal history says."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.live.helpers import small_spec
from tests.support.fake_mt5_trading import FakeMT5Trading
from tradeforge.data.sources.mt5_terminal import MT5Terminal
from tradeforge.live.brokers.mt5 import MT5Broker
from tradeforge.live.engine import Engine
from tradeforge.live.feeds import ReplayFeed, Tick
from tradeforge.live.runner import engine_config, journal_trades, load_bars
from tradeforge.strategy.registry import create_strategy

PARAMS = {"fast": 3, "slow": 10, "offset_pips": 1.0, "expiry": 2, "stop_pips": 6,
          "target_pips": 8}  # fmt: skip
TTL = 3 * 86_400


class QuotingFeed(ReplayFeed):
    """The replay's quotes become the stand-in server's market before the engine sees them:
    resting orders fill or expire there, server stops and targets fire there."""

    def __init__(self, mt5: FakeMT5Trading, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mt5 = mt5

    def events(self, after=None):
        for ev in super().events(after):
            if isinstance(ev, Tick):
                self.mt5.set_quote("EURUSD", ev.bid, ev.ask, ev.time // 1_000_000)
            yield ev


def run_session(tmp_path, entry: str, ttl: int = TTL, mt5: FakeMT5Trading | None = None):
    spec = small_spec(tmp_path, n_bars=120, strategy="test_pending_cross",
                      params={**PARAMS, "entry": entry})  # fmt: skip
    frame = load_bars(spec).round(5)  # a server quotes on the symbol's price grid
    mt5 = mt5 or FakeMT5Trading()
    mt5.add_symbol("EURUSD", digits=5, bid=float(frame["close"].iloc[0]), spread=8)
    cfg = replace(engine_config(spec), exit_mode="tick")
    feed = QuotingFeed(mt5, frame, "EURUSD", "M5", play_from=spec.start)
    broker = MT5Broker(MT5Terminal(mt5, server_time="utc"), magic=9, pending_ttl=ttl)
    strategy = create_strategy(str(spec.strategy), spec.params)
    engine = Engine(cfg, strategy, feed, broker, tmp_path / "state", replaying=False)
    engine.start()
    engine.run()
    return mt5, engine


def sent(mt5: FakeMT5Trading, action: int) -> list[dict]:
    return [a[0] for name, a in mt5.calls if name == "order_send" and a[0]["action"] == action]


def decisions(engine: Engine, kind: str) -> list[dict]:
    return [d for r in engine.repo.records() for d in r.get("decisions", []) if d["kind"] == kind]


@pytest.mark.parametrize("entry", ["limit", "stop"])
def test_resting_entries_fill_or_expire_at_the_server_and_book_its_deals(tmp_path, entry):
    mt5, engine = run_session(tmp_path, entry)
    pending = sent(mt5, mt5.TRADE_ACTION_PENDING)
    kinds = {"limit": (mt5.ORDER_TYPE_BUY_LIMIT, mt5.ORDER_TYPE_SELL_LIMIT),
             "stop": (mt5.ORDER_TYPE_BUY_STOP, mt5.ORDER_TYPE_SELL_STOP)}[entry]  # fmt: skip
    assert pending and {r["type"] for r in pending} == set(kinds)
    orders = {o.comment: o for o in mt5.done_orders}
    for r in pending:  # each carries the server-side expiry: placed + TTL, server seconds
        assert r["type_time"] == mt5.ORDER_TIME_SPECIFIED
        assert r["expiration"] == orders[r["comment"]].time_setup + TTL
        assert r["price"] == round(r["price"], 5)
    filled = [o for o in mt5.done_orders if o.state == mt5.ORDER_STATE_FILLED]
    cancelled = [o for o in mt5.done_orders if o.state == mt5.ORDER_STATE_CANCELED]
    assert filled and cancelled and len(filled) + len(cancelled) == len(pending)
    assert mt5.pending_orders == {} and mt5.open_positions == {}  # closed at the end
    # the engine cancelled exactly the orders whose bars ran out, and counted them
    removed = {r["order"] for r in sent(mt5, mt5.TRADE_ACTION_REMOVE)}
    assert removed == {o.ticket for o in cancelled}
    assert sorted(d["order"] for d in decisions(engine, "expired")) == sorted(
        o.comment for o in cancelled
    )
    stats = engine.state["stats"]
    assert stats["expired"] == len(cancelled) and stats["orders"] == len(pending)
    # every fill became one trade, booked at the server's prices and with its profit
    trades = {t["trade_id"]: t for t in journal_trades(tmp_path / "state")}
    assert len(trades) == len(filled) == stats["trades"]
    by_order = {o.ticket: o for o in filled}
    for d in decisions(engine, "filled"):
        order = by_order[d["ticket"]]
        assert d["price"] == order.price_open  # filled at the order's own price
        entry_deal, *exits = [x for x in mt5.deals if x.position_id == d["ticket"]]
        assert entry_deal.entry == mt5.DEAL_ENTRY_IN and entry_deal.price == order.price_open
        (trade,) = [
            t for t in trades.values()
            if t["entry_price"] == order.price_open and t["size"] == entry_deal.volume
            and t["side"] == ("long" if entry_deal.type == mt5.ORDER_TYPE_BUY else "short")
        ]  # fmt: skip
        volume = sum(x.volume for x in exits)
        assert volume == pytest.approx(entry_deal.volume)
        assert trade["exit_price"] == pytest.approx(
            sum(x.price * x.volume for x in exits) / volume, abs=1e-9
        )
        # the server's profit is gross; the engine's commission is the spec's cost model
        gross = trade["pnl"] + trade["commission"]
        assert gross == pytest.approx(sum(x.profit for x in exits), abs=1e-6)


def test_an_order_the_server_expires_first_is_dropped_not_cancelled(tmp_path):
    mt5, engine = run_session(tmp_path, "limit", ttl=300)  # one M5 bar: before the engine's 2
    expired = [o for o in mt5.done_orders if o.state == mt5.ORDER_STATE_EXPIRED]
    assert expired and sent(mt5, mt5.TRADE_ACTION_REMOVE) == []
    dropped = decisions(engine, "order_dropped")
    assert sorted(d["order"] for d in dropped) == sorted(o.comment for o in expired)
    assert all("cancelled" in d["reason"] for d in dropped)
    assert engine.state["stats"]["trades"] == len(
        [o for o in mt5.done_orders if o.state == mt5.ORDER_STATE_FILLED]
    )


class RefusesFirstStop(FakeMT5Trading):
    """The price moves inside the stops level between the adapter's quote and the server's
    check: the first stop update is refused with INVALID_STOPS."""

    refused: dict | None = None

    def order_send(self, request: dict):
        if request.get("action") == self.TRADE_ACTION_SLTP and self.refused is None:
            self.refused = request
            self.calls.append(("order_send", (request,)))
            return self._result(10016, request)
        return super().order_send(request)


def test_a_stop_the_server_refuses_is_logged_and_the_engine_still_exits(tmp_path):
    mt5, engine = run_session(tmp_path, "limit", mt5=RefusesFirstStop())
    (warning,) = [d for d in decisions(engine, "warning") if "not accepted" in d["reason"]]
    assert "INVALID_STOPS" in warning["reason"]
    assert mt5.refused is not None and mt5.open_positions == {}
    filled = [o for o in mt5.done_orders if o.state == mt5.ORDER_STATE_FILLED]
    assert engine.state["stats"]["trades"] == len(filled) > 0
