"""``tradeforge dry-run --feed ctrader``: the paper broker on the cTrader live feed, through the
console script against the fake server — trades are paper fills, nothing reaches the account."""

from __future__ import annotations

import json

import pytest

from tests.ctrader.live_script import SCRIPT, live_args, make_script, run_scripted
from tradeforge.live.runner import journal_trades

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")


def test_paper_trading_on_the_live_ctrader_feed(server, tmp_path):
    script = make_script(n_live=20, seed=11)
    state = tmp_path / "paper"
    args = live_args(server, state)
    args[0:3] = ["dry-run", "--feed", "ctrader"]  # instead of live --broker ctrader
    out = run_scripted(server, script, state, args)
    assert "paper sma_cross EURUSD M1 on the ctrader feed" in out.replace("\n", " ")
    trades = journal_trades(state)
    assert trades, out
    assert server.order_history == {} and server.positions == {}  # paper only
    paper = json.loads((state / "paper_broker.json").read_text())
    assert paper and (state / "health.json").exists()
    assert not (state / "ctrader_broker.json").exists()
