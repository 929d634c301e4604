"""`MT5Broker` orders against the honest stand-in: resting entries with expiry, stops and
freeze levels, partial closes by ticket, each return code's handling, and what the stand-in
refuses (as a real terminal does)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.support.fake_mt5_trading import FakeMT5Trading
from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.data.sources.mt5_terminal import MT5Terminal
from tradeforge.live.brokers.base import (
    BrokerError,
    OrderRejected,
    OrderRequest,
    accepts_entry,
)
from tradeforge.live.brokers.mt5 import MT5Broker, TradingHalted

T = 1_710_000_000_000  # server clock, ms
TTL = 3600


@pytest.fixture
def mt5() -> FakeMT5Trading:
    fake = FakeMT5Trading()
    fake.add_symbol("EURUSD", bid=1.10000, spread=10, stops_level=20, freeze_level=5)
    fake.add_ticks("EURUSD", [(T, 1.10000, 1.10010)])
    return fake


@pytest.fixture
def naps() -> list[float]:
    return []


@pytest.fixture
def broker(mt5: FakeMT5Trading, naps: list[float]) -> MT5Broker:
    terminal = MT5Terminal(mt5, server_time="utc")
    return MT5Broker(terminal, magic=7, pending_ttl=TTL, sleep=naps.append)


def sent(mt5: FakeMT5Trading) -> list[dict]:
    return [args[0] for name, args in mt5.calls if name == "order_send"]


def req(cid: str, kind: str = "market", price: float | None = None, side: int = 1,
        lots: float = 0.5) -> OrderRequest:  # fmt: skip
    return OrderRequest(cid, "EURUSD", side, lots, order_type=kind, price=price)


# ---------------------------------------------------------------- resting entries


def test_limit_entry_rests_with_a_server_expiry_then_fills(mt5, broker) -> None:
    res = broker.place(req("lim", "limit", 1.09900))
    assert res.status == "pending" and res.price == 1.099
    (r,) = sent(mt5)
    assert r["action"] == mt5.TRADE_ACTION_PENDING and r["type"] == mt5.ORDER_TYPE_BUY_LIMIT
    assert r["type_time"] == mt5.ORDER_TIME_SPECIFIED and r["expiration"] == T // 1000 + TTL
    assert r["type_filling"] == mt5.ORDER_FILLING_RETURN
    assert broker.order_status("lim").status == "pending"
    assert [o.client_id for o in broker.orders("EURUSD")] == ["lim"]
    assert broker.place(req("lim", "limit", 1.09900)).status == "pending"  # not sent twice
    assert len(sent(mt5)) == 1
    mt5.set_quote("EURUSD", 1.09880, 1.09890, T + 60_000)  # the ask reaches the limit
    filled = broker.order_status("lim")
    assert filled.status == "filled" and filled.price == 1.099 and filled.ticket == res.ticket
    assert broker.orders() == []


def test_a_resting_stop_entry_expires_at_the_server(mt5, broker) -> None:
    assert broker.place(req("stp", "stop", 1.09800, side=-1)).status == "pending"
    assert sent(mt5)[0]["type"] == mt5.ORDER_TYPE_SELL_STOP
    mt5.set_quote("EURUSD", 1.10001, 1.10011, T + TTL * 1000)
    assert broker.order_status("stp").status == "cancelled"


def test_cancel_removes_the_resting_order(mt5, broker) -> None:
    broker.place(req("lim", "limit", 1.09900))
    broker.cancel("lim")
    assert sent(mt5)[-1] == {"action": mt5.TRADE_ACTION_REMOVE, "order": mt5.next_ticket}
    assert broker.order_status("lim").status == "cancelled"
    broker.cancel("lim")  # nothing rests any more: nothing is sent
    assert len(sent(mt5)) == 2


def test_a_limit_the_market_already_reached_goes_at_market(mt5, broker) -> None:
    res = broker.place(req("lim", "limit", 1.10100))  # above the ask of 1.10010
    assert res.status == "filled" and res.price == 1.1001
    assert sent(mt5)[0]["action"] == mt5.TRADE_ACTION_DEAL


def test_a_resting_order_inside_the_stops_level_is_refused(mt5, broker) -> None:
    with pytest.raises(OrderRejected, match="stops level"):
        broker.place(req("lim", "limit", 1.09995))  # 15 points under the ask, level 20
    assert sent(mt5) == []


def test_without_specified_expiry_the_order_is_good_till_cancelled(mt5) -> None:
    mt5.add_symbol("GBPUSD", bid=1.27, expiration_mode=1)
    broker = MT5Broker(MT5Terminal(mt5, server_time="utc"), magic=7)
    broker.place(OrderRequest("g", "GBPUSD", 1, 0.1, order_type="limit", price=1.26))
    (r,) = sent(mt5)
    assert r["type_time"] == mt5.ORDER_TIME_GTC and "expiration" not in r


def test_mt5_declares_resting_entries_a_plain_real_broker_does_not(broker) -> None:
    assert accepts_entry(broker, "limit") and accepts_entry(broker, "stop")
    plain = SimpleNamespace(simulated=False)
    assert accepts_entry(plain, "market") and not accepts_entry(plain, "limit")
    assert accepts_entry(SimpleNamespace(simulated=True), "stop")


# ---------------------------------------------------------------- stops and closes


def test_stops_are_moved_out_to_the_stops_level(mt5, broker) -> None:
    ticket = broker.place(req("m")).ticket
    broker.modify(ticket, 1.09990)  # 10 points under the bid: the level is 20
    assert sent(mt5)[-1]["sl"] == 1.0998
    broker.modify(ticket, 1.09900)  # far enough: sent as given
    assert broker.positions()[0].stop == 1.099


def test_no_stop_move_inside_the_freeze_level(mt5, broker) -> None:
    ticket = broker.place(req("m")).ticket
    broker.modify(ticket, 1.09950)
    mt5.add_ticks("EURUSD", [(T + 1000, 1.09953, 1.09963)])  # 3 points above the stop, freeze 5
    before = len(sent(mt5))
    broker.modify(ticket, 1.09900)
    assert len(sent(mt5)) == before and broker.positions()[0].stop == 1.0995


def test_partial_closes_by_position_ticket(mt5, broker) -> None:
    ticket = broker.place(req("m", lots=1.0)).ticket
    d1 = broker.close(ticket, 0.3, "leg1")
    assert (d1.lots, d1.price, d1.ticket) == (0.3, 1.1, ticket)
    assert sent(mt5)[-1]["position"] == ticket and sent(mt5)[-1]["volume"] == 0.3
    assert broker.positions()[0].lots == pytest.approx(0.7)
    with pytest.raises(OrderRejected, match="volume step"):
        broker.close(ticket, 0.255, "leg2")
    broker.close(ticket, None, "leg2")
    assert broker.positions() == [] and [d.lots for d in broker.deals_for(ticket)] == [0.3, 0.7]


def test_lots_off_the_broker_step_are_refused_before_sending(mt5, broker) -> None:
    with pytest.raises(OrderRejected, match="volume min/step/max"):
        broker.place(req("m", lots=0.015))
    assert sent(mt5) == []


def test_an_instrument_the_broker_describes_differently_is_refused(mt5) -> None:
    mt5.add_symbol("EURUSD", contract_size=1000.0)
    broker = MT5Broker(MT5Terminal(mt5, server_time="utc"))
    with pytest.raises(ConfigError, match="contract size 100000 vs the broker's 1000"):
        broker.positions("EURUSD")


# ---------------------------------------------------------------- return codes


@pytest.mark.parametrize("code", [10004, 10020, 10021])  # requote, price changed, off quotes
def test_a_stale_price_is_sent_again_with_a_fresh_quote(mt5, broker, naps, code) -> None:
    mt5.queue_retcode(code)
    moved = []

    def market_moves(request: dict) -> None:
        if not moved:
            moved.append(1)
            mt5.add_ticks("EURUSD", [(T + 500, 1.10020, 1.10030)])

    mt5.after_send = market_moves
    res = broker.place(req("m"))
    first, second = sent(mt5)
    assert (first["price"], second["price"]) == (1.1001, 1.1003)
    assert res.status == "filled" and res.price == 1.1003
    assert naps == ([0.5] if code == 10021 else [])  # off quotes: a short pause first


def test_too_many_requests_waits_then_sends_again(mt5, broker, naps) -> None:
    mt5.queue_retcode(10024)
    mt5.queue_retcode(10024)
    assert broker.place(req("m")).status == "filled"
    assert naps == [0.5, 1.0] and len(sent(mt5)) == 3


def test_a_timeout_that_executed_after_all_is_not_sent_again(mt5, broker) -> None:
    mt5.queue_retcode(10012)

    def executed_anyway(request: dict) -> None:
        if not mt5.open_positions:
            mt5._open("EURUSD", True, 0.5, 1.1001, 0.0, 0.0, 7, request["comment"], T, 4242)

    mt5.after_send = executed_anyway
    res = broker.place(req("m"))
    assert res.ticket == 4242 and len(sent(mt5)) == 1


def test_retries_end_in_a_retryable_error(mt5, broker) -> None:
    for _ in range(3):
        mt5.queue_retcode(10004)
    with pytest.raises(BrokerError, match="REQUOTE.*3 tries") as info:
        broker.place(req("m"))
    assert info.value.retryable and len(sent(mt5)) == 3 and broker.positions() == []


@pytest.mark.parametrize(
    ("code", "name"), [(10019, "NO_MONEY"), (10018, "MARKET_CLOSED"), (10016, "INVALID_STOPS")]
)
def test_refusals_are_not_retried(mt5, broker, code, name) -> None:
    mt5.queue_retcode(code)
    with pytest.raises(OrderRejected, match=name) as info:
        broker.place(req("m"))
    assert not info.value.retryable and len(sent(mt5)) == 1


@pytest.mark.parametrize("code", [10017, 10027])  # trading disabled, algo trading off
def test_disabled_trading_halts_the_session(mt5, broker, code) -> None:
    mt5.queue_retcode(code)
    with pytest.raises(TradingHalted, match="trading stopped") as info:
        broker.place(req("m"))
    # not a BrokerError: the engine's entry step does not swallow it, the session stops
    assert not isinstance(info.value, BrokerError) and isinstance(info.value, TradeforgeError)


# ---------------------------------------------------------------- the stand-in is honest


def _deal(mt5: FakeMT5Trading, **kw) -> dict:
    base = {"action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.1,
            "type": mt5.ORDER_TYPE_BUY, "price": 1.1001, "type_filling": mt5.ORDER_FILLING_FOK,
            "type_time": mt5.ORDER_TIME_GTC}  # fmt: skip
    return {**base, **kw}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"type_filling": 1}, 10030),  # IOC on a FOK-only symbol
        ({"volume": 0.015}, 10014),  # off the 0.01 step
        ({"volume": 0.0}, 10014),  # under the minimum
        ({"sl": 1.0999}, 10016),  # 10 points under the bid, stops level 20
        ({"tp": 1.1001}, 10016),
        ({"action": 5, "type": 2, "price": 1.1002, "type_filling": 2}, 10015),  # limit > ask
        ({"action": 5, "type": 2, "price": 1.1, "type_filling": 2}, 10015),  # inside the level
        (
            {
                "action": 5,
                "type": 2,
                "price": 1.09,
                "type_filling": 2,
                "type_time": 2,
                "expiration": T // 1000 - 1,
            },
            10022,
        ),  # fmt: skip
    ],
)
def test_the_stand_in_refuses_what_a_terminal_refuses(mt5, changes, code) -> None:
    mt5.initialize()
    assert mt5.order_send(_deal(mt5, **changes)).retcode == code
    assert mt5.open_positions == {} and mt5.pending_orders == {}


def test_the_stand_in_refuses_specified_expiry_where_the_symbol_does_not_allow_it(mt5) -> None:
    mt5.add_symbol("GBPUSD", bid=1.27, expiration_mode=1)
    mt5.initialize()
    request = _deal(mt5, symbol="GBPUSD", action=5, type=2, price=1.26, type_filling=2,
                    type_time=2, expiration=T // 1000 + 60)  # fmt: skip
    assert mt5.order_send(request).retcode == 10022


def test_the_stand_in_freezes_stops_near_the_price(mt5) -> None:
    mt5.initialize()
    res = mt5.order_send(_deal(mt5, sl=1.0995))
    mt5.add_ticks("EURUSD", [(T + 1000, 1.09953, 1.09963)])
    modify = {"action": mt5.TRADE_ACTION_SLTP, "symbol": "EURUSD", "position": res.order,
              "sl": 1.099, "tp": 0.0}  # fmt: skip
    assert mt5.order_send(modify).retcode == 10029
