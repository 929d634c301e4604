"""bi5 decoding checked against records packed by hand with `struct` (not our encoder)."""

from __future__ import annotations

import lzma
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.errors import DataError
from tradeforge.data.bi5 import (
    CANDLE_DTYPE,
    TICK_DTYPE,
    compress,
    decode_candles,
    decode_tick_arrays,
    decode_ticks,
    decompress,
    encode_candles,
    encode_ticks,
    price_scale,
)

HOUR = pd.Timestamp("2019-02-04 00:00", tz="UTC")
DAY = pd.Timestamp("2019-01-04", tz="UTC")


def hand_ticks(rows) -> bytes:
    raw = b"".join(struct.pack(">3I2f", *r) for r in rows)
    return lzma.compress(raw, format=lzma.FORMAT_ALONE)


def hand_candles(rows) -> bytes:
    raw = b"".join(struct.pack(">5if", *r) for r in rows)
    return lzma.compress(raw, format=lzma.FORMAT_ALONE)


def test_record_sizes_match_the_protocol():
    assert TICK_DTYPE.itemsize == 20
    assert CANDLE_DTYPE.itemsize == 24


def test_decode_eurusd_ticks_ask_before_bid():
    # the first EURUSD tick of 2019-02-04 per the protocol notes: ask 1.14545, bid 1.14543
    data = hand_ticks([(994, 114545, 114543, 1.5, 0.75), (60_250, 114550, 114547, 2.25, 1.0)])
    ticks = decode_ticks(data, HOUR, point=0.00001, name="t.bi5")
    assert list(ticks.columns) == ["ask", "bid", "ask_volume", "bid_volume"]
    assert list(ticks.index) == [
        pd.Timestamp("2019-02-04 00:00:00.994", tz="UTC"),
        pd.Timestamp("2019-02-04 00:01:00.250", tz="UTC"),
    ]
    # exact equality: dividing by 100000 yields the correctly rounded price
    assert ticks["ask"].tolist() == [1.14545, 1.1455]
    assert ticks["bid"].tolist() == [1.14543, 1.14547]
    assert ticks["ask_volume"].tolist() == [1.5, 2.25]
    assert ticks["bid_volume"].tolist() == [0.75, 1.0]
    assert str(ticks.index.tz) == "UTC"


def test_decode_jpy_ticks_use_the_instrument_point():
    data = hand_ticks([(0, 110125, 110123, 1.0, 1.0), (3_599_999, 109001, 108999, 0.5, 0.5)])
    ticks = decode_ticks(data, HOUR, point=0.001)
    assert ticks["ask"].tolist() == [110.125, 109.001]
    assert ticks["bid"].tolist() == [110.123, 108.999]
    assert ticks.index[-1] == HOUR + pd.Timedelta(milliseconds=3_599_999)


def test_decode_candles_field_order_is_open_close_low_high():
    data = hand_candles(
        [(0, 114500, 114520, 114490, 114530, 12.5), (60, 114520, 114510, 114505, 114525, 3.0)]
    )
    bars = decode_candles(data, DAY, point=0.00001)
    assert list(bars.index) == [DAY, DAY + pd.Timedelta(minutes=1)]
    row = bars.iloc[0]
    assert (row["open"], row["high"], row["low"], row["close"]) == (1.145, 1.1453, 1.1449, 1.1452)
    assert bars["volume"].tolist() == [12.5, 3.0]
    assert bars.iloc[1]["close"] == 1.1451


def test_empty_file_is_a_closed_period():
    assert decompress(b"") == b""
    assert decode_ticks(b"", HOUR, 0.00001).empty
    assert decode_candles(b"", DAY, 0.00001).empty
    assert compress(b"") == b""


def test_unsorted_ticks_are_sorted_stably():
    data = hand_ticks([(500, 3, 2, 1, 1), (100, 5, 4, 1, 1), (500, 7, 6, 1, 1)])
    arrays = decode_tick_arrays(data, HOUR, 1.0)
    assert arrays["bid"].tolist() == [4.0, 2.0, 6.0]


