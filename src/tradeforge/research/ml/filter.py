"""``ml_filter(strategy, model)``: a strategy that runs another strategy and drops the signals
a trained model scores below its threshold — and, with ``sizing="scale"``, sizes the kept
ones by the predicted probability.

The filter is a `Strategy` like any other — registered as ``ml_filter``, its parameters the
model folder, the model's SHA-256 and the wrapped strategy with its parameters — so the
backtest, optimisation, the dry-run and the live engine create it from the same
`RunSpec` and call the same ``signals``: there is no second code path to drift. The model's
features are added to the wrapped strategy's feature requests, read at the signal bar, and
the signal side is appended (`FeatureSpec.inputs`). A filter built without a hash pins the
one it loaded (its parameters name the exact model bytes from then on).

**Sizing by probability** writes the signal's ``size_scale`` (the share of the run's
configured size it trades, in (0, 1]; both engines size with it through
`tradeforge.trading.steps.position_steps`). For probability ``p`` and threshold ``t``:

    scale = min_scale + (1 - min_scale) * (p - t) / (1 - t)

clipped to ``[min_scale, 1]``: ``min_scale`` of the configured size at the threshold, the full
size at ``p = 1``, linear between. The configured sizing stays the ceiling, and a signal the
wrapped strategy already scaled is scaled again (the product). A regressor of R has no
probability: it only skips.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.research.featureset.spec import SIDE, column_block
from tradeforge.research.ml.artifact import ModelArtifact
from tradeforge.strategy.base import Strategy, StrategyParams
from tradeforge.strategy.registry import create_strategy, register_strategy
from tradeforge.strategy.signals import Signals


def keep_signals(signals: Signals, keep: np.ndarray, scale: np.ndarray | None = None) -> Signals:
    """The rows of ``signals`` where ``keep`` is true (order and tags unchanged), their
    ``size_scale`` multiplied by ``scale`` (one value per row of ``signals``) when given."""
    keep = np.asarray(keep, dtype=bool)
    if scale is None:
        return signals.take(keep)
    scaled = signals.size_scale[keep] * np.asarray(scale, dtype=np.float64)[keep]
    return signals.take(keep, size_scale=scaled)


def size_scale(p: np.ndarray, threshold: float, min_scale: float) -> np.ndarray:
    """The share of the configured size for probabilities ``p`` (the module docstring's map)."""
    span = 1.0 - threshold
    if not span > 0:
        return np.ones(len(p))
    share = (np.asarray(p, dtype=np.float64) - threshold) / span
    return np.clip(min_scale + (1.0 - min_scale) * share, min_scale, 1.0)


def model_inputs(frame: pd.DataFrame, signals: Signals, columns: tuple[str, ...]) -> pd.DataFrame:
    """The feature ``columns`` at each signal's bar, plus the signal side: one float64 block,
    read from the signal bars only, for one batch prediction. Built column by column and
    wrapped without a copy: the scorer reads it as it lies (`compiled`)."""
    values = np.empty((len(columns) + 1, len(signals)))
    values[:-1] = column_block(frame, columns, signals.bar)
    values[-1] = signals.side
    return pd.DataFrame(values.T, columns=[*columns, SIDE], copy=False)


class MLFilterParams(StrategyParams):
    model: str = Field(description="folder of the model artifact (model.json + model.pkl)")
    sha256: str | None = Field(None, description="expected hash of model.pkl")
    strategy: str | None = Field(None, description="wrapped strategy (default: the model's)")
    strategy_params: dict[str, Any] = Field(default_factory=dict)
    threshold: float | None = Field(None, description="overrides the model's")
    sizing: Literal["skip", "scale"] = Field(
        "skip", description="skip: kept signals trade the configured size; scale: by probability"
    )
    min_scale: float = Field(
        0.25, gt=0.0, le=1.0, description="share of the configured size at the threshold"
    )


@register_strategy
class MLFilter(Strategy):
    """Another strategy's signals, kept where the model's score >= the threshold (and, with
    ``sizing="scale"``, sized by the probability)."""

    name = "ml_filter"
    Params = MLFilterParams

    def check_params(self) -> None:
        p = self.params
        self.artifact = ModelArtifact.load(p.model, p.sha256)
        if p.sha256 is None:  # pin the model loaded: a reload or restart reads the same bytes
            self.params = p = p.model_copy(update={"sha256": self.artifact.sha256})
        base = self.artifact.meta.get("strategy") or {}
        name = p.strategy or base.get("name")
        if not name:
            raise ConfigError("ml_filter: name the wrapped strategy (the model records none)")
        params = p.strategy_params if p.strategy else (p.strategy_params or base.get("params"))
        self.inner = create_strategy(name, params or {})
        self.signal_lookback = self.inner.signal_lookback  # type: ignore[misc]
        self.threshold = self.artifact.threshold if p.threshold is None else p.threshold
        if self.artifact.regression:
            if p.sizing == "scale":
                raise ConfigError("ml_filter: sizing by probability needs a classifier; "
                                  "this model predicts R (use sizing=skip)")  # fmt: skip
        elif not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"ml_filter: threshold {self.threshold:g} is not a probability")

    def features(self) -> list[str]:
        return list(dict.fromkeys([*self.inner.features(), *self.artifact.spec.requests]))

    def chart_features(self) -> list[str]:
        """The wrapped strategy's: the model's inputs are shown by ``ml explain``, not as
        a pane each on every candle chart."""
        return self.inner.chart_features()

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        signals = self.inner.signals(frame, instrument)
        if len(signals) == 0:
            return signals
        p = self.artifact.predict(model_inputs(frame, signals, self.artifact.spec.columns))
        scale = None
        if self.params.sizing == "scale":
            scale = size_scale(p, self.threshold, self.params.min_scale)
        return keep_signals(signals, p >= self.threshold, scale)


def ml_filter(
    strategy: Strategy,
    model: ModelArtifact | str,
    *,
    threshold: float | None = None,
    sizing: str = "skip",
    min_scale: float = 0.25,
) -> MLFilter:
    """``strategy`` filtered by a saved ``model`` (an artifact or its folder); ``sizing``
    ``"scale"`` also sizes kept signals by probability (see the module docstring)."""
    art = model if isinstance(model, ModelArtifact) else ModelArtifact.load(model)
    if art.path is None:
        raise ConfigError("save the model first (ModelArtifact.save): a filter names its file")
    return MLFilter({
        "model": str(art.path), "sha256": art.sha256, "strategy": strategy.name,
        "strategy_params": strategy.params.model_dump(mode="json"), "threshold": threshold,
        "sizing": sizing, "min_scale": min_scale,
    })  # fmt: skip
