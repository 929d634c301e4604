"""``import MetaTrader5`` inside a console-script subprocess of the tests: the `FakeMT5Trading`
stand-in playing a `ScriptedMarket`, one bar per poll of the MT5 feed.

Put this folder and the repository root on ``PYTHONPATH``; the environment describes the
market: ``FAKE_MT5_BARS`` (Parquet bars, UTC index), ``FAKE_MT5_HISTORY`` (bars closed before
the session), ``FAKE_MT5_CLOCK`` (the server's clock, e.g. ``ny``), ``FAKE_MT5_KILL`` (the kill
file written, followed by one more quote, once every bar has played), ``FAKE_MT5_ORDERS``
(a file each ``order_send`` request is appended to, one JSON line each) and
``FAKE_MT5_RETCODES`` (comma-separated return codes the first ``order_send`` calls answer
with). `tests.support.mt5_market.module_environment` builds it.

The feed asks for the ticks since its last one (``copy_ticks_from``) at the start of every
poll but the first: that is when the market moves on by one bar, so the feed sees each bar's
quotes and then its close, whatever the speed of the machine.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from tests.support.fake_mt5_trading import FakeMT5Trading
from tests.support.mt5_market import ScriptedMarket

from tradeforge.data.sources.mt5_clock import ServerClock


class PolledTerminal(FakeMT5Trading):
    def __init__(self) -> None:
        super().__init__()
        env = os.environ
        frame = pd.read_parquet(env["FAKE_MT5_BARS"])
        clock = ServerClock.parse(env.get("FAKE_MT5_CLOCK", "utc"))
        self.market = ScriptedMarket(self, frame, int(env["FAKE_MT5_HISTORY"]), clock=clock)
        self.kill_file = Path(env["FAKE_MT5_KILL"])
        self.orders_file = Path(env["FAKE_MT5_ORDERS"])
        for code in filter(None, env.get("FAKE_MT5_RETCODES", "").split(",")):
            self.queue_retcode(int(code))

    def copy_ticks_from(self, symbol: str, date_from: Any, count: int, flags: int) -> Any:
        if self.initialized and not self.market.step() and not self.kill_file.exists():
            self.kill_file.write_text("end of the scripted market\n")
            last = self.ticks[symbol]
            self.market.quote(last.bid, last.time_msc + 1000)
        return super().copy_ticks_from(symbol, date_from, count, flags)

    def order_send(self, request: dict) -> Any:
        with open(self.orders_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(request, sort_keys=True) + "\n")
        return super().order_send(request)


sys.modules[__name__] = PolledTerminal()  # type: ignore[assignment]
