"""The generic `Downloader` against the loopback server, without any Dukascopy knowledge.

Retries, timeouts, resume and concurrency are exercised through `DukascopySource` in
test_dukascopy.py; these tests pin the client's own API: request order, statuses, the
body-validator contract, in-memory (non-cacheable) files and request headers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.download import (
    USER_AGENT,
    Downloader,
    DownloadReport,
    FetchResult,
    FileRequest,
    TransientError,
)

from .dukascopy_server import FakeDatafeed


@pytest.fixture
def feed():
    with FakeDatafeed() as server:
        yield server


def request(feed: FakeDatafeed, root: Path, name: str, **kwargs) -> FileRequest:
    return FileRequest(f"{feed.base_url}/{name}", root / "cache" / name, **kwargs)


def downloader(**kwargs) -> Downloader:
    opts = {"retries": 2, "backoff": 0.001, "timeout": 2.0}
    opts.update(kwargs)
    return Downloader(**opts)


def test_statuses_counts_and_request_order(feed, tmp_path):
    feed.files.update({"a": b"alpha", "b": b"", "d": b"delta"})
    cached = request(feed, tmp_path, "d")
    cached.path.parent.mkdir(parents=True)
    cached.path.write_bytes(b"already here")
    files = [request(feed, tmp_path, n) for n in ("a", "b", "c")] + [cached]
    progress: list[tuple[int, int]] = []
    report = downloader(on_progress=lambda d, t: progress.append((d, t))).fetch_all(files)

    assert [r.status for r in report.results] == ["downloaded", "empty", "missing", "cached"]
    assert [r.request for r in report.results] == files
    assert (report.downloaded, report.empty, report.missing, report.cached) == (1, 1, 1, 1)
    assert report.failed == 0 and report.files == 4 and report.errors == []
    assert report.bytes == len(b"alpha")
    assert report.summary() == (
        "4 files: 1 downloaded, 1 empty, 1 cached, 1 missing, 0 failed, 5 bytes"
    )
    assert files[0].path.read_bytes() == b"alpha" and files[1].path.read_bytes() == b""
    assert not files[2].path.exists()  # a 404 is not cached
    assert cached.path.read_bytes() == b"already here" and feed.requests_for("d") == []
    assert progress == [(i, 4) for i in range(1, 5)]  # cached first, then as finished


def test_validator_transient_error_is_retried_and_the_good_body_kept(feed, tmp_path):
    feed.files["a"] = b"good"
    feed.first["a"] = [b"bad"]
    seen: list[bytes] = []

    def validate(body: Path, url: str) -> None:
        seen.append(body.read_bytes())
        assert url.endswith("/a") and body.name == "a.part"
        if body.read_bytes() == b"bad":
            raise TransientError("bad body")

    file = request(feed, tmp_path, "a", validate=validate)
    report = downloader().fetch_all([file])
    assert report.downloaded == 1 and seen == [b"bad", b"good"]
    assert file.path.read_bytes() == b"good"
    assert report.bytes == len(b"bad") + len(b"good")  # every attempt's bytes count


def test_validator_data_error_fails_at_once_and_removes_the_body(feed, tmp_path):
    feed.files["a"] = b"<html>blocked</html>"

    def validate(body: Path, url: str) -> None:
        raise DataError(f"{url}: blocked")

    file = request(feed, tmp_path, "a", validate=validate)
    report = downloader().fetch_all([file])
    assert report.failed == 1 and report.errors == [f"{file.url}: blocked"]
    assert len(feed.requests_for("a")) == 1
    assert not file.path.exists() and not file.path.with_name("a.part").exists()


def test_transient_failures_exhaust_the_retries(feed, tmp_path):
    feed.always_fail.add("a")
    file = request(feed, tmp_path, "a")
    result = downloader(retries=1).fetch(file)
    assert result == FetchResult(
        file,
        "failed",
        result.nbytes,
        error=f"{file.url}: failed after 2 attempts: HTTP 500 Internal Server Error",
    )
    assert len(feed.requests_for("a")) == 2


def test_non_cacheable_file_is_kept_in_memory_only(feed, tmp_path):
    feed.files["live"] = b"partial period"
    file = request(feed, tmp_path, "live", cacheable=False)
    (result,) = downloader().fetch_all([file]).results
    assert (result.status, result.data) == ("downloaded", b"partial period")
    assert not file.path.exists() and not file.path.with_name("live.part").exists()
    downloader().fetch_all([file])
    assert len(feed.requests_for("live")) == 2  # never served from the cache


def test_headers_are_sent(feed, tmp_path):
    feed.files["a"] = b"x"
    downloader(headers={"Accept": "application/json"}).fetch_all([request(feed, tmp_path, "a")])
    (req,) = feed.requests_for("a")
    assert req.headers["Accept"] == "application/json"
    assert req.headers["User-Agent"] == USER_AGENT
    assert req.headers["Accept-Encoding"] == "identity"


def test_report_of_results_counts_each_status():
    file = FileRequest("http://127.0.0.1/x", Path("x"))
    results = [
        FetchResult(file, "downloaded", 10),
        FetchResult(file, "failed", 3, error="boom"),
        FetchResult(file, "failed", 0, error="bang"),
    ]
    report = DownloadReport.of(results)
    assert (report.downloaded, report.failed, report.bytes) == (1, 2, 13)
    assert report.errors == ["boom", "bang"] and report.results == results
    assert report == DownloadReport(downloaded=1, failed=2, bytes=13, errors=["boom", "bang"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"retries": -1}, "retries"),
        ({"backoff": -0.1}, "backoff"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_settings_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Downloader(**kwargs)
