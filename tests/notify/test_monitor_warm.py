"""The divergence monitor's kernels compile in a child process (`tradeforge.notify.warm`), not
in the session: through the console script, on a fresh Numba cache, a paced dry-run with a
monitor keeps trading while they compile — its orders and fills are logged between the
monitor's ``monitor_warming`` and ``monitor_ready`` records — and the monitor then compares
every trade."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_bars
from tests.notify.support import WebhookReceiver
from tradeforge.live.runner import journal_trades

SCRIPT = Path(sys.executable).with_name("tradeforge")

pytestmark = [
    pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed"),
    pytest.mark.slow,  # a paced console-script dry-run compiling on a cold cache
]


def test_the_engine_trades_while_the_monitors_kernels_compile(tmp_path: Path) -> None:
    bars = tmp_path / "bars.parquet"
    make_bars(400, start="2024-03-04", seed=5).to_parquet(bars)
    hook = WebhookReceiver()
    notify = tmp_path / "notify.toml"
    notify.write_text(
        f'[webhook]\nurls = {{ info = ["{hook.url("/info")}"] }}\n'
        "[monitor]\nevery_bars = 10\nmin_trades = 1\n"
    )
    state = tmp_path / "dry"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}  # nothing compiled yet
    try:
        proc = subprocess.run(
            [str(SCRIPT), "dry-run", "--state", str(state), "--strategy", "sma_cross",
             "-p", "fast=3", "-p", "slow=12", "-p", "stop_pips=6", "-p", "target_pips=8",
             "--symbol", "EURUSD", "--timeframe", "M5", "--window", "36",
             "--replay", "2024-03-04T04:00..2024-03-05T09:00", "--bars", str(bars),
             "--pace", "0.05", "--notify", str(notify)],
            env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    finally:
        hook.stop()
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    log = [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]
    kinds = [d["kind"] for d in log]
    warming, ready = kinds.index("monitor_warming"), kinds.index("monitor_ready")
    assert warming < kinds.index("start")  # the child was started before the first event
    assert log[ready]["compiled"] is True and log[ready]["seconds"] > 0, log[ready]
    # the engine went on trading while the child compiled
    traded = [k for k in kinds[warming:ready] if k in ("order", "filled", "exit")]
    assert traded, kinds[: ready + 1]
    assert any(Path(tmp_path / "numba").rglob("*.nbi"))  # the child filled the cache
    (summary,) = [d for d in log if d["kind"] == "monitor_summary"]
    trades = journal_trades(state)
    assert summary["summary"]["matched"] == len(trades) >= 3
    assert not [d for d in log if d["kind"] in ("monitor_error", "monitor_unavailable")]
