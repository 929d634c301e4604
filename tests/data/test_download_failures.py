"""Downloads that never cache garbage and fail fast, against the loopback datafeed.

Corrupt or truncated bodies are retried and never stored; an unreachable host (refused
connection, unresolvable name) stops the whole run after at most one attempt per worker; a
time limit stops a run, keeping what is complete and counting the rest as unfinished.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.data.bi5 import compress, encode_candles, encode_ticks
from tradeforge.data.download import Downloader, FileRequest, UnreachableError
from tradeforge.data.sources.dukascopy import DukascopySource, tick_file

from . import test_dukascopy_json as json_tests
from .dukascopy_server import FakeDatafeed
from .test_dukascopy import H0, P0, TICKS_00, make_source

CONSOLE_SCRIPT = Path(sys.executable).with_name("tradeforge")
BIG_BODY = encode_ticks([(i * 100, 114500 + i % 9, 114490 + i % 7, 1.0, 1.0) for i in range(3000)])
ONE_HOUR = (H0, H0 + pd.Timedelta(hours=1))


@pytest.fixture
def feed():
    with FakeDatafeed() as server:
        yield server


@pytest.fixture
def refused_url():
    """A loopback port that is bound but never listens: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/datafeed"


@pytest.fixture
def attempts(monkeypatch) -> list[str]:
    """URLs of every HTTP request the downloader makes (connection attempts included)."""
    calls: list[str] = []
    real = urllib.request.urlopen

    def counting(request, *args, **kwargs):
        calls.append(request.full_url)
        return real(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", counting)
    return calls


@pytest.fixture
def no_dns_for_invalid(monkeypatch):
    """Resolve ``*.invalid`` to nothing, locally: the test never asks a real DNS server."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def cached_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# ------------------------------------------------------------------ bodies are validated


def test_corrupt_lzma_with_200_is_retried_then_the_good_body_cached(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    feed.first[P0] = [b"\x5d\x00\x00\x40\x00garbage that is not lzma"]
    bars = make_source(feed, tmp_path).fetch("EURUSD", "M1", *ONE_HOUR)
    assert len(bars) == 3
    assert [r.status for r in feed.requests_for(P0)] == [200, 200]
    assert (tmp_path / P0).read_bytes() == feed.files[P0]


def test_always_corrupt_body_fails_naming_url_and_reason_and_is_never_stored(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)[:-12]  # a 200 whose LZMA stream is cut short
    report = make_source(feed, tmp_path, retries=2).download("EURUSD", *ONE_HOUR)
    assert (report.failed, report.downloaded) == (1, 0)
    assert len(feed.requests_for(P0)) == 3
    (error,) = report.errors
    assert error.startswith(f"{feed.base_url}/{P0}: failed after 3 attempts")
    assert "corrupt or truncated LZMA" in error
    assert cached_files(tmp_path) == []  # neither the file nor a .part


def test_bi5_body_of_partial_records_is_never_stored(feed, tmp_path):
    day = "EURUSD/2019/00/04/"
    feed.files[day + "BID_candles_min_1.bi5"] = compress(b"\x00" * 25)  # 24-byte records
    feed.files[day + "ASK_candles_min_1.bi5"] = encode_candles([(0, 1, 1, 1, 1, 1.0)])
    src = make_source(feed, tmp_path, mode="candles", retries=1)
    report = src.download("EURUSD", H0, H0 + pd.Timedelta(days=1))
    assert (report.failed, report.downloaded) == (1, 1)
    assert "not a multiple of the 24-byte record size" in report.errors[0]
    assert [p.name for p in cached_files(tmp_path)] == ["ASK_candles_min_1.bi5"]


def test_truncated_body_without_content_length_is_retried(feed, tmp_path):
    feed.files[P0] = BIG_BODY
    feed.cut_after[P0] = [len(BIG_BODY) // 3]  # connection closes early, no Content-Length
    report = make_source(feed, tmp_path).download("EURUSD", *ONE_HOUR)
    assert report.downloaded == 1
    first, second = feed.requests_for(P0)
    assert first.sent == len(BIG_BODY) // 3
    assert (second.range, second.sent) == (None, len(BIG_BODY))  # rejected body not resumed
    assert (tmp_path / P0).read_bytes() == BIG_BODY


def test_always_truncated_body_is_never_stored(feed, tmp_path):
    feed.files[P0] = BIG_BODY
    feed.cut_after[P0] = [1000, 2000, 3000]
    report = make_source(feed, tmp_path, retries=2).download("EURUSD", *ONE_HOUR)
    assert report.failed == 1 and "truncated" in report.errors[0]
    assert cached_files(tmp_path) == []


def test_json_body_of_the_wrong_shape_is_retried_never_stored(feed, tmp_path):
    json_tests.serve_eurusd_hours(feed)
    good = feed.files[json_tests.J0]
    feed.first[json_tests.J0] = [b'{"timestamp": 1, "multiplier": 1e-05, "times": [0]}']
    feed.cut_after[json_tests.J0] = [len(good) // 2]
    src = json_tests.make_source(feed, tmp_path, retries=3)
    report = src.download("EURUSD", *ONE_HOUR)
    assert report.downloaded == 1 and len(feed.requests_for(json_tests.J0)) == 3
    assert (tmp_path / (json_tests.J0 + ".json")).read_bytes() == good


def test_invalid_cached_files_are_downloaded_again(feed, tmp_path):
    feed.files[P0] = encode_ticks(TICKS_00)
    (tmp_path / P0).parent.mkdir(parents=True)
    (tmp_path / P0).write_bytes(b"garbage stored by an older version")
    report = make_source(feed, tmp_path).download("EURUSD", *ONE_HOUR)
    assert (report.downloaded, report.cached) == (1, 0)
    again = make_source(feed, tmp_path).download("EURUSD", *ONE_HOUR)
    assert (again.downloaded, again.cached) == (0, 1)
    assert len(feed.requests_for(P0)) == 1


# ------------------------------------------------------------------ unreachable host


def test_refused_connection_stops_the_run_after_one_attempt_per_worker(
    refused_url, tmp_path, attempts
):
    src = DukascopySource(refused_url, tmp_path, retries=3, backoff=0.2, max_concurrency=4)
    t0 = time.monotonic()
    with pytest.raises(UnreachableError, match="cannot reach 127.0.0.1:[0-9]+: connection refused"):
        src.download("EURUSD", H0, H0 + pd.Timedelta(hours=24))  # 24 files
    assert time.monotonic() - t0 < 5
    assert 1 <= len(attempts) <= 4  # was 24 files x 4 attempts = 96, with backoff sleeps
    assert cached_files(tmp_path) == []


def test_unresolvable_host_is_fatal(no_dns_for_invalid, tmp_path, attempts):
    downloader = Downloader(max_concurrency=2, retries=3, backoff=0.2)
    files = [FileRequest(f"http://nonexistent.invalid/f{i}", tmp_path / f"f{i}") for i in range(10)]
    with pytest.raises(UnreachableError, match="cannot reach nonexistent.invalid: cannot resolve"):
        downloader.fetch_all(files)
    assert 1 <= len(attempts) <= 2


# ------------------------------------------------------------------ overall time limit


def test_time_limit_stops_keeps_complete_files_and_counts_the_rest(feed, tmp_path):
    hours = pd.date_range(H0, periods=8, freq="h")
    for h in hours:
        feed.files[tick_file("EURUSD", h).path] = encode_ticks(TICKS_00)
    feed.latency = 0.4
    src = make_source(feed, tmp_path, max_concurrency=2, timeout=5.0)
    t0 = time.monotonic()
    report = src.download("EURUSD", H0, H0 + pd.Timedelta(hours=8), time_limit=1.0)
    assert time.monotonic() - t0 < 3.0  # in-flight requests are cut at the limit
    assert report.unfinished > 0 and report.failed == 0
    assert report.downloaded + report.unfinished == 8
    assert f"{report.unfinished} unfinished" in report.summary()
    done = [r.request.path for r in report.results if r.status == "downloaded"]
    assert sorted(cached_files(tmp_path)) == sorted(done)
    feed.latency = 0.0
    rest = make_source(feed, tmp_path).download("EURUSD", H0, H0 + pd.Timedelta(hours=8))
    assert (rest.cached, rest.downloaded, rest.unfinished) == (len(done), report.unfinished, 0)


def test_time_limit_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="time_limit"):
        Downloader().fetch_all([], time_limit=0)


# ------------------------------------------------------------------ command line


def tradeforge(*args: str, home: Path) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    cmd = [str(CONSOLE_SCRIPT), "data", "download", "-s", "EURUSD", *args, "--home", str(home)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return r, time.monotonic() - t0


def test_cli_unreachable_datafeed_is_one_clear_line(refused_url, tmp_path):
    r, _ = tradeforge("--start", "2019-01-04", "--end", "2019-01-06", "--base-url", refused_url,
                      home=tmp_path / "home")  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert "connection refused — check the network or --base-url" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_timeout_stops_and_names_what_is_missing(feed, tmp_path):
    for h in pd.date_range(H0, periods=6, freq="h"):
        feed.files[tick_file("EURUSD", h).path] = encode_ticks(TICKS_00)
    feed.latency = 0.5
    r, _ = tradeforge("--start", "2019-01-04 00:00", "--end", "2019-01-04 06:00", "--workers",
                      "1", "--timeout", "1", "--base-url", feed.base_url,
                      home=tmp_path / "home")  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert "unfinished" in r.stdout and "0 failed" in r.stdout
    assert "--timeout 1 s ran out" in r.stderr and "2019-01-04 06:00:00+00:00" in r.stderr
    assert "re-run to resume" in r.stderr and "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "home" / "bars").exists()  # no partial range in the bar cache
