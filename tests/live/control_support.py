"""Shared by the control tests: a paced ``tradeforge dry-run`` subprocess (the real console
script), ``tradeforge ctl`` runs, and read-only looks at the session's state."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import make_bars
from tradeforge.live.decisions import DECISIONS_FILE
from tradeforge.live.model import EngineState
from tradeforge.live.schema import check_engine_state, load_engine_state
from tradeforge.live.state import StateRepository

TRADEFORGE = str(Path(sys.executable).with_name("tradeforge"))
# a position opened by the first cross stays open for the whole test (far stop and target,
# no exit on the opposite signal; one position per symbol)
PARAMS = ["fast=3", "slow=12", "stop_pips=300", "target_pips=300", "exit_on_opposite=false"]


def dry_run_args(tmp: Path, state: Path, pace: float, n_bars: int, end: str = "2025-01-01"):
    bars = tmp / f"bars_{n_bars}.parquet"
    if not bars.exists():
        make_bars(n_bars, seed=5).to_parquet(bars)
    params = [x for p in PARAMS for x in ("-p", p)]
    return [
        TRADEFORGE, "dry-run", "--state", str(state), "--strategy", "sma_cross", *params,
        "--symbol", "EURUSD", "--timeframe", "M5", "--replay", f"2024-01-01T03:00..{end}",
        "--bars", str(bars), "--window", "36", "--commission", "3", "--pace", str(pace),
    ]  # fmt: skip


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ctl(state: Path, *args: str, token_file: Path | None = None) -> subprocess.Popen:
    """Start ``tradeforge ctl --state STATE [--token-file F] ARGS`` (collect with `done`)."""
    extra = ["--token-file", str(token_file)] if token_file else []
    return start([TRADEFORGE, "ctl", "--state", str(state), *extra, *args])


def done(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def run_ctl(state: Path, *args: str, **kw: Any) -> tuple[int, str, str]:
    return done(ctl(state, *args, **kw))


def wait_for(what: Callable[[], Any], timeout: float = 120, every: float = 0.05) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = what()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def state_of(state_dir: Path) -> EngineState | None:
    """The session's committed state, read without touching the directory (None before one)."""
    repo = StateRepository(state_dir, validate=check_engine_state)
    if not repo.exists():
        return None
    body, _ = repo.load(heal=False)
    return load_engine_state(body)


def decisions(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / DECISIONS_FILE
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]
