"""A MetaTrader 5 terminal that drops its link in the middle of a `run_live` session: the feed
initialises it again, the engine reconciles before any new event (booking the stop the server
executed meanwhile), and trading goes on without a lost or duplicated position."""

from __future__ import annotations

from tests.conftest import make_bars
from tests.live.helpers import small_spec
from tests.support.fake_mt5_trading import FakeMT5Trading
from tests.support.mt5_market import ScriptedMarket
from tradeforge.data.sources.mt5_terminal import MT5Terminal
from tradeforge.live.brokers.mt5 import MT5Feed
from tradeforge.live.runner import journal_trades, run_live
from tradeforge.live.state import StateRepository

HISTORY, LIVE = 60, 90  # closed M5 bars before the session, bars played live


class DroppingMarket(ScriptedMarket):
    """Once a position is open (``drop_after`` bars into the session), the server stops it
    out at its stop and the terminal loses its link."""

    def __init__(self, *args, drop_after: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.drop_at = self.k + drop_after
        self.dropped: dict | None = None

    def step(self, _pause: float = 0.0) -> bool:  # the feed's sleep between two polls
        moved = super().step()
        if self.dropped is None and self.k >= self.drop_at and self.fake.open_positions:
            pos = next(iter(self.fake.open_positions.values()))
            self.fake.clock_msc = self.fake.ticks["EURUSD"].time_msc
            self.fake.stop_out(pos.ticket, pos.sl)
            self.dropped = {"ticket": pos.ticket, "stop": pos.sl, "ms": self.fake.clock_msc}
            self.fake.disconnect()
        return moved


def test_a_dropped_terminal_is_reinitialised_reconciled_and_trading_goes_on(tmp_path):
    spec = small_spec(tmp_path, params={"fast": 3, "slow": 12, "stop_pips": 6, "target_pips": 8})
    frame = make_bars(HISTORY + LIVE + 2, start="2024-03-04", seed=5).round(5)
    fake = FakeMT5Trading()
    market = DroppingMarket(fake, frame, HISTORY, drop_after=20)
    terminal = MT5Terminal(fake, server_time="utc", sleep=lambda s: None)
    feed = MT5Feed(terminal, "EURUSD", "M5", max_polls=LIVE, sleep=market.step)
    state = tmp_path / "live"
    engine = run_live(state, spec, mt5=terminal, feed=feed, health_interval=0.05)

    dropped = market.dropped
    assert dropped is not None and terminal.reconnects == 1
    assert [name for name, _ in fake.calls].count("initialize") == 2
    # the reconcile record comes before any event after the drop, and books the server's stop
    records = StateRepository(state).records()
    drop_ns = dropped["ms"] * 1_000_000
    (at,) = [i for i, r in enumerate(records) if r["kind"] == "reconcile" and r.get("trades")]
    (trade,) = records[at]["trades"]
    assert trade["exit_reason"] == "stop" and trade["exit_price"] == dropped["stop"]
    before = [r["event"][0] for r in records[:at] if r["kind"] in ("tick", "bar")]
    after = [r["event"][0] for r in records[at + 1 :] if r["kind"] in ("tick", "bar")]
    assert before and after and max(before) <= drop_ns < min(after)
    # every position the server opened is either a booked trade or still open in the engine,
    # once each: nothing lost, nothing sent twice
    entries = [d for d in fake.deals if d.entry == fake.DEAL_ENTRY_IN]
    assert len({d.comment for d in entries}) == len(entries)
    assert any(d.time_msc > dropped["ms"] for d in entries)  # trading went on after the drop
    trades = journal_trades(state)
    held = {p.ticket for p in fake.open_positions.values()}
    engine_open = {
        p["ticket"] for b in engine.state["strategies"].values() for p in b["positions"].values()
    }
    assert engine_open == held
    assert len(trades) + len(held) == len(entries) == engine.state["stats"]["trades"] + len(held)
