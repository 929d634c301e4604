"""A session of two instances on two symbols: the notifier prints each instance's messages
with its own symbol, and the divergence monitor runs one shadow backtest per instance — the
instance whose entries a guard of its own blocks (``fast``: a spread limit no quote meets)
misses every trade its backtest makes and raises the alert, named; the other (``gbp``)
trades as its backtest and raises nothing."""

from __future__ import annotations

import json

import pandas as pd

from tests.live.helpers import backtest_of
from tests.live.session_support import bars_of, make_session
from tests.notify.fake_telegram import TOKEN, FakeTelegram
from tradeforge.live.session_runner import session_dry_run, strategy_trades
from tradeforge.notify.config import TOKEN_ENV, parse_notify_config
from tradeforge.notify.session import SessionNotifier


def _log(state) -> list[dict]:
    return [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]


def test_each_instance_has_its_own_symbol_and_its_own_shadow(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    session = make_session(
        tmp_path, names=("fast", "gbp"), instance_extra={"fast": "limits = { max_spread = 0.0001 }"}
    )
    with FakeTelegram() as fake:
        config = parse_notify_config(
            {
                "telegram": {"base_url": fake.base_url, "chats": {"info": [42], "warning": [42]}},
                "delivery": {"drain_seconds": 5.0},
                "monitor": {"every_bars": 10, "min_trades": 1},
            }
        )
        notifier = SessionNotifier(config)
        with session_dry_run(tmp_path / "s", session, observer=notifier):
            pass
        texts = fake.texts(42)
    own = strategy_trades(tmp_path / "s")
    assert "fast" not in own and len(own["gbp"]) >= 3  # fast never entered
    spec = session.specs["gbp"]
    bt = backtest_of(spec, bars_of(tmp_path, "GBPUSD")).trades
    assert len(bt[bt.entry_time >= pd.Timestamp(spec.start, tz="UTC")]) == len(own["gbp"])

    # messages about gbp's positions and trades name GBPUSD, none names EURUSD
    lines = [x.removeprefix("• ") for t in texts for x in t.split("\n")[1:]]
    opened = [x for x in lines if x.startswith("opened #")]
    closed = [x for x in lines if x.startswith("closed #")]
    assert len(opened) == len(closed) == len(own["gbp"])
    assert all(" GBPUSD " in x for x in opened + closed)
    assert all(t.startswith("fast EURUSD M5, gbp GBPUSD M5\n") for t in texts)  # the label

    log = _log(tmp_path / "s")
    alerts = [d for d in log if d["kind"] == "divergence"]
    assert {d["strategy"] for d in alerts} == {"fast"}
    (missing,) = [d for d in alerts if d["check"] == "missing"]
    assert missing["reason"].startswith("divergence from the backtest (fast): missing = ")
    summaries = {d["strategy"]: d for d in log if d["kind"] == "monitor_summary"}
    fast_bt = backtest_of(session.specs["fast"], bars_of(tmp_path, "EURUSD")).trades
    fast_bt = fast_bt[fast_bt.entry_time >= pd.Timestamp(spec.start, tz="UTC")]
    assert summaries["fast"]["summary"]["missing"] == len(fast_bt) > 0
    assert summaries["fast"]["summary"]["actual_trades"] == 0
    assert summaries["gbp"]["failing"] == []
    assert summaries["gbp"]["summary"]["matched"] == len(own["gbp"])
    assert any("divergence from the backtest (fast): missing" in t for t in texts)
    assert [m.instance for m in notifier.monitors] == ["fast", "gbp"]
