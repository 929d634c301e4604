"""`FeatureEngine`: compute requested features (and informative timeframes) on OHLCV bars."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from tradeforge.core.timeframes import Timeframe
from tradeforge.data.checksum import frame_checksum
from tradeforge.data.resample import resample_ohlcv
from tradeforge.features.cache import FeatureCache, entry_key
from tradeforge.features.errors import FeatureError
from tradeforge.features.graph import Node, NodeInput, NodeKey, Plan, RawInput, build_plan
from tradeforge.features.informative import check_index, merge_index, open_times_ns, take_merged
from tradeforge.features.request import RequestLike

_RESAMPLED_COLUMNS = ("open", "high", "low", "close", "volume", "spread")
TIME_COLUMN = "time"
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


def infer_timeframe(index: pd.DatetimeIndex) -> Timeframe | None:
    """The bar timeframe from the smallest step of ``index`` (None for fewer than 2 bars)."""
    if len(index) < 2:
        return None
    step_s = int(np.min(np.diff(open_times_ns(index)))) // 1_000_000_000
    for unit, size in (("W", 7 * 86400), ("D", 86400), ("H", 3600), ("M", 60)):
        if step_s >= size and step_s % size == 0:
            return Timeframe(unit, step_s // size)
    raise FeatureError(f"cannot infer the bar timeframe from a {step_s} s step; pass it")


class _Bars:
    """Raw arrays of one timeframe, converted lazily and once."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.index = frame.index
        self._arrays: dict[str, np.ndarray] = {}

    def columns(self) -> set[str]:
        return {str(c) for c in self.frame.columns} | {TIME_COLUMN}

    def array(self, column: str) -> np.ndarray:
        arr = self._arrays.get(column)
        if arr is None:
            if column == TIME_COLUMN:
                arr = open_times_ns(self.index)
            else:
                values = self.frame[column].to_numpy()
                if values.dtype.kind in "biuf":
                    arr = np.array(values, dtype=np.float64, copy=True)
                else:
                    arr = np.array(values, copy=True)
            self._arrays[column] = arr
        return arr


