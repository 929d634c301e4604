"""Warm-up rules of the built-in features, by family (see `tradeforge.features.warmup`).

* Windowed (SMA, WMA, Bollinger, Donchian, CCI, z-score, slope, percentile): a value reads
  its last ``p`` bars, so ``p - 1`` bars before it; exact.
* Recursive (EMA, Wilder RMA in ATR/RSI/ADX): seeded with the mean of the first ``p``
  values, then never reset, so a value depends on all history; it equals the full-history
  value to 1e-9 relative once the seed's weight ``(1 - alpha) ** n`` is below
  `SEED_WEIGHT`: ``p - 1 + decay_bars(alpha)`` (EMA(20): 19 + 276, RMA(14): 13 + 373).
* Calendar (prior day/week, bar index, session range): whole trading days or weeks of bars
  at their longest (`Periods`), converted to bars of the timeframe they run on.
* Swing structure: a swing is confirmed ``k`` bars after its pivot (``2k`` bars, exact); the
  structure state resynchronises after two swing highs, two swing lows and a break have
  happened inside the window — data-dependent, declared as `STRUCTURE_SWINGS` swing spans.
"""

from __future__ import annotations

from datetime import timedelta

from tradeforge.features.warmup import Periods, decay_bars

_DAY = timedelta(days=1)
_WEEK = timedelta(weeks=1)
_DST = timedelta(hours=1)
#: ``ny17`` Monday runs from Friday 17:00 to Monday 17:00 New York (weekend bars count to
#: it), an hour more or less across a daylight-saving switch; other days are 24 h.
_NY17_MONDAY = 3 * _DAY + _DST
#: Swing spans (``2k + 1`` bars) the ``structure`` state gets to resynchronise.
STRUCTURE_SWINGS = 40


def window(period: int) -> int:
    """A value of the last ``period`` bars."""
    return period - 1


def ema(period: int) -> int:
    """SMA-seeded EMA, alpha ``2 / (period + 1)``."""
    return period - 1 + decay_bars(2.0 / (period + 1))


def rma(period: int) -> int:
    """SMA-seeded Wilder smoothing, alpha ``1 / period``."""
    return period - 1 + decay_bars(1.0 / period)


def structure(k: int) -> int:
    """Bars for the ``structure`` state after its swings are valid (a heuristic bound)."""
    return STRUCTURE_SWINGS * (2 * k + 1)


def days(roll: str) -> Periods:
    """The previous trading day and the current one (``prior_day``)."""
    return Periods((_DAY, _DAY) if roll == "utc" else (_NY17_MONDAY, _DAY))


def weeks(roll: str) -> Periods:
    """The previous trading week and the current one (``prior_week``)."""
    return Periods((_WEEK, _WEEK) if roll == "utc" else (_WEEK + _DST, _WEEK))


def utc_day(clock: str = "utc") -> Periods:
    """One UTC day, from one session open to the next (25 h across a ``local`` DST switch)."""
    return Periods((_DAY if clock == "utc" else _DAY + _DST,))
