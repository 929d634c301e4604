"""The backtest kernel compiled in a child process on a cold Numba cache (`precompile`).

Through the console script on an empty cache: the run loads the kernel the child compiled
(Numba's cache log shows it loaded, never saved, by the command), its files are the bytes a
warm run writes, and no child is left once the command has ended — also after Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tradeforge.backtest import precompile
from tradeforge.core.compilechild import PARENT_GONE, CompileChild
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.synthetic import generate_bars

SCRIPT = Path(sys.executable).with_name("tradeforge")
linux = pytest.mark.skipif(sys.platform != "linux", reason="/proc and forked children")
console = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
FILES = ("trades.csv", "legs.csv", "equity.csv")


def _processes_with(cache: Path) -> list[int]:
    """Running processes (not zombies) whose environment names ``cache``."""
    found = []
    needle = f"NUMBA_CACHE_DIR={cache}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def _home(tmp_path: Path, symbols: tuple[str, ...]) -> Path:
    home = tmp_path / "home"
    for i, s in enumerate(symbols):
        bars = generate_bars(s, "H1", "2023-01-01", "2023-07-01", seed=i)
        ParquetStore(home).write(s, "H1", bars, source="test")
    return home


def _needs_compile(cache: Path, kind: str) -> bool:
    code = f"from tradeforge.backtest import precompile; print(precompile.needs_compile({kind!r}))"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


def _backtest(home: Path, out: Path, cache: Path, symbols: tuple[str, ...], **popen):
    args = [str(SCRIPT), "backtest", "--home", str(home), "--strategy", "sma_cross",
            "-p", "fast=5", "-p", "slow=20", "-t", "H1", "--out", str(out),
            *(a for s in symbols for a in ("-s", s))]  # fmt: skip
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "NUMBA_DEBUG_CACHE": "1"}
    if popen:
        return subprocess.Popen(args, env=env, text=True, **popen)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)


@linux
@console
@pytest.mark.slow  # cold compiles through the console script
@pytest.mark.parametrize(
    ("symbols", "kernel"),
    [(("EURUSD",), "kernel.simulate-"), (("EURUSD", "GBPUSD"), "portfolio_kernel.simulate_")],
)
def test_a_cold_run_loads_the_kernel_its_child_compiled(tmp_path, symbols, kernel):
    home, cache = _home(tmp_path, symbols), tmp_path / "numba"
    kind = "symbol" if len(symbols) == 1 else "portfolio"
    assert _needs_compile(cache, kind)
    cold = _backtest(home, tmp_path / "cold", cache, symbols)
    assert cold.returncode == 0, cold.stderr[-3000:]
    log = cold.stdout.splitlines()
    assert not [x for x in log if "data saved" in x and kernel in x]  # not compiled here
    assert [x for x in log if "data loaded" in x and kernel in x]  # but loaded
    assert _processes_with(cache) == []
    assert not _needs_compile(cache, kind)
    warm = _backtest(home, tmp_path / "warm", cache, symbols)
    assert warm.returncode == 0, warm.stderr[-3000:]
    assert not [x for x in warm.stdout.splitlines() if "data saved" in x]  # all cached
    for name in FILES:
        assert (tmp_path / "cold" / name).read_bytes() == (tmp_path / "warm" / name).read_bytes()
    assert len((tmp_path / "cold" / "trades.csv").read_text().splitlines()) > 10


@linux
@console
@pytest.mark.slow
def test_ctrl_c_during_a_cold_compile_leaves_no_child(tmp_path):
    home, cache = _home(tmp_path, ("EURUSD",)), tmp_path / "numba"
    proc = _backtest(
        home, tmp_path / "run", cache, ("EURUSD",),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(_processes_with(cache)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # until the command has its child
    assert len(_processes_with(cache)) == 2
    proc.send_signal(signal.SIGINT)  # to the command alone, as `kill -INT` would
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 10
    while _processes_with(cache) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(cache) == []


@linux
def test_ready_stops_a_child_that_does_not_finish(monkeypatch):
    child = CompileChild.fork(lambda: time.sleep(60))
    monkeypatch.setattr(precompile, "WAIT_SECONDS", 0.3)
    monkeypatch.setitem(precompile._children, "symbol", child)
    t0 = time.monotonic()
    precompile.ready("symbol")
    assert 0.3 <= time.monotonic() - t0 < 10
    assert "symbol" not in precompile._children
    # closing its pipe ends it (its watcher exits at once), else it is killed: either may win
    assert child.returncode in (PARENT_GONE, -signal.SIGKILL)


@linux
def test_ready_returns_once_a_failed_child_has_ended(monkeypatch):
    def fail() -> None:
        raise RuntimeError("no kernel")

    child = CompileChild.fork(fail)
    monkeypatch.setitem(precompile._children, "symbol", child)
    precompile.ready("symbol")  # the kernel then compiles in this process, as without it
    assert child.returncode == 1 and "symbol" not in precompile._children
    precompile.ready("symbol")  # nothing left to wait for


def test_nothing_starts_once_the_kernel_is_compiled_here(monkeypatch):
    compiled = SimpleNamespace(signatures=["(float64[::1], ...)"])
    monkeypatch.setattr(precompile, "_dispatcher", lambda kind: compiled)
    assert not precompile.needs_compile("symbol")
    precompile.start("symbol")
    assert "symbol" not in precompile._children


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="kind"):
        precompile.start("everything")
