"""A warm "zygote" for the cTrader crash test: imports tradeforge and runs one small dry-run
(numba, features, the strategy), then forks one real process per session start, each running
the ``tradeforge`` command line (`tradeforge.cli.main`) with the arguments it is given — so a
test can SIGKILL and restart a live session dozens of times without paying the interpreter's
start-up each time.

Protocol on stdin/stdout, one line each: ``RUN {"argv": [...], "log": PATH}`` → ``PID <pid>``
(the child's stdout and stderr go to ``log``); ``WAIT <pid>`` → ``EXIT <status>``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

from tests.live.helpers import small_spec
from tradeforge.cli import main as cli_main
from tradeforge.live.brokers import ctrader  # noqa: F401  (loaded before forking)
from tradeforge.live.runner import run_dry


def _warm() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dry(Path(tmp) / "warm", small_spec(Path(tmp), n_bars=120))


def main() -> None:
    _warm()
    print("READY", flush=True)
    for line in sys.stdin:
        cmd, _, rest = line.strip().partition(" ")
        if cmd == "RUN":
            job = json.loads(rest)
            pid = os.fork()
            if pid == 0:
                code = 0
                log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                argv = job["argv"]
                try:
                    cli_main(argv)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
                except BaseException:
                    traceback.print_exc()
                    code = 1
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            print(f"PID {pid}", flush=True)
        elif cmd == "WAIT":
            _, status = os.waitpid(int(rest), 0)
            print(f"EXIT {status}", flush=True)
        elif cmd == "QUIT":
            return


if __name__ == "__main__":
    main()
