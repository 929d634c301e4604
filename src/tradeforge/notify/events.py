"""Session events as messages: which engine decisions deserve a notification, at which level,
and their text.

Pure functions of a decision (`tradeforge.live.decisions`), the committed state after it
(`tradeforge.live.model.EngineState`) and the closed trade records (the backtest's trade
columns), so a replay produces the same texts. Money is in the instrument's quote currency,
as the engine keeps it; prices print with the instrument's digits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tradeforge.core.instruments import Instrument
from tradeforge.live import manager as M
from tradeforge.live.model import EngineState
from tradeforge.notify.message import Level, Message

#: Event kinds a config may mute (``mute = ["stop"]``).
KINDS = (
    "start",
    "opened",
    "partial",
    "closed",
    "stop",
    "guard",
    "error",
    "reconcile",
    "kill",
    "control",
    "risk",
    "health",
    "divergence",
    "end",
)

#: Blocked entries: a loss guard is an alert, a busy book is routine.
GUARD_LEVELS = {
    "daily_loss": Level.CRITICAL,
    "drawdown": Level.CRITICAL,
    "stale_data": Level.WARNING,
    "spread": Level.WARNING,
    "max_positions": Level.INFO,
    "trading_hours": Level.INFO,
    "symbol_exposure": Level.WARNING,
    "total_exposure": Level.WARNING,
    "orders_per_minute": Level.WARNING,
    "price_deviation": Level.WARNING,
    "slippage": Level.WARNING,
}

#: Execution problems the engine logs (decision kind -> what the message says first).
ERRORS = {
    "rejected": "order rejected by the broker",
    "order_dropped": "entry order dropped",
    "warning": "execution warning",
}

Json = Mapping[str, Any]


@dataclass(frozen=True)
class Formats:
    """How one session prints prices, sizes and money."""

    symbol: str
    digits: int
    currency: str
    lot_step: float

    @classmethod
    def of(cls, inst: Instrument) -> Formats:
        return cls(inst.symbol, inst.digits, inst.quote_currency, inst.lot_step)

    def price(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "market"
        return f"{value:.{self.digits}f}"

    def money(self, value: float) -> str:
        return f"{value:+,.2f} {self.currency}"

    @staticmethod
    def lots(value: float) -> str:
        return f"{value:g}"


def side_name(side: int | str) -> str:
    if isinstance(side, str):
        return side
    return "long" if side > 0 else "short"


def started(d: Json, state: EngineState) -> Message:
    ident = state.identity
    text = f"session started: {ident.strategy} {ident.symbol} {ident.timeframe} ({d['reason']})"
    return Message(Level.INFO, "start", text, d.get("time"))


def kill_cleared(d: Json) -> Message:
    return Message(Level.INFO, "start", f"trading resumed: {d['reason']}", d.get("time"))


def opened(d: Json, state: EngineState, fmt: Formats) -> Message:
    """An entry fill; the position (when still open after the commit) adds id, side, risk."""
    pos = state.positions.get(d["order"])
    lots, price, stop = fmt.lots(d["lots"]), fmt.price(d["price"]), fmt.price(d["stop"])
    data = {"order": d["order"], "lots": d["lots"], "price": d["price"], "stop": d["stop"]}
    if pos is None:  # closed in the same commit (stop on the wrong side of the fill)
        text = f"opened {lots} {fmt.symbol} at {price}, stop {stop}"
    else:
        side = side_name(pos.side)
        data |= {"trade_id": pos.trade_id, "side": side, "risk": pos.risk_money}
        text = (
            f"opened #{pos.trade_id} {side} {lots} {fmt.symbol} at {price}, stop {stop}, "
            f"risk {pos.risk_money:,.2f} {fmt.currency}"
        )
    return Message(Level.INFO, "opened", text, d.get("time"), data)


def partial(d: Json, state: EngineState, fmt: Formats) -> Message:
    """An exit leg that left part of the position open."""
    pos = state.positions[d["position"]]
    left = M.remaining(M.pf_from_json(pos.pf)) * fmt.lot_step
    side = side_name(pos.side)
    text = (
        f"partial close #{pos.trade_id} {side} {fmt.symbol}: {fmt.lots(d['lots'])} at "
        f"{fmt.price(d.get('price'))} ({d['reason']}), {fmt.lots(round(left, 8))} open"
    )
    data = {"trade_id": pos.trade_id, "side": side, "lots": d["lots"], "price": d.get("price")}
    return Message(Level.INFO, "partial", text, d.get("time"), {**data, "reason": d["reason"]})


def closed(trade: Json, fmt: Formats, time: str | None) -> Message:
    """A finished trade (its record: side, size, prices, P&L, R multiple)."""
    r = trade["r_multiple"]
    r_text = "R n/a" if r is None else f"{r:+.2f}R"
    text = (
        f"closed #{trade['trade_id']} {trade['side']} {fmt.lots(trade['size'])} {fmt.symbol} "
        f"{fmt.price(trade['entry_price'])} → {fmt.price(trade['exit_price'])} "
        f"({trade['exit_reason']}): P&L {fmt.money(trade['pnl'])}, {r_text}"
    )
    keys = ("trade_id", "side", "size", "entry_price", "exit_price", "exit_reason", "pnl")
    data = {k: trade[k] for k in keys} | {"r_multiple": r}
    return Message(Level.INFO, "closed", text, time, data)


def stop_moved(d: Json, state: EngineState, fmt: Formats) -> Message:
    pos = state.positions.get(d["position"])
    which = f"#{pos.trade_id}" if pos is not None else d["position"]
    text = f"stop of {which} moved to {fmt.price(d['stop'])} ({d['reason']})"
    data = {"position": d["position"], "stop": d["stop"], "reason": d["reason"]}
    return Message(Level.INFO, "stop", text, d.get("time"), data)


def guard(d: Json) -> Message:
    level = GUARD_LEVELS.get(d["guard"], Level.WARNING)
    text = f"entry blocked by the {d['guard']} guard: {d['reason']}"
    return Message(level, "guard", text, d.get("time"), {"guard": d["guard"]})


def error(d: Json) -> Message:
    what = ERRORS[d["kind"]]
    ref = d.get("order") or d.get("position")
    text = f"{what}: {d['reason']}" + (f" ({ref})" if ref else "")
    return Message(Level.WARNING, "error", text, d.get("time"), {"decision": d["kind"]})


def recovered(d: Json) -> Message:
    """A health condition back below all its rules (`tradeforge.live.health`)."""
    data = {"health": d["health"], "rules": d["rules"]}
    return Message(Level.INFO, "health", f"health: {d['reason']}", d.get("time"), data)


def reconciled(d: Json) -> Message:
    return Message(
        Level.WARNING, "reconcile", f"reconciled with the broker: {d['reason']}", d.get("time")
    )


def killed(d: Json) -> Message:
    if d.get("strategy"):  # one strategy killed (`tradeforge ctl kill --strategy`)
        return Message(
            Level.CRITICAL, "kill", d["reason"], d.get("time"), {"strategy": d["strategy"]}
        )
    text = f"{d['reason']}; trading halted"
    return Message(Level.CRITICAL, "kill", text, d.get("time"))


#: Operator switches (`tradeforge.live.control`): stopping entries warns, restoring informs.
CONTROL_LEVELS = {
    "paused": Level.WARNING,
    "disabled": Level.WARNING,
    "resumed": Level.INFO,
    "enabled": Level.INFO,
    "notify_reloaded": Level.INFO,
}


def switched(d: Json) -> Message:
    """An operator's pause, resume, disable or enable, as it applied."""
    data = {"decision": d["kind"], "strategy": d.get("strategy")}
    return Message(CONTROL_LEVELS[d["kind"]], "control", d["reason"], d.get("time"), data)


