"""What one feed event does to the state (the order mirrors the backtest kernel's bar loop).

Each runs for one strategy instance (`EngineContext`) on its part of the state; the engine
calls it for every instance trading the event's symbol, in name order.

* **tick** — a simulated broker sees the quote first (pending market orders fill, resting
  limit/stop entries fill when the price path crosses their level, swap accrues on a new UTC
  date); then pending orders are synced (fills become managed positions, their stop is sent to
  the broker); positions due for a time stop or an opposite-signal exit close at market;
  entries *queued* behind those exits are sized (from the balance after them) and placed; in
  ``tick`` exit mode every position runs the shared exit rules on the tick.
* **closed bar** — the strategy runs on the last ``window`` bars; in ``bar`` exit mode every
  position runs the shared exit rules on the bar (exactly the backtest; a position filled
  inside this bar sees it from its fill on, like the kernel); break-even/trailing update from
  the bar (stop changes go to the broker); time stops fall due; limit/stop entries past their
  last live bar are cancelled (expired); equity, the daily counters and the peak are updated;
  the bar's signals, in row order, first apply ``exit_opposite`` (opposite positions close at
  the next open, opposite pending orders are cancelled) and then become entry orders through
  the guards and risk sizing — placed now, or queued until the next quote when exits are due
  at that open (so sizing sees the balance after them, as in the backtest, and a reversal
  takes the slot its opposite position frees).

In ``tick`` exit mode a quote is not a gap: within a bar, the price path runs from the
previous quote to this one, so each position sees the observation ``(open = previous bid,
high/low = the two bids' max/min)`` and a stop or target crossed between two quotes fills at its
level, as inside a backtest bar (the simulated broker fills resting entries by the same rule).
Only the first quote of a bar is its open, where gaps fill; a position filled at this quote
starts from its fill (the kernel's "sees the bar from the fill on").

Slippage is the execution model's value for the bar (`ExecutionModel.slippage_at`; ``atr``
uses the model's ATR over the engine's window, known at the previous bar's close — equal to
the backtest's once the window is long against the ATR period).
"""

from __future__ import annotations

import math

from tradeforge.live.account import sizing_balance, update_account
from tradeforge.live.context import EngineContext
from tradeforge.live.entries import EntryTerms, enter_on_signals
from tradeforge.live.exits import close_at_end, close_due, exits_on_tick, manage_on_bar
from tradeforge.live.feeds import Bar, Tick
from tradeforge.live.market import roll_atr, seed_atr, slip_at, window_atr
from tradeforge.live.model import EngineState
from tradeforge.live.orders import place_queued
from tradeforge.live.pending import expire_pending, sync_pending
from tradeforge.live.strategy_signals import strategy_signals


def on_tick(
    ctx: EngineContext,
    new: EngineState,
    tick: Tick,
    decisions: list,
    trades: list,
    prev: Tick | None = None,
) -> None:
    """``prev``: the quote of ``tick``'s symbol before it (None at the start: ``tick`` is an
    open). A simulated broker has seen the quote already (`Engine.handle`: once for every
    instance on the symbol)."""
    book = ctx.book(new)
    held = set(book.positions)  # positions not in it were filled at this quote
    sync_pending(ctx, new, tick.time, decisions, trades)
    close_due(ctx, new, tick.time, decisions, trades)
    if book.queued:
        place_queued(ctx, new, tick, decisions, trades)
    if ctx.cfg.exit_mode == "tick":
        exits_on_tick(ctx, new, tick, prev, held, decisions, trades)


def on_bar(
    ctx: EngineContext,
    new: EngineState,
    bar: Bar,
    last_tick: Tick | None,
    decisions: list,
    trades: list,
) -> None:
    now = bar.close_time
    if ctx.broker.simulated:
        ctx.broker.set_clock(now)
    window = ctx.feed.window(bar.time, ctx.cfg.window)
    sig = strategy_signals(ctx.strategy, window, ctx.tf.name, ctx.inst)
    last = len(window) - 1
    lv_long = lv_short = math.nan
    if sig.trail_level_long is not None:
        lv_long = float(sig.trail_level_long[last])
    if sig.trail_level_short is not None:
        lv_short = float(sig.trail_level_short[last])
    sp = ctx.spread(bar.spread)
    atr = window_atr(ctx, window)
    book = ctx.book(new)
    if atr is not None:
        seed_atr(ctx, book, atr, bar)
    slip = slip_at(ctx, new, bar.time)
    manage_on_bar(ctx, new, bar, sp, slip, (lv_long, lv_short), decisions, trades)
    expire_pending(ctx, new, now, decisions)
    final = bool(getattr(bar, "final", False)) or (
        hasattr(ctx.feed, "__len__") and bar.index == len(ctx.feed) - 1
    )
    if final and ctx.cfg.close_at_end:
        close_at_end(ctx, new, bar, sp, slip, decisions, trades)
    equity, margin = update_account(ctx, new, bar.close, sp, now)
    if atr is not None:
        roll_atr(book, atr, bar.time)
    balance = sizing_balance(ctx, new)
    terms = EntryTerms(bar, balance, equity, margin, final, last_tick)
    enter_on_signals(ctx, new, sig, last, terms, decisions)
