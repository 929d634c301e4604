"""Position manager: the backtest's exit rules (`tradeforge.trading.rules`) on live prices.

A managed position keeps the rules' float state vector ``pf`` (JSON: NaN as null); the rules
work on row ``s`` of a 2-D state array, so the manager hands them ``pf`` as a one-row view. Per
observation the manager calls `rules.process_observation` (targets gapped at the open, the stop
before intrabar targets, then touched targets) and returns the legs to close; at each bar close
it calls `rules.update_after_observation` with the bar's high/low/close, so break-even and
trailing take effect from the next bar on — exactly as in the backtest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeforge.strategy.signal_schema import pack_row
from tradeforge.trading import rules
from tradeforge.trading.result import EXIT_REASONS
from tradeforge.trading.steps import initial_stop


@dataclass(frozen=True)
class Leg:
    price: float
    steps: int
    reason: str


def row(pf: np.ndarray) -> np.ndarray:
    """``pf`` as the one-row state array the rules work on."""
    return pf.reshape(1, -1)


def pf_to_json(pf: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(v) else float(v) for v in pf]


def pf_from_json(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def open_pf(signal: dict[str, Any], fill: float, steps: int) -> tuple[np.ndarray, float]:
    """The rules' state vector for a fill; returns ``(pf, initial_stop)``."""
    side = int(signal["side"])
    stop = initial_stop(
        float(side), float(fill), _float(signal.get("stop_distance")), _float(signal["stop_price"])
    )
    pf = np.zeros(rules.NF)
    rules.open_position(row(pf), 0, side, float(fill), float(stop), int(steps), pack_row(signal), 0)
    return pf, float(stop)


def observe(pf: np.ndarray, o: float, h: float, lo: float, spread: float, slip: float) -> list[Leg]:
    """Exits of one price observation (a bar, or a tick as ``o = h = lo``)."""
    out = np.zeros((rules.MAX_T + 1, 3))
    n = rules.process_observation(row(pf), 0, o, h, lo, spread, slip, out)
    return [Leg(float(out[k, 0]), int(out[k, 1]), EXIT_REASONS[int(out[k, 2])]) for k in range(n)]


def update(
    pf: np.ndarray,
    h: float,
    lo: float,
    c: float,
    spread: float,
    level_long: float,
    level_short: float,
) -> bool:
    """Break-even / trailing after a closed bar; True when the stop moved."""
    before = pf[rules.F_STOP]
    if pf[rules.F_REMAINING] > 0:
        rules.update_after_observation(row(pf), 0, h, lo, c, spread, level_long, level_short)
    return bool(pf[rules.F_STOP] != before)


def remaining(pf: np.ndarray) -> int:
    return int(round(pf[rules.F_REMAINING]))


def stop_of(pf: np.ndarray) -> float:
    return float(pf[rules.F_STOP])


def mark(pf: np.ndarray, close: float, spread: float) -> float:
    return float(rules.mark_price(row(pf), 0, close, spread))


def market_exit(pf: np.ndarray, bid: float, spread: float, slip: float) -> float:
    """Fill of a market close at bid ``bid`` (`rules.market_exit_price`)."""
    return float(rules.market_exit_price(pf[rules.F_SIDE], bid, spread, slip))
