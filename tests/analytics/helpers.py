"""Hand-built `BacktestResult`s for analytics tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tradeforge.trading.result import LEG_COLUMNS, TRADE_COLUMNS, BacktestResult

T0 = pd.Timestamp("2024-01-01 00:00", tz="UTC")  # a Monday
H = pd.Timedelta(hours=1)


def trade(
    pnl: float,
    *,
    entry: pd.Timestamp,
    exit: pd.Timestamp,
    risk: float = 100.0,
    tag: str = "A",
    side: str = "long",
    symbol: str = "EURUSD",
    reason: str = "target",
    bars: int = 12,
    commission: float = 0.0,
) -> dict:
    r = pnl / risk if risk else np.nan
    return {
        "symbol": symbol,
        "tag": tag,
        "side": side,
        "signal_time": entry - pd.Timedelta(minutes=5),
        "entry_time": entry,
        "entry_price": 1.1,
        "exit_time": exit,
        "exit_price": 1.1,
        "size": 1.0,
        "initial_stop": 1.09,
        "risk": risk,
        "pnl": pnl,
        "commission": commission,
        "r_multiple": r,
        "exit_reason": reason,
        "bars_held": bars,
    }


def make_result(
    trades: Sequence[dict] = (),
    equity: Sequence[float] | None = None,
    times: Sequence[pd.Timestamp] | None = None,
    open_positions: Sequence[int] | None = None,
    initial: float = 10_000.0,
) -> BacktestResult:
    """Trades get trade_id in the given order; equity defaults to one flat bar per trade exit."""
    rows = [dict(t, trade_id=i) for i, t in enumerate(trades)]
    frame = (
        pd.DataFrame(rows)[list(TRADE_COLUMNS)]
        if rows
        else pd.DataFrame({c: [] for c in TRADE_COLUMNS})
    )
    legs = pd.DataFrame(
        {
            "trade_id": frame["trade_id"],
            "symbol": frame["symbol"],
            "tag": frame["tag"],
            "side": frame["side"],
            "time": frame["exit_time"],
            "price": frame["exit_price"],
            "size": frame["size"],
            "pnl": frame["pnl"],
            "reason": frame["exit_reason"],
        }
    )[list(LEG_COLUMNS)]
    if equity is None:
        equity, times = [], []
    if times is None:
        times = [T0 + i * H for i in range(len(equity))]
    if open_positions is None:
        open_positions = [0] * len(equity)
    eq = pd.DataFrame(
        {
            "equity": np.asarray(equity, dtype=np.float64),
            "balance": np.asarray(equity, dtype=np.float64),
            "open_positions": np.asarray(open_positions, dtype=np.int64),
        },
        index=pd.DatetimeIndex(list(times), name="time"),
    )
    return BacktestResult(trades=frame, legs=legs, equity=eq, initial_capital=initial)


def seven_trades() -> list[dict]:
    """pnl 100, 200, -50, -50, -50, 0, 100 (risk 100 each) exiting one hour apart in Jan/Feb
    2024; tags A A A B B B B; holding 1h except the last (4h)."""
    pnls = [100.0, 200.0, -50.0, -50.0, -50.0, 0.0, 100.0]
    tags = ["A", "A", "A", "B", "B", "B", "B"]
    sides = ["long", "short", "long", "short", "long", "short", "long"]
    reasons = ["target", "target", "stop", "stop", "stop", "breakeven", "time"]
    exits = [T0 + pd.Timedelta(days=d) for d in (1, 2, 3, 8)] + [
        pd.Timestamp("2024-02-01 10:00", tz="UTC") + pd.Timedelta(days=d) for d in (0, 1, 5)
    ]
    holds = [H] * 6 + [4 * H]
    return [
        trade(p, entry=x - h, exit=x, tag=t, side=s, reason=r, bars=int(h / H) * 12)
        for p, t, s, r, x, h in zip(pnls, tags, sides, reasons, exits, holds, strict=True)
    ]
