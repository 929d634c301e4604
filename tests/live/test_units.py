"""Sizing, guards, feeds and the paper broker, against hand-computed values."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_bars
from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.instruments import get_instrument
from tradeforge.live.brokers.base import OrderRejected, OrderRequest, PositionClosedError
from tradeforge.live.brokers.paper import PaperBroker
from tradeforge.live.feeds import Bar, ReplayFeed, Tick
from tradeforge.live.guards import RiskLimits, check_entry
from tradeforge.live.sizing import RiskSizer
from tradeforge.trading.execution import ExecutionModel, Sizing

EURUSD = get_instrument("EURUSD")  # lot step 0.01, contract 100k, min lot 0.01


def test_risk_sizing_matches_hand_computation():
    sizer = RiskSizer(Sizing("risk", 1.0))
    # 1% of 100k = 1000 money over 20 pips (0.0020): 1000 / (0.0020 * 1000 per step) = 500 steps
    d = sizer.size(EURUSD, 100_000.0, 0.0020, 1.1)
    assert (d.steps, d.lots) == (500, 5.0)
    assert sizer.size(EURUSD, 100_000.0, 0.0030, 1.1).lots == 3.33  # floor, not round


def test_sizing_caps_margin_and_minimum():
    capped = RiskSizer(Sizing("risk", 1.0), max_lots=2.0).size(EURUSD, 100_000.0, 0.0020, 1.1)
    assert capped.lots == 2.0 and "capped" in capped.reason
    # 1:100 leverage: one lot at 1.1 needs 1100 margin; 2200 free affords 2 lots
    margin = RiskSizer(Sizing("risk", 1.0)).size(EURUSD, 100_000.0, 0.0020, 1.1, free_margin=2200)
    assert margin.lots == 2.0 and "free margin" in margin.reason
    tiny = RiskSizer(Sizing("risk", 0.001)).size(EURUSD, 1_000.0, 0.0100, 1.1)
    assert tiny.steps == 0 and "minimum lot" in tiny.reason
    assert RiskSizer(Sizing("fixed", 0.25)).size(EURUSD, 1.0, 0.001, 1.1).lots == 0.25
    with pytest.raises(ConfigError):
        RiskSizer(max_lots=0)


def _verdicts(limits, **kw):
    base = dict(now=1_000 * 10**9, last_tick_time=995 * 10**9, spread=0.00008,
                pip_size=0.0001, equity=97_000.0, day_start_balance=100_000.0,
                peak_equity=110_000.0, open_count=2)  # fmt: skip
    base.update(kw)
    return {v.guard: v for v in check_entry(limits, **base)}


def test_guards_each_block_with_a_reason():
    v = _verdicts(RiskLimits(max_daily_loss_pct=2, max_drawdown_pct=10, max_positions=2,
                             stale_seconds=4, max_spread_pips=0.5))  # fmt: skip
    assert not v["daily_loss"].ok and "3000.00 vs limit 2000.00" in v["daily_loss"].reason
    assert not v["drawdown"].ok and "11.82%" in v["drawdown"].reason
    assert not v["max_positions"].ok
    assert not v["stale_data"].ok and "5s old" in v["stale_data"].reason
    assert not v["spread"].ok and "0.80 pips" in v["spread"].reason
    ok = _verdicts(RiskLimits(max_daily_loss_pct=5, max_drawdown_pct=20, max_positions=3,
                              stale_seconds=10, max_spread_pips=1))  # fmt: skip
    assert all(x.ok for x in ok.values()) and len(ok) == 5
    assert not _verdicts(RiskLimits(stale_seconds=1), last_tick_time=None)["stale_data"].ok
    with pytest.raises(ConfigError):
        RiskLimits(max_drawdown_pct=0)


def test_replay_synthesises_ticks_in_documented_order_and_resumes():
    bars = make_bars(3, seed=1)
    feed = ReplayFeed(bars, "EURUSD", "M5")
    events = list(feed.events())
    assert [type(e).__name__ for e in events] == (["Tick"] * 4 + ["Bar"]) * 3
    b0 = bars.iloc[0]
    path = [e.bid for e in events[:4]]
    up = b0.close >= b0.open
    assert path == (
        [b0.open, b0.low, b0.high, b0.close] if up else [b0.open, b0.high, b0.low, b0.close]
    )
    assert events[0].ask == pytest.approx(b0.open + b0.spread)
    keys = [e.key for e in events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # the bar close precedes the next bar's open tick stamped at the same instant
    assert events[4].key[0] == events[5].key[0] and isinstance(events[4], Bar)
    for k in range(len(events)):
        assert list(feed.events(events[k].key)) == events[k + 1 :]
    assert feed.last_tick(events[6].key) == events[6]
    assert feed.last_tick(events[4].key) == events[3]
    assert list(feed.window(events[9].time, 2).index) == list(bars.index[:2])


def test_replay_progress_counts_the_played_bars_and_resumes_where_it_stopped():
    bars = make_bars(5, seed=1)
    seen: list[tuple[int, int]] = []
    # two bars of history before play_from: not counted
    feed = ReplayFeed(
        bars, "EURUSD", "M5", play_from=bars.index[2], progress=lambda d, t: seen.append((d, t))
    )
    events = []
    for event in feed.events():
        events.append(event)
        if isinstance(event, Bar):  # told once the bar has been consumed, not before
            assert seen == [(k, 3) for k in range(1, event.index - 1)]
    assert seen == [(1, 3), (2, 3), (3, 3)] and feed.total == 3
    seen.clear()
    resume = [e for e in events if isinstance(e, Bar)][1].key  # after the second played bar
    assert list(feed.events(resume)) == events[10:]
    assert seen == [(2, 3), (3, 3)]


def test_replay_uses_real_ticks_when_given():
    bars = make_bars(2, seed=1)
    ticks = pd.DataFrame(
        {"bid": [1.1, 1.2, 1.3], "ask": [1.1001, 1.2001, 1.3001]},
        index=bars.index[:1].append(bars.index[:1] + pd.Timedelta("1min")).append(bars.index[1:]),
    )
    feed = ReplayFeed(bars, "EURUSD", "M5", ticks=ticks)
    kinds = [(type(e).__name__, getattr(e, "bid", None)) for e in feed.events()]
    assert kinds == [("Tick", 1.1), ("Tick", 1.2), ("Bar", None), ("Tick", 1.3), ("Bar", None)]


def _paper(tmp_path, **kw):
    return PaperBroker(tmp_path / "paper.json", initial_balance=10_000.0, **kw)


def test_paper_broker_fills_on_the_next_quote_with_costs(tmp_path):
    ex = ExecutionModel(commission=3.0, slippage="fixed", slippage_value=0.5)
    b = _paper(tmp_path, execution=ex)
    b.set_clock(100)
    b.place(OrderRequest("o1", "EURUSD", 1, 1.0))
    assert b.observe("EURUSD", 99, 1.1, 1.1001) == []  # stamped before the order: no fill
    (fill,) = b.observe("EURUSD", 100, 1.2000, 1.2001)
    assert fill.price == pytest.approx(1.2001 + 0.00005) and fill.commission == 3.0
    assert b.account().balance == pytest.approx(9_997.0)
    # close at market: bid minus slippage; profit uses steps * (lot_step * contract)
    b.observe("EURUSD", 200, 1.2100, 1.2101)
    deal = b.close(fill.ticket, 0.4, "c1")
    assert deal.price == pytest.approx(1.20995)
    assert deal.profit == pytest.approx((1.20995 - 1.20015) * 40 * 1000)
    # persisted: a new instance sees the same account
    again = PaperBroker(tmp_path / "paper.json")
    assert again.account().balance == pytest.approx(b.account().balance)
    assert again.positions()[0].lots == pytest.approx(0.6)


def test_paper_broker_rejections_and_closed_positions(tmp_path):
    b = _paper(tmp_path)
    b.observe("EURUSD", 1, 1.1, 1.1001)
    with pytest.raises(OrderRejected, match="invalid volume"):
        b.place(OrderRequest("bad", "EURUSD", 1, 0.015))
    assert b.order_status("bad").status == "rejected"  # remembered: a resubmission is refused too
    with pytest.raises(OrderRejected, match="free margin"):
        b.place(OrderRequest("big", "EURUSD", 1, 50.0))
    with pytest.raises(PositionClosedError):
        b.close(42, None, "x")
    with pytest.raises(ConfigError):
        PaperBroker(None, leverage=0)


def test_corrupt_paper_broker_file_is_refused(tmp_path):
    b = _paper(tmp_path)
    b.observe("EURUSD", 1, 1.1, 1.1001)
    b.place(OrderRequest("o", "EURUSD", 1, 0.1))
    raw = (tmp_path / "paper.json").read_bytes()
    (tmp_path / "paper.json").write_bytes(raw[:-20])
    with pytest.raises(StateError, match="paper.json"):
        PaperBroker(tmp_path / "paper.json")


def test_tick_is_a_tick():
    t = Tick("EURUSD", 5, 1.1, 1.1002)
    assert t.spread == pytest.approx(0.0002) and t.key == (5, 1)


H = 3_600_000_000_000  # one hour in ns
DAY = 24 * H


def test_paper_limit_order_gaps_at_a_bar_open_and_fills_at_its_level_inside_a_bar(tmp_path):
    b = _paper(tmp_path)
    b.observe("EURUSD", 0, 1.1000, 1.1001, bar_time=0)
    b.place(OrderRequest("gap", "EURUSD", 1, 0.1, order_type="limit", price=1.0995))
    b.place(OrderRequest("lvl", "EURUSD", -1, 0.1, order_type="limit", price=1.1010))
    # next bar opens below the buy level: fills at that ask (better than the level)
    (gap,) = b.observe("EURUSD", H, 1.0990, 1.0991, bar_time=H)
    assert gap.client_id == "gap" and gap.at_open and gap.price == pytest.approx(1.0991)
    # inside the bar the path crosses the sell level: fills at the level, not the quote
    (lvl,) = b.observe("EURUSD", H + 10, 1.1020, 1.1021, bar_time=H)
    assert lvl.client_id == "lvl" and not lvl.at_open and lvl.price == pytest.approx(1.1010)


def test_paper_stop_order_fills_with_slippage_and_random_slippage_matches_the_backtest(tmp_path):
    ex = ExecutionModel(slippage="random", slippage_value=1.0, seed=4)
    b = _paper(tmp_path, execution=ex)
    b.observe("EURUSD", 0, 1.1000, 1.1001, bar_time=0)
    b.place(OrderRequest("s", "EURUSD", 1, 0.1, order_type="stop", price=1.1005))
    frame = pd.DataFrame(
        {"open": [1.0, 1.0]}, index=pd.DatetimeIndex([0, H], tz="UTC").as_unit("us")
    )
    slip = ex.slippage_array(frame, get_instrument("EURUSD"), "EURUSD")
    assert 0 < slip[1] < 0.0001 and slip[0] != slip[1]
    b.observe("EURUSD", H, 1.1000, 1.1001, bar_time=H)  # not yet
    (fill,) = b.observe("EURUSD", H + 10, 1.1010, 1.1011, bar_time=H)
    assert fill.price == pytest.approx(1.1005 + slip[1]) and not fill.at_open


def test_paper_swap_accrues_once_per_date_and_is_paid_with_the_first_close(tmp_path):
    b = _paper(tmp_path, execution=ExecutionModel(swap_long=-5.0))
    b.observe("EURUSD", 0, 1.1, 1.1001, bar_time=0)
    b.place(OrderRequest("o", "EURUSD", 1, 1.0))
    (fill,) = b.observe("EURUSD", H, 1.1, 1.1001, bar_time=H)
    for _ in range(2):  # re-observing a quote (as a restart does) accrues nothing twice
        b.observe("EURUSD", 3 * DAY + H, 1.1, 1.1001, bar_time=3 * DAY + H)
    assert b.positions()[0].swap == pytest.approx(-15.0)  # three nights, 1 lot
    first = b.close(fill.ticket, 0.5, "c1")
    second = b.close(fill.ticket, 0.5, "c2")
    assert first.swap == pytest.approx(-15.0) and second.swap == 0.0
    assert b.account().balance == pytest.approx(10_000.0 - 15.0 + first.profit + second.profit)


@settings(max_examples=30, deadline=None)
@given(
    windows=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    start=st.integers(40, 60),
    steps=st.lists(st.integers(0, 1), min_size=1, max_size=25),
    reads=st.integers(1, 5),
)
def test_recorded_feed_keeps_every_bar_it_handed_out(windows, start, steps, reads):
    """Kept long enough, whatever the windows (instances of several lengths, each asking at every bar; a step
    of 0 asks for a bar again) and however many bars close between two reads, the record is
    the replay's bars from the first window's first to the last handed out, each once, in
    order; the first bar handled is the first window's last."""
    from tradeforge.live.feeds import RecordedFeed

    frame = make_bars(120, freq="1min", seed=4)
    times = frame.index.as_unit("ns").asi8
    feed = RecordedFeed(ReplayFeed(frame, "EURUSD", "M1"))
    feed.retain(len(frame))  # a monitor reading every bar (the bound: the next test)
    assert feed.seen() == (None, None)
    bar, lo = start, len(frame)
    first_bar = min(start + steps[0], len(frame) - 1)
    for k, step in enumerate(steps):
        bar = min(bar + step, len(frame) - 1)
        for count in windows:  # every instance on the symbol asks for its own window
            got = feed.window(int(times[bar]), count)
            lo = min(lo, bar - len(got) + 1)
        if k % reads == 0:  # the monitor reads now and then
            recorded, first = feed.seen()
            assert recorded.index.equals(frame.index[lo : bar + 1])
    recorded, first = feed.seen()
    pd.testing.assert_frame_equal(recorded, frame.iloc[lo : bar + 1])
    assert first == times[first_bar]
    assert feed.symbol == "EURUSD"  # the rest passes through


