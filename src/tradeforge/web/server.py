"""``tradeforge web``: migrate, then serve the WSGI app with waitress (a production-grade,
pure-Python threaded server) and, in the embedded default, a local worker process beside it.
SIGTERM or Ctrl-C stops both (the worker's running jobs are requeued by the next worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from tradeforge.core.errors import ConfigError


class _Stop(KeyboardInterrupt):
    """Raised from the signal handler to leave waitress's loop (a KeyboardInterrupt, which
    waitress's dispatcher re-raises where it would swallow an ordinary exception)."""


def prepare() -> None:
    """Bring the database schema up to date and register the strategies."""
    from django.core.management import call_command

    from tradeforge.web.jobs import sync_strategies

    call_command("migrate", interactive=False, verbosity=0)
    sync_strategies()


def start_worker(concurrency: int) -> subprocess.Popen:
    """The local worker: ``python -m tradeforge web worker`` with this process's settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "tradeforge", "web", "worker", "--concurrency", str(concurrency)],
        env=os.environ.copy(),
    )


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop(signum)


def serve(
    host: str, port: int, *, worker: bool, concurrency: int, threads: int = 8, echo: Any
) -> None:
    """Serve until SIGTERM/SIGINT; ``worker`` starts the local worker too."""
    from waitress.server import create_server

    from tradeforge.web.wsgi import application

    prepare()
    try:
        server = create_server(application, host=host, port=port, threads=threads)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    proc = None
    try:
        proc = start_worker(concurrency) if worker else None
        echo(f"serving on http://{host}:{server.effective_port}/")
        server.run()
    except _Stop:
        pass
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        server.close()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    echo("stopped")