def test_truncated_lzma_names_the_file():
    data = hand_ticks([(i, 100 + i, 99 + i, 1, 1) for i in range(200)])
    with pytest.raises(DataError, match=r"EURUSD/2019/00/04/00h_ticks\.bi5.*corrupt or truncated"):
        decode_ticks(data[: len(data) // 2], HOUR, 0.00001, name="EURUSD/2019/00/04/00h_ticks.bi5")


def test_garbage_is_not_lzma():
    with pytest.raises(DataError, match="x.bi5"):
        decompress(b"\x01\x02\x03 not lzma at all", name="x.bi5")


def test_html_block_page_is_rejected():
    with pytest.raises(DataError, match="HTML"):
        decompress(b"<!DOCTYPE html><title>Attention Required</title>", name="x.bi5")


def test_size_not_a_multiple_of_the_record_size():
    data = lzma.compress(b"\x00" * 21, format=lzma.FORMAT_ALONE)
    with pytest.raises(DataError, match=r"f\.bi5: 21 decompressed bytes.*20-byte"):
        decode_ticks(data, HOUR, 0.00001, name="f.bi5")
    with pytest.raises(DataError, match="24-byte"):
        decode_candles(data, DAY, 0.00001, name="f.bi5")


def test_tick_offset_beyond_the_hour_is_rejected():
    with pytest.raises(DataError, match="beyond the hour"):
        decode_ticks(hand_ticks([(3_600_000, 2, 1, 1, 1)]), HOUR, 1.0, name="f")


def test_naive_period_start_is_rejected():
    with pytest.raises(DataError, match="tz-aware"):
        decode_ticks(hand_ticks([(0, 2, 1, 1, 1)]), pd.Timestamp("2019-01-01"), 1.0)


def test_encoder_writes_the_same_bytes_as_struct_and_a_dukascopy_header():
    rows = [(994, 114545, 114543, 1.5, 0.75), (2000, 114546, 114544, 0.25, 3.0)]
    body = encode_ticks(rows)
    assert body[0] == 0x5D  # LZMA "alone" properties byte
    assert int.from_bytes(body[1:5], "little") == 1 << 22  # 4 MiB dictionary
    assert lzma.decompress(body) == b"".join(struct.pack(">3I2f", *r) for r in rows)
    candles = [(0, 1, 2, 3, 4, 5.0)]
    assert lzma.decompress(encode_candles(candles)) == struct.pack(">5if", *candles[0])


def test_encoder_rejects_rows_of_the_wrong_width():
    with pytest.raises(DataError, match="3 fields, expected 5"):
        encode_ticks([(1, 2, 3)])


def test_price_scale_divides_by_an_exact_factor():
    assert price_scale(0.00001) == (True, 100000.0)
    assert price_scale(0.001) == (True, 1000.0)
    assert price_scale(0.1) == (True, 10.0)
    assert price_scale(2.5) == (False, 2.5)
    with pytest.raises(DataError):
        price_scale(0.0)


tick_rows = st.lists(
    st.tuples(
        st.integers(0, 3_599_999),
        st.integers(1, 2**31),
        st.integers(1, 2**31),
        st.floats(0, 1e4, width=32),
        st.floats(0, 1e4, width=32),
    ),
    max_size=50,
)


@settings(max_examples=40, deadline=None)
@given(tick_rows)
def test_tick_round_trip(rows):
    rows = sorted(rows, key=lambda r: r[0])
    arrays = decode_tick_arrays(encode_ticks(rows), HOUR, 0.001)
    expected = np.array(rows, dtype=TICK_DTYPE) if rows else np.zeros(0, TICK_DTYPE)
    base = HOUR.as_unit("ns").value
    np.testing.assert_array_equal(arrays["time"], base + expected["ms"].astype(np.int64) * 10**6)
    np.testing.assert_array_equal(arrays["ask"], expected["ask"].astype(np.float64) / 1000)
    np.testing.assert_array_equal(arrays["bid"], expected["bid"].astype(np.float64) / 1000)
    np.testing.assert_array_equal(arrays["bid_volume"], expected["bid_volume"].astype(np.float64))
