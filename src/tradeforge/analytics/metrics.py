"""Return and trade metrics, vectorized over numpy arrays.

Conventions (also in `schema`):

* **Daily returns** come from the marked-to-market equity sampled at the last bar of each
  trading day. A trading day is a UTC calendar day Monday–Friday; bars stamped on a Saturday or
  Sunday (the FX week opens Sunday 22:00 UTC; crypto trades all week) are folded into the
  following Monday, so an FX year has ~260 trading days and no 2-hour "Sunday" days dilute the
  statistics. The first day's return is measured against the initial capital.
* **Annualisation** uses ``periods_per_year = 260`` (weekdays per year, what FX trades) by
  default. Sharpe and Sortino use a zero risk-free rate; Sortino's downside deviation is
  ``sqrt(mean(min(r, 0)^2))`` over all days. Calmar is CAGR / |max drawdown %|.
* **CAGR** uses calendar time between the first and last equity bar (365.25-day years).
* **Wins / losses**: ``pnl > 0`` / ``pnl < 0``; a zero-PnL trade is neither and breaks both
  streaks. Streaks follow exit order.
* **R statistics** use trades with a finite R multiple only (zero-risk trades have none).
* **SQN** (Van Tharp) is ``sqrt(min(N, 100)) * mean(R) / std(R)`` with the sample std; N is
  capped at 100 so the score does not grow with the number of trades.

Every function returns ``None`` (never NaN or inf) for a value that is undefined, e.g. a
profit factor without losing trades.
"""

from __future__ import annotations

import math

import numpy as np

from tradeforge.analytics._data import NS_PER_DAY, Equity, Trades, trading_day_of, ts

DEFAULT_PERIODS_PER_YEAR = 260
SQN_MAX_N = 100
_DAYS_PER_YEAR = 365.25
_NS_PER_YEAR = _DAYS_PER_YEAR * NS_PER_DAY


