"""Ctrl-C during a parallel backtest through the installed console script: the threads stop,
the command exits 130 and the run folder is untouched (no half-written files)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.synthetic import generate_bars

TRADEFORGE = str(Path(sys.executable).with_name("tradeforge"))
SYMBOLS = ("EURUSD", "GBPUSD", "AUDUSD", "NZDUSD")


def test_sigint_stops_every_worker_and_leaves_the_old_folder(tmp_path):
    store = ParquetStore(tmp_path / "home")
    for i, s in enumerate(SYMBOLS):  # enough bars that the run takes seconds
        store.write(s, "M5", generate_bars(s, "M5", "2023-01-01", "2024-07-01", seed=i), "test")
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("previous run\n")
    proc = subprocess.Popen(
        [TRADEFORGE, "backtest", "--home", str(tmp_path / "home"), "--strategy", "structure",
         "--param", "ema_filter=false", "-t", "M5", *(a for s in SYMBOLS for a in ("-s", s)),
         "--position-mode", "tag", "--workers", "2", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(4.0)  # start-up, then the symbols are being computed
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    assert [p.name for p in out.iterdir()] == ["run.json"]  # the old folder, as it was
    assert (out / "run.json").read_text() == "previous run\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run")] == []
