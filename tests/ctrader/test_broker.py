"""`CTraderBroker` (the synchronous `Broker` facade) against the fake server: idempotent entries
by label, journaled closes, crash recovery with a new broker instance, volumes in cents."""

from __future__ import annotations

import pytest

from tests.ctrader.conftest import credentials
from tests.ctrader.fake_server import ACCOUNT
from tradeforge.ctrader import ClientSettings
from tradeforge.live.brokers.base import (
    Broker,
    BrokerError,
    OrderRejected,
    OrderRequest,
    PositionClosedError,
)
from tradeforge.live.brokers.ctrader import CTraderBroker


@pytest.fixture
def open_broker(server, tmp_path):
    made = []

    def make(**kwargs):
        settings = ClientSettings(
            host=server.host,
            port=server.port,
            ca_file=str(server.cert_file),
            reconnect_delay=0.02,
        )
        kwargs.setdefault("state_file", tmp_path / "ctrader_broker.json")
        broker = CTraderBroker(credentials(), ACCOUNT, settings, timeout=10, **kwargs)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.shutdown()


def count(server, payload_type):
    return [pt for pt, _ in server.requests].count(payload_type)


def buy(cid, lots=0.1, **kw):
    return OrderRequest(cid, "EURUSD", 1, lots, **kw)


def test_market_entry_with_stops_and_idempotent_resubmission(server, open_broker):
    broker = open_broker()
    assert isinstance(broker, Broker)
    result = broker.place(buy("tf-entry-1", stop=1.095, target=1.11))
    assert (result.status, result.price, result.lots) == ("filled", 1.10002, 0.1)
    [pos] = broker.positions("EURUSD")
    assert (pos.ticket, pos.side, pos.lots, pos.client_id) == (result.ticket, 1, 0.1, "tf-entry-1")
    assert (pos.stop, pos.target) == (1.095, 1.11)
    assert server.positions[pos.ticket].tradeData.volume == 1_000_000  # 0.1 lot in cents
    again = broker.place(buy("tf-entry-1", stop=1.095, target=1.11))
    assert again.ticket == result.ticket and count(server, 2106) == 1
    kinds = [e.kind for e in broker.events()]
    assert kinds == ["fill", "modify"]


def test_resubmission_after_a_crash_is_recognised(server, open_broker):
    first = open_broker()
    placed = first.place(buy("tf-crash-1"))
    first.shutdown()  # the engine process dies; a new one starts
    second = open_broker()
    assert second.order_status("tf-crash-1").ticket == placed.ticket
    assert second.place(buy("tf-crash-1")).ticket == placed.ticket
    del server.positions[placed.ticket]  # stopped out at the broker meanwhile
    status = second.order_status("tf-crash-1")
    assert (status.status, status.ticket, status.price) == ("filled", placed.ticket, 1.10002)
    assert second.place(buy("tf-crash-1")).ticket == placed.ticket
    assert count(server, 2106) == 1


def test_partial_closes_are_idempotent_and_booked(server, open_broker):
    broker = open_broker()
    ticket = broker.place(buy("tf-e")).ticket
    server.push_spot(1, 110_102, 110_104)  # +100 points on the bid
    deal = broker.close(ticket, 0.04, "tf-leg1", reason="target")
    # 0.04 lot = 4,000 units; (1.10102 - 1.10002) * 4000 = 4.00
    assert (deal.lots, deal.price, deal.side, deal.reason) == (0.04, 1.10102, 1, "target")
    assert deal.profit == pytest.approx(4.0)
    assert broker.close(ticket, 0.04, "tf-leg1") == deal and count(server, 2111) == 1
    assert broker.positions()[0].lots == pytest.approx(0.06)
    rest = broker.close(ticket, None, "tf-rest")
    assert rest.lots == pytest.approx(0.06) and not broker.positions()
    assert [d.client_id for d in broker.deals_for(ticket)] == ["tf-leg1", "tf-rest"]
    assert broker.deal("tf-rest") == rest
    with pytest.raises(PositionClosedError):
        broker.close(ticket, None, "tf-again")
    with pytest.raises(PositionClosedError):
        broker.modify(ticket, 1.0)


def test_close_lost_in_flight_is_resolved_by_a_new_instance(server, open_broker):
    broker = open_broker()
    ticket = broker.place(buy("tf-e2")).ticket
    server.lose_reply_of = len(server.requests) + 2  # reconcile, then the close: reply lost
    with pytest.raises(BrokerError) as info:
        broker.close(ticket, 0.05, "tf-half")
    assert info.value.retryable
    broker.shutdown()
    restarted = open_broker()  # same state file: the intent is settled at start
    assert restarted.doc["closes"]["tf-half"]["deal"]["lots"] == 0.05
    deal = restarted.close(ticket, 0.05, "tf-half")
    assert deal.lots == 0.05 and count(server, 2111) == 1  # found in the deals, not resent
    assert restarted.positions()[0].lots == pytest.approx(0.05)


