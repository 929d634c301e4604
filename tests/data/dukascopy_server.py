"""A loopback stand-in for Dukascopy's datafeed: a real HTTP server on 127.0.0.1.

Serves bodies registered under URL paths (``/datafeed/EURUSD/2019/00/04/00h_ticks.bi5`` for bi5,
``/v1/ticks/EUR-USD/2026/7/13/12`` for the JSON API, keys relative to the prefix and including
any query string, e.g. ``candles/minute/EUR-USD/BID?from=1783641600000``) with
knobs for the failure modes the client must survive: 5xx for the first N requests or always,
a delay before answering (longer than the client timeout = a slow endpoint), a stall after the
first N body bytes (an interrupted download), a body cut short without ``Content-Length`` (the
connection simply closes), Range support on or off, and a small latency to make concurrency
observable. Every request is logged; in-flight requests are counted.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/datafeed"
JSON_PREFIX = "/v1"


@dataclass
class Request:
    path: str  # relative to the prefix (+ "?query"), e.g. "EURUSD/2019/00/04/00h_ticks.bi5"
    range: str | None
    status: int = 0
    sent: int = 0  # body bytes the server sends (recorded just before writing)
    headers: dict[str, str] = field(default_factory=dict)  # request headers as received


@dataclass
class FakeDatafeed:
    files: dict[str, bytes] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)  # path -> remaining 500s
    first: dict[str, list[bytes]] = field(default_factory=dict)  # path -> bodies served first
    always_fail: set[str] = field(default_factory=set)
    delay: dict[str, list[float]] = field(default_factory=dict)  # path -> per-request delays
    stall_after: dict[str, int] = field(default_factory=dict)  # path -> bytes, once
    stall_seconds: float = 1.0
    cut_after: dict[str, list[int]] = field(default_factory=dict)  # path -> per-request cuts
    support_range: bool = True
    latency: float = 0.0
    requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -------------------------------------------------------------------- lifecycle

    def __enter__(self) -> FakeDatafeed:
        feed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                feed._handle(self)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{PREFIX}"

    @property
    def json_base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{JSON_PREFIX}"

    # -------------------------------------------------------------------- inspection

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # -------------------------------------------------------------------- serving

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path, _, query = handler.path.partition("?")
        rel = path
        for prefix in (PREFIX, JSON_PREFIX):
            if path.startswith(prefix + "/"):
                rel = path[len(prefix) + 1 :]
        rel += f"?{query}" if query else ""
        req = Request(rel, handler.headers.get("Range"), headers=dict(handler.headers.items()))
        with self._lock:
            self.requests.append(req)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            delays = self.delay.get(rel)
            wait = delays.pop(0) if delays else 0.0
            failing = rel in self.always_fail or self.fail.get(rel, 0) > 0
            if self.fail.get(rel, 0) > 0:
                self.fail[rel] -= 1
            stall = self.stall_after.pop(rel, None)
            queued = self.first.get(rel)
            early = queued.pop(0) if queued else None
            cuts = self.cut_after.get(rel) if early is None and not failing else None
            cut = cuts.pop(0) if cuts else None
        time.sleep(self.latency + wait)
        # A request leaves "in flight" before its response is written: the client can only
        # start its next request after reading this response, so the count never overlaps.
        with self._lock:
            self.in_flight -= 1
        try:
            if failing:
                self._reply(handler, req, 500, b"server error")
            elif early is not None:
                self._reply(handler, req, 200, early)
            elif rel not in self.files:
                self._reply(handler, req, 404, b"not found")
            elif cut is not None:
                self._reply_cut(handler, req, self.files[rel], cut)
            else:
                self._serve_file(handler, req, self.files[rel], stall)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): expected in some tests

    def _serve_file(self, handler, req: Request, body: bytes, stall: int | None) -> None:
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", req.range or "")
        if m and self.support_range:
            start = int(m.group(1))
            if start >= len(body):
                self._reply(handler, req, 416, b"", {"Content-Range": f"bytes */{len(body)}"})
                return
            headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
            self._reply(handler, req, 206, body[start:], headers, stall)
        else:
            self._reply(handler, req, 200, body, {}, stall)

    def _reply_cut(self, handler, req, body: bytes, cut: int) -> None:
        """A 200 without Content-Length whose connection closes after ``cut`` body bytes."""
        req.status, req.sent = 200, cut
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body[:cut])
        handler.close_connection = True

    def _reply(self, handler, req, status, body, headers=None, stall=None) -> None:
        req.status = status
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        if stall is not None and stall < len(body):
            req.sent = stall  # recorded before writing: the client may finish first
            handler.wfile.write(body[:stall])
            handler.wfile.flush()
            time.sleep(self.stall_seconds)  # client times out mid-body
            handler.close_connection = True
            return
        req.sent = len(body)
        handler.wfile.write(body)
