"""The asyncio client against the fake server over real TLS sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest

from tests.ctrader.conftest import credentials
from tests.ctrader.fake_server import ACCOUNT, REFRESH_TOKEN
from tradeforge.core.errors import ConfigError
from tradeforge.ctrader import RECONNECTED, ConnectionLost, CTraderError, RequestTimeout
from tradeforge.ctrader import messages as m
from tradeforge.ctrader.config import ClientSettings, parse_endpoint
from tradeforge.ctrader.proto import openapi_pb2 as pb
from tradeforge.ctrader.symbols import resolve_symbol


def run(coro):
    return asyncio.run(coro)


async def until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def trendbars_req(symbol_id=1, t0=0, t1=60_000):
    return pb.ProtoOAGetTrendbarsReq(
        ctidTraderAccountId=ACCOUNT, symbolId=symbol_id, period=1, fromTimestamp=t0, toTimestamp=t1
    )


# ---------------------------------------------------------------------------- wire format


def test_frame_is_big_endian_length_then_envelope():
    frame = m.encode(pb.ProtoHeartbeatEvent(), "id-7")
    (length,) = struct.unpack(">I", frame[:4])
    assert length == len(frame) - 4
    envelope = pb.ProtoMessage.FromString(frame[4:])
    assert (envelope.payloadType, envelope.clientMsgId) == (51, "id-7")
    back = m.decode(frame[4:])
    assert (back.payload_type, back.client_msg_id) == (51, "id-7")


def test_payload_types_come_from_the_schema():
    assert m.payload_type(pb.ProtoOAApplicationAuthReq(clientId="a", clientSecret="b")) == 2100
    assert m.payload_type(pb.ProtoOANewOrderReq()) == 2106
    assert m.payload_type(pb.ProtoOAGetTrendbarsReq()) == 2137
    assert m.MESSAGE_TYPES[2126] is pb.ProtoOAExecutionEvent
    assert m.MESSAGE_TYPES[2165] is pb.ProtoOASubscribeLiveTrendbarRes


def test_oversized_and_garbage_frames_are_refused():
    async def read(data):
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await m.read_frame(reader)

    with pytest.raises(CTraderError, match="exceeds"):
        run(read(struct.pack("!I", m.MAX_FRAME + 1)))
    with pytest.raises(CTraderError, match="undecodable"):
        m.decode(b"\xff\xff\xff")


def test_endpoint_parsing():
    assert parse_endpoint("demo.ctraderapi.com") == ("demo.ctraderapi.com", 5035)
    assert parse_endpoint("127.0.0.1:6000") == ("127.0.0.1", 6000)
    for bad in ("host:port", ":5035", "h:70000"):
        with pytest.raises(ConfigError, match="HOST:PORT"):
            parse_endpoint(bad)
    with pytest.raises(ConfigError):
        ClientSettings(rate=0)


# ---------------------------------------------------------------------------- auth, replies


def test_auth_and_symbol_lookup(server, make_client):
    async def go():
        async with make_client() as client:
            spec = await resolve_symbol(client, "usd/jpy")
            with pytest.raises(ConfigError, match="no symbol 'EURUSX'; similar: EURUSD"):
                await resolve_symbol(client, "EURUSX")
            return spec

    spec = run(go())
    assert (spec.symbol_id, spec.name, spec.digits, spec.pip_position) == (2, "USDJPY", 3, 2)
    assert (spec.lot_size, spec.min_volume, spec.step_volume) == (10_000_000, 100_000, 100_000)
    assert [pt for pt, _ in server.requests[:2]] == [2100, 2102]


def test_wrong_application_secret_fails_at_connect(server, make_client):
    from tradeforge.ctrader import Credentials

    client = make_client(Credentials("app-id", "wrong", "token-1"))
    with pytest.raises(CTraderError, match="CH_CLIENT_AUTH_FAILURE") as info:
        run(client.connect())
    assert info.value.code == "CH_CLIENT_AUTH_FAILURE"


def test_untrusted_certificate_is_refused(server):
    from tradeforge.ctrader import CTraderClient

    settings = ClientSettings(host=server.host, port=server.port)  # system trust store only
    with pytest.raises(ConnectionLost, match="cannot connect"):
        run(CTraderClient(credentials(), ACCOUNT, settings).connect())


def test_concurrent_replies_are_matched_by_client_msg_id(server, make_client):
    server.fill_delay = 0.3  # the fill arrives after later requests were answered

    async def go():
        events = []
        async with make_client() as client:
            client.add_listener(lambda pt, msg: events.append((pt, msg)))
            order = pb.ProtoOANewOrderReq(
                ctidTraderAccountId=ACCOUNT,
                symbolId=1,
                orderType=pb.MARKET,
                tradeSide=pb.BUY,
                volume=100_000,
                label="tf-1",
            )
            ids = [1, 2, 3] * 8
            reqs = [
                client.request(pb.ProtoOASymbolByIdReq(ctidTraderAccountId=ACCOUNT, symbolId=[i]))
                for i in ids
            ]
            accepted, *answers = await asyncio.gather(client.request(order, resend=False), *reqs)
            await until(
                lambda: any(
                    e[1].executionType == pb.ORDER_FILLED
                    for e in events
                    if e[0] == m.EXECUTION_EVENT
                )
            )
            return accepted, ids, answers, events

    accepted, ids, answers, events = run(go())
    assert accepted.executionType == pb.ORDER_ACCEPTED
    assert [a.symbol[0].symbolId for a in answers] == ids
    kinds = [e[1].executionType for e in events if e[0] == m.EXECUTION_EVENT]
    assert kinds == [pb.ORDER_ACCEPTED, pb.ORDER_FILLED]
    cids = [cid for pt, cid in server.requests]
    assert len(set(cids)) == len(cids)  # every request had its own id


def test_request_timeout(server, make_client):
    server.ignore = {2121}

    async def go():
        async with make_client() as client:
            with pytest.raises(RequestTimeout, match="no reply to ProtoOATraderReq"):
                await client.request(pb.ProtoOATraderReq(ctidTraderAccountId=ACCOUNT), timeout=0.2)
            server.ignore = set()
            res = await client.request(pb.ProtoOATraderReq(ctidTraderAccountId=ACCOUNT))
            return res.trader.balance

    assert run(go()) == 1_000_000


# ---------------------------------------------------------------------------- heartbeats


def test_heartbeats_sent_when_idle_and_answered(server, make_client):
    server.heartbeat_interval = 0.1

    async def go():
        async with make_client(heartbeat_interval=0.1) as client:
            await asyncio.sleep(1.2)
            return client.stats

    stats = run(go())
    assert stats.heartbeats_received >= 4
    # one answer per server heartbeat plus the idle ones
    assert stats.heartbeats_sent >= stats.heartbeats_received
    assert server.heartbeats_received >= stats.heartbeats_received


def test_silent_server_is_dropped_and_reconnected(server, make_client):
    async def go():
        async with make_client(idle_timeout=0.3, heartbeat_interval=10) as client:
            await until(lambda: client.stats.reconnects >= 1)
            return server.connections

    assert run(go()) >= 2


# ---------------------------------------------------------------------------- reconnect


def test_reconnect_restores_auth_and_subscriptions(server, make_client):
    async def go():
        spots, marks = [], []
        async with make_client() as client:
            client.add_listener(
                lambda pt, msg: spots.append(msg.bid) if pt == m.SPOT_EVENT else marks.append(pt)
            )
            await client.subscribe_live_trendbars(1, 1)
            await until(lambda: len(spots) == 1)  # the subscription's first spot
            server.drop_connections()
            await until(lambda: client.stats.reconnects == 1 and client.connected)
            await until(lambda: len(spots) == 2)  # re-subscribed: a fresh first spot
            server.push_spot(1, 110_050, 110_052)
            await until(lambda: len(spots) == 3)
            return spots, marks

    spots, marks = run(go())
    assert spots == [110_000, 110_000, 110_050]
    assert RECONNECTED in marks
    types = [pt for pt, _ in server.requests]
    assert types == [2100, 2102, 2127, 2135, 2100, 2102, 2127, 2135]


def test_reconnect_backs_off_exponentially(server, make_client):
    async def go():
        async with make_client(reconnect_delay=0.1) as client:
            server.refuse_connections = 2
            t0 = time.monotonic()
            server.drop_connections()
            await until(lambda: client.stats.reconnects == 1 and client.connected)
            return time.monotonic() - t0

    elapsed = run(go())
    assert elapsed >= 0.1 + 0.2 + 0.4 - 0.02  # three waits: 0.1, 0.2, 0.4 s
    assert server.connections == 2


def test_gives_up_after_the_configured_attempts(server, make_client):
    async def go():
        async with make_client(reconnect_attempts=2) as client:
            server.refuse_connections = 100
            server.drop_connections()
            with pytest.raises(CTraderError, match="gave up reconnecting .* after 2 attempts"):
                await client.request(pb.ProtoOATraderReq(ctidTraderAccountId=ACCOUNT))

    run(go())


def test_request_in_flight_when_the_link_drops(server, make_client):
    async def go():
        async with make_client() as client:
            server.drop_after = len(server.requests) + 1
            res = await client.request(pb.ProtoOAReconcileReq(ctidTraderAccountId=ACCOUNT))
            assert client.stats.reconnects == 1
            server.drop_after = len(server.requests) + 1
            order = pb.ProtoOANewOrderReq(
                ctidTraderAccountId=ACCOUNT,
                symbolId=1,
                orderType=pb.MARKET,
                tradeSide=pb.BUY,
                volume=100_000,
            )
            with pytest.raises(ConnectionLost, match="lost"):
                await client.request(order, resend=False)  # never sent twice by the client
            return res

    assert run(go()).ctidTraderAccountId == ACCOUNT
    assert [pt for pt, _ in server.requests].count(2106) == 1


# ---------------------------------------------------------------------------- rate limits


def test_historical_requests_are_paced_at_five_per_second(server, make_client):
    async def go():
        async with make_client() as client:
            t0 = time.monotonic()
            await asyncio.gather(*(client.request(trendbars_req()) for _ in range(12)))
            return time.monotonic() - t0

    elapsed = run(go())
    assert elapsed >= 2 * 1.05 - 0.05  # 5 now, 5 after one window of 1.05 s, 2 after two
    times = [t for pt, t in server.request_times if pt == 2137]
    assert len(times) == 12 + server.blocked
    # as received (loopback jitter allowed for): never more than 5 in any 0.8 s
    assert all(sum(1 for u in times if t <= u < t + 0.8) <= 5 for t in times)


def test_blocked_payload_type_waits_retry_after(server, make_client):
    async def go():
        async with make_client(historical_rate=50) as client:  # more than the server allows
            t0 = time.monotonic()
            answers = await asyncio.gather(*(client.request(trendbars_req()) for _ in range(8)))
            return answers, time.monotonic() - t0, client.stats.blocked

    answers, elapsed, blocked = run(go())
    assert len(answers) == 8 and all(a.period == 1 for a in answers)
    assert server.blocked == 3 and blocked == 3
    assert elapsed >= 1.0 - 0.05  # the blocked three waited the server's retryAfter


# ---------------------------------------------------------------------------- tokens


def test_refused_access_token_is_refreshed_and_reported(server, make_client):
    seen = []

    async def go():
        client = make_client(credentials(access="expired"), on_token=seen.append)
        async with client:
            await client.request(pb.ProtoOAReconcileReq(ctidTraderAccountId=ACCOUNT))
            return client.stats.token_refreshes

    assert run(go()) == 1
    assert len(seen) == 1 and seen[0].access_token in server.tokens
    assert seen[0].refresh_token != REFRESH_TOKEN


def test_refused_token_without_refresh_token(server, make_client):
    client = make_client(credentials(access="expired", refresh=""))
    with pytest.raises(CTraderError, match="no refresh token is configured"):
        run(client.connect())


def test_token_invalidated_event_triggers_refresh(server, make_client):
    seen = []

    async def go():
        async with make_client(on_token=seen.append) as client:
            server.send_event(
                pb.ProtoOAAccountsTokenInvalidatedEvent(ctidTraderAccountIds=[ACCOUNT])
            )
            await until(lambda: len(seen) == 1)
            await client.request(pb.ProtoOAReconcileReq(ctidTraderAccountId=ACCOUNT))

    run(go())
    assert [pt for pt, _ in server.requests].count(2102) == 2


# ---------------------------------------------------------------------------- orders


def new_order(**fields):
    base = dict(ctidTraderAccountId=ACCOUNT, symbolId=1, tradeSide=pb.BUY, volume=1_000_000)
    return pb.ProtoOANewOrderReq(**{**base, **fields})


def test_order_flows(server, make_client):
    async def go():
        events = []
        async with make_client() as client:
            client.add_listener(lambda pt, msg: events.append((pt, msg)))
            r = lambda msg: client.request(msg, resend=False)  # noqa: E731
            acc = await r(new_order(orderType=pb.MARKET, label="cid-1", relativeStopLoss=500))
            await until(lambda: len(server.positions) == 1)
            pid = acc.position.positionId
            rec = await client.request(pb.ProtoOAReconcileReq(ctidTraderAccountId=ACCOUNT))
            pos = rec.position[0]
            assert (pos.positionId, pos.tradeData.label, pos.tradeData.volume) == (
                pid,
                "cid-1",
                1_000_000,
            )
            assert pos.price == pytest.approx(1.10002) and pos.stopLoss == pytest.approx(1.09502)
            amended = await r(
                pb.ProtoOAAmendPositionSLTPReq(
                    ctidTraderAccountId=ACCOUNT, positionId=pid, stopLoss=1.1, takeProfit=1.2
                )
            )
            assert amended.executionType == pb.ORDER_REPLACED and amended.position.stopLoss == 1.1
            part = await r(
                pb.ProtoOAClosePositionReq(
                    ctidTraderAccountId=ACCOUNT, positionId=pid, volume=400_000
                )
            )
            assert part.executionType == pb.ORDER_FILLED
            assert part.deal.closePositionDetail.closedVolume == 400_000
            assert server.positions[pid].tradeData.volume == 600_000
            limit = await r(new_order(orderType=pb.LIMIT, limitPrice=1.05))
            assert limit.executionType == pb.ORDER_ACCEPTED
            oid = limit.order.orderId
            cancelled = await r(pb.ProtoOACancelOrderReq(ctidTraderAccountId=ACCOUNT, orderId=oid))
            assert cancelled.executionType == pb.ORDER_CANCELLED and not server.orders
            server.order_errors.append("MARKET_CLOSED")
            with pytest.raises(CTraderError, match="MARKET_CLOSED") as info:
                await r(new_order(orderType=pb.MARKET))
            assert info.value.code == "MARKET_CLOSED"
            with pytest.raises(CTraderError, match="TRADING_BAD_VOLUME"):
                await r(new_order(orderType=pb.MARKET, volume=150_000))
            return events

    events = run(go())
    kinds = [
        (pt, getattr(msg, "executionType", msg.errorCode if pt == 2132 else None))
        for pt, msg in events
        if pt in (m.EXECUTION_EVENT, m.ORDER_ERROR_EVENT)
    ]
    assert kinds == [
        (2126, pb.ORDER_ACCEPTED),
        (2126, pb.ORDER_FILLED),
        (2126, pb.ORDER_REPLACED),
        (2126, pb.ORDER_FILLED),
        (2126, pb.ORDER_ACCEPTED),
        (2126, pb.ORDER_CANCELLED),
        (2132, "MARKET_CLOSED"),
        (2132, "TRADING_BAD_VOLUME"),
    ]
