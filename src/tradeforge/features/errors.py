"""Errors of the feature engine; each names the path through the feature graph that fails."""

from __future__ import annotations

from collections.abc import Sequence

from tradeforge.core.errors import ConfigError


class FeatureError(ConfigError):
    """A feature request cannot be resolved or computed.

    ``path`` is the chain of requests from the one the user asked for down to the failing
    node, e.g. ``("macd(12,26,9)", "ema(12)")``; the message reads
    ``macd(12,26,9) -> ema(12) -> missing column 'close'``.
    """

    def __init__(self, problem: str, path: Sequence[str] = ()) -> None:
        self.problem = problem
        self.path = tuple(path)
        super().__init__(" -> ".join([*self.path, problem]))
