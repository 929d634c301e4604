"""``tradeforge dry-run --feed ctrader``: the paper broker on the cTrader live feed, through the
console script against the fake server — trades are paper fills, nothing reaches the account."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.ctrader.live_script import SCRIPT, Driver, environment, live_args, make_script
from tradeforge.live.runner import journal_trades

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")


def test_paper_trading_on_the_live_ctrader_feed(server, tmp_path):
    script = make_script(n_live=20, seed=11)
    state = tmp_path / "paper"
    driver = Driver(server, script, state)
    first = driver.prepare()
    args = live_args(server, state)
    args[0:3] = ["dry-run", "--feed", "ctrader"]  # instead of live --broker ctrader
    proc = subprocess.Popen([str(SCRIPT), *args], env=environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    alive = lambda: proc.poll() is None  # noqa: E731
    try:
        assert driver.wait_subscribed(alive), proc.communicate()[1][-3000:]
        for i in range(first, len(script.spots)):
            driver.push(i)
            assert driver.wait_handled(i, alive), proc.communicate()[1][-3000:]
        driver.finish(alive)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert "paper sma_cross EURUSD M1 on the ctrader feed" in out.replace("\n", " ")
    trades = journal_trades(state)
    assert trades, out
    assert server.order_history == {} and server.positions == {}  # paper only
    paper = json.loads((state / "paper_broker.json").read_text())
    assert paper and (state / "health.json").exists()
    assert not (state / "ctrader_broker.json").exists()
