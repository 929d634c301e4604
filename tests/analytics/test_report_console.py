"""The console summary of ``tradeforge backtest`` and ``tradeforge report`` (through the
installed console script) says how many trades' paths were verified, the same count as
report.json: all of them on a fresh run; after one trade's recorded exit in legs.csv is moved
10 pips, all but that one, named; with ``--no-charts`` (no bars loaded) none was checked."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("tradeforge")
pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")


def _run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRADEFORGE_HOME": str(home / "home"), "COLUMNS": "120"}
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env=env, cwd=home)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _move_last_leg(run: Path, trade_id: int, by: float) -> None:
    """legs.csv with ``trade_id``'s last leg's price moved by ``by`` (other rows as written)."""
    rows = list(csv.reader((run / "legs.csv").open(newline="")))
    price = rows[0].index("price")
    last = max(i for i, r in enumerate(rows) if r[0] == str(trade_id))
    rows[last][price] = repr(float(rows[last][price]) + by)
    with (run / "legs.csv").open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def test_backtest_and_report_print_the_verified_count(tmp_path):
    _run("data", "synth", "-s", "EURUSD", "-t", "H1", "--start", "2024-01-01", "--end",
         "2024-05-01", home=tmp_path)  # fmt: skip
    out = _run("backtest", "--strategy", "breakout", "-t", "H1", "--out", "run", home=tmp_path)
    run = tmp_path / "run"
    with (run / "trades.csv").open(newline="") as f:
        ids = [int(r["trade_id"]) for r in csv.DictReader(f)]
    n = len(ids)
    assert n > 10
    assert f"Trade paths: {n:,} of {n:,} trades verified\n" in out.stdout
    assert json.loads((run / "report.json").read_text())["trade_paths"]["verified"] == n

    bad = ids[3]
    _move_last_leg(run, bad, 0.0010)
    out = _run("report", "run", "--best", "1", "--worst", "1", home=tmp_path)
    line = f"Trade paths: {n - 1:,} of {n:,} trades verified (not reproduced: #{bad})"
    assert line in out.stdout.splitlines()
    assert json.loads((run / "report.json").read_text())["trade_paths"]["unverified"] == [bad]

    out = _run("report", "run", "--no-charts", home=tmp_path)
    assert (
        f"Trade paths: 0 of {n:,} trades verified ({n:,} not checked: no bars or no strategy to replay)"
        in out.stdout
    )
