"""Market regimes: label every bar, then break a backtest's trades down by the regime of the
bar that produced their signal.

Segmentations (names for `regime_labels` and ``tradeforge analyze regimes --by``):

* ``trend`` — ADX(14): ``up`` / ``down`` when ADX >= 25 (direction from +DI vs -DI), else
  ``range``; ``trend:structure`` uses the structure feature's trend (break of structure):
  ``up`` / ``down`` / ``none``;
* ``volatility`` — ATR(14) quantile buckets over the sample (``low``/``mid``/``high`` for 3);
* ``session`` — trading session label of the bar (see the sessions feature);
* ``weekday`` — UTC day of the week;
* ``feature:<request>[:<q>]`` — any feature column quantised into ``q`` (default 4) buckets,
  e.g. ``feature:rsi(14):5`` or ``feature:zscore(50)``.

Quantile buckets use the whole sample: they describe the past, they are not a live signal.
Bars still warming up are labelled ``warmup``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.analytics._data import trades_of
from tradeforge.analytics.breakdowns import grouped_stats
from tradeforge.backtest import BacktestResult
from tradeforge.core.errors import ConfigError
from tradeforge.research._align import per_symbol_rows

WARMUP = "warmup"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ADX_THRESHOLD = 25.0


def _features(bars: pd.DataFrame, requests: list[str], timeframe: str | None) -> pd.DataFrame:
    from tradeforge.features import compute_features

    return compute_features(bars, requests, timeframe)


def quantile_labels(values: np.ndarray, q: int, names: list[str] | None = None):
    """Bucket labels of ``values`` by sample quantiles (NaN -> warmup) and the bucket edges."""
    if q < 2:
        raise ConfigError("quantile buckets need q >= 2")
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    out = np.full(len(values), WARMUP, dtype=object)
    if not ok.any():
        return out, np.array([])
    edges = np.quantile(values[ok], np.linspace(0, 1, q + 1))
    codes = np.clip(np.searchsorted(edges[1:-1], values[ok], side="right"), 0, q - 1)
    if names is None:
        names = [f"q{i + 1} [{edges[i]:.4g}, {edges[i + 1]:.4g}]" for i in range(q)]
    out[ok] = np.asarray(names, dtype=object)[codes]
    return out, edges


def regime_labels(
    bars: pd.DataFrame, segmentation: str, timeframe: str | None = None, buckets: int = 3
) -> pd.Series:
    """One label per bar (index = bar times) for ``segmentation`` (see the module docstring)."""
    kind, _, arg = segmentation.partition(":")
    kind = kind.strip().lower()
    if kind == "trend":
        if arg in ("", "adx"):
            f = _features(bars, ["adx(14)"], timeframe)
            adx, pdi, mdi = (f[c].to_numpy() for c in ("adx_14", "plus_di_14", "minus_di_14"))
            labels = np.where(adx >= ADX_THRESHOLD, np.where(pdi >= mdi, "up", "down"), "range")
            labels = np.where(np.isfinite(adx), labels, WARMUP).astype(object)
        elif arg == "structure":
            trend = _features(bars, ["structure(3)"], timeframe)["trend_3"].to_numpy()
            labels = np.full(len(bars), WARMUP, dtype=object)
            ok = np.isfinite(trend)
            labels[ok] = np.where(trend[ok] > 0, "up", np.where(trend[ok] < 0, "down", "none"))
        else:
            raise ConfigError(f"trend regime source must be adx or structure, got {arg!r}")
    elif kind == "volatility":
        atr = _features(bars, ["atr(14)"], timeframe)["atr_14"].to_numpy()
        names = ["low", "mid", "high"] if buckets == 3 else None
        labels, _ = quantile_labels(atr, buckets, names)
    elif kind == "session":
        labels = _features(bars, ["sessions"], timeframe)["session"].astype(str).to_numpy(object)
    elif kind == "weekday":
        labels = np.asarray(WEEKDAYS, dtype=object)[bars.index.day_of_week.to_numpy()]
    elif kind == "feature":
        request, q = arg, ""
        head, sep, tail = arg.rpartition(":")
        if sep and tail.isdigit():
            request, q = head, tail
        if not request:
            raise ConfigError("use feature:<request>[:<buckets>], e.g. feature:rsi(14):5")
        f = _features(bars, [request], timeframe)
        col = [c for c in f.columns if c not in bars.columns][0]
        labels, _ = quantile_labels(f[col].to_numpy(dtype=np.float64), int(q or 4))
    else:
        raise ConfigError(
            f"unknown regime {segmentation!r}; use trend[:adx|:structure], volatility, "
            "session, weekday or feature:<request>[:q]"
        )
    return pd.Series(labels, index=bars.index, name=segmentation)


def label_trades(result: BacktestResult, labels: Mapping[str, pd.Series]) -> np.ndarray:
    """The regime label of each trade (row order of ``result.trades``)."""
    trades = result.trades
    out = np.full(len(trades), WARMUP, dtype=object)
    frames = {s: pd.DataFrame(index=lab.index) for s, lab in labels.items()}
    for sym, (rows, pos) in per_symbol_rows(frames, trades).items():
        lab = labels[sym].to_numpy(dtype=object)
        ok = pos >= 0
        out[rows[ok]] = lab[pos[ok]]
    return out


def regime_table(result: BacktestResult, trade_labels: np.ndarray, bar_labels=None) -> pd.DataFrame:
    """Breakdown statistics per regime (analytics' group table) plus the share of trades and,
    when ``bar_labels`` are given, the share of bars spent in each regime."""
    tr = trades_of(result)
    if tr.n == 0:
        return pd.DataFrame({"regime": []})
    names = sorted(set(trade_labels.tolist()))
    lookup = {n: i for i, n in enumerate(names)}
    codes = np.array([lookup[x] for x in trade_labels], dtype=np.int64)[tr.order]
    table = grouped_stats(codes, names, tr, "regime")
    table["trades_pct"] = 100.0 * table["trades"] / tr.n
    if bar_labels is not None:
        all_bars = np.concatenate([np.asarray(b, dtype=object) for b in bar_labels])
        values, counts = np.unique(all_bars.astype(str), return_counts=True)
        share = dict(zip(values.tolist(), (100.0 * counts / len(all_bars)).tolist(), strict=True))
        table["bars_pct"] = [share.get(r, 0.0) for r in table["regime"]]
    return table


def regime_curves(result: BacktestResult, trade_labels: np.ndarray) -> dict[str, pd.Series]:
    """Cumulative PnL of each regime's trades in exit order (for charts)."""
    trades = result.trades
    if len(trades) == 0:
        return {}
    exit_t = pd.DatetimeIndex(trades["exit_time"])
    pnl = pd.to_numeric(trades["pnl"]).to_numpy(dtype=np.float64)
    out = {}
    for name in sorted(set(trade_labels.tolist())):
        sel = trade_labels == name
        order = np.argsort(exit_t[sel].as_unit("ns").asi8, kind="stable")
        out[name] = pd.Series(np.cumsum(pnl[sel][order]), index=exit_t[sel][order])
    return out


def analyze_regimes(
    result: BacktestResult,
    bars: Mapping[str, pd.DataFrame],
    segmentations: list[str],
    *,
    timeframe: str | None = None,
    buckets: int = 3,
) -> dict[str, Any]:
    """``{segmentation: {"table": DataFrame, "curves": {...}}}`` for every segmentation."""
    bars = {str(k).upper(): v for k, v in bars.items()}
    out: dict[str, Any] = {}
    for seg in segmentations:
        labels = {s: regime_labels(b, seg, timeframe, buckets) for s, b in bars.items()}
        trade_labels = label_trades(result, labels)
        out[seg] = {
            "table": regime_table(result, trade_labels, [v.to_numpy() for v in labels.values()]),
            "curves": regime_curves(result, trade_labels),
        }
    return out
