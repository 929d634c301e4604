"""Resolving feature requests into a deduplicated, topologically ordered graph.

A node is one feature with bound parameters on one timeframe; identical name + parameters +
timeframe are one node, computed once. Errors name the path from the requested feature to
the failing node (``macd(12,26,9) -> ema(12) -> missing column 'close'``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradeforge.core.timeframes import Timeframe
from tradeforge.features.errors import FeatureError
from tradeforge.features.params import bind_params
from tradeforge.features.request import FeatureRequest, RequestLike, as_request, parse_request
from tradeforge.features.spec import Feature, available_features, get_feature

_COLUMN_RE = re.compile(r"[A-Za-z_][\w]*")

NodeKey = tuple[str, tuple[tuple[str, Any], ...], str]  # (feature, params, timeframe name)


@dataclass(frozen=True)
class RawInput:
    """A column of the (possibly resampled) bars, or ``"time"`` (open times, int64 ns)."""

    column: str
    timeframe: Timeframe


@dataclass(frozen=True)
class NodeInput:
    """Output ``output`` of node ``key``, merged onto ``timeframe`` if it lives elsewhere."""

    key: NodeKey
    output: int
    source_timeframe: Timeframe
    timeframe: Timeframe


@dataclass
class Node:
    key: NodeKey
    feature: Feature
    params: dict[str, Any]
    timeframe: Timeframe
    label: str
    inputs: list[RawInput | NodeInput] = field(default_factory=list)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.feature.columns(self.params)


@dataclass(frozen=True)
class RequestedOutput:
    """A requested node and the column names it gets in the result frame."""

    key: NodeKey
    columns: tuple[str, ...]
    outputs: tuple[int, ...]
    timeframe: Timeframe


@dataclass
class Plan:
    """Nodes in topological order plus the outputs the caller asked for."""

    base_timeframe: Timeframe | None
    nodes: list[Node]
    requested: list[RequestedOutput]

    @property
    def timeframes(self) -> list[Timeframe]:
        """Timeframes other than the base that nodes are computed on (coarse last)."""
        tfs = {n.timeframe for n in self.nodes if n.timeframe != self.base_timeframe}
        return sorted(tfs)

    @property
    def columns(self) -> list[str]:
        return [c for r in self.requested for c in r.columns]


def _display(label: str, tf: Timeframe | None, base: Timeframe | None) -> str:
    return label if tf is None or tf == base else f"{label}@{tf.name}"


def build_plan(
    requests: Iterable[RequestLike],
    base_timeframe: Timeframe | None,
    columns_for: Callable[[Timeframe], set[str]],
) -> Plan:
    """Resolve ``requests``; ``columns_for(tf)`` names the raw columns available on ``tf``."""
    nodes: dict[NodeKey, Node] = {}
    order: list[Node] = []
    visiting: set[NodeKey] = set()
    base = base_timeframe  # None when unknown: then informative requests are an error

    def resolve_tf(req: FeatureRequest, current: Timeframe | None, path: Sequence[str]):
        if req.timeframe is None:
            return current
        tf = Timeframe.parse(req.timeframe)
        if base is None:
            raise FeatureError(
                f"informative timeframe {tf.name} needs a known base timeframe "
                "(pass base_timeframe=)",
                path,
            )
        if current is not None and tf < current:
            raise FeatureError(
                f"timeframe {tf.name} is finer than {current.name}; only coarser "
                "timeframes can be merged without look-ahead",
                path,
            )
        if not base.divides(tf):
            raise FeatureError(f"timeframe {tf.name} is not a multiple of {base.name}", path)
        return tf

    def visit(req: FeatureRequest, tf: Timeframe | None, path: tuple[str, ...]) -> Node:
        feature = get_feature(req.name, path)
        bound_path = (*path, str(req))
        params = bind_params(feature.params, req.args, req.params, bound_path)
        label = feature.label(params)
        here = (*path, _display(label, tf, base))
        if feature.check is not None:
            problem = feature.check(params)
            if problem:
                raise FeatureError(problem, here)
        tf_name = tf.name if tf is not None else ""
        key: NodeKey = (feature.name, tuple(sorted(params.items())), tf_name)
        if key in nodes:
            return nodes[key]
        if key in visiting:
            raise FeatureError("cycle in feature graph", here)
        visiting.add(key)
        node = Node(key=key, feature=feature, params=params, timeframe=tf, label=here[-1])
        available = columns_for(tf)
        for ref in feature.input_refs(params):
            node.inputs.append(resolve_input(ref, tf, available, here))
        visiting.discard(key)
        nodes[key] = node
        order.append(node)
        return node

    def resolve_input(ref: Any, tf: Timeframe | None, available: set[str], here):
        if isinstance(ref, str) and _COLUMN_RE.fullmatch(ref):
            # A bare name is a raw column; if no such column exists but a feature has that
            # name, it means the feature with default parameters ("true_range").
            if ref in available:
                return RawInput(ref, tf)
            if ref not in available_features():
                raise FeatureError(f"missing column {ref!r}", here)
        req = ref if isinstance(ref, FeatureRequest) else parse_request(str(ref))
        src_tf = resolve_tf(req, tf, here)
        dep = visit(req, src_tf, here)
        outputs = dep.feature.outputs
        if req.output is None:
            if len(outputs) != 1:
                raise FeatureError(
                    f"{dep.label} has outputs {list(outputs)}; choose one as "
                    f"'{req.name}(...).<output>'",
                    here,
                )
            index = 0
        elif req.output in outputs:
            index = outputs.index(req.output)
        else:
            raise FeatureError(
                f"{dep.label} has no output {req.output!r}; outputs are {list(outputs)}", here
            )
        return NodeInput(dep.key, index, src_tf, tf)

    requested: list[RequestedOutput] = []
    seen: set[tuple[NodeKey, tuple[int, ...]]] = set()
    for item in requests:
        req = as_request(item)
        tf = resolve_tf(req, base, (str(req),))
        node = visit(req, tf, ())
        outs = node.feature.outputs
        if req.output is not None:
            if req.output not in outs:
                raise FeatureError(
                    f"no output {req.output!r}; outputs are {list(outs)}", (node.label,)
                )
            picked: tuple[int, ...] = (outs.index(req.output),)
        else:
            picked = tuple(range(len(outs)))
        if (node.key, picked) in seen:
            continue
        seen.add((node.key, picked))
        cols = node.columns
        tail = "" if tf == base else f"@{tf.name}"
        requested.append(
            RequestedOutput(node.key, tuple(cols[i] + tail for i in picked), picked, tf)
        )
    return Plan(base_timeframe=base, nodes=order, requested=requested)
