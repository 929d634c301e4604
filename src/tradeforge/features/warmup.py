"""Declared warm-ups: how many bars before a value a feature needs to equal its full-history
value.

A feature declares ``warmup=`` (see `register_feature`) as an int, a `Periods`, or a
callable of its bound parameters returning either. The warm-up ``w`` promises: computed on
the last ``w + k`` bars of any history, the final ``k`` values equal those computed on the
whole history — exactly for windowed features, to ``1e-9`` relative for recursive filters
(see `decay_bars`). ``tests/features/test_warmup.py`` checks every registered feature.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tradeforge.core.timeframes import Timeframe

#: Weight of the forgotten history (the seed) at which a recursive filter counts as
#: converged: its values then differ from the full-history ones by about this fraction of
#: the series' typical size (1e-12 keeps them well inside the 1e-9 the tests demand).
SEED_WEIGHT = 1e-12


@dataclass(frozen=True)
class Periods:
    """A warm-up of whole calendar periods (trading days, weeks), converted per timeframe.

    ``lengths`` are the longest possible durations of the periods a value reads, its own
    period included (``prior_day``: the previous day and the current one). A period of
    length ``L`` holds at most ``ceil(L / tf)`` bars of timeframe ``tf``, so the bars before
    a value are at most their sum minus the bar itself.
    """

    lengths: tuple[timedelta, ...]

    def bars(self, timeframe: Timeframe) -> int:
        step = timeframe.seconds
        return sum(math.ceil(p.total_seconds() / step) for p in self.lengths) - 1


Warmup = int | Periods | Callable[[Mapping[str, Any]], "int | Periods"]


def decay_bars(alpha: float) -> int:
    """Bars after which a recursive filter ``y += alpha * (x - y)`` has forgotten its start
    (the start's weight ``(1 - alpha) ** n`` is below `SEED_WEIGHT`)."""
    if alpha >= 1.0:
        return 0
    return math.ceil(math.log(SEED_WEIGHT) / math.log1p(-alpha))


def resolve_warmup(warmup: Warmup, params: Mapping[str, Any], timeframe: Timeframe) -> int:
    """The declared warm-up in bars of ``timeframe`` for bound ``params``."""
    value = warmup(params) if callable(warmup) else warmup
    bars = value.bars(timeframe) if isinstance(value, Periods) else value
    if isinstance(bars, bool) or not isinstance(bars, int) or bars < 0:
        raise ValueError(f"a warm-up must be a non-negative int of bars, got {bars!r}")
    return bars
