"""The queue's one task: run backtest job ``backtest_id`` (`jobs.execute`)."""

from __future__ import annotations

from django.db import close_old_connections

from tradeforge.web.queue import huey


@huey.task()
def run_backtest_job(backtest_id: int) -> None:
    close_old_connections()
    try:
        from tradeforge.web.jobs import execute

        execute(backtest_id)
    finally:
        close_old_connections()
