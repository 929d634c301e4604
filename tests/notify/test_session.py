"""A dry-run with notifications: the right message per event, and a Telegram that hangs does
not change or hold up the session (checked by the trades and the notifier's counters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live.helpers import small_spec
from tests.notify.fake_telegram import TOKEN, FakeTelegram
from tradeforge.core.instruments import get_instrument
from tradeforge.live.runner import journal_trades, run_dry
from tradeforge.notify.config import TOKEN_ENV, parse_notify_config
from tradeforge.notify.events import Formats
from tradeforge.notify.session import SessionNotifier

N_BARS = 120
_BASE_WALL: list[float] = []  # the baseline's wall time, for the record
BIN = Path(sys.executable).with_name("tradeforge")


def _config(base_url: str, **delivery):
    return parse_notify_config(
        {
            "telegram": {"base_url": base_url, "chats": {"info": [42], "critical": [42, 7]}},
            "delivery": {"drain_seconds": 5.0, "retry_seconds": [0.05, 0.2], **delivery},
        }
    )


def _log(state: Path) -> list[dict]:
    return [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The same dry-run without notifications: its trades and its decisions."""
    tmp = tmp_path_factory.mktemp("baseline")
    spec = small_spec(tmp, n_bars=N_BARS)
    decisions: list[dict] = []
    started = time.monotonic()
    run_dry(tmp / "s", spec, echo=decisions.append)
    _BASE_WALL.append(time.monotonic() - started)
    return spec, journal_trades(tmp / "s"), decisions


def test_every_event_arrives_with_its_text(tmp_path, baseline):
    spec, trades, decisions = baseline
    assert len(trades) >= 3  # the replay trades: opened and closed messages to check
    with FakeTelegram(chat_gap=0.9, overall_rate=30) as fake:
        notifier = SessionNotifier(_config(fake.base_url))
        run_dry(tmp_path / "s", spec, observer=notifier)
        stats = notifier.stats
    assert journal_trades(tmp_path / "s") == trades
    assert fake.refused_429 == 0  # coalesced and paced within the limits
    fmt = Formats.of(get_instrument("EURUSD"))
    info = "\n".join(fake.texts(42)).splitlines()
    assert all(text.startswith("sma_cross EURUSD M5\n") for text in fake.texts(42))
    lines = [x for x in info if x != "sma_cross EURUSD M5"]
    assert lines[0] == "• session started: sma_cross EURUSD M5 (state seq 1 from new)"
    fills = [d for d in decisions if d["kind"] == "filled"]
    opened = [x for x in lines if x.startswith("• opened")]
    assert len(opened) == len(fills) == len(trades)
    for line, fill, trade in zip(opened, fills, trades, strict=True):
        # "opened #ID SIDE LOTS SYMBOL at PRICE, stop STOP, risk MONEY USD", from the fill
        assert line == (
            f"• opened #{trade['trade_id']} {trade['side']} {trade['size']:g} EURUSD at "
            f"{fill['price']:.5f}, stop {fill['stop']:.5f}, risk {trade['risk']:,.2f} USD"
        )
    closed = [x for x in lines if x.startswith("• closed")]
    assert closed == [
        f"• closed #{t['trade_id']} {t['side']} {t['size']:g} EURUSD {fmt.price(t['entry_price'])}"
        f" → {fmt.price(t['exit_price'])} ({t['exit_reason']}): P&L {t['pnl']:+,.2f} USD, "
        f"{t['r_multiple']:+.2f}R"
        for t in trades
    ]
    realized = sum(t["pnl"] for t in trades)
    assert (
        lines[-1]
        == f"• session ended: {len(trades)} closed trade(s), realized {realized:+,.2f} USD"
    )
    # chat 7 only gets critical messages: there were none
    assert fake.texts(7) == []
    assert stats.delivered == len(lines) and stats.dropped == stats.failed == 0
    summary = _log(tmp_path / "s")[-1]
    assert summary["kind"] == "notify_summary" and summary["delivered"] == len(lines)