def test_close_dropped_before_the_server_acted_is_sent_again(server, open_broker):
    broker = open_broker()
    ticket = broker.place(buy("tf-e3")).ticket
    server.drop_after = len(server.requests) + 2  # the close never reaches the handler
    with pytest.raises(BrokerError):
        broker.close(ticket, None, "tf-all")
    deal = broker.close(ticket, None, "tf-all")
    assert deal.lots == 0.1 and not broker.positions()


def test_pending_orders_cancel_and_rejections(server, open_broker):
    broker = open_broker()
    pending = broker.place(
        OrderRequest("tf-lim", "EURUSD", -1, 0.2, stop=1.2, order_type="limit", price=1.15)
    )
    assert (pending.status, pending.price, pending.lots) == ("pending", 1.15, 0.2)
    assert [o.client_id for o in broker.orders("EURUSD")] == ["tf-lim"]
    assert (
        broker.place(
            OrderRequest("tf-lim", "EURUSD", -1, 0.2, order_type="limit", price=1.15)
        ).status
        == "pending"
    )
    broker.cancel("tf-lim")
    broker.cancel("tf-lim")  # nothing rests: a no-op
    assert broker.orders() == [] and count(server, 2108) == 1
    assert broker.order_status("tf-lim").status == "rejected"
    with pytest.raises(
        OrderRejected, match=r"0.015 lots = 150000 cents .* step 100000 \(0.01 lots\)"
    ):
        broker.place(buy("tf-odd", lots=0.015))
    server.order_errors.append("NOT_ENOUGH_MONEY")
    with pytest.raises(OrderRejected, match="NOT_ENOUGH_MONEY"):
        broker.place(buy("tf-poor"))
    with pytest.raises(BrokerError, match="no symbol 'GBPUSD'"):
        broker.place(OrderRequest("tf-gbp", "GBPUSD", 1, 0.1))


def test_account_and_other_symbols(server, open_broker):
    server.deposit_asset = "EUR"
    broker = open_broker()
    account = broker.account()
    assert (account.balance, account.equity, account.currency) == (10_000.0, 10_000.0, "EUR")
    assert (account.margin_free, account.leverage) == (10_000.0, 100.0)
    ticket = broker.place(buy("tf-eq", lots=1.0)).ticket  # 100,000 units at ask 1.10002
    server.push_spot(1, 110_052, 110_054)  # bid +50 points: open P&L (1.10052-1.10002)*1e5 = 50
    account = broker.account()
    assert account.equity == pytest.approx(10_050.0)
    # used margin: 100,000 x 1.10002 / 100 = 1,100.02
    assert account.margin_free == pytest.approx(10_050.0 - 1_100.02)
    broker.close(ticket, None, "tf-eq-close")
    assert broker.account().balance == pytest.approx(10_050.0)
    gold = broker.place(OrderRequest("tf-xau", "XAUUSD", 1, 0.5))  # lotSize 10,000 cents = 100 oz
    assert server.positions[gold.ticket].tradeData.volume == 5_000
    assert broker.positions("XAUUSD")[0].lots == 0.5


def test_calls_survive_a_dropped_connection(server, open_broker):
    broker = open_broker()
    ticket = broker.place(buy("tf-e4")).ticket
    server.drop_connections()
    assert [p.ticket for p in broker.positions()] == [ticket]  # resent after reconnecting
    assert broker.client.stats.reconnects == 1


def test_partial_fill_with_the_rest_cancelled(server, open_broker):
    server.partial_fraction = 0.5
    broker = open_broker()
    result = broker.place(buy("tf-half-fill", lots=0.3))
    assert (result.status, result.lots) == ("filled", pytest.approx(0.15))
    assert broker.positions()[0].lots == pytest.approx(0.15)
    assert [e.kind for e in broker.events()] == ["fill", "reject"]  # the rest: cancelled


