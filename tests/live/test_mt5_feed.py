"""`MT5Feed` against the stand-in: server time across New York's spring switch (the same UTC
stamps as the data source), every real tick, and a terminal that drops its link."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.support.fake_mt5 import FakeMT5, make_rates
from tradeforge.core.errors import DataError
from tradeforge.data.sources.mt5 import MT5Source
from tradeforge.data.sources.mt5_terminal import MT5Terminal
from tradeforge.live.brokers.mt5 import MT5Feed
from tradeforge.live.feeds import Bar, Tick

H = 3600
SPRING = 1710028800  # 2024-03-10 00:00 UTC; New York springs forward at 07:00 UTC
# server wall stamps: UTC+2 until the switch, UTC+3 after (the server clock skips 09:00)
SERVER = [SPRING + 7 * H, SPRING + 8 * H, SPRING + 10 * H, SPRING + 11 * H, SPRING + 12 * H]
UTC = ["2024-03-10 05:00", "2024-03-10 06:00", "2024-03-10 07:00", "2024-03-10 08:00"]
NS = 10**9


def rows(stamps: list[int]) -> list[tuple]:
    return [(t, 1.1 + i / 1e4, 1.1003 + i / 1e4, 1.0998 + i / 1e4, 1.1001 + i / 1e4, 10, 12, 0)
            for i, t in enumerate(stamps)]  # fmt: skip


@pytest.fixture
def fake() -> FakeMT5:
    mt5 = FakeMT5()
    mt5.add_symbol("EURUSD.r", digits=5)
    mt5.initialize()
    return mt5


def terminal(fake: FakeMT5, naps: list | None = None) -> MT5Terminal:
    t = MT5Terminal(fake, server_time="ny", sleep=(naps if naps is not None else []).append)
    t.connect()
    return t


def test_source_and_feed_put_bars_on_the_same_utc_times_across_the_switch(fake) -> None:
    fake.add_rates("EURUSD.r", fake.TIMEFRAME_H1, make_rates(rows(SERVER)))
    term = terminal(fake)
    frame = MT5Source(terminal=term, manage_connection=False).fetch(
        "EURUSD", "H1", "2024-03-10 05:00", "2024-03-10 09:00"
    )
    assert list(frame.index) == [pd.Timestamp(t, tz="UTC") for t in UTC]
    (_, args), = [c for c in fake.calls if c[0] == "copy_rates_range"]  # fmt: skip
    # each end of the UTC range converted with the offset in force then (+2, then +3)
    assert args[2].timestamp() == SPRING + 7 * H and args[3].timestamp() == SPRING + 12 * H - 1
    feed = MT5Feed(term, "EURUSD", "H1", max_polls=1, sleep=lambda s: None)
    window = feed.window(pd.Timestamp(UTC[-1], tz="UTC").value, 4)
    pd.testing.assert_frame_equal(window, frame)


def test_feed_bars_either_side_of_the_switch(fake) -> None:
    fake.add_rates("EURUSD.r", fake.TIMEFRAME_H1, make_rates(rows(SERVER[:3])))  # 10:00 forms
    fake.add_ticks("EURUSD.r", [((SPRING + 10 * H) * 1000 + 500, 1.1002, 1.1003)])
    term = terminal(fake)

    def next_hour(_: float) -> None:
        fake.add_rates("EURUSD.r", fake.TIMEFRAME_H1, make_rates(rows(SERVER[:4])))
        fake.add_ticks("EURUSD.r", [((SPRING + 11 * H) * 1000 + 10, 1.1004, 1.1005)])

    events = list(MT5Feed(term, "EURUSD", "H1", max_polls=2, sleep=next_hour).events())
    bars = [(pd.Timestamp(e.time, tz="UTC"), pd.Timestamp(e.close_time, tz="UTC"))
            for e in events if isinstance(e, Bar)]  # fmt: skip
    assert bars == [
        (pd.Timestamp("2024-03-10 06:00", tz="UTC"), pd.Timestamp("2024-03-10 07:00", tz="UTC")),
        (pd.Timestamp("2024-03-10 07:00", tz="UTC"), pd.Timestamp("2024-03-10 08:00", tz="UTC")),
    ]
    ticks = [e.time for e in events if isinstance(e, Tick)]
    # server 10:00:00.500 (UTC+3) is 07:00:00.500 UTC; server 11:00:00.010 is 08:00:00.010
    assert ticks == [(SPRING + 7 * H) * NS + 500_000_000, (SPRING + 8 * H) * NS + 10_000_000]
    assert [e.key for e in events] == sorted(e.key for e in events)
    assert events[0].symbol == "EURUSD"  # tradeforge's name, not the broker's EURUSD.r


def test_every_real_tick_is_emitted_in_order(fake) -> None:
    t0 = (SPRING + 10 * H) * 1000
    fake.add_rates("EURUSD.r", fake.TIMEFRAME_H1, make_rates(rows(SERVER[:3])))
    fake.add_ticks("EURUSD.r", [(t0, 1.1000, 1.1001)])
    term = terminal(fake)
    burst = [(t0 + 100, 1.1002, 1.1003), (t0 + 250, 1.0999, 1.1000), (t0 + 251, 1.1001, 1.1002)]
    feed = MT5Feed(term, "EURUSD", "H1", max_polls=2,
                   sleep=lambda s: fake.add_ticks("EURUSD.r", burst))  # fmt: skip
    ticks = [e for e in feed.events() if isinstance(e, Tick)]
    assert [(t.bid, t.ask) for t in ticks] == [(1.1, 1.1001)] + [(b, a) for _, b, a in burst]
    assert any(name == "copy_ticks_from" for name, _ in fake.calls)


def test_a_dropped_terminal_is_reconnected_and_reconciled_before_new_events(fake) -> None:
    t0 = (SPRING + 10 * H) * 1000
    fake.add_rates("EURUSD.r", fake.TIMEFRAME_H1, make_rates(rows(SERVER[:3])))
    fake.add_ticks("EURUSD.r", [(t0, 1.1000, 1.1001)])
    naps: list[float] = []
    term = terminal(fake, naps)
    log: list[str] = []
    failures = iter([True, True])

    def drop(_: float) -> None:  # the link drops; the first two initialize() calls fail
        if log.count("Tick") > 1:
            return  # only once
        fake.add_ticks("EURUSD.r", [(t0 + 5000, 1.1003, 1.1004)])
        fake.disconnect()
        fake.fail("initialize", -10004, "IPC connect failed")
        real = fake.initialize

        def flaky(*a, **kw):
            if next(failures, False):
                return FakeMT5.initialize(fake, *a, **kw)
            fake.failures.pop("initialize", None)
            return real(*a, **kw)

        fake.initialize = flaky

    feed = MT5Feed(term, "EURUSD", "H1", max_polls=2, sleep=drop,
                   on_reconnect=lambda: log.append("reconcile"))  # fmt: skip
    for ev in feed.events():
        log.append(type(ev).__name__)
    assert log == ["Bar", "Tick", "reconcile", "Tick"]  # the missed tick comes after reconcile
    assert naps == [1.0, 2.0] and fake.initialized and term.reconnects == 1


def test_a_terminal_that_stays_away_is_an_error(fake) -> None:
    fake.add_rates("EURUSD.r", fake.TIMEFRAME_H1, make_rates(rows(SERVER[:3])))
    fake.add_ticks("EURUSD.r", [((SPRING + 10 * H) * 1000, 1.1000, 1.1001)])
    term = terminal(fake)
    term.broker_symbol("EURUSD")
    fake.disconnect()
    fake.fail("initialize", -10004, "IPC connect failed")
    with pytest.raises(DataError, match="reconnect failed after 5 tries.*IPC connect failed"):
        list(MT5Feed(term, "EURUSD", "H1", max_polls=1, sleep=lambda s: None).events())


def test_the_feed_reports_the_link_and_the_clock_skew_to_the_health_monitor(fake, tmp_path):
    from tradeforge.live.brokers.mt5 import MT5Broker
    from tradeforge.live.health import HealthMonitor, HealthRule

    t0 = (SPRING + 10 * H) * 1000  # server ms: 10:00 at UTC+3 (after the switch) = 07:00 UTC
    utc0 = t0 / 1000 - 3 * H
    fake.add_rates("EURUSD.r", fake.TIMEFRAME_H1, make_rates(rows(SERVER[:3])))
    fake.add_ticks("EURUSD.r", [(t0, 1.1000, 1.1001)])
    now = {"ms": int((utc0 + 60) * 1000)}
    term = MT5Terminal(fake, server_time="ny", now=lambda: now["ms"], sleep=lambda s: None)
    term.connect()

    def later(_: float) -> None:  # between polls a new tick arrives, 1.5 s before "now"
        fake.add_ticks("EURUSD.r", [(t0 + 2000, 1.1002, 1.1003)])
        now["ms"] = int((utc0 + 3.5) * 1000)

    feed = MT5Feed(term, "EURUSD", "H1", max_polls=2, sleep=later)
    rules = (HealthRule("link", 5, "halt"), HealthRule("skew", 1, "warn"))
    monitor = HealthMonitor(tmp_path, rules)
    monitor.watch_broker(MT5Broker(term, connect=False))
    events = list(monitor.watch_feed(feed).events())
    assert [type(e).__name__ for e in events] == ["Bar", "Tick", "Tick"]
    assert feed.clock_skew == 1.5  # the first poll's quote is old news: not a skew reading
    values = monitor.measure()
    assert values["skew"] == 1.5 and values["link"] is not None and values["link"] < 5
    assert monitor.check()["status"] == "degraded"  # skew 1.5 s > 1 s
    link = term.link()
    assert link["connected"] and link["failure"] is None and link["reconnects"] == 0
    # the terminal loses the trade server: the next poll says so, and the link rule fires
    fake.server_connected = False
    list(MT5Feed(term, "EURUSD", "H1", max_polls=1, sleep=lambda s: None).events())
    assert term.link() == {**term.link(), "connected": False,
                           "failure": "the terminal is not connected to the trade server"}  # fmt: skip
    clock = [1000.0]
    monitor.clock = lambda: clock[0]
    monitor.check()
    clock[0] += 6  # down for 6 s
    snap = monitor.check()
    assert snap["conditions"]["link"]["value"] == 6.0
    assert "trade server" in snap["last_error"] and snap["link"]["connected"] is False
    fake.server_connected = True
    list(MT5Feed(term, "EURUSD", "H1", max_polls=1, sleep=lambda s: None).events())
    assert term.link()["connected"] is True


def test_a_failed_reconnect_is_the_links_failure(fake) -> None:
    fake.add_rates("EURUSD.r", fake.TIMEFRAME_H1, make_rates(rows(SERVER[:3])))
    fake.add_ticks("EURUSD.r", [((SPRING + 10 * H) * 1000, 1.1000, 1.1001)])
    term = terminal(fake)
    assert term.link()["silent_seconds"] is None  # nothing answered yet
    term.broker_symbol("EURUSD")
    term.call("symbol_info", "NOPE")  # a refusal is still an answer
    assert term.link()["silent_seconds"] is not None and term.link()["connected"]
    fake.disconnect()
    fake.fail("initialize", -10004, "IPC connect failed")
    with pytest.raises(DataError):
        list(MT5Feed(term, "EURUSD", "H1", max_polls=1, sleep=lambda s: None).events())
    link = term.link()
    assert link["connected"] is False
    assert link["failure"].startswith("MetaTrader 5 reconnect failed after 5 tries")
