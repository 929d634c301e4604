"""Trendbar decoding, paging and the data source, against hand-computed bars."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.ctrader.fake_server import ACCOUNT
from tradeforge.core.errors import ConfigError
from tradeforge.ctrader import bars as b
from tradeforge.ctrader.proto import openapi_pb2 as pb
from tradeforge.data.sources.base import DataSource
from tradeforge.data.sources.ctrader import CTraderSource, bars_frame

T0 = 28_401_120  # 2024-01-01 00:00 UTC in epoch minutes


def test_delta_decoding_by_hand():
    bar = pb.ProtoOATrendbar(
        volume=17, low=109_990, deltaOpen=5, deltaHigh=20, deltaClose=12, utcTimestampInMinutes=T0
    )
    raw = b.decode_trendbars([bar])
    assert raw.tolist() == [[T0, 109_995, 110_010, 109_990, 110_002, 17]]
    frame = bars_frame(raw, 5, "test")
    row = frame.iloc[0]
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert (row.open, row.high, row.low, row.close, row.volume) == (
        1.09995,
        1.1001,
        1.0999,
        1.10002,
        17.0,
    )


def test_jpy_prices_round_to_the_symbol_digits():
    raw = np.array([[T0, 15_012_345, 15_020_000, 15_000_000, 15_010_000, 3]])
    row = bars_frame(raw, 3, "test").iloc[0]
    assert (row.open, row.high, row.low, row.close) == (150.123, 150.2, 150.0, 150.1)


@given(
    st.lists(
        st.tuples(
            st.integers(1, 10**9),
            st.integers(0, 10**6),
            st.integers(0, 10**6),
            st.integers(0, 10**6),
            st.integers(0, 10**6),
            st.integers(0, 2**31 - 1),
        ),
        max_size=20,
    )
)
def test_decoding_inverts_the_encoding(rows):
    bars = []
    expected = []
    for low, d_open, d_close, extra, volume, minute in rows:
        d_high = max(d_open, d_close) + extra
        bars.append(
            pb.ProtoOATrendbar(
                volume=volume,
                low=low,
                deltaOpen=d_open,
                deltaHigh=d_high,
                deltaClose=d_close,
                utcTimestampInMinutes=minute,
            )
        )
        expected.append([minute, low + d_open, low + d_high, low, low + d_close, volume])
    raw = b.decode_trendbars(pb.ProtoOATrendbar.FromString(x.SerializeToString()) for x in bars)
    assert raw.tolist() == expected
    assert all(r[3] <= min(r[1], r[4]) and r[2] >= max(r[1], r[4]) for r in raw.tolist())


def test_period_codes():
    assert [b.period_code(tf) for tf in ("M1", "M5", "M15", "H1", "H4", "D1")] == [
        1,
        5,
        7,
        9,
        10,
        12,
    ]
    with pytest.raises(ConfigError, match="not W1; download a smaller timeframe"):
        b.period_code("W1")


def m1_rows(n: int, start: int = T0, gap_at: int | None = None) -> np.ndarray:
    """``n`` M1 bars (a weekend-like gap of 2 days after bar ``gap_at``), prices rising."""
    minutes = start + np.arange(n)
    if gap_at is not None:
        minutes[gap_at:] += 2 * 1440
    low = 110_000 + np.arange(n)
    return np.column_stack([minutes, low + 3, low + 9, low, low + 5, np.full(n, 7)])


@pytest.mark.parametrize("newest_first", [True, False])
def test_paging_by_has_more_collects_every_bar_once(server, make_client, newest_first):
    rows = m1_rows(2500, gap_at=1200)
    server.set_bars(1, 1, rows)
    server.page_size = 700
    server.newest_page_first = newest_first
    start = pd.Timestamp(T0 * 60, unit="s", tz="UTC")
    end = start + pd.Timedelta(days=4)

    async def go():
        async with make_client() as client:
            return await b.get_trendbars(client, 1, "M1", start, end)

    raw = asyncio.run(go())
    assert sorted(raw[:, 0].tolist()) == rows[:, 0].tolist()
    assert len(np.unique(raw[:, 0])) == len(raw)  # inclusive server ends are not doubled
    calls = [pt for pt, _ in server.requests].count(2137)
    assert 4 <= calls <= 8  # windows of 5000 bars; pages of 700


def test_incorrect_boundaries_halves_the_window(server, make_client):
    rows = m1_rows(300)
    server.set_bars(1, 1, rows)
    server.max_span_ms = 100 * 60_000
    start = pd.Timestamp(T0 * 60, unit="s", tz="UTC")

    async def go():
        async with make_client() as client:
            return await b.get_trendbars(client, 1, "M1", start, start + pd.Timedelta(minutes=300))

    raw = asyncio.run(go())
    assert raw[:, 0].tolist() == rows[:, 0].tolist()


def test_source_fetch_builds_validated_bid_bars(server, certificate):
    from tests.ctrader.conftest import credentials
    from tradeforge.ctrader import ClientSettings

    server.set_bars(
        1,
        9,
        np.array(
            [
                [T0, 110_003, 110_070, 110_000, 110_050, 420],
                [T0 + 60, 110_050, 110_060, 109_900, 109_950, 380],
            ]
        ),
    )
    settings = ClientSettings(host=server.host, port=server.port, ca_file=str(certificate[0]))
    source = CTraderSource(credentials(), ACCOUNT, settings)
    assert isinstance(source, DataSource)
    frame = source.fetch("EURUSD", "H1", "2024-01-01", "2024-01-01 02:00")
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index.tolist() == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 01:00", tz="UTC"),
    ]
    assert frame["close"].tolist() == [1.1005, 1.0995]
    assert frame["volume"].tolist() == [420.0, 380.0]
    # the same range again, half-open: the second bar only
    assert len(source.fetch("EURUSD", "H1", "2024-01-01 01:00", "2024-01-02")) == 1
    with pytest.raises(ConfigError, match="no symbol 'GBPUSD'"):
        source.fetch("GBPUSD", "H1", "2024-01-01", "2024-01-02")
