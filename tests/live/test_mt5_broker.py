"""`MT5Broker` against the MetaTrader5 stand-in: orders, idempotency, stops, closes, retcodes."""

from __future__ import annotations

import pytest

from tests.live.helpers import positions_of
from tests.support.fake_mt5_trading import FakeMT5Trading
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.sources.mt5_terminal import MT5Terminal
from tradeforge.live.brokers.base import (
    Broker,
    OrderRejected,
    OrderRequest,
    PositionClosedError,
    client_order_id,
)
from tradeforge.live.brokers.mt5 import MT5Broker, describe_retcode


@pytest.fixture
def mt5():
    fake = FakeMT5Trading()
    fake.add_symbol("EURUSD", bid=1.10000, spread=10)
    return fake


@pytest.fixture
def broker(mt5):
    return MT5Broker(MT5Terminal(mt5, server_time="utc"), magic=77, sleep=lambda s: None)


def _buy(cid="tfa", lots=0.5):
    return OrderRequest(cid, "EURUSD", 1, lots)


def test_is_a_broker_and_connects(mt5, broker):
    assert isinstance(broker, Broker)
    assert mt5.initialized
    assert broker.account().balance == 10_000.0


def test_missing_package_is_a_clear_error():
    with pytest.raises(ConfigError, match="MetaTrader5 package is not installed"):
        MT5Broker()


def test_initialize_failure_reports_last_error(mt5):
    mt5.fail("initialize", -6, "Authorization failed")
    with pytest.raises(DataError, match="-6, 'Authorization failed'"):
        MT5Broker(mt5)


def test_place_sends_a_market_deal_with_client_id_and_magic(mt5, broker):
    res = broker.place(_buy())
    assert res.status == "filled" and res.price == pytest.approx(1.1001) and res.lots == 0.5
    (req,) = [a[0] for name, a in mt5.calls if name == "order_send"]
    assert req["comment"] == "tfa" and req["magic"] == 77 and req["price"] == pytest.approx(1.1001)
    (pos,) = broker.positions("EURUSD")
    assert pos.client_id == "tfa" and pos.side == 1 and pos.lots == 0.5


def test_resubmission_is_recognised_not_duplicated(mt5, broker):
    first = broker.place(_buy())
    again = broker.place(_buy())
    assert again.ticket == first.ticket
    assert sum(1 for name, _ in mt5.calls if name == "order_send") == 1
    # also once the position is closed: the entry deal is still found in the history
    broker.close(first.ticket, None, "tfa-close")
    assert broker.place(_buy()).ticket == first.ticket
    assert sum(1 for name, _ in mt5.calls if name == "order_send") == 2


def test_modify_partial_and_full_close(mt5, broker):
    res = broker.place(_buy(lots=1.0))
    broker.modify(res.ticket, 1.0950)
    assert broker.positions()[0].stop == pytest.approx(1.0950)
    broker.modify(res.ticket, 1.0950)  # NO_CHANGES is success
    d1 = broker.close(res.ticket, 0.4, "leg1")
    assert d1.lots == pytest.approx(0.4) and d1.price == pytest.approx(1.1)
    assert broker.positions()[0].lots == pytest.approx(0.6)
    assert broker.close(res.ticket, 0.4, "leg1") == d1  # same client id: no second deal
    broker.close(res.ticket, None, "leg2")
    assert broker.positions() == []
    assert [d.client_id for d in broker.deals_for(res.ticket)] == ["leg1", "leg2"]
    with pytest.raises(PositionClosedError):
        broker.close(res.ticket, None, "leg3")
    with pytest.raises(PositionClosedError):
        broker.modify(res.ticket, 1.09)


def test_other_magic_numbers_are_not_ours(mt5, broker):
    MT5Broker(MT5Terminal(mt5, server_time="utc"), magic=1).place(_buy("foreign"))
    assert broker.positions() == []


@pytest.mark.parametrize(
    ("code", "exc", "retryable", "text"),
    [
        (10019, OrderRejected, False, "NO_MONEY"),
        (10014, OrderRejected, False, "INVALID_VOLUME"),
        (10036, PositionClosedError, False, "POSITION_CLOSED"),
    ],
)
def test_retcodes_map_to_clear_errors(mt5, broker, code, exc, retryable, text):
    mt5.queue_retcode(code)
    with pytest.raises(exc, match=text) as info:
        broker.place(_buy())
    assert info.value.code == code and info.value.retryable is retryable
    assert broker.positions() == []


def test_describe_retcode():
    assert describe_retcode(10009) == "10009 DONE (request completed)"
    assert "UNKNOWN" in describe_retcode(1)


def test_client_order_id_is_deterministic_and_fits_a_comment():
    a = client_order_id("s", "eurusd", "2024-01-01 10:00", "long")
    assert a == client_order_id("s", "EURUSD", "2024-01-01T10:00:00+00:00", "long")
    assert a != client_order_id("s", "EURUSD", "2024-01-01 10:05", "long")
    assert a != client_order_id("s", "EURUSD", "2024-01-01 10:00", "long", "leg1")
    assert len(a) <= 31


def test_engine_trades_through_mt5_on_ticks_and_reconciles_a_stop_out(tmp_path, mt5):
    """Replay bars through the engine with the MT5 adapter (tick exit mode): the fake's quote
    follows the feed; then a server-side stop-out while the engine is down is booked."""
    from dataclasses import replace

    from tests.live.helpers import small_spec
    from tests.support.fake_mt5 import Tick as MT5Tick
    from tradeforge.live.engine import Engine
    from tradeforge.live.feeds import ReplayFeed, Tick
    from tradeforge.live.runner import engine_config, load_bars
    from tradeforge.strategy.registry import create_strategy

    spec = small_spec(tmp_path)
    frame = load_bars(spec)
    cfg = replace(engine_config(spec), exit_mode="tick")

    class QuotingFeed(ReplayFeed):
        def events(self, after=None):
            for ev in super().events(after):
                if isinstance(ev, Tick):
                    ms = ev.time // 1_000_000
                    mt5.ticks["EURUSD"] = MT5Tick(ms // 1000, ev.bid, ev.ask, 0.0, 0, ms, 6, 0.0)
                yield ev

    feed = QuotingFeed(frame, "EURUSD", "M5", play_from=spec.start)
    broker = MT5Broker(MT5Terminal(mt5, server_time="utc"), magic=5)
    strat = create_strategy(str(spec.strategy), spec.params)
    engine = Engine(cfg, strat, feed, broker, tmp_path / "s", replaying=False)
    engine.start()
    opened = None
    for ev in feed.events(None):
        engine.handle(ev)
        if positions_of(engine.state) and isinstance(ev, Tick):
            opened = next(iter(positions_of(engine.state).values()))
            break
    assert opened is not None
    (bp,) = broker.positions()
    # the stop went to the server, on the symbol's price grid and never tighter than the state's
    assert bp.stop == pytest.approx(opened["initial_stop"], abs=1e-5)
    assert bp.stop == round(bp.stop, 5) and (bp.stop - opened["initial_stop"]) * bp.side <= 0
    mt5.stop_out(bp.ticket, opened["initial_stop"])
    engine = Engine(cfg, strat, feed, broker, tmp_path / "s", replaying=False)
    engine.start()
    rec = engine.repo.records()[-1]
    assert rec["kind"] == "reconcile"
    (trade,) = rec["trades"]
    assert trade["exit_reason"] == "stop" and trade["exit_price"] == pytest.approx(
        opened["initial_stop"]
    )
    engine.run()
    assert engine.state["stats"]["trades"] >= 2
    assert len(broker.positions()) == len(positions_of(engine.state))
