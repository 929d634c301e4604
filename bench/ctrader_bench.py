"""cTrader client throughput and latency against the fake server (TLS on 127.0.0.1).

Three measurements on one connection:

* latency: sequential round trips (``ProtoOASymbolByIdReq``), limits lifted on both sides —
  median and 99th percentile in milliseconds (the client's own cost plus loopback TLS);
* raw throughput: 2,000 requests with 64 in flight, limits lifted — requests per second;
* paced throughput: 300 requests at the default limit (50 per second) — the rate the client
  sustains without the server refusing any (``BLOCKED_PAYLOAD_TYPE`` count must be 0), and a
  historical burst of 30 trendbar requests at the default 5 per second.

Results go to ``bench/results/ctrader.json``.

    python bench/ctrader_bench.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
sys.path.insert(0, str(ROOT))  # the fake server lives with the tests

from tests.ctrader.fake_server import (  # noqa: E402
    ACCESS_TOKEN,
    ACCOUNT,
    CLIENT_ID,
    CLIENT_SECRET,
    FakeCTrader,
    make_certificate,
)

from tradeforge.ctrader import ClientSettings, Credentials, CTraderClient  # noqa: E402
from tradeforge.ctrader.proto import openapi_pb2 as pb  # noqa: E402


def symbol_req() -> pb.ProtoOASymbolByIdReq:
    return pb.ProtoOASymbolByIdReq(ctidTraderAccountId=ACCOUNT, symbolId=[1])


def trendbar_req() -> pb.ProtoOAGetTrendbarsReq:
    return pb.ProtoOAGetTrendbarsReq(
        ctidTraderAccountId=ACCOUNT, symbolId=1, period=1, fromTimestamp=0, toTimestamp=60_000
    )


async def measure(server: FakeCTrader, cert: Path) -> dict[str, float]:
    creds = Credentials(CLIENT_ID, CLIENT_SECRET, ACCESS_TOKEN)
    base = {"host": server.host, "port": server.port, "ca_file": str(cert)}
    out: dict[str, float] = {}
    server.general_limit = server.historical_limit = 10**9
    unlimited = ClientSettings(**base, rate=10**9, historical_rate=10**9)
    async with CTraderClient(creds, ACCOUNT, unlimited) as client:
        for _ in range(50):  # warm up
            await client.request(symbol_req())
        times = []
        for _ in range(1000):
            t0 = time.perf_counter()
            await client.request(symbol_req())
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        out["latency_median_ms"] = round(statistics.median(times), 3)
        out["latency_p99_ms"] = round(times[int(len(times) * 0.99)], 3)
        n, window = 2000, asyncio.Semaphore(64)

        async def one() -> None:
            async with window:
                await client.request(symbol_req())

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        out["raw_requests_per_s"] = round(n / (time.perf_counter() - t0))
    server.general_limit, server.historical_limit = 50, 5
    blocked_before = server.blocked
    async with CTraderClient(creds, ACCOUNT, ClientSettings(**base)) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(client.request(symbol_req()) for _ in range(300)))
        out["paced_requests_per_s"] = round(300 / (time.perf_counter() - t0), 1)
        t0 = time.perf_counter()
        await asyncio.gather(*(client.request(trendbar_req()) for _ in range(30)))
        out["paced_historical_per_s"] = round(30 / (time.perf_counter() - t0), 2)
    out["blocked_by_server"] = server.blocked - blocked_before
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_certificate(Path(tmp))
        with FakeCTrader(cert, key) as server:
            result = asyncio.run(measure(server, cert))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ctrader.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, value in result.items():
        print(f"{name:>24}: {value}")


if __name__ == "__main__":
    main()