def refused(d: Json) -> Message:
    """A control command refused on arrival (``command_refused``) or failing when it applied
    (a ``command`` whose outcome is ``failed``)."""
    name = d.get("command", "?")
    who = (d.get("who") or {}).get("user", "?")
    text = f"command {name} from {who} refused: {d['reason']}"
    if d["kind"] == "command":
        text = f"command {d['id']} ({name}) from {who} failed: {d['reason']}"
    return Message(Level.WARNING, "control", text, d.get("time"), {"command": name})


def daily_loss(loss_pct: float, threshold: float, time: str | None) -> Message:
    text = f"daily loss {loss_pct:.2f}% of the day's opening balance (alert at {threshold:g}%)"
    return Message(Level.WARNING, "risk", text, time, {"daily_loss_pct": loss_pct})


def drawdown(dd_pct: float, limit: float, fraction: float, time: str | None) -> Message:
    text = (
        f"drawdown {dd_pct:.2f}% from the equity peak: {dd_pct / limit:.0%} of the "
        f"{limit:g}% max-drawdown guard (alert at {fraction:.0%})"
    )
    return Message(Level.WARNING, "risk", text, time, {"drawdown_pct": dd_pct})


def ended(state: EngineState | None, fmt: Formats, error: BaseException | None) -> Message:
    """The session's end: its totals, or the error that stopped it."""
    if state is None:
        totals = "before its state was loaded"
    else:
        realized = fmt.money(state.stats.realized)
        totals = f"{state.stats.trades} closed trade(s), realized {realized}"
    if error is not None:
        why = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
        why = why or type(error).__name__
        return Message(Level.CRITICAL, "end", f"session stopped ({why}); {totals}")
    assert state is not None
    text = f"session ended: {totals}"
    if state.risk.halted:
        text += f"; trading halted ({state.risk.halted})"
    return Message(Level.INFO, "end", text)
