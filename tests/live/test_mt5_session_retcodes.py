"""MT5 return codes as a `run_live` session meets them on the stand-in: a requote fills at the
fresh quote, a refusal (no money) skips that entry and trading goes on, disabled trading stops
the session with the reason, and the same session resumes once trading is enabled again."""

from __future__ import annotations

import pytest

from tests.conftest import make_bars
from tests.live.helpers import small_spec
from tests.support.fake_mt5_trading import FakeMT5Trading
from tests.support.mt5_market import ScriptedMarket
from tradeforge.data.sources.mt5_terminal import MT5Terminal
from tradeforge.live.brokers.mt5 import MT5Feed, TradingHalted
from tradeforge.live.runner import journal_trades, run_live
from tradeforge.live.state import StateRepository

HISTORY, LIVE = 40, 60
PARAMS = {"fast": 3, "slow": 12, "stop_pips": 6, "target_pips": 8}


class Terminal(FakeMT5Trading):
    """Answers the first entry (a deal without a position) with ``first_entry`` codes."""

    def __init__(self, *first_entry: int) -> None:
        super().__init__()
        self.first_entry = list(first_entry)
        self.answered: list[tuple[int, dict]] = []

    def order_send(self, request: dict):
        entry = request.get("action") == self.TRADE_ACTION_DEAL and "position" not in request
        if entry and self.first_entry and self.initialized:
            code = self.first_entry.pop(0)
            self.answered.append((code, request))
            self.calls.append(("order_send", (request,)))
            if code == 10004:  # a requote: the market has moved on meanwhile
                tick = self.ticks["EURUSD"]
                self.add_ticks("EURUSD", [(tick.time_msc + 1, tick.bid + 2e-5, tick.ask + 2e-5)])
            return self._result(code, request)
        return super().order_send(request)


def market_of(fake: FakeMT5Trading) -> ScriptedMarket:
    frame = make_bars(HISTORY + LIVE + 2, start="2024-03-04", seed=5).round(5)
    return ScriptedMarket(fake, frame, HISTORY)


def session(tmp_path, fake: FakeMT5Trading, market: ScriptedMarket | None = None):
    """Run (or resume) the live session in ``tmp_path/live`` on ``fake``'s scripted market."""
    market = market or market_of(fake)
    terminal = MT5Terminal(fake, server_time="utc", sleep=lambda s: None)
    feed = MT5Feed(terminal, "EURUSD", "M5", max_polls=LIVE, sleep=lambda s: market.step())
    spec = small_spec(tmp_path, params=PARAMS)
    return run_live(tmp_path / "live", spec, mt5=terminal, feed=feed, health_interval=0.05)


def decisions(state, kind: str) -> list[dict]:
    return [d for r in StateRepository(state).records() for d in r.get("decisions", [])
            if d["kind"] == kind]  # fmt: skip


def entries(fake: FakeMT5Trading) -> list:
    return [d for d in fake.deals if d.entry == fake.DEAL_ENTRY_IN]


def test_a_requote_fills_at_the_fresh_quote(tmp_path) -> None:
    fake = Terminal(10004)
    session(tmp_path, fake)
    ((_, first),) = fake.answered
    retry = next(a[0] for n, a in fake.calls if n == "order_send" and a[0] is not first)
    assert retry["comment"] == first["comment"]
    assert retry["price"] == pytest.approx(first["price"] + 2e-5, abs=1e-9)
    opened = entries(fake)[0]
    assert opened.comment == first["comment"] and opened.price == retry["price"]
    (filled,) = [d for d in decisions(tmp_path / "live", "filled") if d["order"] == opened.comment]
    assert filled["price"] == opened.price


def test_no_money_skips_that_entry_and_trading_goes_on(tmp_path) -> None:
    fake = Terminal(10019)
    session(tmp_path, fake)
    ((_, refused),) = fake.answered
    (rejected,) = decisions(tmp_path / "live", "rejected")
    assert rejected["order"] == refused["comment"] and "NO_MONEY" in rejected["reason"]
    assert refused["comment"] not in {d.comment for d in fake.deals}  # never retried
    opened = entries(fake)
    assert opened  # later entries went through
    trades = journal_trades(tmp_path / "live")
    assert len(trades) + len(fake.open_positions) == len(opened)


def test_disabled_trading_stops_the_session_and_it_resumes_when_enabled(tmp_path) -> None:
    fake = Terminal(10017)
    market = market_of(fake)
    with pytest.raises(TradingHalted, match="TRADE_DISABLED.*trading stopped"):
        session(tmp_path, fake, market)
    ((_, halted),) = fake.answered
    assert entries(fake) == [] and fake.open_positions == {}
    state = tmp_path / "live"
    assert not any(d["order"] == halted["comment"] for d in decisions(state, "order"))
    # trading enabled again: the same session resumes where its committed state ends, and the
    # entry the halt interrupted is placed once, under the same client id
    engine = session(tmp_path, fake, market)
    assert entries(fake)[0].comment == halted["comment"]
    comments = [d.comment for d in entries(fake)]
    assert len(comments) == len(set(comments))
    assert len(journal_trades(state)) + len(fake.open_positions) == len(comments)
    assert engine.state["stats"]["orders"] == len(comments)
