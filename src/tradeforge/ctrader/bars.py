"""Historical trendbars: period codes, delta decoding and paged downloading.

Pure transport: turning rows into validated frames is the data source's job
(`tradeforge.data.sources.ctrader`). A trendbar carries ``low`` and the distances of open, high and close above it, in 1/100000 of
a price unit, and its open time in whole UTC minutes. `get_trendbars` asks for a range in
windows of at most `MAX_BARS_PER_REQUEST` periods; when a reply says ``hasMore`` it asks again
for whatever part of its window the reply did not cover (either end), and a window the server
calls ``INCORRECT_BOUNDARIES`` is halved.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.timeframes import Timeframe
from tradeforge.ctrader.client import CTraderClient
from tradeforge.ctrader.errors import CTraderError
from tradeforge.ctrader.proto import openapi_pb2 as pb

PRICE_SCALE = 100_000  # prices on the wire are integers of 1/100000
#: tradeforge timeframes cTrader serves directly, with their period codes.
PERIODS = {
    "M1": 1,
    "M2": 2,
    "M3": 3,
    "M4": 4,
    "M5": 5,
    "M10": 6,
    "M15": 7,
    "M30": 8,
    "H1": 9,
    "H4": 10,
    "H12": 11,
    "D1": 12,
}
MAX_BARS_PER_REQUEST = 5000  # window length in bars (a conservative choice, not a server rule)
_MINUTE_MS = 60_000


def period_code(timeframe: Timeframe | str) -> int:
    """cTrader's period code of a timeframe; `ConfigError` for one it does not serve."""
    tf = Timeframe.parse(timeframe)
    if tf.name not in PERIODS:
        raise ConfigError(
            f"cTrader serves {', '.join(PERIODS)} bars, not {tf.name}; download a smaller "
            "timeframe and use `tradeforge data resample`"
        )
    return PERIODS[tf.name]


def decode_trendbars(bars: Iterable[pb.ProtoOATrendbar]) -> np.ndarray:
    """Raw bars as an int64 array of rows ``(minute, open, high, low, close, volume)``:
    ``open = low + deltaOpen``, ``high = low + deltaHigh``, ``close = low + deltaClose``."""
    rows = [
        (
            b.utcTimestampInMinutes,
            b.low + b.deltaOpen,
            b.low + b.deltaHigh,
            b.low,
            b.low + b.deltaClose,
            b.volume,
        )
        for b in bars
    ]
    return np.array(rows, dtype=np.int64).reshape(-1, 6)


async def get_trendbars(
    client: CTraderClient,
    symbol_id: int,
    timeframe: Timeframe | str,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> np.ndarray:
    """Decoded bars (see `decode_trendbars`) with open time in ``[start, end)``."""
    tf = Timeframe.parse(timeframe)
    period = period_code(tf)
    step = tf.seconds * 1000
    lo, hi = _ms(start), _ms(end)
    span = step * MAX_BARS_PER_REQUEST
    todo = [(t, min(t + span, hi)) for t in range(lo, hi, span)][::-1]  # a stack, oldest on top
    chunks: list[np.ndarray] = []
    while todo:
        a, b = todo.pop()
        req = pb.ProtoOAGetTrendbarsReq(
            ctidTraderAccountId=client.account_id,
            symbolId=symbol_id,
            period=period,
            fromTimestamp=a,
            toTimestamp=b - 1,  # the last millisecond inside the window: exclusive end either way
        )
        try:
            res = await client.request(req)
        except CTraderError as exc:
            if exc.code != "INCORRECT_BOUNDARIES" or b - a <= step:
                raise
            mid = a + (b - a) // 2 // step * step or a + step
            todo += [(mid, b), (a, mid)]
            continue
        raw = decode_trendbars(res.trendbar)
        chunks.append(raw)
        if res.hasMore:
            if not len(raw):
                raise DataError(f"cTrader said more bars follow in {a}..{b} ms but sent none")
            first, last = int(raw[:, 0].min()) * _MINUTE_MS, int(raw[:, 0].max()) * _MINUTE_MS
            if last + step < b:
                todo.append((last + step, b))
            if first > a:
                todo.append((a, first))
    raw = np.concatenate(chunks) if chunks else np.empty((0, 6), np.int64)
    minutes_ms = raw[:, 0] * _MINUTE_MS
    return raw[(minutes_ms >= lo) & (minutes_ms < hi)]


def _ms(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).value // 1_000_000)  # .value is always nanoseconds


__all__ = [
    "MAX_BARS_PER_REQUEST",
    "PERIODS",
    "PRICE_SCALE",
    "decode_trendbars",
    "get_trendbars",
    "period_code",
]
