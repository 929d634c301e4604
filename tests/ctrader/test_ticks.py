"""Tick data from cTrader: delta decoding, paging across seams (ticks sharing a millisecond
split between replies), pairing bid and ask, and ``data download --source ctrader --mode ticks``
through the console script into the tick cache and the bar cache."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from tests.ctrader.test_cli_download import download
from tradeforge.core.errors import DataError
from tradeforge.ctrader.proto import openapi_pb2 as pb
from tradeforge.ctrader.ticks import ASK, BID, decode_ticks, get_ticks
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.ctrader import tick_frame
from tradeforge.data.tick_cache import TickCache
from tradeforge.data.ticks import paired_quotes

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC in ms


def wire(*pairs: tuple[int, int]) -> list[pb.ProtoOATickData]:
    return [pb.ProtoOATickData(timestamp=t, tick=p) for t, p in pairs]


def test_decoding_is_a_running_sum_newest_first():
    rows = decode_ticks(wire((1000, 110_000), (-5, 3), (0, -1)))
    assert rows.tolist() == [[1000, 110_000], [995, 110_003], [995, 110_002]]
    assert decode_ticks([]).shape == (0, 2)
    with pytest.raises(DataError, match="did not come newest first"):
        decode_ticks(wire((1000, 110_000), (5, 1)))


def test_bid_and_ask_become_one_quote_stream():
    bid = np.array([[1000, 110_000], [1002, 110_001], [1002, 110_002]])
    ask = np.array([[1001, 110_010], [1002, 110_011]])
    events = tick_frame(bid, ask, 5)
    assert events.index.asi8.tolist() == [t * 10**6 for t in (1000, 1001, 1002, 1002, 1002)]
    assert events["bid"].tolist()[0] == 1.1 and np.isnan(events["ask"].iloc[0])
    quotes = paired_quotes(events)
    # the first bid has no ask yet: dropped; at 1002 the bids come before the ask
    assert quotes["bid"].tolist() == [1.1, 1.10001, 1.10002, 1.10002]
    assert quotes["ask"].tolist() == [1.1001, 1.1001, 1.1001, 1.10011]
    assert quotes["bid_volume"].tolist() == [0.0, 1.0, 1.0, 0.0]


def _ticks(rng: np.random.Generator, n: int, price: int) -> np.ndarray:
    """``n`` ticks over a minute, one to three sharing each millisecond (a reply holds more
    than that, or paging could not get past the millisecond: see the next test)."""
    per_ms = rng.integers(1, 4, n)
    ms = np.repeat(T0 + np.arange(n) * 1500, per_ms)[:n]
    return np.column_stack([ms, price + rng.integers(-20, 20, n)])


@pytest.mark.parametrize("page_size, seed", [(7, 1), (4, 2), (1000, 3)])
def test_paging_loses_and_doubles_nothing_at_the_seams(server, make_client, page_size, seed):
    rng = np.random.default_rng(seed)
    bid, ask = _ticks(rng, 60, 110_000), _ticks(rng, 45, 110_012)
    server.set_ticks(1, BID, bid)
    server.set_ticks(1, ASK, ask)
    server.page_size = page_size
    lo, hi = pd.Timestamp(T0, unit="ms", tz="UTC"), pd.Timestamp(T0 + 60_000, unit="ms", tz="UTC")

    async def fetch():
        async with make_client() as client:
            return (
                await get_ticks(client, 1, BID, lo, hi),
                await get_ticks(client, 1, ASK, lo, hi),
            )

    got_bid, got_ask = asyncio.run(fetch())
    # same ticks in the same order (the fake keeps a millisecond's ticks in their order)
    assert got_bid.tolist() == bid.tolist() and got_ask.tolist() == ask.tolist()
    pages = sum(1 for pt, _ in server.requests if pt == 2145)
    assert pages >= (60 + 45) // page_size  # it did page


def test_the_end_is_exclusive_and_a_seam_it_cannot_cross_is_an_error(server, make_client):
    server.set_ticks(1, BID, [[T0, 1], [T0 + 10, 2], [T0 + 20, 3]])
    lo, hi = pd.Timestamp(T0, unit="ms", tz="UTC"), pd.Timestamp(T0 + 20, unit="ms", tz="UTC")

    async def fetch():
        async with make_client() as client:
            return await get_ticks(client, 1, BID, lo, hi)

    assert asyncio.run(fetch()).tolist() == [[T0, 1], [T0 + 10, 2]]
    server.set_ticks(1, BID, [[T0 + 5, p] for p in range(5)])  # 5 ticks in one millisecond
    server.page_size = 2
    with pytest.raises(DataError, match="more ticks follow up to .* but sent none new"):
        asyncio.run(fetch())


def test_download_ticks_into_the_tick_cache_and_bars_with_spread(server, tmp_path):
    server.set_ticks(1, BID, [[T0, 110_000], [T0 + 10_000, 110_020], [T0 + 20_000, 109_990],
                              [T0 + 60_000, 110_050]])  # fmt: skip
    server.set_ticks(1, ASK, [[T0 + 5, 110_010], [T0 + 10_000, 110_030], [T0 + 60_001, 110_060]])
    server.page_size = 2
    home = tmp_path / "home"
    base = ["-s", "EURUSD", "--start", "2024-01-01", "--end", "2024-01-02", "--mode", "ticks"]
    r = download(server, home, *base, "-t", "M1")
    assert r.returncode == 0, r.stderr
    assert "cached 7 ticks of EURUSD from cTrader; 2 M1 bars made from the cached" in r.stdout
    start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-02", tz="UTC")
    ticks = TickCache(home, "ctrader").load("EURUSD", start, end)  # as sent, one side a row
    assert ticks["bid"].fillna(0).tolist() == [1.1, 0, 1.1002, 0, 1.0999, 1.1005, 0]
    assert ticks["ask"].fillna(0).tolist() == [0, 1.1001, 0, 1.1003, 0, 0, 1.1006]
    assert (home / "raw" / "ctrader" / "EURUSD" / "2024-01-01.parquet").exists()
    bars = ParquetStore(home).load("EURUSD", "M1")
    first, second = bars.iloc[0], bars.iloc[1]
    # minute 0: bids 1.1, 1.1002, 1.1002, 1.0999; two bid ticks (the first had no ask yet);
    # spreads 1, 0 (crossed), 1, 4 pips -> mean 1.5 pips
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        1.1, 1.1002, 1.0999, 1.0999, 2.0
    )  # fmt: skip
    assert first.spread == pytest.approx(0.00015, abs=1e-12)
    assert (second.open, second.close, second.volume) == (1.1005, 1.1005, 1.0)
    assert second.spread == pytest.approx(0.00005, abs=1e-12)  # crossed (0), then 1 pip
    # again over a part of the day: that range is replaced, the rest kept (no tick doubled)
    r = download(server, home, "-s", "EURUSD", "--start", "2024-01-01T00:00:30",
                 "--end", "2024-01-02", "--mode", "ticks", "-t", "M1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert TickCache(home, "ctrader").load("EURUSD", start, end).equals(ticks)
    assert ParquetStore(home).load("EURUSD", "M1").equals(bars)  # rebuilt from the whole day
    r = download(server, home, *base, "--mode", "candles")
    assert (
        r.returncode == 2 and "--source ctrader takes --mode auto (trendbars) or ticks" in r.stderr
    )
