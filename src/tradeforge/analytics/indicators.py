"""The strategy's charted features as indicators: which to draw, and on which scale.

A run folder keeps trades, legs, equity and signals, not the feature frame, so the report
recomputes the strategy's features (its ``features()`` requests, from the run's recorded
strategy name and parameters) on the bars it draws, once per symbol (`strategy_features`:
the same frames give the rebuilt signals of the trade paths). On a rebuilt report the bars start a
little before the first trade (`load_run_bars` pads them), so a recursive feature such as an
EMA may differ from the run's value during its first warm-up bars.

What is drawn, per output column of its ``chart_features()`` requests:

* skipped: columns that are mostly empty (fewer than half the bars hold a value: event points
  such as single swing highs) or categorical (at most ``MAX_STATES`` distinct values: flags,
  trend states, labels) — a line through them says nothing;
* on the **price pane** when the values live on the price scale (moving averages, bands,
  levels): almost all of them inside the bars' price range and close to the close;
* otherwise in an **own pane** below the price (oscillators, ATR), one pane per feature
  name, so ``atr(14)`` and ``atr(14)@M30`` share one.

The scale test looks at the values, not at a list of known feature names, so a user's
registered feature is placed as well as a built-in one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, TradeforgeError

#: a column with at most this many distinct values is a state or a flag, not a line
MAX_STATES = 3
#: share of bars that must hold a value for a column to be drawn as a line
MIN_FILLED = 0.5
#: price scale: this share of the values inside the bars' range (widened by PRICE_MARGIN) …
PRICE_SHARE = 0.95
PRICE_MARGIN = 0.1
#: … and the median distance to the close at most this share of the range
PRICE_DISTANCE = 0.1


@dataclass(frozen=True)
class Indicators:
    """One symbol's drawable indicator columns, aligned with its bars."""

    values: dict[str, np.ndarray] = field(default_factory=dict)  # column -> float64 per bar
    price: tuple[str, ...] = ()  # columns drawn on the price pane
    panes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (feature name, columns) per pane

    def __bool__(self) -> bool:
        return bool(self.values)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.price + tuple(c for _, cols in self.panes for c in cols)


def on_price_scale(values: np.ndarray, bars: pd.DataFrame) -> bool:
    """Whether ``values`` live on the price scale of ``bars`` (see the module docstring)."""
    ok = np.isfinite(values)
    if not ok.any():
        return False
    low = float(bars["low"].min())
    high = float(bars["high"].max())
    span = (high - low) or abs(high) or 1.0
    v = values[ok]
    inside = (v >= low - PRICE_MARGIN * span) & (v <= high + PRICE_MARGIN * span)
    if inside.mean() < PRICE_SHARE:
        return False
    close = bars["close"].to_numpy(np.float64)[ok]
    return float(np.median(np.abs(v - close))) <= PRICE_DISTANCE * span


def _drawable(values: np.ndarray) -> bool:
    ok = np.isfinite(values)
    if ok.mean() < MIN_FILLED:
        return False
    return len(np.unique(values[ok][:200_000])) > MAX_STATES


def classify(
    bars: pd.DataFrame, groups: list[tuple[str, tuple[str, ...]]], frame: pd.DataFrame
) -> Indicators:
    """Sort the columns of ``frame`` (feature outputs per feature name, in ``groups``) into
    price-pane lines and per-feature panes."""
    values: dict[str, np.ndarray] = {}
    price: list[str] = []
    panes: dict[str, list[str]] = {}
    for name, cols in groups:
        for col in cols:
            if col in values or col not in frame.columns:
                continue
            v = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64, na_value=np.nan)
            if not _drawable(v):
                continue
            values[col] = v
            if on_price_scale(v, bars):
                price.append(col)
            else:
                panes.setdefault(name, []).append(col)
    return Indicators(values, tuple(price), tuple((k, tuple(c)) for k, c in panes.items()))


def strategy_of(config: Mapping[str, Any] | None) -> Any:
    """The run's strategy instance from its recorded name and parameters; None when the run
    names none or a strategy this process does not know (a custom one not imported)."""
    spec = (config or {}).get("strategy")
    if not isinstance(spec, Mapping) or not spec.get("name"):
        return None
    from tradeforge.strategy import create_strategy

    try:
        return create_strategy(str(spec["name"]), spec.get("params") or {})
    except ConfigError:
        return None


def strategy_features(
    config: Mapping[str, Any] | None, ohlc: Mapping[str, pd.DataFrame] | None
) -> dict[str, pd.DataFrame]:
    """{symbol: its bars plus the run's strategy features} (`Strategy.compute_features`),
    computed once per symbol for both the indicator lines (`strategy_indicators`) and the
    rebuilt signals (`tradeforge.analytics.tradepath.trade_paths`). Empty when the run names
    no strategy this process knows; a symbol the features fail on is left out."""
    strategy = strategy_of(config)
    if strategy is None or not ohlc:
        return {}
    timeframe = (config or {}).get("timeframe")
    out = {}
    for symbol in sorted(ohlc):
        bars = ohlc[symbol]
        if len(bars) == 0:
            continue
        try:
            out[symbol] = strategy.compute_features(bars, timeframe)
        except TradeforgeError:
            continue
    return out


def strategy_indicators(
    config: Mapping[str, Any] | None,
    ohlc: Mapping[str, pd.DataFrame] | None,
    features: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Indicators]:
    """{symbol: `Indicators`} of the run's strategy features on ``ohlc`` (empty when the
    strategy is unknown or declares no features). ``features`` are the frames of
    `strategy_features` when already computed (else computed here)."""
    strategy = strategy_of(config)
    if strategy is None or not ohlc:
        return {}
    requests = strategy.chart_features()
    if not requests:
        return {}
    from tradeforge.features.engine import FeatureEngine

    if features is None:
        features = strategy_features(config, ohlc)
    engine = FeatureEngine()
    timeframe = (config or {}).get("timeframe")
    out = {}
    for symbol in sorted(ohlc):
        bars, frame = ohlc[symbol], features.get(symbol)
        if frame is None or len(bars) == 0:
            continue
        plan = engine.plan(bars, requests, timeframe)
        groups = [(str(r.key[0]), tuple(r.columns)) for r in plan.requested]
        ind = classify(bars, groups, frame)
        if ind:
            out[symbol] = ind
    return out
