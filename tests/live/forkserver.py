"""A warm "zygote" for crash tests: imports tradeforge once, then forks one real process per
dry-run start, so a test can SIGKILL and restart a run dozens of times without paying the
interpreter + numba + pandas start-up each time.

Protocol on stdin/stdout, one line each:
``RUN <state_dir> <spec_json or -> [write_delay]`` → ``PID <pid>``; ``WAIT <pid>`` →
``EXIT <status>``. ``write_delay`` (seconds) overrides ``FORKSERVER_WRITE_DELAY`` for that run.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import tests.live.helpers  # noqa: F401  (registers the test strategies)
from tradeforge.live.runner import run_dry
from tradeforge.trading.spec import RunSpec


def _warm(spec_file: str) -> None:
    """Run the spec once in a throw-away directory so numba and the strategy are loaded."""
    import tempfile

    spec = RunSpec.from_dict(json.loads(Path(spec_file).read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        run_dry(Path(tmp) / "warm", spec)


def main() -> None:
    if len(sys.argv) > 1:
        _warm(sys.argv[1])
    print("READY", flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "RUN":
            state_dir, spec_file, *delay = args
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    spec = None
                    if spec_file != "-":
                        spec = RunSpec.from_dict(json.loads(Path(spec_file).read_text()))
                    os.environ["TRADEFORGE_CRASH_WRITE_DELAY"] = (
                        delay[0] if delay else os.environ.get("FORKSERVER_WRITE_DELAY", "0")
                    )
                    run_dry(state_dir, spec)
                except BaseException:
                    traceback.print_exc()
                    code = 1
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            print(f"PID {pid}", flush=True)
        elif cmd == "WAIT":
            _, status = os.waitpid(int(args[0]), 0)
            print(f"EXIT {status}", flush=True)
        elif cmd == "QUIT":
            break


if __name__ == "__main__":
    main()
