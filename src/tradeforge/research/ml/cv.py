"""Purged and embargoed walk-forward folds over a trade dataset.

Windows come from `tradeforge.research.walkforward.make_folds` (rolling or anchored; bars or
calendar lengths) and must include a validation window: train → validation → test. A trade
belongs to the window holding its signal time, and its *life* runs from the signal to its
exit. A trade is used for fitting (train) or for calibration and the threshold (validation)
only if its life ends at least ``embargo`` before the next window starts, so no outcome that
is still unknown at the start of the test fold — and no trade overlapping it — is learned
from. `check_fold` states the rule as a test and raises `LeakageError` when a fold breaks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError
from tradeforge.research.evaluate import Window
from tradeforge.research.featureset.dataset import LeakageError, TradeDataset
from tradeforge.research.walkforward import WalkForwardConfig, make_folds


@dataclass(frozen=True)
class PurgedFold:
    """A fold's windows ([start, end) UTC ns) and the dataset rows each uses."""

    index: int
    train: Window
    validation: Window
    test: Window
    train_rows: np.ndarray
    validation_rows: np.ndarray
    test_rows: np.ndarray
    purged: int  # rows of the train/validation windows left out by the purge + embargo


def purged_folds(
    dataset: TradeDataset,
    times: pd.DatetimeIndex,
    config: WalkForwardConfig,
    embargo: pd.Timedelta | str = "0s",
) -> list[PurgedFold]:
    """Folds over bar ``times`` (see the module docstring)."""
    if config.validation is None:
        raise ConfigError("ML folds need a validation window (threshold and calibration)")
    gap = pd.Timedelta(embargo).value
    if gap < 0:
        raise ConfigError("embargo must be >= 0")
    sig = dataset.times_ns("signal_time")
    end = dataset.times_ns("exit_time")
    out = []
    for f in make_folds(times, config):
        assert f.validation is not None
        (t0, t1), (v0, v1), (s0, s1) = f.train, f.validation, f.test
        in_train = (sig >= t0) & (sig < t1)
        in_val = (sig >= v0) & (sig < v1)
        train = in_train & (end < v0 - gap)
        val = in_val & (end < s0 - gap)
        test = (sig >= s0) & (sig < s1)
        fold = PurgedFold(f.index, f.train, f.validation, f.test, np.flatnonzero(train),
                          np.flatnonzero(val), np.flatnonzero(test),
                          int(in_train.sum() - train.sum() + in_val.sum() - val.sum()))  # fmt: skip
        check_fold(dataset, fold, embargo)
        out.append(fold)
    return out


def check_fold(dataset: TradeDataset, fold: PurgedFold, embargo: pd.Timedelta | str = "0s") -> None:
    """`LeakageError` if a train or validation trade's life (plus ``embargo``) reaches into
    a later window of the fold, or a test trade was signalled outside the test window (a fold
    with an empty test window — the deployable model's — checks its train trades only)."""
    gap = pd.Timedelta(embargo).value
    sig = dataset.times_ns("signal_time")
    end = dataset.times_ns("exit_time")
    checks = [("train", fold.train_rows, fold.validation[0])]
    if fold.test[1] > fold.test[0]:  # a deployable model's fold has no test window
        checks.append(("validation", fold.validation_rows, fold.test[0]))
    for name, rows, limit in checks:
        late = rows[end[rows] + gap >= limit]
        if len(late):
            i = int(late[0])
            raise LeakageError(
                f"fold {fold.index}: {name} trade signalled {dataset.frame['signal_time'][i]} "
                f"ends {dataset.frame['exit_time'][i]}, inside the next window or its embargo "
                f"(from {pd.Timestamp(limit - gap, tz='UTC')})"
            )
    t = sig[fold.test_rows]
    if len(t) and (t.min() < fold.test[0] or t.max() >= fold.test[1]):
        raise LeakageError(f"fold {fold.index}: a test trade lies outside the test window")
