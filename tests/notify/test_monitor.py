"""The divergence monitor on real dry-runs: a session that trades exactly as its backtest
raises nothing and matches every trade; one whose fills are worse than the backtest it is
held to (0.2 pip of slippage in the session, none in the shadow) raises the slippage alert —
in the decisions log and, through the notifier, in the Telegram chat."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.live.helpers import backtest_of, small_spec
from tests.notify.fake_telegram import TOKEN, FakeTelegram
from tradeforge.live.runner import run_dry
from tradeforge.notify.config import TOKEN_ENV, MonitorSettings, parse_notify_config
from tradeforge.notify.monitor import DivergenceMonitor
from tradeforge.notify.session import SessionNotifier

N_BARS = 400


def _log(state) -> list[dict]:
    return [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return small_spec(tmp_path_factory.mktemp("bars"), n_bars=N_BARS)


def test_identical_execution_raises_nothing(tmp_path, spec):
    monitor = DivergenceMonitor(MonitorSettings(every_bars=10, min_trades=1))
    run_dry(tmp_path / "s", spec, observer=monitor)
    log = _log(tmp_path / "s")
    assert [d for d in log if d["kind"].startswith(("divergence", "monitor_"))][-1:] == [
        d for d in log if d["kind"] == "monitor_summary"
    ]  # no divergence record, no monitor error: only the summary
    bt = backtest_of(spec, pd.read_parquet(spec.live.bars_file)).trades
    bt = bt[bt.entry_time >= pd.Timestamp(spec.start, tz="UTC")]  # the replay starts there
    s = monitor.last["summary"]
    assert len(bt) >= 5
    assert (s["expected_trades"], s["actual_trades"], s["matched"]) == (len(bt),) * 3
    assert (s["missing"], s["extra"]) == (0, 0)
    assert s["mean_entry_slippage_pips"] == pytest.approx(0.0, abs=1e-9)
    assert s["mean_exit_delay_s"] == 0.0 and s["mean_pnl_diff"] == pytest.approx(0, abs=1e-9)
    assert all(c["passed"] for c in monitor.last["checks"]) and monitor.failing == {}
    summary = log[-1]
    assert summary["failing"] == [] and summary["evaluations"] >= 1


def test_worse_fills_than_the_backtest_raise_the_slippage_alert(tmp_path, spec, monkeypatch):
    """The session pays 0.2 pip on every market fill (entries, stops, market exits); the
    shadow, held to a zero-slippage backtest, pays none: every matched entry is 0.2 pip
    worse, so the mean entry slippage is 0.2 pip, over the 0.1 limit."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert spec.execution.slippage_value == 0.2
    with FakeTelegram() as fake:
        config = parse_notify_config(
            {
                "telegram": {"base_url": fake.base_url, "chats": {"warning": [42]}},
                "delivery": {"drain_seconds": 5.0},
                "monitor": {
                    "every_bars": 10, "min_trades": 1, "slippage": "0",
                    "max_mean_slippage_pips": 0.1, "max_mean_exit_slippage_pips": None,
                    "max_win_rate_delta_pct": None, "max_expectancy_r_delta": None,
                },
            }
        )  # fmt: skip
        notifier = SessionNotifier(config)
        run_dry(tmp_path / "s", spec, observer=notifier)
        texts = "\n".join(fake.texts(42))
    alerts = [d for d in _log(tmp_path / "s") if d["kind"] == "divergence"]
    assert [d["check"] for d in alerts] == ["mean_entry_slippage_pips"]
    assert alerts[0]["value"] == pytest.approx(0.2) and alerts[0]["limit"] == 0.1
    assert alerts[0]["missing"] == alerts[0]["extra"] == 0
    final = notifier.monitor.last
    assert final["summary"]["mean_entry_slippage_pips"] == pytest.approx(0.2)
    assert final["summary"]["missing"] == final["summary"]["extra"] == 0
    assert "divergence from the backtest: mean_entry_slippage_pips = 0.2 (max 0.1)" in texts
    summary = _log(tmp_path / "s")
    assert [d for d in summary if d["kind"] == "monitor_summary"][0]["failing"] == [
        "mean_entry_slippage_pips"
    ]