def test_live_feed_ticks_and_closed_bars(server, open_broker):
    from tests.ctrader.test_bars import T0
    from tradeforge.live.brokers.ctrader_feed import CTraderFeed
    from tradeforge.live.feeds import Bar, Tick

    history = [[T0 + i, 110_000 + i, 110_020 + i, 109_990 + i, 110_010 + i, 5] for i in range(10)]
    server.set_bars(1, 1, history)
    broker = open_broker()
    feed = CTraderFeed(broker, "EURUSD", "M1", max_events=6, poll=0.05)
    # the live bar of minute T0+8 as last seen (history has its final values)
    server.push_spot(1, 110_015, 110_017, bar=[T0 + 8, 110_008, 110_025, 109_998, 110_015, 4])
    server.push_spot(1, 110_016, 110_019, bar=[T0 + 9, 110_016, 110_016, 110_016, 110_016, 1])
    # minute T0+12: T0+9 is in history, T0+10 and T0+11 had no trades
    server.push_spot(1, 110_030, 110_032, bar=[T0 + 12, 110_030, 110_030, 110_030, 110_030, 1])
    events = list(feed.events())
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Tick", "Tick", "Bar", "Tick", "Bar", "Tick"]
    first_spot, after_sub = events[0], events[1]
    assert isinstance(first_spot, Tick) and (first_spot.bid, first_spot.ask) == (1.1, 1.10002)
    assert isinstance(after_sub, Tick) and after_sub.bid == 1.10015
    bar8 = events[2]
    assert isinstance(bar8, Bar) and bar8.time == (T0 + 8) * 60 * 10**9
    assert (bar8.open, bar8.high, bar8.low, bar8.close) == (1.10008, 1.10028, 1.09998, 1.10018)
    assert bar8.close_time - bar8.time == 60 * 10**9
    bar9 = events[4]
    assert (bar9.time, bar9.close) == ((T0 + 9) * 60 * 10**9, 1.10019) and bar9.index == 1
    window = feed.window((T0 + 9) * 60 * 10**9, 3)
    assert window["close"].tolist() == [1.10017, 1.10018, 1.10019]


def test_live_feed_uses_the_snapshot_when_history_lags(server, open_broker):
    from tests.ctrader.test_bars import T0
    from tradeforge.live.brokers.ctrader_feed import CTraderFeed

    broker = open_broker()
    feed = CTraderFeed(broker, "EURUSD", "M1", max_events=4, poll=0.05)
    server.push_spot(1, 110_015, 110_017, bar=[T0, 110_008, 110_025, 109_998, 110_015, 4])
    server.push_spot(1, 110_016, 110_019, bar=[T0 + 1, 110_016, 110_016, 110_016, 110_016, 1])
    bars = [e for e in feed.events() if type(e).__name__ == "Bar"]
    assert [(b.open, b.high, b.low, b.close) for b in bars] == [
        (1.10008, 1.10025, 1.09998, 1.10015)
    ]


def test_session_feed_merges_two_symbols_in_the_engines_order(server, open_broker):
    """A quiet symbol's bar closes on the other symbol's later quote (before it), and a spot
    stamped before an event already delivered comes just after it."""
    from itertools import islice

    from tests.ctrader.fake_server import FakeSymbol
    from tests.ctrader.test_bars import T0
    from tradeforge.live.brokers.ctrader_feed import CTraderSessionFeed
    from tradeforge.live.feeds import Bar

    server.symbols[4] = FakeSymbol(4, "GBPUSD", bid=127_000, ask=127_002)
    for sid, base in ((1, 110_000), (4, 127_000)):
        rows = [
            [T0 + i, base + i, base + 20 + i, base - 10 + i, base + 10 + i, 5] for i in range(10)
        ]
        server.set_bars(sid, 1, rows)
    ms = lambda minute, s: minute * 60_000 + s * 1_000  # noqa: E731
    server.clock_ms = ms(T0 + 8, 1)
    feed = CTraderSessionFeed(open_broker(), {"EURUSD": "M1", "GBPUSD": "M1"}, poll=0.05)
    pushes = [
        (ms(T0 + 8, 2), 1, 110_012, [T0 + 8, 110_008, 110_020, 110_000, 110_012, 2]),
        (ms(T0 + 8, 3), 4, 127_012, [T0 + 8, 127_008, 127_020, 127_000, 127_012, 2]),
        (ms(T0 + 9, 1), 4, 127_020, [T0 + 9, 127_020, 127_020, 127_020, 127_020, 1]),
        (ms(T0 + 9, 0) + 500, 1, 110_021, [T0 + 9, 110_021, 110_021, 110_021, 110_021, 1]),
    ]  # the last: EURUSD's spot stamped before GBPUSD's, arriving after it
    for clock, sid, bid, bar in pushes:
        server.clock_ms = clock
        server.push_spot(sid, bid, bid + 2, bar=bar, period=1)
    events = list(islice(feed.events(), 8))
    got = [(type(e).__name__, e.symbol) for e in events]
    assert got == [
        ("Tick", "EURUSD"), ("Tick", "GBPUSD"),  # the subscriptions' first quotes
        ("Tick", "EURUSD"), ("Tick", "GBPUSD"),
        ("Bar", "EURUSD"), ("Bar", "GBPUSD"), ("Tick", "GBPUSD"),  # minute T0+8 closed
        ("Tick", "EURUSD"),
    ]  # fmt: skip
    keys = [(*e.key, e.symbol) for e in events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    eur8, gbp8 = events[4], events[5]
    assert isinstance(eur8, Bar) and eur8.time == (T0 + 8) * 60 * 10**9
    assert eur8.close == 1.10018 and gbp8.close == 1.27018  # history's final values
    assert events[7].time == events[6].time + 1 and events[7].bid == 1.10021
