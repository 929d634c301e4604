"""DukascopySource against a real HTTP server on 127.0.0.1 serving bi5 files in the real format."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError, DataError, UnknownSymbolError
from tradeforge.data.bi5 import encode_candles, encode_ticks
from tradeforge.data.resample import resample_ohlcv
from tradeforge.data.sources.base import DataSource
from tradeforge.data.sources.dukascopy import DukascopySource, candle_file, tick_file
from tradeforge.data.ticks import aggregate_ticks_m1, ticks_to_m1

from .dukascopy_server import FakeDatafeed

UTC = "UTC"
H0 = pd.Timestamp("2019-01-04 00:00", tz=UTC)  # a Friday; January is month "00" in URLs
P0 = "EURUSD/2019/00/04/00h_ticks.bi5"
P1 = "EURUSD/2019/00/04/01h_ticks.bi5"
P2 = "EURUSD/2019/00/04/02h_ticks.bi5"

# hour 00: two ticks in minute 0, one in minute 1, one in minute 5
TICKS_00 = [
    (1_000, 114550, 114545, 1.0, 0.5),  # 00:00:01.000 spread 5 points
    (30_500, 114562, 114559, 2.0, 1.5),  # 00:00:30.500 spread 3
    (61_000, 114540, 114530, 1.0, 0.25),  # 00:01:01.000 spread 10
    (300_000, 114600, 114598, 1.0, 2.0),  # 00:05:00.000 spread 2
]
# hour 01: three ticks in minute 0
TICKS_01 = [
    (0, 114610, 114605, 1.0, 1.0),
    (10_000, 114590, 114588, 1.0, 1.0),
    (59_999, 114620, 114611, 1.0, 3.0),
]


@pytest.fixture
def feed():
    with FakeDatafeed() as server:
        yield server


def make_source(feed, cache_dir, **kwargs) -> DukascopySource:
    opts = {"timeout": 2.0, "backoff": 0.001, "retries": 2, "max_concurrency": 4}
    opts.update(kwargs)
    return DukascopySource(feed.base_url, cache_dir, **opts)


def expected_m1() -> pd.DataFrame:
    """Hand-computed M1 bid bars of TICKS_00 and TICKS_01 (spread = mean ask - bid)."""
    t = pd.DatetimeIndex(
        ["2019-01-04 00:00", "2019-01-04 00:01", "2019-01-04 00:05", "2019-01-04 01:00"],
        tz=UTC,
        name="time",
    )
    return pd.DataFrame(
        {
            "open": [1.14545, 1.1453, 1.14598, 1.14605],
            "high": [1.14559, 1.1453, 1.14598, 1.14611],
            "low": [1.14545, 1.1453, 1.14598, 1.14588],
            "close": [1.14559, 1.1453, 1.14598, 1.14611],
            "volume": [2.0, 0.25, 2.0, 5.0],
            "spread": [0.00004, 0.0001, 0.00002, (0.00005 + 0.00002 + 0.00009) / 3],
        },
        index=t,
    )


# ------------------------------------------------------------------------ tick aggregation


def test_aggregate_ticks_by_hand():
    ns = np.array([0, 10, 59_999_999_999, 60_000_000_000, 185_000_000_000], dtype=np.int64)
    bid = np.array([1.0, 1.2, 0.9, 1.1, 1.3])
    ask = np.array([1.1, 1.3, 1.0, 1.05, 1.4])  # tick 3 is crossed (ask < bid) -> spread 0
    vol = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    bars = aggregate_ticks_m1(ns, bid, ask, vol)
    assert bars["time"].tolist() == [0, 60_000_000_000, 180_000_000_000]
    assert bars["open"].tolist() == [1.0, 1.1, 1.3]
    assert bars["high"].tolist() == [1.2, 1.1, 1.3]
    assert bars["low"].tolist() == [0.9, 1.1, 1.3]
    assert bars["close"].tolist() == [0.9, 1.1, 1.3]
    assert bars["volume"].tolist() == [6.0, 4.0, 5.0]
    np.testing.assert_allclose(bars["spread"], [0.1, 0.0, 0.1])


def test_aggregate_rejects_unsorted_and_handles_empty():
    with pytest.raises(DataError, match="sorted"):
        aggregate_ticks_m1(np.array([5, 1]), np.ones(2), np.ones(2), np.ones(2))
    empty = aggregate_ticks_m1(np.array([], dtype=np.int64), [], [], [])
    assert all(len(v) == 0 for v in empty.values())


def test_ticks_to_m1_frame():
    idx = pd.DatetimeIndex(["2024-01-01 10:00:05", "2024-01-01 10:00:50"], tz=UTC)
    ticks = pd.DataFrame({"bid": [1.0, 1.5], "ask": [1.2, 1.6], "bid_volume": [1.0, 1.0]}, idx)
    bars = ticks_to_m1(ticks)
    assert bars.index.tolist() == [pd.Timestamp("2024-01-01 10:00", tz=UTC)]
    assert bars.iloc[0][["open", "high", "low", "close", "volume"]].tolist() == [1, 1.5, 1, 1.5, 2]
    assert bars.iloc[0]["spread"] == pytest.approx(0.15)
    with pytest.raises(DataError, match="missing columns"):
        ticks_to_m1(ticks.drop(columns="ask"))


# ------------------------------------------------------------------------ URLs


def test_urls_use_zero_based_months():
    assert tick_file("EURUSD", pd.Timestamp("2019-01-04 00:30", tz=UTC)).path == P0
    assert tick_file("USDJPY", pd.Timestamp("2020-12-31 23:00", tz=UTC)).path == (
        "USDJPY/2020/11/31/23h_ticks.bi5"
    )
    f = candle_file("EURUSD", pd.Timestamp("2019-02-03 12:00", tz=UTC), "ask")
    assert f.path == "EURUSD/2019/01/03/ASK_candles_min_1.bi5"
    assert (f.start, f.end) == (
        pd.Timestamp("2019-02-03", tz=UTC),
        pd.Timestamp("2019-02-04", tz=UTC),
    )


# ------------------------------------------------------------------------ fetch


def test_is_a_data_source(tmp_path):
    assert isinstance(DukascopySource(cache_dir=tmp_path), DataSource)


def test_fetch_m1_ticks_matches_hand_computed_bars(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.files[P1] = encode_ticks(TICKS_01)
    bars = make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=2))
    pd.testing.assert_frame_equal(bars, expected_m1(), check_index_type=False, atol=1e-12)
    assert sorted(r.path for r in feed.requests) == [P0, P1]


def test_fetch_jpy_uses_point_0_001(feed, tmp_path):
    path = "USDJPY/2019/00/04/00h_ticks.bi5"
    feed.files[path] = encode_ticks([(0, 108125, 108120, 1, 1), (1, 108140, 108131, 1, 1)])
    bars = make_source(feed, tmp_path).fetch("USDJPY", "M1", H0, H0 + pd.Timedelta(hours=1))
    assert bars.iloc[0][["open", "high", "low", "close"]].tolist() == [
        108.12,
        108.131,
        108.12,
        108.131,
    ]
    assert bars.iloc[0]["spread"] == pytest.approx((0.005 + 0.009) / 2)


def test_fetch_coarser_timeframe_is_resampled_m1(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.files[P1] = encode_ticks(TICKS_01)
    src = make_source(feed, tmp_path)
    m5 = src.fetch("EURUSD", "M5", H0, H0 + pd.Timedelta(hours=2))
    pd.testing.assert_frame_equal(m5, resample_ohlcv(expected_m1(), "M5"), check_index_type=False)
    assert m5.index.tolist() == [H0, H0 + pd.Timedelta(minutes=5), H0 + pd.Timedelta(hours=1)]
    h1 = src.fetch("EURUSD", "H1", H0, H0 + pd.Timedelta(hours=2))
    assert h1["volume"].tolist() == [4.25, 5.0]


def test_fetch_clips_to_start_and_end(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.files[P1] = encode_ticks(TICKS_01)
    src = make_source(feed, tmp_path)
    bars = src.fetch("EURUSD", "M1", H0 + pd.Timedelta(minutes=1), H0 + pd.Timedelta(minutes=61))
    assert bars.index.tolist() == expected_m1().index[1:].tolist()
    ticks = src.fetch_ticks("EURUSD", H0 + pd.Timedelta(seconds=30), H0 + pd.Timedelta(minutes=5))
    assert ticks["bid"].tolist() == [1.14559, 1.1453]


def test_empty_file_is_a_closed_hour(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.files[P1] = b""  # closed hour
    feed.files[P2] = encode_ticks([(0, 114700, 114690, 1, 1)])
    src = make_source(feed, tmp_path)
    bars = src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=3))
    assert len(bars) == 4 and bars.index[-1] == H0 + pd.Timedelta(hours=2)
    assert (tmp_path / P1).stat().st_size == 0  # closed hours are cached too


def test_404_is_no_data_and_logged(feed, tmp_path, caplog):
    feed.files[P0] = encode_ticks(TICKS_00)  # P1 is unknown to the server
    with caplog.at_level(logging.INFO, logger="tradeforge.data.sources.dukascopy"):
        bars = make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=2))
    assert len(bars) == 3
    assert any("404" in m and P1 in m for m in caplog.messages)
    assert len(feed.requests_for(P1)) == 1  # a 404 is not retried
    assert not (tmp_path / P1).exists()


def test_no_data_at_all_gives_an_empty_valid_frame(feed, tmp_path):
    bars = make_source(feed, tmp_path).fetch("EURUSD", "M5", H0, H0 + pd.Timedelta(hours=1))
    assert bars.empty and list(bars.columns) == ["open", "high", "low", "close", "volume", "spread"]


# ------------------------------------------------------------------------ retries


def test_500_twice_then_200_is_retried(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.fail[P0] = 2
    bars = make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))
    assert len(bars) == 3
    assert [r.status for r in feed.requests_for(P0)] == [500, 500, 200]


def test_always_500_fails_clearly_after_the_retries(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.always_fail.add(P0)
    src = make_source(feed, tmp_path, retries=3)
    with pytest.raises(DataError, match=rf"{P0}: failed after 4 attempts: HTTP 500"):
        src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))
    assert len(feed.requests_for(P0)) == 4
    assert not (tmp_path / P0).exists()
    report = src.download("EURUSD", H0, H0 + pd.Timedelta(hours=1))
    assert (report.failed, report.downloaded) == (1, 0)
    assert "HTTP 500" in report.errors[0]


def test_slow_endpoint_times_out_and_is_retried(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.delay[P0] = [1.5]  # first answer arrives after the 0.5 s timeout
    bars = make_source(feed, tmp_path, timeout=0.5).fetch(
        "EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1)
    )
    assert len(bars) == 3
    assert len(feed.requests_for(P0)) == 2


def test_html_block_page_fails_without_retry(feed, tmp_path):
    feed.files[P0] = b"<html><body>Attention Required</body></html>"
    with pytest.raises(DataError, match="HTML"):
        make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))
    assert len(feed.requests_for(P0)) == 1
    assert not (tmp_path / P0).exists() and not (tmp_path / (P0 + ".part")).exists()


# ------------------------------------------------------------------------ cache and resume


def test_second_fetch_is_served_from_the_cache(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.files[P1] = b""
    src = make_source(feed, tmp_path)
    first = src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=2))
    assert (tmp_path / P0).read_bytes() == feed.files[P0]  # cache mirrors the URL path
    feed.reset_log()
    second = make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=2))
    assert feed.requests == []
    pd.testing.assert_frame_equal(first, second)


def test_unfinished_periods_are_not_cached(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    src = make_source(feed, tmp_path)
    src._now = lambda: H0 + pd.Timedelta(minutes=30)  # hour 00 is still in progress
    assert len(src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))) == 3
    assert not (tmp_path / P0).exists()
    src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))
    assert len(feed.requests_for(P0)) == 2


def test_resume_requests_only_the_remaining_bytes(feed, tmp_path):
    body = encode_ticks([(i * 100, 114500 + i, 114490 + i, 1.0, 1.0) for i in range(3000)])
    feed.files[P0] = body
    part = tmp_path / (P0 + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:1000])
    report = make_source(feed, tmp_path).download("EURUSD", H0, H0 + pd.Timedelta(hours=1))
    (req,) = feed.requests_for(P0)
    assert (req.range, req.status, req.sent) == ("bytes=1000-", 206, len(body) - 1000)
    assert report.bytes == len(body) - 1000 and report.downloaded == 1
    assert (tmp_path / P0).read_bytes() == body
    assert not part.exists()


def test_interrupted_download_resumes_where_it_stopped(feed, tmp_path):
    body = encode_ticks([(i * 100, 114500 + i, 114490 + i, 1.0, 1.0) for i in range(3000)])
    feed.files[P0] = body
    feed.stall_after[P0] = 700  # send 700 bytes, then hang past the client timeout
    feed.stall_seconds = 1.5
    bars = make_source(feed, tmp_path, timeout=0.5).fetch(
        "EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1)
    )
    first, second = feed.requests_for(P0)
    assert first.range is None and first.sent == 700
    assert (second.range, second.status, second.sent) == ("bytes=700-", 206, len(body) - 700)
    assert (tmp_path / P0).read_bytes() == body
    assert len(bars) == 5  # 3000 ticks 0.1 s apart span minutes 0..4


def test_server_without_range_support_restarts_the_file(feed, tmp_path):
    body = encode_ticks(TICKS_00)
    feed.files[P0] = body
    feed.support_range = False
    part = tmp_path / (P0 + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes from an older attempt")
    make_source(feed, tmp_path).download("EURUSD", H0, H0 + pd.Timedelta(hours=1))
    (req,) = feed.requests_for(P0)
    assert (req.status, req.sent) == (200, len(body))
    assert (tmp_path / P0).read_bytes() == body


def test_complete_part_file_gets_416_and_restarts(feed, tmp_path):
    body = encode_ticks(TICKS_00)
    feed.files[P0] = body
    part = tmp_path / (P0 + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(body)  # e.g. the process died just before the rename
    make_source(feed, tmp_path).download("EURUSD", H0, H0 + pd.Timedelta(hours=1))
    assert [(r.range, r.status) for r in feed.requests_for(P0)] == [
        (f"bytes={len(body)}-", 416),
        (None, 200),
    ]
    assert (tmp_path / P0).read_bytes() == body and not part.exists()


def test_unwritable_cache_is_a_clear_error(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(DataError, match="cannot write to the cache"):
        make_source(feed, not_a_dir).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))


def test_corrupt_cached_file_is_downloaded_again(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    (tmp_path / P0).parent.mkdir(parents=True)
    (tmp_path / P0).write_bytes(encode_ticks(TICKS_00)[:-10])  # cached by an older version
    bars = make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))
    assert len(bars) == 3 and len(feed.requests_for(P0)) == 1
    assert (tmp_path / P0).read_bytes() == feed.files[P0]


def test_download_report_counts_each_file_once(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.files[P1] = b""
    src = make_source(feed, tmp_path)
    end = H0 + pd.Timedelta(hours=3)  # P2 is a 404
    report = src.download("EURUSD", H0, end)
    assert (report.downloaded, report.empty, report.cached, report.missing, report.failed) == (
        1,
        1,
        0,
        1,
        0,
    )
    assert report.bytes == len(feed.files[P0]) and report.files == 3
    again = src.download("EURUSD", H0, end)
    assert (again.cached, again.missing, again.bytes) == (2, 1, 0)
    assert "2 cached" in again.summary()


def test_without_cache_dir_nothing_is_kept(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    src = make_source(feed, None)
    assert len(src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))) == 3
    with pytest.raises(ConfigError, match="cache_dir"):
        src.download("EURUSD", H0, H0 + pd.Timedelta(hours=1))


# ------------------------------------------------------------------------ concurrency, progress


def test_concurrency_bound_is_respected(feed, tmp_path):
    hours = pd.date_range(H0, periods=12, freq="h")
    for h in hours:
        feed.files[tick_file("EURUSD", h).path] = encode_ticks([(0, 114510, 114500, 1, 1)])
    feed.latency = 0.01
    src = make_source(feed, tmp_path / "a", max_concurrency=3)
    assert len(src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=12))) == 12
    assert 1 <= feed.max_in_flight <= 3 and len(feed.requests) == 12
    feed.reset_log()
    make_source(feed, tmp_path / "b", max_concurrency=1).download("EURUSD", H0, hours[-1])
    assert feed.max_in_flight == 1


def test_progress_reports_every_file(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    (tmp_path / P1).parent.mkdir(parents=True)
    (tmp_path / P1).write_bytes(b"")  # already cached
    calls = []
    src = make_source(feed, tmp_path, on_progress=lambda done, total: calls.append((done, total)))
    src.download("EURUSD", H0, H0 + pd.Timedelta(hours=3))
    assert calls == [(1, 3), (2, 3), (3, 3)]


# ------------------------------------------------------------------------ candle mode


def test_candle_mode_builds_bid_bars_with_spread_and_drops_flats(feed, tmp_path):
    day = "EURUSD/2019/00/04/"
    # seconds, open, close, low, high, volume (Dukascopy order); minute 2 is a flat filler
    feed.files[day + "BID_candles_min_1.bi5"] = encode_candles(
        [
            (0, 114500, 114520, 114490, 114530, 12.5),
            (60, 114520, 114510, 114505, 114525, 3.0),
            (120, 114510, 114510, 114510, 114510, 0.0),
        ]
    )
    feed.files[day + "ASK_candles_min_1.bi5"] = encode_candles(
        [
            (0, 114503, 114524, 114493, 114534, 11.0),
            (60, 114526, 114512, 114509, 114528, 2.0),
            (120, 114512, 114512, 114512, 114512, 0.0),
        ]
    )
    src = make_source(feed, tmp_path, mode="candles")
    assert [f.path for f in src.files("EURUSD", H0, H0 + pd.Timedelta(hours=5))] == [
        day + "BID_candles_min_1.bi5",
        day + "ASK_candles_min_1.bi5",
    ]
    bars = src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(days=1))
    assert bars.index.tolist() == [H0, H0 + pd.Timedelta(minutes=1)]
    assert bars.iloc[0][["open", "high", "low", "close", "volume"]].tolist() == [
        1.145,
        1.1453,
        1.1449,
        1.1452,
        12.5,
    ]
    # spread = mean of open and close spreads: (3 + 4) / 2 and (6 + 2) / 2 points
    np.testing.assert_allclose(bars["spread"], [0.000035, 0.00004], atol=1e-12)


def test_candle_mode_without_ask_file_has_no_spread(feed, tmp_path):
    feed.files["EURUSD/2019/00/04/BID_candles_min_1.bi5"] = encode_candles(
        [(0, 114500, 114520, 114490, 114530, 1.0)]
    )
    bars = make_source(feed, tmp_path, mode="candles").fetch(
        "EURUSD", "M1", H0, H0 + pd.Timedelta(days=1)
    )
    assert len(bars) == 1 and "spread" not in bars.columns


# ------------------------------------------------------------------------ bad input


def test_bad_arguments(feed, tmp_path):
    src = make_source(feed, tmp_path)
    with pytest.raises(UnknownSymbolError):
        src.fetch("NOPE", "M1", H0, H0 + pd.Timedelta(hours=1))
    with pytest.raises(ConfigError, match="before"):
        src.fetch("EURUSD", "M1", H0, H0)
    with pytest.raises(ConfigError, match="mode"):
        DukascopySource(mode="weekly")
    with pytest.raises(ConfigError, match="max_concurrency"):
        DukascopySource(max_concurrency=0)
    assert feed.requests == []


def test_cli_download_caches_bars_and_reports(feed, tmp_path):
    """`tradeforge data download` end to end against the loopback datafeed."""
    import subprocess
    import sys

    from tradeforge.data.cache import ParquetStore

    feed.files[P0] = encode_ticks(TICKS_00)
    feed.files[P1] = encode_ticks(TICKS_01)
    feed.files[P2] = b""
    home = tmp_path / "home"
    cmd = [sys.executable, "-c", "from tradeforge.cli import main; main()", "data", "download",
           "-s", "EURUSD", "--start", "2019-01-04 00:00", "--end", "2019-01-04 03:00",
           "--base-url", feed.base_url, "--home", str(home)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "2 downloaded, 1 empty" in r.stdout
    bars = ParquetStore(home).load("EURUSD", "M1")
    pd.testing.assert_frame_equal(bars, expected_m1(), check_index_type=False, atol=1e-12)
    n_requests = len(feed.requests)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)  # all cached now
    assert r.returncode == 0, r.stderr
    assert len(feed.requests) == n_requests
