"""``import MetaTrader5`` inside a console-script subprocess of the tests: the `FakeMT5Trading`
stand-in playing a `ScriptedMarket`, one bar per poll of the MT5 feed.

Put this folder and the repository root on ``PYTHONPATH``; the environment describes the
market: ``FAKE_MT5_BARS`` (Parquet bars, UTC index, of EURUSD; or ``SYMBOL=PATH,…`` for
several symbols, each its own market moving on by one bar per poll of its own ticks),
``FAKE_MT5_HISTORY`` (bars closed before
the session), ``FAKE_MT5_CLOCK`` (the server's clock, e.g. ``ny``), ``FAKE_MT5_KILL`` (the kill
file written, followed by one more quote, once every bar has played), ``FAKE_MT5_ORDERS``
(a file each ``order_send`` request is appended to, one JSON line each) and
``FAKE_MT5_RETCODES`` (comma-separated return codes the first ``order_send`` calls answer
with). ``FAKE_MT5_CRASH_AT_ENTRY=N``: the process SIGKILLs itself right after answering
its N-th entry order (counted in the orders file) — the server holds it, the session never
learns the answer. With ``FAKE_MT5_STORE`` (a file) the server outlives the process, as a real one does:
its whole state (quotes, bars, positions, orders, deals, where each market is) is written
there, atomically, after every step of the market and every ``order_send`` before it
answers, and a new process starts from it. `tests.support.mt5_market.module_environment`
builds the environment.

The feed asks for the ticks since its last one (``copy_ticks_from``) at the start of every
poll but the first: that is when the market moves on by one bar, so the feed sees each bar's
quotes and then its close, whatever the speed of the machine.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
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
        clock = ServerClock.parse(env.get("FAKE_MT5_CLOCK", "utc"))
        given = env["FAKE_MT5_BARS"]
        files = (
            dict(x.split("=", 1) for x in given.split(",")) if "=" in given else {"EURUSD": given}
        )
        self.markets = {
            symbol: ScriptedMarket(
                self, pd.read_parquet(path), int(env["FAKE_MT5_HISTORY"]), symbol=symbol,
                clock=clock,
            )
            for symbol, path in files.items()
        }  # fmt: skip
        self.kill_file = Path(env["FAKE_MT5_KILL"])
        self.orders_file = Path(env["FAKE_MT5_ORDERS"])
        for code in filter(None, env.get("FAKE_MT5_RETCODES", "").split(",")):
            self.queue_retcode(int(code))
        store = env.get("FAKE_MT5_STORE")
        self.store = Path(store) if store else None
        if self.store is not None and self.store.exists():
            saved = pickle.loads(self.store.read_bytes())
            for symbol, k in saved.pop("market_bars").items():
                self.markets[symbol].k = k
            self.__dict__.update(saved)

    def save(self) -> None:
        """The server's state into ``FAKE_MT5_STORE`` (atomically), when given."""
        if self.store is None:
            return
        keep = {"markets", "calls", "initialized", "init_kwargs", "store", "kill_file",
                "orders_file", "retcode_queue", "after_send"}  # fmt: skip
        state = {k: v for k, v in self.__dict__.items() if k not in keep}
        state["market_bars"] = {s: m.k for s, m in self.markets.items()}
        tmp = self.store.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(state))
        os.replace(tmp, self.store)

    def copy_ticks_from(self, symbol: str, date_from: Any, count: int, flags: int) -> Any:
        market = self.markets.get(symbol)
        if self.initialized and market is not None:
            market.step()
            done = all(m.done for m in self.markets.values())
            if done and not self.kill_file.exists():
                self.kill_file.write_text("end of the scripted market\n")
                last = self.ticks[symbol]
                market.quote(last.bid, last.time_msc + 1000)
            self.save()
        return super().copy_ticks_from(symbol, date_from, count, flags)

    def order_send(self, request: dict) -> Any:
        result = super().order_send(request)
        self.save()
        with open(self.orders_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(request, sort_keys=True) + "\n")
        crash_at = int(os.environ.get("FAKE_MT5_CRASH_AT_ENTRY") or 0)
        if crash_at and "position" not in request and request.get("action") == 1:
            sent = [json.loads(line) for line in self.orders_file.read_text().splitlines()]
            if sum(1 for r in sent if r.get("action") == 1 and "position" not in r) == crash_at:
                # the server holds the order; the session dies before it learns the answer
                os.kill(os.getpid(), signal.SIGKILL)
        return result


sys.modules[__name__] = PolledTerminal()  # type: ignore[assignment]
