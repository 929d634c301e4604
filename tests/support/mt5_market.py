"""A scripted market for the `FakeMT5Trading` stand-in: a bar frame (UTC index, bid prices on
the symbol's grid) played one bar per `step`, stamped in the broker's server time.

A bar forms through the quotes the replay feed synthesises for it — the open, then the low
and high (up bar) or high and low (down bar), then the close, at ``t``, ``t + tf/4``, ``t +
tf/2``, ``t + 3tf/4`` — with ``ask = bid + spread`` points, and closes when the next bar's
open quote arrives. So the MT5 feed sees exactly the events a replay of the same bars plays
from the forming bar on, which makes the two comparable trade by trade. Every quote goes
through ``set_quote``: resting orders fill or expire, server stops and targets fire.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from tests.support.fake_mt5 import make_rates
from tests.support.fake_mt5_trading import FakeMT5Trading
from tradeforge.data.sources.mt5_clock import ServerClock


class ScriptedMarket:
    """Plays ``frame`` on ``fake``'s ``symbol``: bars ``0..history-1`` closed at the start,
    bar ``history`` forming with its open quote; each `step` plays the rest of the forming bar
    and opens the next one. ``clock``: the server's (None: UTC)."""

    def __init__(
        self,
        fake: FakeMT5Trading,
        frame: pd.DataFrame,
        history: int,
        *,
        symbol: str = "EURUSD",
        timeframe: int | None = None,
        clock: ServerClock | None = None,
        spread: int = 8,
    ) -> None:
        self.fake, self.frame, self.symbol = fake, frame, symbol
        self.timeframe = fake.TIMEFRAME_M5 if timeframe is None else timeframe
        self.spread = spread
        utc = frame.index.as_unit("ns").asi8
        shift = clock.offset_ns(utc) if clock is not None else np.zeros(len(utc), np.int64)
        self.server_ms = (utc + shift) // 1_000_000  # bar open times, server clock
        self.step_ms = int(utc[1] - utc[0]) // 1_000_000 if len(utc) > 1 else 0
        self.k = history  # the forming bar
        fake.add_symbol(symbol, digits=5, bid=float(frame["open"].iloc[history]), spread=spread)
        self._open(history)

    @property
    def done(self) -> bool:
        """Every bar has closed except the last, whose close no later quote can mark."""
        return self.k >= len(self.frame) - 1

    def _path(self, i: int) -> tuple[float, ...]:
        o, h, lo, c = (float(self.frame[x].iloc[i]) for x in ("open", "high", "low", "close"))
        return (o, lo, h, c) if c >= o else (o, h, lo, c)

    def quote(self, bid: float, ms: int) -> None:
        ask = round(bid + self.spread * self.fake.symbols[self.symbol].point, 5)
        self.fake.set_quote(self.symbol, bid, ask, ms)

    def _open(self, i: int) -> None:
        """Bars before ``i`` closed, ``i`` forming (as far as its open)."""
        rows = self.frame.iloc[: i + 1]
        self.fake.add_rates(self.symbol, self.timeframe, make_rates([
            (ms // 1000, o, h, lo, c, 10, self.spread, 0) for ms, o, h, lo, c in zip(
                self.server_ms[: i + 1], rows["open"], rows["high"], rows["low"], rows["close"],
                strict=True)
        ]))  # fmt: skip
        self.quote(self._path(i)[0], int(self.server_ms[i]))

    def step(self) -> bool:
        """Play the forming bar's other quotes and open the next bar; False when `done`."""
        if self.done:
            return False
        t0 = int(self.server_ms[self.k])
        for j, bid in enumerate(self._path(self.k)[1:], start=1):
            self.quote(bid, t0 + j * self.step_ms // 4)
        self.k += 1
        self._open(self.k)
        return True


def module_environment(
    bars: Path | dict[str, Path], history: int, state: Path, orders: Path, clock: str = "utc",
    retcodes: str = "", store: Path | None = None,
) -> dict[str, str]:  # fmt: skip
    """The environment of a console-script subprocess whose ``import MetaTrader5`` is the
    stand-in module of tests/support/mt5_module playing ``bars`` (EURUSD's, or by symbol; see
    its docstring)."""
    root = Path(__file__).resolve().parents[2]
    path = [str(root / "tests" / "support" / "mt5_module"), str(root)]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*path, os.environ.get("PYTHONPATH", "")]),
        "FAKE_MT5_BARS": str(bars)
        if isinstance(bars, Path)
        else ",".join(f"{s}={p}" for s, p in bars.items()),
        "FAKE_MT5_HISTORY": str(history),
        "FAKE_MT5_CLOCK": clock,
        "FAKE_MT5_KILL": str(state / "KILL"),
        "FAKE_MT5_ORDERS": str(orders),
        "FAKE_MT5_RETCODES": retcodes,
        "FAKE_MT5_STORE": str(store) if store is not None else "",
        "COLUMNS": "200",
    }
