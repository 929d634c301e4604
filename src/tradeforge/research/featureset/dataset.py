"""The trade dataset: one row per trade of a strategy, its features at the signal bar and its
outcome in R.

Rows are the trades the unfiltered strategy took (a signal de-duplicated by an open position
has no outcome to learn from). Feature values are read at the bar whose close produced the
signal (`tradeforge.research._align`), which is what the strategy — and a filter wrapped
around it — knows when it decides. `audit_lookahead` re-computes the features on data cut
after sample bars and refuses a spec whose values change: a feature that peeks is caught
before a model can learn from the future.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.research._align import per_symbol_rows
from tradeforge.research.featureset.spec import SIDE, FeatureSpec

#: Columns of a dataset frame besides the model inputs.
META = ("symbol", "signal_time", "entry_time", "exit_time", "r_multiple")


class LeakageError(DataError):
    """Information from after a decision reached the data it is judged on."""


def parse_target(text: str | float | None, *, regression: bool = False) -> float | None:
    """``"win"`` (R > 0) or ``"r>X"`` (R above X): the R threshold a trade must beat; with
    ``regression`` also ``"r"`` (R itself, a regression target), returned as None."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    s = str(text).strip().lower().replace(" ", "")
    if s == "win":
        return 0.0
    if s == "r" and regression:
        return None
    if s.startswith("r>"):
        try:
            return float(s[2:])
        except ValueError:
            pass
    also = ", 'r>X' (e.g. r>0.5) or 'r' (R itself)" if regression else " or 'r>X' (e.g. r>0.5)"
    raise ConfigError(f"target {text!r}: use 'win'{also}")


def target_name(threshold: float | None) -> str:
    """The text of a target: ``win``, ``r>X``, or ``r`` (None: R as a regression target)."""
    if threshold is None:
        return "r"
    return "win" if threshold == 0 else f"r>{threshold:g}"


@dataclass(frozen=True)
class TradeDataset:
    """``frame``: `META` columns then ``spec.inputs``, sorted by signal time."""

    frame: pd.DataFrame
    spec: FeatureSpec
    timeframe: str | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def X(self) -> pd.DataFrame:  # noqa: N802 (the usual name of a design matrix)
        return self.frame[list(self.spec.inputs)]

    @property
    def r(self) -> np.ndarray:
        return self.frame["r_multiple"].to_numpy(dtype=np.float64)

    def labels(self, threshold: float) -> np.ndarray:
        """1 where the trade's R beats ``threshold``, else 0."""
        return (self.r > threshold).astype(np.int64)

    def outcome(self, target: float | None) -> np.ndarray:
        """What a model learns: the `labels` of a threshold, or R itself (None)."""
        return self.r if target is None else self.labels(target)

    def times_ns(self, column: str) -> np.ndarray:
        return pd.DatetimeIndex(self.frame[column]).as_unit("ns").asi8


def feature_frames(
    bars: Mapping[str, pd.DataFrame], spec: FeatureSpec, timeframe: str | None = None
) -> dict[str, pd.DataFrame]:
    """The spec's columns on every bar, per (upper-case) symbol."""
    return {str(s).upper(): spec.compute(f, timeframe) for s, f in bars.items()}


def rows_at(features: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """Feature rows at bar ``positions`` (-1: before the first bar -> NaN)."""
    values = features.to_numpy(dtype=np.float64)
    out = np.full((len(positions), values.shape[1]), np.nan)
    ok = positions >= 0
    out[ok] = values[positions[ok]]
    return out


def from_trades(
    trades: pd.DataFrame,
    features: Mapping[str, pd.DataFrame],
    spec: FeatureSpec,
    timeframe: str | None = None,
) -> TradeDataset:
    """The dataset of ``trades`` (a run's trade table) with precomputed ``features``."""
    missing = [c for c in ("symbol", "side", "entry_time", "exit_time", "r_multiple")
               if c not in trades.columns]  # fmt: skip
    if missing:
        raise DataError(f"trade table lacks column(s) {', '.join(missing)}")
    values = np.full((len(trades), len(spec.columns)), np.nan)
    for _sym, (rows, pos) in per_symbol_rows(features, trades).items():
        values[rows] = rows_at(features[_sym], pos)
    frame = pd.DataFrame(values, columns=list(spec.columns), index=trades.index)
    side = trades["side"].astype(str).str.lower()
    if not side.isin(["long", "short"]).all():
        raise DataError("trade side must be 'long' or 'short'")
    frame[SIDE] = np.where(side == "long", 1.0, -1.0)
    signal = trades["signal_time"] if "signal_time" in trades.columns else trades["entry_time"]
    meta = pd.DataFrame(
        {
            "symbol": trades["symbol"].astype(str).str.upper(),
            "signal_time": pd.to_datetime(signal, utc=True),
            "entry_time": pd.to_datetime(trades["entry_time"], utc=True),
            "exit_time": pd.to_datetime(trades["exit_time"], utc=True),
            "r_multiple": pd.to_numeric(trades["r_multiple"], errors="coerce"),
        },
        index=trades.index,
    )
    out = pd.concat([meta, frame], axis=1)
    out = out[np.isfinite(out["r_multiple"].to_numpy(dtype=np.float64))]
    out = out.sort_values(["signal_time", "symbol"], kind="stable").reset_index(drop=True)
    return TradeDataset(out, spec, timeframe)


def build_dataset(
    strategy: Any,
    bars: Mapping[str, pd.DataFrame],
    spec: FeatureSpec,
    run_spec: Any = None,
    *,
    timeframe: str | None = None,
) -> TradeDataset:
    """Backtest ``strategy`` on ``bars`` (settings from ``run_spec``, a `RunSpec`) and build
    the dataset of its trades."""
    from tradeforge.backtest import run_backtest

    kwargs = {} if run_spec is not None else {"timeframe": timeframe}
    result = run_backtest(strategy, dict(bars), run_spec, **kwargs)
    tf = timeframe or (str(run_spec.timeframe) if run_spec is not None else None)
    if len(result.trades) == 0:
        raise DataError(f"{strategy.name} made no trades on these bars: nothing to learn from")
    return from_trades(result.trades, feature_frames(bars, spec, tf), spec, tf)


def audit_lookahead(
    bars: Mapping[str, pd.DataFrame],
    spec: FeatureSpec,
    timeframe: str | None = None,
    *,
    cuts: Sequence[float] = (0.3, 0.55, 0.8),
    features: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """Raise `LeakageError` when a feature value at a bar changes once the bars after it are
    removed (checked at the given fractions of each symbol's bars)."""
    full = features if features is not None else feature_frames(bars, spec, timeframe)
    for sym, frame in bars.items():
        ref = full[str(sym).upper()]
        for frac in cuts:
            cut = min(len(frame) - 1, max(0, int(frac * len(frame))))
            part = spec.compute(frame.iloc[: cut + 1], timeframe)
            a = part.to_numpy(dtype=np.float64)
            b = ref.iloc[: cut + 1].to_numpy(dtype=np.float64)
            same = (a == b) | (np.isnan(a) & np.isnan(b))
            if not same.all():
                row, col = np.argwhere(~same)[0]
                raise LeakageError(
                    f"feature {spec.columns[col]!r} looks ahead: its value at "
                    f"{frame.index[row]} ({sym}) changes when bars after "
                    f"{frame.index[cut]} are removed"
                )