@settings(max_examples=40, deadline=None)
@given(
    windows=st.lists(st.integers(1, 30), min_size=1, max_size=4),
    retain=st.integers(0, 60),
    reads=st.integers(1, 7),
    n_bars=st.integers(40, 600),
)
def test_recorded_feed_keeps_only_the_last_bars_a_monitor_reads(windows, retain, reads, n_bars):
    """However long the session, the record is the last ``max(retain, longest window)`` bars
    handed out (never more), in order; without reads the engine's side joins on its own, so
    the pending windows stay bounded too."""
    from tradeforge.live.feeds import RecordedFeed

    frame = make_bars(700, freq="1min", seed=6)
    times = frame.index.as_unit("ns").asi8
    feed = RecordedFeed(ReplayFeed(frame, "EURUSD", "M1"))
    feed.retain(retain)
    keep = max(retain, *windows)
    first = 60
    for bar in range(first, first + n_bars):
        for count in windows:
            feed.window(int(times[bar]), count)
        assert len(feed._tails) < RecordedFeed.JOIN_EVERY
        if reads and bar % reads == 0:
            recorded, _ = feed.seen()
            assert len(recorded) <= keep
    recorded, start = feed.seen()
    last = first + n_bars
    lo = max(first - max(windows) + 1, last - keep)
    pd.testing.assert_frame_equal(recorded, frame.iloc[lo:last])
    assert start == times[first]


