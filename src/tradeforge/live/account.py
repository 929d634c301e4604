"""Money views of the open positions: the balance sizing uses, open P&L and used margin — of
the account (every instance's positions, each at its own symbol's price) and of one instance
(its own guards)."""

from __future__ import annotations

from tradeforge.live import manager as M
from tradeforge.live.context import EngineContext
from tradeforge.live.guards import RiskLimits
from tradeforge.live.model import Daily, EngineState, StrategyState
from tradeforge.trading.steps import open_quote

NS_DAY = 86_400 * 1_000_000_000


def sizing_balance(ctx: EngineContext, new: EngineState) -> float:
    """The backtest's balance: the broker's plus the entry-side commission it already took
    on open positions (the backtest books both sides with each exit leg)."""
    balance = ctx.broker.account().balance
    for name, book in new.strategies.items():
        comm_step = ctx.desk.contexts[name].comm_step
        for pos in book.positions.values():
            balance += comm_step * M.remaining(M.pf_from_json(pos.pf))
    return balance


def book_value(
    ctx: EngineContext, book: StrategyState, close: float, sp: float
) -> tuple[float, float]:
    """Open P&L (less the exit-side commission) and used margin of one instance's positions
    at bid ``close`` and spread ``sp``."""
    inst = ctx.inst
    pnl = margin = 0.0
    for pos in book.positions.values():
        pf = M.pf_from_json(pos.pf)
        gross, exit_comm = open_quote(M.row(pf), 0, close, sp, inst.unit, ctx.comm_step)
        pnl += float(gross)  # numpy scalars from the state row: state and texts keep floats
        pnl -= float(exit_comm)
        rem = M.remaining(pf)
        margin += rem * inst.lot_step * inst.contract_size * pos.entry_price / ctx.cfg.leverage
    return pnl, margin


def equity_margin(
    ctx: EngineContext, new: EngineState, close: float, sp: float
) -> tuple[float, float]:
    """Open P&L and used margin of the account: ``ctx``'s symbol at ``close`` / ``sp``, every
    other symbol at its last quote (positions need a quote to exist, so none is skipped)."""
    pnl = margin = 0.0
    for name, book in new.strategies.items():
        if not book.positions:
            continue
        other = ctx.desk.contexts[name]
        if other.symbol == ctx.symbol:
            at = (close, sp)
        else:
            quote = ctx.desk.quotes.get(other.symbol)
            if quote is None:
                continue
            at = (quote.bid, other.spread(quote.spread))
        p, m = book_value(other, book, *at)
        pnl += p
        margin += m
    return pnl, margin


def update_account(
    ctx: EngineContext, new: EngineState, close: float, sp: float, now: int
) -> tuple[float, float]:
    """At a bar's close: roll the daily counters on a new UTC date and raise the equity peak
    (the account's, and ``ctx``'s instance's when it has guards of its own); returns the
    account's (equity, used margin)."""
    balance = ctx.broker.account().balance
    open_pnl, margin = equity_margin(ctx, new, close, sp)
    equity = balance + open_pnl
    day = now // NS_DAY
    if new.daily.day != day:
        new.daily = Daily(day=day, start_balance=balance)
    if equity > new.risk.peak_equity:
        new.risk.peak_equity = equity
    book = ctx.book(new)
    if ctx.cfg.limits == RiskLimits():
        return equity, margin  # no guards of its own: nothing to count
    if book.risk.day != day:  # the day opens with its balance, as the account's
        book.risk.day, book.risk.day_start = day, (book.risk.capital or 0.0) + book.stats.realized
    own = strategy_equity(ctx, book, close, sp)
    if own > book.risk.peak:
        book.risk.peak = own
    return equity, margin


def strategy_equity(ctx: EngineContext, book: StrategyState, close: float, sp: float) -> float:
    """One instance's equity: its capital plus its realized and open P&L."""
    return (book.risk.capital or 0.0) + book.stats.realized + book_value(ctx, book, close, sp)[0]