def num(x) -> float | None:
    """A finite float or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def ratio(a: float, b: float) -> float | None:
    return num(a / b) if b != 0 else None


# -- trading days -------------------------------------------------------------------------------
def trading_day(t_ns: np.ndarray) -> np.ndarray:
    """Trading day number (days since epoch) of each timestamp, weekends folded into Monday."""
    return trading_day_of(np.floor_divide(t_ns, NS_PER_DAY))


def daily_closes(eq: Equity) -> tuple[np.ndarray, np.ndarray]:
    """(trading day number, equity at the day's last bar) for every day that has bars."""
    days, last = eq.daily
    return days, eq.equity[last]


def daily_returns(closes: np.ndarray, initial_capital: float) -> np.ndarray:
    if len(closes) == 0:
        return np.empty(0)
    prev = np.r_[initial_capital, closes[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        return closes / prev - 1.0


def sharpe(returns: np.ndarray, periods_per_year: float) -> float | None:
    if len(returns) < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    if sd == 0.0:
        return None
    return num(float(np.mean(returns)) / sd * math.sqrt(periods_per_year))


def sortino(returns: np.ndarray, periods_per_year: float) -> float | None:
    if len(returns) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return num(float(np.mean(returns)) / downside * math.sqrt(periods_per_year))


def cagr(initial: float, final: float, start_ns: int, end_ns: int) -> float | None:
    """Compound annual growth rate as a fraction; -1 when the account is wiped out."""
    years = (end_ns - start_ns) / _NS_PER_YEAR
    if years <= 0 or initial <= 0:
        return None
    if final <= 0:
        return -1.0
    return num((final / initial) ** (1.0 / years) - 1.0)


def return_metrics(
    eq: Equity,
    initial_capital: float,
    max_drawdown_pct: float | None,
    periods_per_year: float = DEFAULT_PERIODS_PER_YEAR,
) -> dict:
    """The "returns" section. ``max_drawdown_pct`` (negative) is needed for Calmar."""
    if eq.n == 0:
        final = initial_capital
        out = dict.fromkeys(
            ("start", "end", "trading_days", "years", "cagr_pct", "sharpe", "sortino")
            + ("calmar", "volatility_ann_pct", "exposure_pct")
        )
        return {
            "initial_capital": initial_capital,
            "final_equity": final,
            "net_profit": 0.0,
            "return_pct": 0.0,
            **out,
            "periods_per_year": periods_per_year,
        }
    final = float(eq.equity[-1])
    _, closes = daily_closes(eq)
    rets = daily_returns(closes, initial_capital)
    g = cagr(initial_capital, final, int(eq.t[0]), int(eq.t[-1]))
    calmar = None
    if g is not None and max_drawdown_pct:
        calmar = num(g / (abs(max_drawdown_pct) / 100.0))
    vol = float(np.std(rets, ddof=1)) * math.sqrt(periods_per_year) if len(rets) > 1 else None
    return {
        "initial_capital": initial_capital,
        "final_equity": final,
        "net_profit": final - initial_capital,
        "return_pct": ratio(100.0 * (final - initial_capital), initial_capital),
        "start": ts(eq.t[0]),
        "end": ts(eq.t[-1]),
        "trading_days": len(closes),
        "years": (int(eq.t[-1]) - int(eq.t[0])) / _NS_PER_YEAR,
        "cagr_pct": None if g is None else 100.0 * g,
        "sharpe": sharpe(rets, periods_per_year),
        "sortino": sortino(rets, periods_per_year),
        "calmar": calmar,
        "volatility_ann_pct": None if vol is None else num(100.0 * vol),
        "exposure_pct": 100.0 * float(np.count_nonzero(eq.open_positions > 0)) / eq.n,
        "periods_per_year": periods_per_year,
    }


# -- trades -------------------------------------------------------------------------------------
def longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True values."""
    if len(flags) == 0 or not flags.any():
        return 0
    padded = np.r_[False, flags, False].astype(np.int8)
    edges = np.diff(padded)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max())


TRADE_KEYS: tuple[str, ...] = (
    "trades",
    "wins",
    "losses",
    "breakeven",
    "trades_per_day",
    "win_rate_pct",
    "gross_profit",
    "gross_loss",
    "net_profit",
    "commission",
    "avg_win",
    "avg_loss",
    "payoff_ratio",
    "profit_factor",
    "expectancy",
    "expectancy_r",
    "avg_win_r",
    "avg_loss_r",
    "r_trades",
    "sqn",
    "largest_win",
    "largest_loss",
    "max_win_streak",
    "max_loss_streak",
    "avg_holding_s",
    "avg_bars_held",
)


def trade_metrics(tr: Trades, trading_days: int | None = None) -> dict:
    """The "trades" section; every key of `TRADE_KEYS`, zero/None when there are no trades."""
    n = tr.n
    if n == 0:
        out = dict.fromkeys(TRADE_KEYS)
        out.update(
            trades=0,
            wins=0,
            losses=0,
            breakeven=0,
            gross_profit=0.0,
            gross_loss=0.0,
            net_profit=0.0,
            commission=0.0,
            r_trades=0,
            max_win_streak=0,
            max_loss_streak=0,
        )
        if trading_days:
            out["trades_per_day"] = 0.0
        return out
    pnl = tr.pnl
    win, loss = pnl > 0, pnl < 0
    n_win, n_loss = int(np.count_nonzero(win)), int(np.count_nonzero(loss))
    gross_profit = float(pnl[win].sum())
    gross_loss = float(pnl[loss].sum())
    avg_win = gross_profit / n_win if n_win else None
    avg_loss = gross_loss / n_loss if n_loss else None
    r_ok = ~np.isnan(tr.r)
    r = tr.r[r_ok]
    nr = len(r)
    r_win, r_loss = r[r > 0], r[r < 0]
    sqn = None
    if nr >= 2:
        sd = float(np.std(r, ddof=1))
        if sd > 0:
            sqn = math.sqrt(min(nr, SQN_MAX_N)) * float(np.mean(r)) / sd
    bars = tr.bars_held[~np.isnan(tr.bars_held)]
    return {
        "trades": n,
        "wins": n_win,
        "losses": n_loss,
        "breakeven": n - n_win - n_loss,
        "trades_per_day": ratio(n, trading_days) if trading_days else None,
        "win_rate_pct": 100.0 * n_win / n,
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "net_profit": float(pnl.sum()),
        "commission": float(tr.commission.sum()),
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "payoff_ratio": ratio(avg_win, -avg_loss) if avg_win and avg_loss else None,
        "profit_factor": ratio(gross_profit, -gross_loss),
        "expectancy": float(pnl.mean()),
        "expectancy_r": float(r.mean()) if nr else None,
        "avg_win_r": float(r_win.mean()) if len(r_win) else None,
        "avg_loss_r": float(r_loss.mean()) if len(r_loss) else None,
        "r_trades": nr,
        "sqn": num(sqn),
        "largest_win": float(pnl.max()) if n_win else None,
        "largest_loss": float(pnl.min()) if n_loss else None,
        "max_win_streak": longest_run(win),
        "max_loss_streak": longest_run(loss),
        "avg_holding_s": float(np.mean(tr.exit_ns - tr.entry_ns)) / 1e9,
        "avg_bars_held": float(bars.mean()) if len(bars) else None,
    }
