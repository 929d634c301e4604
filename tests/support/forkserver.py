"""The client side of the crash tests' fork servers (`tests/live/forkserver.py`,
`tests/ctrader/live_forkserver.py`): a warm Python process that forks a child per request,
so hundreds of SIGKILL rounds do not each pay interpreter start-up and imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


class ForkServer:
    """Runs ``script`` (with ``args``) under this interpreter; it prints ``READY``, then answers
    one line per request line, and ends on ``QUIT``."""

    def __init__(self, script: Path, *args: str, env: dict) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout.readline().strip() == "READY"

    def ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.stdin.write("QUIT\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
