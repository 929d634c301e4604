"""The market as the engine's state knows it: the ATR snapshot behind ``atr`` slippage, the
slippage in force for a bar, and quotes handed to a simulated broker."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.live.context import EngineContext
from tradeforge.live.feeds import Bar, Tick
from tradeforge.live.model import AtrSnapshot, EngineState, StrategyState
from tradeforge.trading.execution import atr_with_warmup


def atr_for(book: StrategyState, bar_time: int) -> float | None:
    """The ATR known at the close of the bar before ``bar_time`` (``atr`` slippage)."""
    a = book.atr
    if a is None:
        return None
    return a.value if bar_time > a.bar else a.prev


def slip_at(ctx: EngineContext, state: EngineState, bar_time: int) -> float:
    atr = atr_for(ctx.book(state), bar_time)
    return ctx.cfg.execution.slippage_at(ctx.inst, ctx.symbol, bar_time, atr)


def observe(ctx: EngineContext, state: EngineState, tick: Tick) -> None:
    """Hand a quote to the simulated broker with its bar and the ATR for its slippage (with
    several instances on the symbol: the first one's, by name)."""
    first = ctx.desk.first_on(ctx.symbol) if ctx.desk.contexts else ctx
    bar_time = first.bar_of(tick.time)
    ctx.broker.observe(
        tick.symbol, tick.time, tick.bid, tick.ask,
        bar_time=bar_time, atr=atr_for(first.book(state), bar_time),
    )  # fmt: skip


def window_atr(ctx: EngineContext, window: pd.DataFrame) -> np.ndarray | None:
    """The execution model's ATR over the strategy window (``atr`` slippage only)."""
    if ctx.cfg.execution.slippage != "atr":
        return None
    return atr_with_warmup(
        window["high"].to_numpy(np.float64),
        window["low"].to_numpy(np.float64),
        window["close"].to_numpy(np.float64),
        ctx.cfg.execution.atr_period,
    )


def seed_atr(ctx: EngineContext, book: StrategyState, atr: np.ndarray, bar: Bar) -> None:
    """First bar seen: record the ATR known at the previous bar's close."""
    if book.atr is None:
        prev = float(atr[-2]) if len(atr) > 1 else float(bar.high - bar.low)
        book.atr = AtrSnapshot(bar=bar.time - ctx.step_ns, value=prev, prev=prev)


def roll_atr(book: StrategyState, atr: np.ndarray, bar_time: int) -> None:
    """Bar ``bar_time`` closed: its ATR becomes the one known, the previous one is kept."""
    book.atr = AtrSnapshot(bar=bar_time, value=float(atr[-1]), prev=atr_for(book, bar_time))
