"""Historical ticks: delta decoding and paged downloading (``ProtoOAGetTickDataReq``).

One request asks for one side of the quote (``BID`` or ``ASK``) in ``[fromTimestamp,
toTimestamp]`` (ms). The reply lists the ticks **newest first**: the first entry carries the
Unix time in ms and the price (1/100000), every later one its differences to the entry before
it (so its time difference is negative or zero: decoding is a running sum, and a reply whose
times would run forward is refused as not understood). When ``hasMore`` says the range held more
ticks than one reply carries, the next request ends at the oldest millisecond received; the
ticks of that millisecond the previous reply already held come first in the new one and are
dropped, so nothing is lost or doubled at the seam.

Pure transport: the data source (`tradeforge.data.sources.ctrader`) pairs the two sides into a
tick frame.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from tradeforge.core.errors import DataError
from tradeforge.ctrader.client import CTraderClient
from tradeforge.ctrader.proto import openapi_pb2 as pb

BID, ASK = 1, 2  # ProtoOAQuoteType


def decode_ticks(ticks: Iterable[pb.ProtoOATickData]) -> np.ndarray:
    """A reply's ticks as an int64 array of rows ``(ms, price)``, newest first (as sent)."""
    rows = np.array([(t.timestamp, t.tick) for t in ticks], dtype=np.int64).reshape(-1, 2)
    rows = np.cumsum(rows, axis=0)
    if np.any(np.diff(rows[:, 0]) > 0):
        raise DataError("cTrader tick data did not come newest first; refusing to guess its order")
    return rows


async def get_ticks(
    client: CTraderClient,
    symbol_id: int,
    quote_type: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> np.ndarray:
    """One side's ticks with time in ``[start, end)`` as rows ``(ms, price)``, oldest first."""
    lo = int(pd.Timestamp(start).value // 1_000_000)
    to = int(pd.Timestamp(end).value // 1_000_000) - 1  # the server's end is inclusive
    pages: list[np.ndarray] = []
    held = 0  # ticks at millisecond ``to`` the pages so far already hold
    while to >= lo:
        req = pb.ProtoOAGetTickDataReq(
            ctidTraderAccountId=client.account_id, symbolId=symbol_id, type=quote_type,
            fromTimestamp=lo, toTimestamp=to,
        )  # fmt: skip
        res = await client.request(req)
        rows = decode_ticks(res.tickData)
        rows = rows[(rows[:, 0] <= to) & (rows[:, 0] >= lo)]
        seam = int(np.count_nonzero(rows[:, 0] == to))
        rows = rows[min(held, seam) :]  # the seam's ticks already held come first: drop them
        if len(rows):
            pages.append(rows)
        if not res.hasMore:
            break
        if not len(rows):
            raise DataError(f"cTrader said more ticks follow up to {to} ms but sent none new")
        oldest = int(rows[-1, 0])
        held = (held if oldest == to else 0) + int(np.count_nonzero(rows[:, 0] == oldest))
        to = oldest
    out = np.concatenate(pages) if pages else np.empty((0, 2), np.int64)
    return out[::-1]


__all__ = ["ASK", "BID", "decode_ticks", "get_ticks"]
