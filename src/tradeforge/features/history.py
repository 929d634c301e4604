"""The bar history feature requests need: declared warm-ups summed over the feature graph.

Within one timeframe warm-ups add along a chain (``ema(10, source='rsi(14)')`` needs the RSI
warm-up, then the EMA's). A node on a coarser timeframe ``T`` seen from a finer one (the base,
or a feature computed there) costs ``ratio * (w + 2)`` finer bars for its warm-up ``w`` in
``T`` bars: one extra ``T`` bar because the window's first ``T`` bar is usually partial
(the window starts mid-bar), one because a ``T`` value shows only once its bar has closed
(`tradeforge.features.informative`).
"""

from __future__ import annotations

from collections.abc import Iterable

from tradeforge.core.timeframes import Timeframe
from tradeforge.features.errors import FeatureError
from tradeforge.features.graph import NodeInput, NodeKey, build_plan
from tradeforge.features.request import RequestLike

#: Raw columns assumed present on every timeframe (the resampled OHLCV plus bar times).
_COLUMNS = frozenset({"open", "high", "low", "close", "volume", "spread", "time"})
#: Coarse bars a merged value costs beyond its warm-up: a partial first bar, the close delay.
MERGE_BARS = 2


def warmup_bars(requests: Iterable[RequestLike], base_timeframe: Timeframe | str) -> int:
    """Bars of ``base_timeframe`` history every requested value needs: computed on the last
    ``warmup_bars(...) + k`` bars, the final ``k`` values equal the full-history ones.

    Raises `FeatureError` for a request that cannot be resolved or uses a feature without a
    declared warm-up.
    """
    base = Timeframe.parse(base_timeframe)
    plan = build_plan(requests, base, lambda _tf: set(_COLUMNS))
    nodes = {node.key: node for node in plan.nodes}
    own: dict[NodeKey, int] = {}

    def in_own_bars(key: NodeKey, path: tuple[str, ...]) -> int:
        if key not in own:
            node = nodes[key]
            here = (*path, node.label)
            try:
                declared = node.feature.warmup_bars(node.params, node.timeframe)
            except FeatureError as exc:
                raise FeatureError(exc.problem, here) from None
            deps = [
                seen_from(i.key, node.timeframe, here)
                for i in node.inputs
                if isinstance(i, NodeInput)
            ]
            own[key] = declared + max(deps, default=0)
        return own[key]

    def seen_from(key: NodeKey, timeframe: Timeframe, path: tuple[str, ...]) -> int:
        source = nodes[key].timeframe
        if source == timeframe:
            return in_own_bars(key, path)
        return source.seconds // timeframe.seconds * (in_own_bars(key, path) + MERGE_BARS)

    return max((seen_from(r.key, base, ()) for r in plan.requested), default=0)
