"""Notifier throughput: a burst of 1,000 events through the dispatcher to the fake Telegram
Bot API server (real HTTP on 127.0.0.1, the tests' server, which refuses with 429 whatever
breaks Telegram's limits).

Scenarios: Telegram's limits (about 1 message a second per chat, 30 a second overall) to 1
and to 5 chats, where coalescing decides the throughput; and a server without limits with
pacing off, which measures the dispatcher and python-telegram-bot themselves (one event per
message would be 1,000 requests; coalescing still packs them). For each: time from the first
submit until every event is delivered, events a second, requests sent, 429s received, and
what ``submit`` costs the engine's thread (mean and worst, in microseconds). Results go to
``bench/results/notify.json``.

    python bench/notify_bench.py [--events 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
sys.path.insert(0, str(ROOT))  # the fake server lives with the tests

from tests.notify.fake_telegram import TOKEN, FakeTelegram  # noqa: E402

from tradeforge.notify.dispatch import Dispatcher  # noqa: E402
from tradeforge.notify.message import Level, Message  # noqa: E402
from tradeforge.notify.telegram import TelegramNotifier  # noqa: E402

# a typical event line: a closed trade
TEXT = "closed #{i} long 0.25 EURUSD 1.08412 → 1.08512 (target): P&L +250.00 USD, +1.00R"


def burst(n: int, chats: int, limits: bool) -> dict:
    server = FakeTelegram(chat_gap=0.95 if limits else None, overall_rate=30 if limits else None)
    with server:
        targets = [str(1000 + k) for k in range(chats)]
        pacing = {} if limits else {"chat_interval": 0.0, "overall_rate": 1e9}
        tg = TelegramNotifier(
            TOKEN, {Level.INFO: targets}, base_url=server.base_url, label="bench", **pacing
        )
        d = Dispatcher([tg], queue_size=max(1000, n)).start()
        costs = []
        t0 = time.perf_counter()
        for i in range(n):
            s = time.perf_counter()
            d.submit(Message(Level.INFO, "closed", TEXT.format(i=i)))
            costs.append(time.perf_counter() - s)
        while d.stats.delivered < n * chats:
            time.sleep(0.005)
        elapsed = time.perf_counter() - t0
        stats = d.close()
        refused = server.refused_429
    return {
        "events": n,
        "chats": chats,
        "telegram_limits": limits,
        "seconds": round(elapsed, 3),
        "events_per_second": round(n / elapsed, 1),
        "requests": stats.sends + stats.retries,
        "refused_429": refused,
        "dropped": stats.dropped,
        "submit_us_mean": round(statistics.fmean(costs) * 1e6, 2),
        "submit_us_max": round(max(costs) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    runs = [burst(args.events, 1, True), burst(args.events, 5, True), burst(args.events, 1, False)]
    for r in runs:
        mode = "Telegram limits" if r["telegram_limits"] else "no limits, no pacing"
        print(
            f"{r['events']} events → {r['chats']} chat(s), {mode}: {r['seconds']:.2f} s "
            f"({r['events_per_second']:,.0f} events/s), {r['requests']} requests, "
            f"{r['refused_429']} refused (429), {r['dropped']} dropped; submit "
            f"{r['submit_us_mean']:.1f} µs mean, {r['submit_us_max']:.0f} µs worst"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "notify.json").write_text(json.dumps({"runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