def test_a_hanging_telegram_neither_changes_nor_holds_up_the_dry_run(tmp_path, baseline):
    """The engine hands every decision over without waiting: with nothing delivered at all
    (the server never answers) the session still made every decision and every trade; the
    queue overflowed and its drops are counted and logged, not waited for."""
    spec, trades, decisions = baseline
    baseline_wall = _BASE_WALL[0]
    with FakeTelegram() as fake:
        fake.set_mode("hang")
        notifier = SessionNotifier(_config(fake.base_url, queue_size=3, drain_seconds=0.5))
        started = time.monotonic()
        run_dry(tmp_path / "s", spec, observer=notifier)
        wall = time.monotonic() - started
        stats = notifier.stats
        assert fake.sent == []  # nothing was ever answered
        fake.release()
    assert journal_trades(tmp_path / "s") == trades
    # every decision was submitted (plus the closing message), none of them waited
    assert stats.submitted == len(decisions) + 1
    assert stats.delivered == 0
    # neither the engine nor the router waited on the hanging send: more messages were routed
    # or refused than the queue holds. Where they drop depends on scheduling: a full outbox
    # (oldest pushed out), or the full inbound queue of a router starved of CPU (a loaded CI)
    assert stats.dropped > 0 and stats.undelivered > 0
    assert stats.routed + stats.dropped_queue > 3 * 3
    assert stats.routed == stats.delivered + stats.dropped_outbox + stats.failed + stats.undelivered
    log = _log(tmp_path / "s")
    assert log[-1]["kind"] == "notify_summary" and log[-1]["dropped"] == stats.dropped > 0
    print(f"wall time: {baseline_wall:.2f} s without notifications, {wall:.2f} s with a hanging")
    print("Telegram (its 0.5 s drain at the end included); not asserted: timing is no proof")


def test_delivery_resumes_and_reports_what_was_dropped(tmp_path, baseline):
    spec, trades, _ = baseline
    with FakeTelegram() as fake:
        fake.set_mode("error")  # 502 on everything: retried with backoff, queue overflows
        notifier = SessionNotifier(_config(fake.base_url, queue_size=2, drain_seconds=10))
        run_dry(tmp_path / "s", spec, observer=notifier, echo=_resume_after(fake, 6))
        stats = notifier.stats
    assert journal_trades(tmp_path / "s") == trades
    assert stats.dropped > 0 and stats.notes >= 1
    note = [t for t in fake.texts(42) if "earlier notification(s) were dropped" in t]
    assert note, fake.texts(42)
    log = _log(tmp_path / "s")
    kinds = [d["kind"] for d in log]
    assert {"notify_failing", "notify_resumed", "notify_dropped"} <= set(kinds)
    told = sum(d["dropped"] for d in log if d["kind"] == "notify_dropped")
    assert told == stats.dropped_outbox  # chat 42 is told about every drop (7 had nothing)


def _resume_after(fake: FakeTelegram, n: int):
    """An echo that brings the server back after ``n`` decisions."""
    seen = []

    def echo(d):
        seen.append(d)
        if len(seen) == n:
            fake.set_mode("ok")

    return echo


@pytest.mark.slow
def test_console_script_dry_run_notifies_the_fake_server(tmp_path, baseline):
    spec, trades, _ = baseline
    config = tmp_path / "notify.toml"
    with FakeTelegram(chat_gap=0.9) as fake:
        config.write_text(f'[telegram]\nbase_url = "{fake.base_url}"\nchats = {{ info = [42] }}\n')
        args = [
            str(BIN), "dry-run", "--state", str(tmp_path / "s"), "--strategy", "sma_cross",
            "-p", "fast=3", "-p", "slow=12", "-p", "stop_pips=6", "-p", "target_pips=8",
            "--symbol", "EURUSD", "--timeframe", "M5", "--replay", "2024-01-01T03:00..2025-01-01",
            "--bars", spec.live.bars_file, "--window", "36", "--close-at-end",
            "--commission", "3", "--slippage", "0.2", "--notify", str(config),
        ]  # fmt: skip
        env = {**os.environ, TOKEN_ENV: TOKEN}
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert journal_trades(tmp_path / "s") == trades
    lines = "\n".join(fake.texts(42))
    assert lines.count("• closed #") == len(trades)
    assert "• session ended:" in lines
    assert all(s.content_type == "application/x-www-form-urlencoded" for s in fake.sent)


def test_a_missing_token_stops_the_command_before_the_session(tmp_path, monkeypatch, baseline):
    spec, _, _ = baseline
    monkeypatch.delenv(TOKEN_ENV)
    config = tmp_path / "notify.toml"
    config.write_text("[telegram]\nchats = { info = [42] }\n")
    args = [
        str(BIN), "dry-run", "--state", str(tmp_path / "s"), "--strategy", "sma_cross",
        "--symbol", "EURUSD", "--timeframe", "M5", "--replay", "2024-01-01T03:00..2025-01-01",
        "--bars", spec.live.bars_file, "--window", "36", "--notify", str(config),
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"no Telegram bot token: set the environment variable {TOKEN_ENV}" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "s").exists()
