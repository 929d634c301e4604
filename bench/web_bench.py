"""The control plane at scale, on PostgreSQL (and Redis for the queue part).

1. Server time of the pages: 10,000 backtests with their reports and 1,000,000 trades are
   loaded into a fresh PostgreSQL database (one real backtest imported by the real importer,
   its report copied to every row; the trades by COPY), then the backtest list (the first
   page, default order and sorted by Sharpe, and a filter) and a report page are requested
   through Django's full request path (middleware, session login, ORM, templates) in this
   process: the time from request to response is the server time (no network). Goal:
   < 300 ms each.
2. The queue: 20 small backtests submitted at once, run by one worker with one slot (serial)
   and by two workers with one slot each (``tradeforge web worker --concurrency 1``, Redis
   queue), started and ready first (``boot_s``, reported apart: a worker is a long-running
   service); wall time from the submit to the last one done. Goal: about half.

Results go to ``bench/results/web.json``. Needs PostgreSQL on 127.0.0.1:5432 (trust, the
database ``test`` to connect to) and Redis on 127.0.0.1:6379, as the tests do.

    python bench/web_bench.py [--backtests 10000] [--trades 1000000] [--jobs 20]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
sys.path.insert(0, str(ROOT))  # the web test helpers (data home, services)

from tests.web.support import SPEC, TRADEFORGE, make_home, postgres_database  # noqa: E402

REDIS = "redis://127.0.0.1:6379/0"


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "median_ms": round(statistics.median(values) * 1e3, 1),
        "p95_ms": round(values[int(0.95 * (len(values) - 1))] * 1e3, 1),
        "max_ms": round(values[-1] * 1e3, 1),
    }


def load(n_backtests: int, n_trades: int, home: Path) -> int:
    """Fill the database; returns the id of a backtest that has a report and trades."""
    from django.db import connection

    from tradeforge.web import jobs
    from tradeforge.web.importer import import_run
    from tradeforge.web.models import Backtest, Report, Strategy
    from tradeforge.web.runjob import run_job

    jobs.sync_strategies()
    spec = jobs.check_spec(SPEC)
    strategy = Strategy.objects.get(name="sma_cross")
    run = home / "run"
    run_job(spec, run, home)
    fields = {"spec": spec, "strategy": strategy, "symbols": "EURUSD", "timeframe": "H1"}
    first = Backtest.objects.create(status=Backtest.DONE, run_dir=str(run), **fields)
    template = import_run(first, run)
    rows = [Backtest(status=Backtest.DONE, **fields) for _ in range(n_backtests - 1)]
    created = Backtest.objects.bulk_create(rows, batch_size=2000)
    reports = []
    for i, b in enumerate(created):
        r = Report(
            backtest=b,
            **{
                f.name: getattr(template, f.name)
                for f in Report._meta.concrete_fields
                if f.name not in ("id", "backtest")
            },
        )
        r.sharpe = (template.sharpe or 0) + (i % 97) / 100  # distinct sort keys
        reports.append(r)
    Report.objects.bulk_create(reports, batch_size=2000)
    per = max(1, n_trades // n_backtests)
    buf = io.StringIO()
    t0 = "2024-01-02 00:00:00+00"
    for b in created:
        for k in range(per):
            side = "long" if k % 2 else "short"
            pnl = (k % 7 - 3) * 10.0
            buf.write(
                f"{b.pk}\t{k + 1}\tEURUSD\t\t{side}\t{t0}\t1.1\t{t0}\t1.101\t1.0\t{pnl}\t3.0"
                f"\t{pnl / 30}\tsignal\t5\n"
            )
    buf.seek(0)
    columns = (
        "backtest_id, trade_id, symbol, tag, side, entry_time, entry_price, exit_time, "
        "exit_price, size, pnl, commission, r_multiple, exit_reason, bars_held"
    )
    with connection.cursor() as cur:
        raw = cur.cursor  # psycopg 3: COPY FROM STDIN
        with raw.copy(f"COPY tradeforge_web_trade ({columns}) FROM STDIN") as copy:
            while chunk := buf.read(1 << 20):
                copy.write(chunk)
        cur.execute("ANALYZE")
    return created[len(created) // 2].pk


def page_times(detail_pk: int, repeats: int) -> dict:
    from django.test import Client

    from tradeforge.web.users import set_user

    set_user("bench", "bench-pw", "viewer")
    client = Client()
    assert client.login(username="bench", password="bench-pw")
    pages = {
        "healthz_yardstick": "/healthz",  # the request path with one trivial query
        "list": "/",
        "list_sorted_by_sharpe": "/?sort=-sharpe",
        "list_filtered": "/?status=done&symbol=EUR&sort=-trades",
        "report_page": f"/backtests/{detail_pk}/",
        "api_list": "/api/backtests/?sort=-sharpe",
    }
    out = {}
    for name, url in pages.items():
        assert client.get(url).status_code == 200, url  # warm (templates, connection)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200
        out[name] = {"url": url, **_ms(times)}
    return out


def _ready(proc: subprocess.Popen) -> None:
    """Until the worker says it is ready (its fork server warmed up)."""
    for line in proc.stderr:
        if "worker ready" in line:
            return
    raise AssertionError(f"the worker ended before it was ready (exit {proc.wait()})")


def queue_times(env: dict[str, str], n_jobs: int) -> dict:
    """Serial (one worker, one slot) and parallel (two workers, one slot each): the workers
    start first (``boot_s``: until each says it is ready), then the jobs are submitted and
    ``wall_s`` runs from the submit to the last one done."""
    from tradeforge.web import jobs
    from tradeforge.web.models import Backtest

    out = {}
    for label, workers in (("serial_1_worker", 1), ("parallel_2_workers", 2)):
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [str(TRADEFORGE), "web", "worker", "--concurrency", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        try:
            for p in procs:
                _ready(p)
            boot = time.perf_counter() - t0
            t0 = time.perf_counter()
            ids = [jobs.submit(SPEC).pk for _ in range(n_jobs)]
            while Backtest.objects.filter(pk__in=ids).exclude(status__in=Backtest.FINISHED):
                time.sleep(0.2)
            wall = time.perf_counter() - t0
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.communicate(timeout=60)
        failed = Backtest.objects.filter(pk__in=ids).exclude(status=Backtest.DONE).count()
        assert failed == 0, f"{failed} backtests did not finish"
        out[label] = {
            "jobs": n_jobs,
            "workers": workers,
            "boot_s": round(boot, 2),
            "wall_s": round(wall, 2),
            "load_average": os.getloadavg()[0],
        }
    out["speedup"] = round(
        out["serial_1_worker"]["wall_s"] / out["parallel_2_workers"]["wall_s"], 2
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backtests", type=int, default=10_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=20, help="0: skip the queue part")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as db:
        home = make_home(Path(tmp) / "home")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRADEFORGE_WEB_")},
            "TRADEFORGE_HOME": str(home),
            "TRADEFORGE_WEB_DATABASE_URL": db,
            "TRADEFORGE_WEB_QUEUE_URL": REDIS,
            "TRADEFORGE_WEB_QUEUE_NAME": f"tfbench-{uuid.uuid4().hex[:8]}",
            "TRADEFORGE_WEB_SECRET_KEY": "bench",
            "TRADEFORGE_WEB_ALLOWED_HOSTS": "testserver",
        }
        os.environ.update(env)
        from tradeforge.web import setup

        setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        t0 = time.perf_counter()
        pk = load(args.backtests, args.trades, home)
        load_s = time.perf_counter() - t0
        from tradeforge.web.models import Backtest, Trade

        result = {
            "backtests": Backtest.objects.count(),
            "trades": Trade.objects.count(),
            "load_s": round(load_s, 1),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
            "pages": page_times(pk, args.repeats),
        }
        _save(result)
        if args.jobs:
            try:
                result["queue"] = queue_times(env, args.jobs)
            finally:
                _drop_queue(env["TRADEFORGE_WEB_QUEUE_NAME"])
            _save(result)
        from django.db import connections

        connections.close_all()  # the database is dropped next


def _save(result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2), flush=True)


def _drop_queue(name: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)
    client.close()


if __name__ == "__main__":
    main()
