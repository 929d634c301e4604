"""A seeded, internally consistent fake `BacktestResult` (with its bars) for demos, tests and
the report benchmark. Not a strategy: entries are random, exits are the first touch of a 1R
stop or a 2R target, else a time exit; the equity curve is marked to market at each close.
Also the headless Chromium both the report's browser tests and its benchmark launch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from tradeforge.trading.result import LEG_COLUMNS, TRADE_COLUMNS, BacktestResult

CONTRACT = 100_000.0
_TF = {"1min": "M1", "5min": "M5", "15min": "M15", "30min": "M30", "1h": "H1", "4h": "H4"}


def sample_bars(n_bars: int, start: str = "2019-01-01", freq: str = "5min", seed: int = 1):
    """A random-walk EURUSD-like OHLC frame on a 24/5 calendar (weekends skipped)."""
    rng = np.random.default_rng(seed)
    step = pd.Timedelta(freq)
    # generate enough 24/7 stamps, then drop Saturday and Sunday (before 22:00)
    stamps = pd.date_range(start, periods=int(n_bars * 1.45) + 10, freq=step, tz="UTC")
    wd, hour = stamps.day_of_week, stamps.hour
    open_mask = (wd < 5) & ~((wd == 4) & (hour >= 22)) | ((wd == 6) & (hour >= 22))
    index = stamps[open_mask][:n_bars].rename("time")
    vol = 0.00025 * np.sqrt(step / pd.Timedelta("5min"))
    close = 1.12 + np.cumsum(rng.standard_t(4, n_bars) * vol * 0.7)
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, vol * 0.6, (2, n_bars)))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "volume": rng.integers(50, 500, n_bars).astype(np.float64),
        },
        index=index,
    )


def sample_result(
    n_trades: int = 300,
    n_bars: int = 20_000,
    *,
    seed: int = 1,
    symbol: str = "EURUSD",
    tags: tuple[str, ...] = ("breakout", "pullback", "reversal"),
    initial_capital: float = 10_000.0,
    freq: str = "5min",
    max_hold: int = 120,
    edge: float = 0.56,
) -> tuple[BacktestResult, dict[str, pd.DataFrame]]:
    """(result, {symbol: bars}) with ``n_trades`` trades over ``n_bars`` bars."""
    rng = np.random.default_rng(seed)
    bars = sample_bars(n_bars, freq=freq, seed=seed)
    o, h, lo, c = (bars[k].to_numpy() for k in ("open", "high", "low", "close"))
    n = len(bars)
    sig = np.sort(rng.integers(20, n - max_hold - 2, n_trades))
    entry_bar = sig + 1
    # a fake edge (peeks ahead on purpose): 56 % of entries take the side of the coming move
    ahead = np.sign(c[np.minimum(entry_bar + max_hold // 2, n - 1)] - o[entry_bar])
    side = np.where(rng.random(n_trades) < edge, ahead, -ahead).astype(np.int64)
    side[side == 0] = 1
    entry = o[entry_bar] + np.where(side > 0, 0.00008, 0.0)  # long pays the spread
    stop_dist = np.maximum(np.abs(rng.normal(0.0012, 0.0004, n_trades)), 0.0003)
    stop = entry - side * stop_dist
    target = entry + side * 2.0 * stop_dist
    hold = rng.integers(3, max_hold, n_trades)
    exit_bar = entry_bar + hold
    exit_price = c[exit_bar].copy()
    reason = np.full(n_trades, "time", dtype=object)
    reason[rng.random(n_trades) < 0.3] = "signal"
    for i in range(n_trades):  # first touch of stop or target (stop first: conventions.md)
        a, b = entry_bar[i], exit_bar[i] + 1
        if side[i] > 0:
            hit_s, hit_t = lo[a:b] <= stop[i], h[a:b] >= target[i]
        else:
            hit_s, hit_t = h[a:b] >= stop[i], lo[a:b] <= target[i]
        hit = hit_s | hit_t
        if hit.any():
            k = int(np.argmax(hit))
            exit_bar[i] = a + k
            if hit_s[k]:
                exit_price[i], reason[i] = stop[i], "stop"
            else:
                exit_price[i], reason[i] = target[i], "target"
    size = np.round(rng.choice([0.05, 0.1, 0.2], n_trades), 2)
    units = size * CONTRACT * side
    commission = size * 3.5
    pnl = units * (exit_price - entry) - commission
    risk = size * CONTRACT * stop_dist
    idx = bars.index
    tag = np.asarray(tags, dtype=object)[rng.integers(0, len(tags), n_trades)]
    trades = pd.DataFrame(
        {
            "trade_id": np.arange(n_trades, dtype=np.int64),
            "symbol": symbol,
            "tag": tag,
            "side": np.where(side > 0, "long", "short"),
            "signal_time": idx[sig],
            "entry_time": idx[entry_bar],
            "entry_price": entry,
            "exit_time": idx[exit_bar],
            "exit_price": exit_price,
            "size": size,
            "initial_stop": stop,
            "risk": risk,
            "pnl": pnl,
            "commission": commission,
            "r_multiple": pnl / risk,
            "exit_reason": reason,
            "bars_held": (exit_bar - entry_bar).astype(np.int64),
        }
    )[list(TRADE_COLUMNS)]
    legs = pd.DataFrame(
        {
            "trade_id": trades["trade_id"],
            "symbol": symbol,
            "tag": tag,
            "side": trades["side"],
            "time": trades["exit_time"],
            "price": exit_price,
            "size": size,
            "pnl": pnl,
            "reason": reason,
        }
    )[list(LEG_COLUMNS)]
    # mark to market: open at the close of bars [entry_bar, exit_bar); realized at exit_bar
    d_units, d_cost, d_open = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1)
    np.add.at(d_units, entry_bar, units)
    np.add.at(d_units, exit_bar, -units)
    np.add.at(d_cost, entry_bar, units * entry)
    np.add.at(d_cost, exit_bar, -units * entry)
    np.add.at(d_open, entry_bar, 1)
    np.add.at(d_open, exit_bar, -1)
    realized = np.zeros(n)
    np.add.at(realized, exit_bar, pnl)
    balance = initial_capital + np.cumsum(realized)
    open_pnl = c * np.cumsum(d_units[:n]) - np.cumsum(d_cost[:n])
    equity = pd.DataFrame(
        {
            "equity": balance + open_pnl,
            "balance": balance,
            "open_positions": np.cumsum(d_open[:n]).astype(np.int64),
        },
        index=idx,
    )
    order = np.lexsort((trades["trade_id"].to_numpy(), trades["entry_time"].to_numpy()))
    result = BacktestResult(
        trades=trades.iloc[order].reset_index(drop=True),
        legs=legs.iloc[order].reset_index(drop=True),
        equity=equity,
        initial_capital=initial_capital,
        counters={"signals": n_trades, "filled": n_trades},
        config={
            "strategy": "sample",
            "symbols": [symbol],
            "timeframe": _TF.get(freq, freq),
            "seed": seed,
        },
    )
    return result, {symbol: bars}


#: Debian's Chromium, as the report's browser tests and `make bench` drive it through
#: Playwright (which cannot download its own browser here); ``$TRADEFORGE_CHROMIUM`` overrides.
CHROMIUM = Path(os.environ.get("TRADEFORGE_CHROMIUM", "/usr/bin/chromium"))
#: Headless, and quiet on a closed network (no background, component or sync requests).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
