"""Risk alerts ahead of the engine's own loss guards, evaluated as trades close.

* **Daily loss**: the P&L of the trades closed on the engine's current UTC day (a trade
  counts on the day its last exit is booked), against the day's opening balance the
  daily-loss guard uses; each threshold alerts once a day.
* **Drawdown**: the day's opening balance plus that P&L (the realized balance) against the
  equity peak the max-drawdown guard keeps, as a fraction of the guard's limit; each fraction
  alerts once and re-arms when the drawdown falls back below it.

Both are realized views: the guards themselves mark open positions to market at every bar,
and when one of them blocks an entry that is its own (critical) notification. A session
resumed mid-day starts counting the day's P&L at the restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tradeforge.live.guards import RiskLimits
from tradeforge.live.model import EngineState
from tradeforge.notify import events
from tradeforge.notify.message import Message

DAY = 86_400


def utc_day(iso: str) -> int:
    """Days since the epoch of an ISO UTC time (the engine's ``Daily.day``)."""
    return int(datetime.fromisoformat(iso).timestamp() // DAY)


class RiskWatch:
    """Follows closed trades and says when a threshold is crossed."""

    def __init__(
        self,
        limits: RiskLimits,
        daily_loss_pct: Iterable[float] = (),
        guard_fractions: Iterable[float] = (),
    ) -> None:
        self.limits = limits
        self.daily_thresholds = sorted(daily_loss_pct)
        self.fractions = sorted(guard_fractions)
        self.day: int | None = None
        self.today = 0.0  # P&L of the trades closed today
        self.daily_fired: set[float] = set()
        self.dd_fired: set[float] = set()

    def on_trade(self, trade: Mapping[str, Any], state: EngineState) -> list[Message]:
        """Count ``trade`` (closed; ``state`` is the state after it) and alert on crossings."""
        time = trade["exit_time"]
        if state.daily.day != self.day:
            self.day, self.today = state.daily.day, 0.0
            self.daily_fired.clear()
        if self.day is not None and utc_day(time) == self.day:
            self.today += trade["pnl"]
        start = state.daily.start_balance
        out: list[Message] = []
        if start > 0:
            loss = -self.today / start * 100.0
            new = [t for t in self.daily_thresholds if loss >= t and t not in self.daily_fired]
            if new:
                self.daily_fired.update(new)
                out.append(events.daily_loss(loss, max(new), time))
        limit, peak = self.limits.max_drawdown_pct, state.risk.peak_equity
        if limit is not None and peak > 0:
            dd = (peak - (start + self.today)) / peak * 100.0
            crossed = [f for f in self.fractions if dd >= f * limit]
            self.dd_fired &= set(crossed)  # recovered below a fraction: it alerts again
            new = [f for f in crossed if f not in self.dd_fired]
            if new:
                self.dd_fired.update(new)
                out.append(events.drawdown(dd, limit, max(new), time))
        return out
