"""``ml_filter(strategy, model)``: a strategy that runs another strategy and drops the signals
a trained model scores below its threshold.

The filter is a `Strategy` like any other — registered as ``ml_filter``, its parameters the
model folder, the model's SHA-256 and the wrapped strategy with its parameters — so the
backtest, optimisation, the dry-run and the live engine create it from the same
`RunSpec` and call the same ``signals``: there is no second code path to drift. The model's
features are added to the wrapped strategy's feature requests, read at the signal bar, and
the signal side is appended (`FeatureSpec.inputs`).

Signals are skipped, not resized: the signal table has no size column, and the sizing rules
live in the execution engines.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.research.featureset.spec import select_columns
from tradeforge.research.ml.artifact import ModelArtifact
from tradeforge.strategy.base import Strategy, StrategyParams
from tradeforge.strategy.registry import create_strategy, register_strategy
from tradeforge.strategy.signals import Signals


def keep_signals(signals: Signals, keep: np.ndarray) -> Signals:
    """The rows of ``signals`` where ``keep`` is true (order and tags unchanged)."""
    keep = np.asarray(keep, dtype=bool)
    return Signals(signals.n_bars, signals.tags, signals.ints[:, keep], signals.floats[:, keep],
                   signals.trail_level_long, signals.trail_level_short)  # fmt: skip


def model_inputs(frame: pd.DataFrame, signals: Signals, columns: tuple[str, ...]) -> pd.DataFrame:
    """The feature ``columns`` at each signal's bar, plus the signal side."""
    values = select_columns(frame, columns).to_numpy()[signals.bar]
    out = pd.DataFrame(values, columns=list(columns))
    out["side"] = signals.side.astype(np.float64)
    return out


class MLFilterParams(StrategyParams):
    model: str = Field(description="folder of the model artifact (model.json + model.pkl)")
    sha256: str | None = Field(None, description="expected hash of model.pkl")
    strategy: str | None = Field(None, description="wrapped strategy (default: the model's)")
    strategy_params: dict[str, Any] = Field(default_factory=dict)
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="overrides the model's")


@register_strategy
class MLFilter(Strategy):
    """Another strategy's signals, kept where the model's probability >= the threshold."""

    name = "ml_filter"
    Params = MLFilterParams

    def check_params(self) -> None:
        p = self.params
        self.artifact = ModelArtifact.load(p.model, p.sha256)
        base = self.artifact.meta.get("strategy") or {}
        name = p.strategy or base.get("name")
        if not name:
            raise ConfigError("ml_filter: name the wrapped strategy (the model records none)")
        params = p.strategy_params if p.strategy else (p.strategy_params or base.get("params"))
        self.inner = create_strategy(name, params or {})
        self.signal_lookback = self.inner.signal_lookback  # type: ignore[misc]
        self.threshold = self.artifact.threshold if p.threshold is None else p.threshold

    def features(self) -> list[str]:
        return list(dict.fromkeys([*self.inner.features(), *self.artifact.spec.requests]))

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        signals = self.inner.signals(frame, instrument)
        if len(signals) == 0:
            return signals
        p = self.artifact.predict(model_inputs(frame, signals, self.artifact.spec.columns))
        return keep_signals(signals, p >= self.threshold)


def ml_filter(
    strategy: Strategy, model: ModelArtifact | str, *, threshold: float | None = None
) -> MLFilter:
    """``strategy`` filtered by a saved ``model`` (an artifact or its folder)."""
    art = model if isinstance(model, ModelArtifact) else ModelArtifact.load(model)
    if art.path is None:
        raise ConfigError("save the model first (ModelArtifact.save): a filter names its file")
    return MLFilter({
        "model": str(art.path), "sha256": art.sha256, "strategy": strategy.name,
        "strategy_params": strategy.params.model_dump(mode="json"), "threshold": threshold,
    })  # fmt: skip