class FeatureEngine:
    """Computes feature requests on an OHLCV frame; the input frame is never modified.

    ``cache_dir`` enables the disk cache: re-running the same features on the same data
    loads them instead of computing them.
    """

    def __init__(self, cache_dir: str | Path | FeatureCache | None = None) -> None:
        if cache_dir is None or isinstance(cache_dir, FeatureCache):
            self.cache = cache_dir
        else:
            self.cache = FeatureCache(cache_dir)

    def plan(
        self,
        frame: pd.DataFrame,
        requests: Iterable[RequestLike],
        base_timeframe: Timeframe | str | None = None,
    ) -> Plan:
        """Resolve ``requests`` against ``frame``'s columns without computing anything."""
        base = Timeframe.parse(base_timeframe) if base_timeframe else infer_timeframe(frame.index)
        base_cols = {str(c) for c in frame.columns} | {TIME_COLUMN}
        info_cols = {c for c in _RESAMPLED_COLUMNS if c in frame.columns} | {TIME_COLUMN}

        def columns_for(tf: Timeframe | None) -> set[str]:
            return base_cols if tf is None or tf == base else info_cols

        return build_plan(requests, base, columns_for)

    def compute(
        self,
        frame: pd.DataFrame,
        requests: Iterable[RequestLike],
        base_timeframe: Timeframe | str | None = None,
        *,
        keep_input: bool = True,
    ) -> pd.DataFrame:
        """A new frame: ``frame``'s columns (if ``keep_input``) plus every requested output.

        Informative outputs (``"ema(50)@M30"``) are named ``<column>@<TF>``. A requested
        column that already exists in ``frame`` is replaced in the result.
        """
        check_index(frame)
        plan = self.plan(frame, requests, base_timeframe)
        results = self.compute_plan(frame, plan)
        columns: dict[str, np.ndarray] = {}
        base = plan.base_timeframe
        positions: dict[str, np.ndarray] = {}
        for req in plan.requested:
            arrays = results[req.key]
            if req.timeframe is not None and req.timeframe != base:
                tf = req.timeframe
                if tf.name not in positions:
                    info_ns = results[("__index__", (), tf.name)][0]
                    base_ns = open_times_ns(frame.index)
                    positions[tf.name] = merge_index(info_ns, tf, base_ns, base)
                pos = positions[tf.name]
                for name, i in zip(req.columns, req.outputs, strict=True):
                    columns[name] = take_merged(arrays[i], pos)
            else:
                for name, i in zip(req.columns, req.outputs, strict=True):
                    columns[name] = arrays[i]
        # copy=False keeps one block per column (no 2-D consolidation copy); pandas
        # copy-on-write keeps columns that share an array independent. The result's index is
        # a view of the input's: its own object (renaming it leaves ``frame`` alone) sharing
        # the input's identity, so the concat below knows the two frames align without
        # comparing every bar time.
        added = pd.DataFrame(columns, index=frame.index.view(), copy=False)
        if not keep_input:
            return added
        kept = frame.drop(columns=[c for c in frame.columns if c in columns])
        if not _COPY_ON_WRITE:  # pandas 3 copies lazily, on the first write to the result
            kept = kept.copy(deep=True)
        out = pd.concat([kept, added], axis=1)
        out.index = frame.index.view()
        return out

    def compute_plan(self, frame: pd.DataFrame, plan: Plan) -> dict[NodeKey, list[np.ndarray]]:
        """Arrays of every node of ``plan`` in its own timeframe (plus informative indexes)."""
        base = plan.base_timeframe
        bars: dict[str, _Bars] = {"": _Bars(frame)}
        if base is not None:
            bars[base.name] = bars[""]
        results: dict[NodeKey, list[np.ndarray]] = {}
        ohlcv = [c for c in _RESAMPLED_COLUMNS if c in frame.columns]
        for tf in plan.timeframes:
            info = resample_ohlcv(frame[ohlcv], tf)
            bars[tf.name] = _Bars(info)
            results[("__index__", (), tf.name)] = [open_times_ns(info.index)]
        checksum = frame_checksum(frame) if self.cache is not None else ""
        merges: dict[tuple[str, str], np.ndarray] = {}
        for node in plan.nodes:
            arrays = [self._input(inp, bars, results, merges, base) for inp in node.inputs]
            results[node.key] = self._run(node, arrays, checksum, base)
        return results

    def _input(self, inp, bars, results, merges, base) -> np.ndarray:
        if isinstance(inp, RawInput):
            tf_name = inp.timeframe.name if inp.timeframe is not None else ""
            return bars[tf_name].array(inp.column)
        assert isinstance(inp, NodeInput)
        values = results[inp.key][inp.output]
        if inp.source_timeframe == inp.timeframe:
            return values
        key = (inp.source_timeframe.name, inp.timeframe.name)
        if key not in merges:
            merges[key] = merge_index(
                open_times_ns(bars[key[0]].index),
                inp.source_timeframe,
                open_times_ns(bars[key[1]].index),
                inp.timeframe,
            )
        return take_merged(values, merges[key])

    def _run(
        self, node: Node, arrays: list[np.ndarray], checksum: str, base: Timeframe | None
    ) -> list[np.ndarray]:
        key = None
        if self.cache is not None:
            code = hashlib.sha256(node.feature.fn.__code__.co_code).hexdigest()[:16]
            key = entry_key(
                checksum,
                base.name if base else "",
                node.key,
                node.feature.version,
                code,
            )
            cached = self.cache.get(key, len(node.feature.outputs))
            if cached is not None:
                return cached
        try:
            out = node.feature.run(arrays, node.params)
        except FeatureError as exc:
            raise FeatureError(exc.problem, (node.label,)) from exc
        if key is not None:
            self.cache.put(key, out)
        return out


def compute_features(
    frame: pd.DataFrame,
    requests: Iterable[RequestLike],
    base_timeframe: Timeframe | str | None = None,
    *,
    keep_input: bool = True,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Shortcut for ``FeatureEngine(cache_dir).compute(frame, requests, base_timeframe)``."""
    return FeatureEngine(cache_dir).compute(frame, requests, base_timeframe, keep_input=keep_input)