def test_recorded_feed_resumes_from_its_stored_record_after_a_restart(tmp_path):
    """With a state directory the record (and the first bar ever handled) survives the
    process: a new feed starts from it and joins the restart's windows onto it when they
    overlap it; a window past a gap starts the record afresh."""
    from tradeforge.live.feeds import RecordedFeed, record_path

    frame = make_bars(200, freq="1min", seed=8)
    times = frame.index.as_unit("ns").asi8
    first = RecordedFeed(ReplayFeed(frame, "EURUSD", "M1"), tmp_path)
    first.retain(100)  # as a monitor does
    for bar in range(50, 80):
        first.window(int(times[bar]), 20)
        first.seen()  # the monitor reads (and the record is stored) as bars close
    assert record_path(tmp_path, "EURUSD").exists()
    # a restart: the stored bars 31..79, then the engine resumes at bar 80
    again = RecordedFeed(ReplayFeed(frame, "EURUSD", "M1"), tmp_path)
    again.retain(100)
    recorded, start = again.seen()
    pd.testing.assert_frame_equal(recorded, frame.iloc[31:80], check_freq=False)
    assert start == times[50]
    for bar in range(80, 90):
        again.window(int(times[bar]), 20)
    recorded, start = again.seen()
    pd.testing.assert_frame_equal(recorded, frame.iloc[31:90], check_freq=False)
    assert start == times[50]  # the session's first bar, not the restart's
    # a restart after a gap longer than the window: the stored bars are not joined
    gap = RecordedFeed(ReplayFeed(frame, "EURUSD", "M1"), tmp_path)
    gap.window(int(times[150]), 20)
    recorded, start = gap.seen()
    pd.testing.assert_frame_equal(recorded, frame.iloc[131:151], check_freq=False)
    assert start == times[150]
