"""Money views of the open positions: the balance sizing uses, open P&L and used margin."""

from __future__ import annotations

from tradeforge.live import manager as M
from tradeforge.live.context import EngineContext
from tradeforge.live.model import Daily, EngineState
from tradeforge.trading.steps import open_quote

NS_DAY = 86_400 * 1_000_000_000


def sizing_balance(ctx: EngineContext, new: EngineState) -> float:
    """The backtest's balance: the broker's plus the entry-side commission it already took
    on open positions (the backtest books both sides with each exit leg)."""
    balance = ctx.broker.account().balance
    for pos in new.positions.values():
        balance += ctx.comm_step * M.remaining(M.pf_from_json(pos.pf))
    return balance


def equity_margin(
    ctx: EngineContext, new: EngineState, close: float, sp: float
) -> tuple[float, float]:
    """Open P&L (less the exit-side commission) and used margin of the positions."""
    inst = ctx.inst
    pnl = margin = 0.0
    for pos in new.positions.values():
        pf = M.pf_from_json(pos.pf)
        gross, exit_comm = open_quote(M.row(pf), 0, close, sp, inst.unit, ctx.comm_step)
        pnl += gross
        pnl -= exit_comm
        rem = M.remaining(pf)
        margin += rem * inst.lot_step * inst.contract_size * pos.entry_price / ctx.cfg.leverage
    return pnl, margin


def update_account(
    ctx: EngineContext, new: EngineState, close: float, sp: float, now: int
) -> tuple[float, float]:
    """At a bar's close: roll the daily counters on a new UTC date and raise the equity peak;
    returns (equity, used margin)."""
    balance = ctx.broker.account().balance
    open_pnl, margin = equity_margin(ctx, new, close, sp)
    equity = balance + open_pnl
    day = now // NS_DAY
    if new.daily.day != day:
        new.daily = Daily(day=day, start_balance=balance)
    if equity > new.risk.peak_equity:
        new.risk.peak_equity = equity
    return equity, margin
