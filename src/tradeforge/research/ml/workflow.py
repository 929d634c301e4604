"""The two things a user does with a filter: judge it (`evaluate_filter`: purged walk-forward
folds and the verdict) and train the one to deploy (`train_model`: the latest data, the last
window for calibration and the threshold, saved as an artifact)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError
from tradeforge.research.featureset.dataset import TradeDataset, target_name
from tradeforge.research.ml.artifact import ModelArtifact
from tradeforge.research.ml.cv import PurgedFold, check_fold, purged_folds
from tradeforge.research.ml.models import check_kind
from tradeforge.research.ml.train import ThresholdRules, fit_filter
from tradeforge.research.ml.verdict import VerdictRules, verdict
from tradeforge.research.walkforward import Length, WalkForwardConfig
from tradeforge.strategy.base import Strategy


def bar_times(bars: Mapping[str, pd.DataFrame]) -> pd.DatetimeIndex:
    """Every bar open time of every symbol, sorted and unique (the fold clock)."""
    return pd.DatetimeIndex(np.unique(np.concatenate(
        [f.index.as_unit("ns").asi8 for f in bars.values()]))).tz_localize("UTC")  # fmt: skip


def evaluate_filter(
    strategy: Strategy,
    bars: Mapping[str, pd.DataFrame],
    dataset: TradeDataset,
    config: WalkForwardConfig,
    run_spec: Any = None,
    *,
    kind: str = "lightgbm",
    target: float | None = 0.0,
    seed: int = 0,
    embargo: str = "0s",
    threshold_rules: ThresholdRules | None = None,
    rules: VerdictRules | None = None,
) -> dict[str, Any]:
    """Fit one filter per purged fold and judge them out of sample (`verdict`); ``target``
    None fits regressors of R, thresholded on predicted R."""
    check_kind(kind)
    folds = purged_folds(dataset, bar_times(bars), config, embargo)
    filters = [
        fit_filter(dataset, f.train_rows, f.validation_rows, kind=kind, target=target,
                   seed=seed, rules=threshold_rules)
        for f in folds
    ]  # fmt: skip
    doc = verdict(strategy, bars, dataset, folds, filters, run_spec, target=target,
                  timeframe=dataset.timeframe, rules=rules)  # fmt: skip
    doc.update(model=kind, target=target_name(target), seed=seed, embargo=str(embargo),
               walkforward=config.describe(), features=list(dataset.spec.inputs))  # fmt: skip
    return doc


def final_fold(
    dataset: TradeDataset, times: pd.DatetimeIndex, validation: str, embargo: str = "0s"
) -> PurgedFold:
    """Train on everything before the last ``validation`` length, calibrate on that length;
    purged as in walk-forward (no test window: the future is the test)."""
    length = Length.parse(validation)
    ns = times.as_unit("ns").asi8
    end = int(ns[-1]) + int(np.min(np.diff(ns))) if len(ns) > 1 else int(ns[-1]) + 1
    if length.bars is not None:
        if length.bars >= len(ns):
            raise ConfigError(f"validation of {length} bars leaves nothing to train on")
        v0 = int(ns[-length.bars])
    else:
        v0 = int((pd.Timestamp(end, tz="UTC") - length.offset).value)
    gap = pd.Timedelta(embargo).value
    sig, exit_ = dataset.times_ns("signal_time"), dataset.times_ns("exit_time")
    train = (sig < v0) & (exit_ < v0 - gap)
    val = sig >= v0
    fold = PurgedFold(0, (int(ns[0]), v0), (v0, end), (end, end), np.flatnonzero(train),
                      np.flatnonzero(val), np.array([], dtype=np.int64),
                      int((sig < v0).sum() - train.sum()))  # fmt: skip
    check_fold(dataset, fold, embargo)
    return fold


def train_model(
    strategy: Strategy,
    bars: Mapping[str, pd.DataFrame],
    dataset: TradeDataset,
    *,
    validation: str,
    kind: str = "lightgbm",
    target: float | None = 0.0,
    seed: int = 0,
    embargo: str = "0s",
    threshold_rules: ThresholdRules | None = None,
) -> ModelArtifact:
    """The deployable filter of ``strategy`` (not saved: call ``.save(folder)``)."""
    check_kind(kind)
    fold = final_fold(dataset, bar_times(bars), validation, embargo)
    fitted = fit_filter(dataset, fold.train_rows, fold.validation_rows, kind=kind,
                        target=target, seed=seed, rules=threshold_rules)  # fmt: skip
    t = dataset.frame["signal_time"]
    meta = {
        "model": kind, "seed": seed, "target": target_name(target), "embargo": str(embargo),
        "timeframe": dataset.timeframe,
        "strategy": {"name": strategy.name,
                     "params": strategy.params.model_dump(mode="json")},
        "training": {"start": str(t.iloc[fold.train_rows[0]]) if len(fold.train_rows) else None,
                     "validation_start": str(pd.Timestamp(fold.validation[0], tz="UTC")),
                     "end": str(pd.Timestamp(fold.validation[1], tz="UTC")),
                     "symbols": sorted(dataset.frame["symbol"].unique().tolist()),
                     "train_trades": len(fold.train_rows),
                     "validation_trades": len(fold.validation_rows),
                     "purged": fold.purged},
        "validation": fitted.validation,
    }  # fmt: skip
    return ModelArtifact(fitted.estimator, dataset.spec, fitted.threshold, meta)
