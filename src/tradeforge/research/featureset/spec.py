"""A feature spec: which feature requests to compute and which of their columns a model reads.

The contextual set (`CONTEXT`) describes the market at a signal bar in scale-free units, so
one spec fits every symbol: market structure (trend, breaks of structure, change of
character), trend regime (ADX and DI, distance to EMA(50) in ATR), volatility regime (ATR
percentile, realised volatility), distance to key levels in ATR (prior day high/low, Donchian
channel, last swing high/low), session flags, bar index in the day/session and day of week.
Raw prices (swing levels, EMA values) are left out: they do not transfer across time or
symbols. Every value comes from the feature engine, which never reads a bar after the one it
labels (tests/features/test_lookahead.py; the rows here are property-tested too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError

#: Signal side (+1 long, -1 short) is an input of every model: it is known at the signal bar.
SIDE = "side"

#: request -> the columns kept (None: every numeric output).
CONTEXT: dict[str, tuple[str, ...] | None] = {
    "structure(3)": ("trend_3", "swing_trend_3", "bos_3", "choch_3"),
    "distance_atr('structure(3).last_swing_high')": None,
    "distance_atr('structure(3).last_swing_low')": None,
    "adx(14)": None,
    "distance_atr('ema(50)')": None,
    "atr_percentile(14, 100)": None,
    "realized_vol(20)": None,
    "distance_atr('prior_day.prev_day_high')": None,
    "distance_atr('prior_day.prev_day_low')": None,
    "distance_atr('donchian(20).donchian_upper')": None,
    "distance_atr('donchian(20).donchian_lower')": None,
    "sessions": ("session_asia", "session_london", "session_new_york", "session_overlap"),
    "bar_index": None,
    "day_of_week": None,
}


@dataclass(frozen=True)
class FeatureSpec:
    """Feature ``requests`` (engine syntax) and the ``columns`` taken from their outputs."""

    requests: tuple[str, ...]
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.columns:
            raise ConfigError("a feature spec needs at least one column")
        if len(set(self.columns)) != len(self.columns):
            raise ConfigError("a feature spec lists a column twice")
        if SIDE in self.columns:
            raise ConfigError(f"{SIDE!r} is added to every model's inputs; do not list it")

    @property
    def inputs(self) -> tuple[str, ...]:
        """The model's input columns, in order: the feature columns, then the signal side."""
        return (*self.columns, SIDE)

    def compute(self, bars: pd.DataFrame, timeframe: str | None = None) -> pd.DataFrame:
        """The spec's columns on every bar of ``bars`` (float64; warm-up values NaN)."""
        from tradeforge.features import FeatureEngine

        frame = FeatureEngine().compute(bars, list(self.requests), timeframe, keep_input=False)
        return select_columns(frame, self.columns)

    def subset(self, columns: Iterable[str]) -> FeatureSpec:
        """The same requests, fewer columns (a selected feature set)."""
        keep = [c for c in self.columns if c in set(columns)]
        return FeatureSpec(self.requests, tuple(keep))

    def to_dict(self) -> dict[str, Any]:
        return {"requests": list(self.requests), "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        try:
            return cls(tuple(map(str, data["requests"])), tuple(map(str, data["columns"])))
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f"feature spec needs 'requests' and 'columns' lists ({exc})"
            ) from None


def column_block(
    frame: pd.DataFrame, columns: Sequence[str], rows: np.ndarray | None = None
) -> np.ndarray:
    """``frame[columns]`` as one float64 block of shape (columns, rows) — only the positional
    ``rows`` when given, each column's rows picked before its conversion (a few signal bars
    copy neither the frame nor a whole column) — or `ConfigError` naming a missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"feature column(s) {', '.join(missing)} not produced by the requests; "
            f"available: {', '.join(map(str, frame.columns))}"
        )
    out = np.empty((len(columns), len(frame) if rows is None else len(rows)))
    for k, name in enumerate(columns):
        column = frame[name]
        values = column.to_numpy()
        if values.dtype.kind in "fiub":
            out[k] = values if rows is None else values[rows]
        else:  # nullable or object columns: their missing values become NaN
            picked = column if rows is None else column.iloc[rows]
            out[k] = picked.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def select_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame[columns]`` as float64 columns on the frame's index (`column_block`)."""
    return pd.DataFrame(column_block(frame, columns).T, index=frame.index, columns=list(columns))


def build_spec(
    extra: Sequence[str] = (), *, context: bool = True, timeframe: str = "H1"
) -> FeatureSpec:
    """`CONTEXT` (when ``context``) plus every numeric output of the ``extra`` requests the
    user names. The extra requests' columns are found by computing them on a few synthetic
    bars of ``timeframe`` (column names depend on parameters, not on data)."""
    chosen: dict[str, tuple[str, ...] | None] = dict(CONTEXT) if context else {}
    for r in extra:
        chosen.setdefault(str(r), None)
    if not chosen:
        raise ConfigError("no features: give --feature requests or keep the context set")
    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.features import FeatureEngine

    probe = generate_bars("EURUSD", timeframe, "2024-01-01", "2024-01-08", seed=0)
    columns: list[str] = []
    for request, keep in chosen.items():
        out = FeatureEngine().compute(probe, [request], timeframe, keep_input=False)
        numeric = [c for c in out.columns if pd.api.types.is_numeric_dtype(out[c])]
        for c in keep if keep is not None else numeric:
            if c not in numeric:
                raise ConfigError(f"{request}: no numeric output column {c!r}")
            if c not in columns:
                columns.append(c)
    return FeatureSpec(tuple(chosen), tuple(columns))
