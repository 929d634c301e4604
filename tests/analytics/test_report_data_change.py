"""``tradeforge report RUN`` refuses to draw trades on bars that changed since the run (the
checksums in run.json), and rebuilds the rest of the report with ``--no-trade-charts``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeforge.analytics import write_report
from tradeforge.analytics.rundata import RunDataChangedError
from tradeforge.backtest import run_backtest, write_result
from tradeforge.cli import app
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.strategy import create_strategy

CONSOLE_SCRIPT = Path(sys.executable).with_name("tradeforge")
PARAMS = {"fast": 5, "slow": 20, "stop_pips": 20, "target_pips": 40}


def _synth(home: Path, start: str, end: str, seed: int) -> None:
    frame = generate_bars("EURUSD", "H1", start, end, seed=seed)
    ParquetStore(home).write("EURUSD", "H1", frame, source="synthetic")


def _backtest(home: Path, out: Path, start: str | None = None, end: str | None = None) -> None:
    """What `tradeforge backtest` does: run on the cached bars, write the run and its charts."""
    frames = {"EURUSD": ParquetStore(home).load("EURUSD", "H1", start, end)}
    result = run_backtest(create_strategy("sma_cross", PARAMS), frames, timeframe="H1",
                          extra_config={"start": start, "end": end})  # fmt: skip
    write_result(result, out)
    write_report(result, out, ohlc=frames)


def _report(run: Path, home: Path, *extra: str):
    return CliRunner().invoke(app, ["report", str(run), "--home", str(home), *extra])


@pytest.fixture(scope="module")
def changed(tmp_path_factory):
    """A run on seed-1 bars whose cache was then regenerated with seed 2."""
    root = tmp_path_factory.mktemp("changed")
    home, run = root / "home", root / "run"
    _synth(home, "2024-01-01", "2024-02-01", seed=1)
    _backtest(home, run, "2024-01-01", "2024-02-01")
    _synth(home, "2024-01-01", "2024-02-01", seed=2)
    return run, home


def test_report_refuses_trade_charts_on_changed_bars(changed):
    run, home = changed
    before = {p.name: p.read_bytes() for p in (run / "charts").glob("*.png")}
    assert any(name.startswith("trade_") for name in before)
    res = _report(run, home)
    assert isinstance(res.exception, RunDataChangedError)
    message = str(res.exception)
    assert "EURUSD H1" in message and "changed since this run" in message
    assert "--no-trade-charts" in message and "\n" not in message
    # nothing was redrawn: the run's own charts (drawn on the right bars) are left alone
    assert {p.name: p.read_bytes() for p in (run / "charts").glob("*.png")} == before


def test_report_without_trade_charts_rebuilds_the_rest(changed):
    run, home = changed
    res = _report(run, home, "--no-trade-charts")
    assert res.exit_code == 0, res.output
    charts = {p.name for p in (run / "charts").glob("*.png")}
    assert "equity.png" in charts
    assert not {c for c in charts if c.startswith("trade_")}


def test_console_script_exits_2_with_one_line_and_no_traceback(changed):
    run, home = changed
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), "report", str(run), "--home", str(home)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "EURUSD H1: the cached bars changed since this run" in proc.stderr


def test_unchanged_bars_draw_even_after_the_cache_grew(tmp_path):
    # a run over the whole cache (no --start/--end); bars appended later are not the run's
    home, run = tmp_path / "home", tmp_path / "run"
    _synth(home, "2024-01-01", "2024-02-01", seed=1)
    _backtest(home, run)
    _synth(home, "2024-02-01", "2024-02-15", seed=3)
    res = _report(run, home)
    assert res.exit_code == 0, res.output
    assert list((run / "charts").glob("trade_*.png"))
