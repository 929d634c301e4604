"""Dukascopy ``auto`` mode (the default): the JSON API first, bi5 as the fallback, against a
loopback server that answers only JSON, only bi5, or neither; the mode used is recorded."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from tradeforge.core.errors import DataError
from tradeforge.data.bi5 import encode_ticks
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.dukascopy import DukascopySource

from . import test_dukascopy as bi5
from .dukascopy_server import FakeDatafeed
from .test_dukascopy_json import J0, J1, J2, tick_body

H0 = bi5.H0
END = H0 + pd.Timedelta(hours=3)
JSON_PATHS, BI5_PATHS = (J0, J1, J2), (bi5.P0, bi5.P1, bi5.P2)


@pytest.fixture
def feed():
    with FakeDatafeed() as server:
        yield server


def serve_json(feed: FakeDatafeed) -> None:
    feed.files[J0] = tick_body(H0, bi5.TICKS_00)
    feed.files[J1] = tick_body(H0 + pd.Timedelta(hours=1), bi5.TICKS_01)
    feed.files[J2] = tick_body(H0 + pd.Timedelta(hours=2), [])


def serve_bi5(feed: FakeDatafeed) -> None:
    feed.files[bi5.P0] = encode_ticks(bi5.TICKS_00)
    feed.files[bi5.P1] = encode_ticks(bi5.TICKS_01)
    feed.files[bi5.P2] = b""


def source(feed: FakeDatafeed, cache_dir) -> DukascopySource:
    return DukascopySource(
        feed.base_url, cache_dir, json_base_url=feed.json_base_url, timeout=2.0,
        backoff=0.001, retries=1,
    )  # fmt: skip


def kinds(feed: FakeDatafeed) -> set[str]:
    return {"json" if r.path.startswith("ticks/") else "bi5" for r in feed.requests}


def test_auto_is_the_default_and_a_lone_bi5_root_means_bi5() -> None:
    assert DukascopySource().mode == "auto"
    assert DukascopySource().auto_modes == ("json", "ticks")
    assert DukascopySource("http://mirror/datafeed").auto_modes == ("ticks",)


def test_json_only_server(feed, tmp_path) -> None:
    serve_json(feed)
    src = source(feed, tmp_path)
    bars = src.fetch("EURUSD", "M1", H0, END)
    pd.testing.assert_frame_equal(bars, bi5.expected_m1(), check_index_type=False, atol=1e-12)
    assert src.used_mode == "json" and kinds(feed) == {"json"}


def test_bi5_only_server_falls_back(feed, tmp_path) -> None:
    serve_bi5(feed)
    feed.always_fail.update(JSON_PATHS)  # the JSON API answers 500 to everything
    src = source(feed, tmp_path)
    bars = src.fetch("EURUSD", "M1", H0, END)
    pd.testing.assert_frame_equal(bars, bi5.expected_m1(), check_index_type=False, atol=1e-12)
    assert src.used_mode == "ticks" and kinds(feed) == {"json", "bi5"}


def test_a_json_root_that_knows_nothing_falls_back(feed, tmp_path) -> None:
    serve_bi5(feed)  # JSON paths are 404: the API answers every period, so this is no API
    src = source(feed, tmp_path)
    assert len(src.fetch("EURUSD", "M1", H0, END)) == 4 and src.used_mode == "ticks"


def test_neither_answers(feed, tmp_path) -> None:
    feed.always_fail.update(JSON_PATHS + BI5_PATHS)
    src = source(feed, tmp_path)
    with pytest.raises(DataError, match=r"no Dukascopy mode delivered — json: .* \| ticks: "):
        src.fetch("EURUSD", "M1", H0, END)
    report = src.download("EURUSD", H0, END)  # download reports instead of raising
    assert report.failed == 3 and src.used_mode == "ticks"


def test_download_records_the_mode_used_through_the_console_script(feed, tmp_path) -> None:
    serve_bi5(feed)
    feed.always_fail.update(JSON_PATHS)
    home = tmp_path / "home"
    cmd = [sys.executable, "-c", "from tradeforge.cli import main; main()", "data", "download",
           "-s", "EURUSD", "--start", "2019-01-04 00:00", "--end", "2019-01-04 03:00",
           "--base-url", feed.base_url, "--json-base-url", feed.json_base_url,
           "--home", str(home)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "(mode ticks)" in done.stdout
    store = ParquetStore(home)
    assert set(store.summary()["source"]) == {"dukascopy:ticks"}
    bars = store.load("EURUSD", "M1")
    pd.testing.assert_frame_equal(bars, bi5.expected_m1(), check_index_type=False, atol=1e-12)
