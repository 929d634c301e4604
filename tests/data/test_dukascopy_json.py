"""DukascopySource's JSON-API modes against a real HTTP server on 127.0.0.1.

Bodies are built by a small encoder mirroring the format documented (and verified upstream) in
`tradeforge.data.sources.dukascopy_json`: first values in the header, then running deltas.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.data.sources import dukascopy_json as dj
from tradeforge.data.sources.dukascopy import DukascopySource, json_candle_file, json_tick_file

from . import test_dukascopy as bi5_tests
from .dukascopy_server import FakeDatafeed

UTC = "UTC"
H0 = pd.Timestamp("2019-01-04 00:00", tz=UTC)
J0 = "ticks/EUR-USD/2019/1/4/0"  # server paths (1-based month, no padding)
J1 = "ticks/EUR-USD/2019/1/4/1"
J2 = "ticks/EUR-USD/2019/1/4/2"


def ms(ts: pd.Timestamp) -> int:
    return int(ts.as_unit("ns").value // 1_000_000)


def tick_body(start: pd.Timestamp, rows, multiplier: float = 1e-5) -> bytes:
    """``rows``: (ms offset, ask points, bid points, ask volume, bid volume in millions)."""
    offsets = [r[0] for r in rows]
    asks = [r[1] for r in rows]
    bids = [r[2] for r in rows]
    body = {
        "timestamp": ms(start),
        "multiplier": multiplier,
        "ask": round(asks[0] * multiplier, 10) if rows else None,
        "bid": round(bids[0] * multiplier, 10) if rows else None,
        "times": np.diff(offsets, prepend=0).tolist(),
        "asks": np.diff(asks, prepend=asks[:1]).tolist(),
        "bids": np.diff(bids, prepend=bids[:1]).tolist(),
        "askVolumes": [r[3] * 1e6 for r in rows],  # the API serves units
        "bidVolumes": [r[4] * 1e6 for r in rows],
    }
    return json.dumps(body).encode()


def candle_body(day: pd.Timestamp, rows, multiplier: float = 1e-5) -> bytes:
    """``rows``: (minute of day, open, high, low, close points, volume)."""
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(6)]
    minutes, o, h, lo, c, v = (list(x) for x in cols)
    first = {k: round(a[0] * multiplier, 10) if rows else None for k, a in
             (("open", o), ("high", h), ("low", lo), ("close", c))}  # fmt: skip
    body = {
        "timestamp": ms(day),
        "multiplier": multiplier,
        **first,
        "shift": 60_000,
        "times": np.diff(minutes, prepend=0).tolist(),
        **{
            k: np.diff(a, prepend=a[:1]).tolist()
            for k, a in (("opens", o), ("highs", h), ("lows", lo), ("closes", c))
        },  # fmt: skip
        "volumes": v,
    }
    return json.dumps(body).encode()


@pytest.fixture
def feed():
    with FakeDatafeed() as server:
        yield server


def make_source(feed, cache_dir, **kwargs) -> DukascopySource:
    opts = {"timeout": 2.0, "backoff": 0.001, "retries": 2, "max_concurrency": 4, "mode": "json"}
    opts.update(kwargs)
    return DukascopySource(json_base_url=feed.json_base_url, cache_dir=cache_dir, **opts)


def serve_eurusd_hours(feed) -> None:
    feed.files[J0] = tick_body(H0, bi5_tests.TICKS_00)
    feed.files[J1] = tick_body(H0 + pd.Timedelta(hours=1), bi5_tests.TICKS_01)


# ------------------------------------------------------------------------ codes and URLs


def test_instrument_codes():
    assert dj.json_code(get_instrument("EURUSD")) == "EUR-USD"
    assert dj.json_code(get_instrument("USDJPY")) == "USD-JPY"
    assert dj.json_code(get_instrument("XAUUSD")) == "XAU-USD"
    assert dj.json_code(get_instrument("NAS100")) == "USATECH.IDX-USD"
    assert dj.json_code(get_instrument("GER40")) == "DEU.IDX-EUR"
    odd = Instrument("AAPL", 2, 0.01, 0.01, 1, 1, 1, "USD", dukascopy_symbol="AAPLUSUSD")
    assert dj.json_code(odd, {"AAPL": "AAPL.US-USD"}) == "AAPL.US-USD"
    with pytest.raises(ConfigError, match="json_codes"):
        dj.json_code(Instrument("X", 2, 0.01, 0.01, 1, 1, 1, "USD", dukascopy_symbol="XEUR"))


def test_paths_match_the_upstream_fixture_names():
    # fixtures ticks-EUR-USD-2026-7-13-12.json (timestamp 1783944000000) and
    # candles-minute-EUR-USD-BID-2026-7-10.json (timestamp 1783641600000)
    f = json_tick_file("EUR-USD", pd.Timestamp("2026-07-13 12:34", tz=UTC))
    assert (f.remote, f.path) == ("ticks/EUR-USD/2026/7/13/12", "ticks/EUR-USD/2026/7/13/12.json")
    assert f.live == "ticks/EUR-USD?from=1783944000000"
    c = json_candle_file("EUR-USD", pd.Timestamp("2026-07-10 05:00", tz=UTC), "bid")
    assert c.remote == "candles/minute/EUR-USD/BID/2026/7/10" and c.side == "BID"
    assert c.live == "candles/minute/EUR-USD/BID?from=1783641600000"
    assert (c.start, c.end) == (
        pd.Timestamp("2026-07-10", tz=UTC),
        pd.Timestamp("2026-07-11", tz=UTC),
    )


# ------------------------------------------------------------------------ decoding


def test_decode_upstream_tick_prefix_by_hand():
    """First six ticks of the upstream EUR-USD 2026-07-13 12h fixture (header, times, asks,
    bids verbatim; its askVolumes reused for both sides)."""
    vols = [1800000.0, 900000.0, 900000.0, 2250000.0, 900000.0, 900000.0]
    body = {"timestamp": 1783944000000, "multiplier": 1.0e-5, "ask": 1.14277, "bid": 1.14273,
            "times": [93, 104, 154, 105, 103, 916], "asks": [0, -2, -2, 4, -1, 1],
            "bids": [0, -2, 1, 1, 2, -2], "askVolumes": vols, "bidVolumes": vols}  # fmt: skip
    t = dj.decode_json_ticks(json.dumps(body).encode(), 1e-5)
    start = 1783944000000 * 1_000_000
    assert (t["time"] - start).tolist() == [x * 1_000_000 for x in (93, 197, 351, 456, 559, 1475)]
    assert t["ask"].tolist() == [1.14277, 1.14275, 1.14273, 1.14277, 1.14276, 1.14277]
    assert t["bid"].tolist() == [1.14273, 1.14271, 1.14272, 1.14273, 1.14275, 1.14273]
    assert t["bid_volume"].tolist() == [1.8, 0.9, 0.9, 2.25, 0.9, 0.9]  # millions


def test_decode_upstream_candle_prefix_by_hand():
    """First three candles of the upstream EUR-USD BID 2026-07-10 minute fixture, verbatim."""
    body = {"timestamp": 1783641600000, "multiplier": 1.0e-5, "open": 1.14331, "high": 1.14334,
            "low": 1.14322, "close": 1.14324, "shift": 60000, "times": [0, 1, 1],
            "opens": [0, -8, 9], "highs": [0, 1, 4], "lows": [0, -4, 5], "closes": [0, 9, -2],
            "volumes": [197.1, 104.85, 103.5]}  # fmt: skip
    bars = dj.decode_json_candles(json.dumps(body).encode(), 1e-5)
    assert bars.index.tolist() == list(pd.date_range("2026-07-10", periods=3, freq="min", tz=UTC))
    assert bars["open"].tolist() == [1.14331, 1.14323, 1.14332]
    assert bars["high"].tolist() == [1.14334, 1.14335, 1.14339]
    assert bars["low"].tolist() == [1.14322, 1.14318, 1.14323]
    assert bars["close"].tolist() == [1.14324, 1.14333, 1.14331]
    assert bars["volume"].tolist() == [197.1, 104.85, 103.5]


def test_decode_empty_and_malformed_bodies():
    empty = b'{"timestamp":1783728000000,"multiplier":1.0E-5,"open":null,"high":null,"low":null,"close":null,"shift":60000,"times":[],"opens":[],"highs":[],"lows":[],"closes":[],"volumes":[]}'  # noqa: E501 (upstream ...-2026-7-11-empty.json, verbatim)
    assert dj.decode_json_candles(empty, 1e-5).empty
    assert len(dj.decode_json_ticks(tick_body(H0, []), 1e-5)["time"]) == 0
    good = json.loads(tick_body(H0, bi5_tests.TICKS_00))
    for change, match in [
        ({"asks": [0, 1]}, "lengths differ"),
        ({"times": [5, -1, 2, 3]}, "negative time delta"),
        ({"bids": [0, 0.5, 0, 0]}, "non-integer"),
        ({"ask": None}, "'ask' must be a number"),
        ({"multiplier": 0.001}, "multiplier 0.001 .* point 1e-05"),
    ]:
        with pytest.raises(DataError, match=match):
            dj.decode_json_ticks(json.dumps({**good, **change}).encode(), 1e-5, "x")
    with pytest.raises(DataError, match="not valid JSON"):
        dj.load_body(b"{nope")
    with pytest.raises(DataError, match="no timestamp"):
        dj.load_body(b"[1, 2]")


# ------------------------------------------------------------------------ fetching


def test_json_mode_matches_hand_computed_bars_and_the_bi5_mode(feed, tmp_path):
    serve_eurusd_hours(feed)
    feed.files[J2] = tick_body(H0 + pd.Timedelta(hours=2), [])  # closed hour: empty arrays
    bars = make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=3))
    expected = bi5_tests.expected_m1()
    pd.testing.assert_frame_equal(bars, expected, check_index_type=False, atol=1e-12)
    assert [r.path for r in feed.requests] and all(
        r.path.startswith("ticks/") for r in feed.requests
    )


def test_json_mode_jpy_pair_uses_point_0_001(feed, tmp_path):
    feed.files["ticks/USD-JPY/2019/1/4/0"] = tick_body(
        H0, [(500, 108123, 108120, 1.0, 2.0), (65_000, 108200, 108190, 1.0, 1.0)], 1e-3
    )
    bars = make_source(feed, tmp_path).fetch("USDJPY", "M1", H0, H0 + pd.Timedelta(hours=1))
    assert bars["open"].tolist() == [108.12, 108.19]
    assert bars["volume"].tolist() == [2.0, 1.0]
    np.testing.assert_allclose(bars["spread"], [0.003, 0.01], atol=1e-12)


def test_json_candles_mode_builds_bid_bars_with_spread(feed, tmp_path):
    day = "candles/minute/EUR-USD/{}/2019/1/4"
    feed.files[day.format("BID")] = candle_body(
        H0, [(0, 114500, 114530, 114490, 114520, 12.5), (3, 114520, 114525, 114505, 114510, 3.0)]
    )
    feed.files[day.format("ASK")] = candle_body(
        H0, [(0, 114503, 114534, 114493, 114524, 11.0), (3, 114526, 114528, 114509, 114512, 2.0)]
    )
    bars = make_source(feed, tmp_path, mode="json-candles").fetch(
        "EURUSD", "M1", H0, H0 + pd.Timedelta(days=1)
    )
    assert bars.index.tolist() == [H0, H0 + pd.Timedelta(minutes=3)]  # sparse: minute 3
    assert bars.iloc[0][["open", "high", "low", "close", "volume"]].tolist() == [
        1.145,
        1.1453,
        1.1449,
        1.1452,
        12.5,
    ]
    np.testing.assert_allclose(bars["spread"], [0.000035, 0.00004], atol=1e-12)


def test_multiplier_mismatch_is_a_clear_error(feed, tmp_path):
    feed.files[J0] = tick_body(H0, bi5_tests.TICKS_00, multiplier=1e-3)
    with pytest.raises(DataError, match="multiplier 0.001 .* point 1e-05"):
        make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))


def test_5xx_empty_and_garbled_bodies_are_retried(feed, tmp_path):
    serve_eurusd_hours(feed)
    feed.fail[J0] = 2
    feed.first[J1] = [b"", b'{"timestamp": 15']  # an empty then a truncated body
    src = make_source(feed, tmp_path, retries=3)
    bars = src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=2))
    assert len(bars) == 4
    assert [r.status for r in feed.requests_for(J0)] == [500, 500, 200]
    assert len(feed.requests_for(J1)) == 3
    assert (tmp_path / (J1 + ".json")).read_bytes() == feed.files[J1]


def test_retries_exhausted_fail_and_nothing_is_cached(feed, tmp_path):
    feed.first[J0] = [b"", b"", b""]
    report = make_source(feed, tmp_path).download("EURUSD", H0, H0 + pd.Timedelta(hours=1))
    assert (report.failed, report.empty) == (1, 0)
    assert "empty body" in report.errors[0]
    assert not (tmp_path / (J0 + ".json")).exists()


def test_html_page_fails_without_retry(feed, tmp_path):
    feed.files[J0] = b"<!DOCTYPE html><title>Attention Required</title>"
    with pytest.raises(DataError, match="HTML"):
        make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))
    assert len(feed.requests_for(J0)) == 1


def test_404_is_no_data(feed, tmp_path):
    serve_eurusd_hours(feed)
    src = make_source(feed, tmp_path)
    report = src.download("EURUSD", H0, H0 + pd.Timedelta(hours=3))  # J2 is a 404
    assert (report.downloaded, report.missing, report.failed) == (2, 1, 0)
    assert len(src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=3))) == 4


def test_second_fetch_is_served_from_the_cache(feed, tmp_path):
    serve_eurusd_hours(feed)
    first = make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=2))
    assert (tmp_path / (J0 + ".json")).read_bytes() == feed.files[J0]
    feed.reset_log()
    second = make_source(feed, tmp_path).fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=2))
    assert feed.requests == []
    pd.testing.assert_frame_equal(first, second)


def test_current_period_uses_from_query_and_is_not_cached(feed, tmp_path):
    live = f"ticks/EUR-USD?from={ms(H0)}"
    feed.files[live] = tick_body(H0, bi5_tests.TICKS_00)
    src = make_source(feed, tmp_path)
    src._now = lambda: H0 + pd.Timedelta(minutes=30)  # hour 00 still in progress
    assert len(src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))) == 3
    assert not list(tmp_path.rglob("*.json"))
    src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1))
    assert [r.path for r in feed.requests] == [live, live]


def test_current_day_candles_use_from_query(feed, tmp_path):
    for side in ("BID", "ASK"):
        feed.files[f"candles/minute/EUR-USD/{side}?from={ms(H0)}"] = candle_body(
            H0, [(0, 114500, 114530, 114490, 114520, 1.0)]
        )
    src = make_source(feed, tmp_path, mode="json-candles")
    src._now = lambda: H0 + pd.Timedelta(hours=5)
    assert len(src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(days=1))) == 1
    assert not list(tmp_path.rglob("*.json"))


def test_concurrency_bound_and_progress(feed, tmp_path):
    hours = pd.date_range(H0, periods=8, freq="h")
    for h in hours:
        feed.files[json_tick_file("EUR-USD", h).remote] = tick_body(h, [(0, 114510, 114500, 1, 1)])
    feed.latency = 0.01
    calls = []
    src = make_source(feed, tmp_path, max_concurrency=2, on_progress=lambda d, t: calls.append(d))
    assert len(src.fetch("EURUSD", "M1", H0, H0 + pd.Timedelta(hours=8))) == 8
    assert 1 <= feed.max_in_flight <= 2 and calls == list(range(1, 9))


def test_fetch_ticks_in_json_mode(feed, tmp_path):
    serve_eurusd_hours(feed)
    ticks = make_source(feed, tmp_path).fetch_ticks("EURUSD", H0, H0 + pd.Timedelta(hours=2))
    assert len(ticks) == 7 and ticks["ask"].iloc[0] == 1.1455 and ticks["bid_volume"].iloc[0] == 0.5


def test_base_url_names_the_json_root_in_json_modes():
    assert DukascopySource(mode="json").json_base_url == "https://jetta.dukascopy.com/v1"
    assert DukascopySource("http://x/v1/", mode="json").json_base_url == "http://x/v1"
    assert DukascopySource("http://x/datafeed").json_base_url == "https://jetta.dukascopy.com/v1"


def test_cli_download_json_mode(feed, tmp_path):
    """`tradeforge data download --mode json` end to end against the loopback server."""
    import subprocess
    import sys

    from tradeforge.data.cache import ParquetStore

    serve_eurusd_hours(feed)
    feed.files[J2] = tick_body(H0 + pd.Timedelta(hours=2), [])
    home = tmp_path / "home"
    cmd = [sys.executable, "-c", "from tradeforge.cli import main; main()", "data", "download",
           "-s", "EURUSD", "--start", "2019-01-04 00:00", "--end", "2019-01-04 03:00",
           "--mode", "json", "--base-url", feed.json_base_url, "--home", str(home)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "3 downloaded" in r.stdout
    bars = ParquetStore(home).load("EURUSD", "M1")
    expected = bi5_tests.expected_m1()
    pd.testing.assert_frame_equal(bars, expected, check_index_type=False, atol=1e-12)
    n_requests = len(feed.requests)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)  # all cached now
    assert r.returncode == 0, r.stderr
    assert len(feed.requests) == n_requests


def test_interrupted_json_body_resumes_with_a_range_request(feed, tmp_path):
    rows = [(i * 100, 114500 + i % 7, 114490 + i % 5, 1.0, 1.0) for i in range(3000)]
    feed.files[J0] = body = tick_body(H0, rows)
    feed.stall_after[J0] = 700  # 700 bytes, then hang past the client timeout
    feed.stall_seconds = 1.5
    bars = make_source(feed, tmp_path, timeout=0.5).fetch(
        "EURUSD", "M1", H0, H0 + pd.Timedelta(hours=1)
    )
    first, second = feed.requests_for(J0)
    assert first.sent == 700 and (second.range, second.status) == ("bytes=700-", 206)
    assert (tmp_path / (J0 + ".json")).read_bytes() == body
    assert len(bars) == 5
