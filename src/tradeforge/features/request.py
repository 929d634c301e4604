"""Feature requests and their string form.

Grammar: ``name[(args)][.output][@TF]`` where ``args`` are Python literals, positional in the
feature's parameter order and/or ``key=value``. Examples: ``"true_range"``, ``"atr(14)"``,
``"ema(period=50)@M30"``, ``"bollinger(20, 2.0).bb_upper"``,
``"distance_atr('prior_day.prev_day_high', 14)"``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tradeforge.core.errors import ConfigError
from tradeforge.core.timeframes import Timeframe
from tradeforge.features.errors import FeatureError

_HEAD_RE = re.compile(r"\s*([A-Za-z_]\w*)\s*")
_TAIL_RE = re.compile(r"(?:\.([A-Za-z_]\w*))?\s*(?:@\s*(\w+))?\s*")


@dataclass(frozen=True)
class FeatureRequest:
    """A request for feature ``name`` with parameters, optionally on another timeframe.

    ``args`` are positional parameter values, ``params`` keyword ones; ``timeframe`` (e.g.
    ``"M30"``) computes the feature on resampled bars and merges it back onto the base bars;
    ``output`` selects one output (only meaningful where a single column is expected, such
    as a feature's input).
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    timeframe: str | None = None
    args: tuple[Any, ...] = ()
    output: str | None = None

    def __post_init__(self) -> None:
        if self.timeframe is not None:
            try:
                tf = Timeframe.parse(self.timeframe)
            except ConfigError as exc:
                raise FeatureError(str(exc), (self.name,)) from None
            object.__setattr__(self, "timeframe", tf.name)
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "args", tuple(self.args))

    @classmethod
    def parse(cls, text: str) -> FeatureRequest:
        """Parse the string form (see module docstring)."""
        return parse_request(text)

    def __str__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.params.items()]
        text = f"{self.name}({', '.join(parts)})" if parts else self.name
        if self.output:
            text += f".{self.output}"
        if self.timeframe:
            text += f"@{self.timeframe}"
        return text


RequestLike = str | FeatureRequest


def as_request(value: RequestLike) -> FeatureRequest:
    """Accept a `FeatureRequest` or its string form."""
    if isinstance(value, FeatureRequest):
        return value
    if isinstance(value, str):
        return parse_request(value)
    raise FeatureError(f"a feature request must be a string or FeatureRequest, got {value!r}")


def parse_request(text: str) -> FeatureRequest:
    """Parse ``name[(args)][.output][@TF]`` into a `FeatureRequest`."""
    m = _HEAD_RE.match(text)
    if not m:
        raise FeatureError(f"cannot parse feature request {text!r}")
    name = m.group(1)
    rest = text[m.end() :]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if rest.startswith("("):
        close = _matching_paren(text, m.end())
        if close < 0:
            raise FeatureError(f"unbalanced parentheses in feature request {text!r}")
        args, kwargs = _parse_args(text, text[m.end() : close + 1], name)
        rest = text[close + 1 :]
    t = _TAIL_RE.fullmatch(rest)
    if not t:
        raise FeatureError(f"cannot parse feature request {text!r} near {rest.strip()!r}")
    return FeatureRequest(name, kwargs, timeframe=t.group(2), args=args, output=t.group(1))


def _matching_paren(text: str, start: int) -> int:
    depth = 0
    quote: str | None = None
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _parse_args(text: str, call: str, name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    try:
        node = ast.parse(f"f{call}", mode="eval").body
        assert isinstance(node, ast.Call)
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise ValueError("** is not allowed")
            kwargs[kw.arg] = ast.literal_eval(kw.value)
    except (SyntaxError, ValueError, AssertionError) as exc:
        raise FeatureError(
            f"cannot parse the arguments of feature request {text!r}: use literals, "
            f"positional or key=value ({exc})",
            (name,),
        ) from None
    return args, kwargs
