"""Evaluate one parameter set: features (shared across trials) → signals → backtest → metrics.

`Evaluator` holds the bars of every symbol and a per-symbol store of feature columns. A
feature request is computed once per distinct spec — by `warm` for a known set of trials
(the union of their requests, one engine call per symbol) or lazily on first use — and every
trial then reads the stored columns. Features are computed on the full series even when a
trial runs on a time window (walk-forward): the warm-up uses earlier bars, never later ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.analytics.report import build_summary
from tradeforge.analytics.schema import SUMMARY_FIELDS
from tradeforge.backtest import BacktestResult, combine_runs
from tradeforge.backtest.engine import prepare_symbol, run_symbol
from tradeforge.backtest.io import run_config
from tradeforge.backtest.portfolio import check_shared_money, run_portfolio
from tradeforge.core.errors import ConfigError
from tradeforge.strategy import get_strategy
from tradeforge.strategy.base import Strategy
from tradeforge.trading.fx import Conversion
from tradeforge.trading.spec import RunSpec

#: Report keys that are not numbers (times, flags) and cannot be objectives.
_NON_NUMERIC = {
    "start",
    "end",
    "peak_time",
    "trough_time",
    "recovery_time",
    "recovered",
    "longest_underwater_start",
    "longest_underwater_end",
}

#: Every numeric metric of the report summary, by flat name (trades section first).
METRICS: tuple[str, ...] = tuple(
    dict.fromkeys(
        k
        for section in ("trades", "returns", "drawdown")
        for k in SUMMARY_FIELDS[section]
        if k not in _NON_NUMERIC
    )
)

Window = tuple[int, int]  # [start_ns, end_ns) in UTC nanoseconds


def summary_of(result: BacktestResult) -> dict[str, dict[str, Any]]:
    """The report summary of ``result`` (no tables: a search never reads them)."""
    return build_summary(result)


def flat_metrics(report: Any) -> dict[str, float]:
    """The numeric summary of a `Report` (or of `summary_of`) as ``{name: float}``
    (undefined values are NaN)."""
    summary = report if isinstance(report, dict) else report.summary
    out: dict[str, float] = {}
    for section in ("trades", "returns", "drawdown"):
        values = summary[section]
        for k in SUMMARY_FIELDS[section]:
            if k in _NON_NUMERIC or k in out:
                continue
            v = values.get(k)
            out[k] = math.nan if v is None else float(v)
    return out


def check_metric(name: str) -> str:
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; choose from: {', '.join(METRICS)}")
    return name


class Evaluator:
    """Backtests parameter sets of one strategy on fixed data (see the module docstring)."""

    def __init__(
        self,
        spec: RunSpec,
        frames: Mapping[str, pd.DataFrame],
        features: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        *,
        strategy: type[Strategy] | None = None,
        conversion: Conversion | None = None,
    ) -> None:
        """``spec`` holds every trial's settings and the fixed parameters (``spec.params``);
        ``strategy`` is the class (default: the one registered as ``spec.strategy``);
        ``conversion`` the conversion bars behind ``spec.conversion``."""
        if not frames:
            raise ConfigError("no data to evaluate on")
        self.frames = {str(s).upper(): f for s, f in sorted(frames.items())}
        for symbol, frame in self.frames.items():
            if len(frame) == 0:
                raise ConfigError(f"{symbol}: no bars")
        self.spec = replace(spec, symbols=tuple(self.frames))
        check_shared_money(self.spec)
        self.strategy_class = strategy or get_strategy(str(spec.strategy))
        self.conversion = conversion
        self.timeframe = self.spec.timeframe
        self._columns: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.frames}
        for s, cols in (features or {}).items():
            self._columns[s].update(cols)
        self._request_columns: dict[str, tuple[str, ...]] = {}
        self.feature_computations = 0  # engine calls (for tests / diagnostics)
        self._engine: Any = None

    # -- features -------------------------------------------------------------------------------
    def strategy(self, params: Mapping[str, Any]) -> Strategy:
        """The strategy instance of a trial (raises `ConfigError` for invalid combinations)."""
        return self.strategy_class({**self.spec.params, **dict(params)})

    def _engine_instance(self) -> Any:
        if self._engine is None:
            from tradeforge.features import FeatureEngine

            self._engine = FeatureEngine()
        return self._engine

    def _columns_of(self, request: str) -> tuple[str, ...]:
        cols = self._request_columns.get(request)
        if cols is None:
            frame = next(iter(self.frames.values()))
            plan = self._engine_instance().plan(frame, [request], self.timeframe)
            cols = tuple(plan.columns)
            self._request_columns[request] = cols
        return cols

    def ensure(self, requests: Iterable[str]) -> None:
        """Compute the requests whose columns are not stored yet (one engine call a symbol)."""
        requests = list(dict.fromkeys(requests))
        if not requests:
            return
        engine = self._engine_instance()
        for symbol, frame in self.frames.items():
            store = self._columns[symbol]
            missing = [r for r in requests if any(c not in store for c in self._columns_of(r))]
            if not missing:
                continue
            added = engine.compute(frame, missing, self.timeframe, keep_input=False)
            self.feature_computations += 1
            for col in added.columns:
                store[str(col)] = added[col].to_numpy()

    def warm(self, param_sets: Iterable[Mapping[str, Any]]) -> int:
        """Precompute the union of the feature requests of ``param_sets``; returns its size."""
        union: dict[str, None] = {}
        for params in param_sets:
            try:
                union.update(dict.fromkeys(self.strategy(params).features()))
            except ConfigError:
                continue  # an invalid combination is reported by its trial
        self.ensure(union)
        return len(union)

    def feature_columns(self) -> dict[str, dict[str, np.ndarray]]:
        """Stored feature columns per symbol (to ship to workers)."""
        return {s: dict(cols) for s, cols in self._columns.items()}

    def frame_for(self, symbol: str, strategy: Strategy) -> pd.DataFrame:
        """The symbol's bars plus the strategy's feature columns."""
        requests = strategy.features()
        self.ensure(requests)
        bars = self.frames[symbol]
        store = self._columns[symbol]
        cols = [c for r in requests for c in self._columns_of(r)]
        if not cols:
            return bars
        extra = pd.DataFrame({c: store[c] for c in dict.fromkeys(cols)}, index=bars.index)
        frame = pd.concat(
            [bars.drop(columns=[c for c in cols if c in bars.columns]), extra], axis=1
        )
        frame.attrs = dict(bars.attrs)
        return frame

    # -- evaluation -----------------------------------------------------------------------------
    def backtest(self, params: Mapping[str, Any], window: Window | None = None) -> BacktestResult:
        """Backtest one parameter set (optionally on bars with open time in ``window``)."""
        strategy = self.strategy(params)
        inputs = []
        for symbol in self.frames:
            frame = self.frame_for(symbol, strategy)
            if window is not None:
                frame = _slice(frame, window)
                if len(frame) == 0:
                    continue
            inst = self.spec.instrument(symbol)
            signals = strategy.signals(frame, inst)
            inputs.append(
                prepare_symbol(
                    frame, signals, inst, self.spec, symbol=symbol, conversion=self.conversion
                )
            )
        if not inputs:
            raise ConfigError(f"no bars in the window {_window_text(window)}")
        spec = replace(self.spec, params=strategy.describe()["params"])
        config = run_config(spec)
        if window is not None:
            config["window"] = _window_text(window)
        capital = spec.initial_capital
        if spec.portfolio == "shared" and len(inputs) > 1:
            runs, equity = run_portfolio(inputs, capital)
            return combine_runs(runs, capital, config=config, checksums={}, equity=equity)
        runs = [run_symbol(x) for x in inputs]
        return combine_runs(runs, capital, config=config, checksums={})

    def evaluate(self, params: Mapping[str, Any], window: Window | None = None) -> dict[str, Any]:
        """``{"status": "ok", **metrics}``, or ``{"status": "invalid", "error": …}`` when the
        parameters are rejected by the strategy."""
        try:
            result = self.backtest(params, window)
        except ConfigError as exc:
            if window is not None and "no bars in the window" in str(exc):
                raise
            return {"status": "invalid", "error": str(exc)}
        return {"status": "ok", **flat_metrics(summary_of(result))}


def _slice(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    ns = frame.index.as_unit("ns").asi8
    lo, hi = np.searchsorted(ns, window, side="left")
    out = frame.iloc[lo:hi]
    out.attrs = dict(frame.attrs)
    return out


def _window_text(window: Window | None) -> str:
    if window is None:
        return "all"
    a, b = (pd.Timestamp(int(x), unit="ns", tz="UTC").isoformat() for x in window)
    return f"[{a}, {b})"
