"""`MT5SessionFeed` against the stand-in: two symbols polled on one terminal come out in the
merged (time, bar-before-tick, symbol) order; a quiet symbol's bar is closed by the other
symbol's later tick, never delivered after it, and not delivered again once its own ticks
show it closed."""

from __future__ import annotations

from tests.support.fake_mt5 import FakeMT5, make_rates
from tradeforge.data.sources.mt5_terminal import MT5Terminal
from tradeforge.live.brokers.mt5_session import MT5SessionFeed
from tradeforge.live.feeds import Bar, Tick

T0 = 1_709_510_400  # 2024-03-04 00:00 UTC (server time UTC)
M5, NS = 300, 10**9


def rates(*opens: int) -> object:
    return make_rates([(t, 1.1, 1.1005, 1.0995, 1.1002, 10, 8, 0) for t in opens])


def test_a_quiet_symbols_bar_closes_on_the_other_symbols_tick() -> None:
    fake = FakeMT5()
    for name in ("EURUSD", "GBPUSD"):
        fake.add_symbol(name, digits=5)
        fake.add_rates(name, fake.TIMEFRAME_M5, rates(T0 - M5, T0))  # T0 forming
        fake.add_ticks(name, [(T0 * 1000 + 1_000, 1.1, 1.1001)])
    fake.initialize()
    term = MT5Terminal(fake, server_time="utc", sleep=lambda s: None)
    term.connect()
    script = [
        # EURUSD's next bar opens (its T0 bar closed); GBPUSD stays quiet
        lambda: (fake.add_rates("EURUSD", fake.TIMEFRAME_M5, rates(T0 - M5, T0, T0 + M5)),
                 fake.add_ticks("EURUSD", [((T0 + M5) * 1000 + 10_000, 1.1003, 1.1004)])),
        # GBPUSD's first tick of the new bar: its T0 bar is already delivered
        lambda: (fake.add_rates("GBPUSD", fake.TIMEFRAME_M5, rates(T0 - M5, T0, T0 + M5)),
                 fake.add_ticks("GBPUSD", [((T0 + M5) * 1000 + 20_000, 1.1006, 1.1007)])),
        lambda: None,
    ]  # fmt: skip
    feed = MT5SessionFeed(term, {"EURUSD": "M5", "GBPUSD": "M5"}, max_polls=3,
                          sleep=lambda s: script.pop(0)())  # fmt: skip
    events = list(feed.events())
    got = [(type(e).__name__, e.symbol, e.time // NS) for e in events]
    assert got == [
        ("Bar", "EURUSD", T0 - M5), ("Bar", "GBPUSD", T0 - M5),  # closed at T0
        ("Tick", "EURUSD", T0 + 1), ("Tick", "GBPUSD", T0 + 1),  # the last known quotes
        ("Bar", "EURUSD", T0), ("Bar", "GBPUSD", T0),  # GBPUSD's closed by EURUSD's tick
        ("Tick", "EURUSD", T0 + M5 + 10),
        ("Tick", "GBPUSD", T0 + M5 + 20),  # no GBPUSD bar again
    ]  # fmt: skip
    keys = [(*e.key, e.symbol) for e in events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(isinstance(e, Bar | Tick) for e in events)
