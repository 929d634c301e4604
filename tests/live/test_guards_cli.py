"""The execution guards through the installed console script: a dry-run refused entries
outside its trading hours and after a slipped fill (logged in ``decisions.jsonl`` and sent to a
webhook on 127.0.0.1), and a session whose account caps the lots on one symbol."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from tests.live.control_support import TRADEFORGE
from tests.live.helpers import backtest_of, small_spec
from tests.live.session_support import bars_of, write_session
from tests.notify.support import WebhookReceiver, wait_until
from tradeforge.live.session import load_session
from tradeforge.live.session_runner import strategy_trades
from tradeforge.live.state import StateRepository

MIN = pd.Timedelta(minutes=1)


def decisions(state) -> list[dict]:
    return [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]


def test_dry_run_keeps_to_its_trading_hours_and_pauses_after_a_slipped_fill(tmp_path):
    spec = small_spec(tmp_path)  # M5 bars from 2024-01-01 00:00, replayed from 03:00
    state = tmp_path / "state"
    hook = WebhookReceiver()
    config = tmp_path / "notify.toml"
    url = hook.url("/tf")
    config.write_text(f'[webhook]\nurls = {{ info = ["{url}"], warning = ["{url}"] }}\n')
    try:
        run = subprocess.run(
            [TRADEFORGE, "dry-run", "--state", str(state), "--strategy", "sma_cross",
             "-p", "fast=3", "-p", "slow=12", "-p", "stop_pips=6", "-p", "target_pips=8",
             "--symbol", "EURUSD", "--timeframe", "M5", "--replay", "2024-01-01T03:00..2025-01-01",
             "--bars", spec.live.bars_file, "--window", "36", "--close-at-end",
             "--slippage", "3", "--max-slippage", "2", "--slippage-pause", "120",
             "--trading-hours", "EURUSD=03:00-09:30", "--notify", str(config)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        log = decisions(state)
        texts = lambda: [m["text"] for _, b in hook.bodies for m in b["messages"]]  # noqa: E731
        told = lambda: " ".join(texts())  # noqa: E731
        wait_until(lambda: "trading_hours guard" in told() and "slippage guard" in told(), 10)
    finally:
        hook.stop()
    orders = [pd.Timestamp(d["time"]) for d in log if d["kind"] == "order"]
    slipped = [pd.Timestamp(d["time"]) for d in log if d.get("guard") == "slippage"
               and d["kind"] == "warning"]  # fmt: skip
    refused = {d["guard"] for d in log if d["kind"] == "guard"}
    assert orders and slipped and refused == {"trading_hours", "slippage"}
    # every fill slipped 3 pips (the fixed slippage; a bar opens at the last close), so each
    # one paused entries for 120 minutes; and no order was sent outside 03:00-09:30 UTC
    warn = next(d for d in log if d["kind"] == "warning")
    assert warn["reason"].startswith("entry fill slipped 3.00 pips from ")
    assert warn["reason"].endswith("vs limit 2: new entries on EURUSD paused for 120 min")
    for t in orders:
        assert (
            pd.Timestamp("2024-01-01 03:00", tz="UTC")
            <= t
            < pd.Timestamp("2024-01-01 09:30", tz="UTC")
        )
        assert not any(s < t < s + 120 * MIN for s in slipped), t
    late = [d for d in log if d["kind"] == "guard" and d["guard"] == "trading_hours"]
    assert all(pd.Timestamp(d["time"]) >= pd.Timestamp("2024-01-01 09:30", tz="UTC") for d in late)
    for d in late:
        hhmm = pd.Timestamp(d["time"]).strftime("%H:%M")
        assert d["reason"] == f"{hhmm} UTC vs EURUSD trading hours 03:00-09:30 UTC"
    assert any(t.startswith("entry blocked by the trading_hours guard: ") for t in texts())
    assert any(t.startswith("entry blocked by the slippage guard: ") for t in texts())


@pytest.mark.slow
def test_session_account_caps_the_lots_on_one_symbol(tmp_path):
    # fast trades 0.5 lots and slow 0.2 on EURUSD: with at most 0.6 lots there, never both
    session_file = write_session(tmp_path, extra="[limits]\nmax_symbol_lots = 0.6\n")
    state = tmp_path / "state"
    run = subprocess.run(
        [TRADEFORGE, "dry-run", "--session", str(session_file), "--state", str(state)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    own = strategy_trades(state)
    refused = [d for d in decisions(state) if d["kind"] == "guard"]
    assert refused and {d["guard"] for d in refused} == {"symbol_exposure"}
    assert {d["scope"] for d in refused} == {"account"}
    assert {d["strategy"] for d in refused} <= {"fast", "slow"}
    for a in own["fast"].itertuples():
        for b in own["slow"].itertuples():  # the EURUSD trades of the two never overlap
            ea, xa = pd.Timestamp(a.entry_time), pd.Timestamp(a.exit_time)
            eb, xb = pd.Timestamp(b.entry_time), pd.Timestamp(b.exit_time)
            assert eb >= xa or ea >= xb, (a, b)
    # the state keeps each instance's entry orders of the last minute (M5 bars: its last one)
    body, _ = StateRepository(state).load()
    sent = {pd.Timestamp(d["time"]).value for d in decisions(state) if d["kind"] == "order"}
    kept = [book["risk"]["orders"] for book in body["strategies"].values()]
    assert all(len(k) == 1 and k[0] in sent for k in kept) and max(sent) in {k[0] for k in kept}
    # GBPUSD is not capped: its instance trades exactly as its own backtest
    gbp = load_session(session_file).specs["gbp"]
    bt = backtest_of(gbp, bars_of(tmp_path, "GBPUSD")).trades.reset_index(drop=True)
    assert len(own["gbp"]) == len(bt) > 0
    assert own["gbp"]["pnl"].to_numpy() == pytest.approx(bt["pnl"].to_numpy(), abs=1e-9)


@pytest.mark.parametrize(
    "option, message",
    [
        (["--trading-hours", "EURUSD=7-16"], "trading hours must be HH:MM-HH:MM[,HH:MM-HH:MM…]"),
        (["--max-orders-per-minute", "0"], "max_orders_per_minute must be a whole number >= 1"),
    ],
)
def test_a_bad_guard_is_one_line_exit_2(tmp_path, option, message):
    run = subprocess.run(
        [TRADEFORGE, "dry-run", "--state", str(tmp_path / "s"), "--strategy", "sma_cross",
         "-s", "EURUSD", "-t", "M5", "--replay", "2024-01-01:2024-01-02", *option],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and message in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "s").exists()
