"""Progress output and ``-q`` through the installed console script.

Progress goes to stderr (rich draws it only on a terminal; ``FORCE_COLOR=1`` makes the
subprocess's stderr count as one), so stdout — the results — is byte-identical with and
without ``-q``; with ``-q`` stderr stays empty, while errors still print.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("tradeforge")
pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")


def run(*args: str, home: Path, terminal: bool = True) -> subprocess.CompletedProcess:
    """The console script with ``home``; ``terminal``: stderr counts as a terminal."""
    env = {**os.environ, "TRADEFORGE_HOME": str(home), "COLUMNS": "120"}
    env.pop("FORCE_COLOR", None)
    if terminal:
        env["FORCE_COLOR"] = "1"
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env, cwd=home
    )


SYNTH = ("data", "synth", "-s", "EURUSD", "-t", "H1", "--start", "2024-01-01", "--end",
         "2024-04-01")  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A home with the EURUSD bars (each xdist worker makes its own: the tests of this module
    may run on different workers, so none may rely on another having run)."""
    path = tmp_path_factory.mktemp("quiet")
    assert run("-q", *SYNTH, home=path, terminal=False).returncode == 0
    return path


def test_synth_progress_and_quiet(home):
    loud = run(*SYNTH, home=home)
    quiet = run("-q", *SYNTH, home=home)
    assert loud.returncode == quiet.returncode == 0
    assert "synth EURUSD H1" in loud.stderr and "writing 1,560 bars" in loud.stderr
    assert quiet.stderr == ""
    assert loud.stdout == quiet.stdout and "EURUSD" in quiet.stdout


def test_import_progress_and_quiet(home):
    from tradeforge.data.cache import ParquetStore

    bars = ParquetStore(home).load("EURUSD", "H1")
    csv = home / "bars.csv"
    bars.reset_index().to_csv(csv, index=False)
    args = ("data", "import", str(csv), "-s", "GBPUSD", "-t", "H1")
    loud, quiet = run(*args, home=home), run("-q", *args, home=home)
    assert loud.returncode == quiet.returncode == 0, loud.stderr
    assert "import bars.csv" in loud.stderr and quiet.stderr == ""
    assert loud.stdout == quiet.stdout


def test_backtest_stages_and_quiet(home):
    args = ("backtest", "--strategy", "breakout", "-s", "EURUSD", "-t", "H1", "--out", "run")
    loud = run(*args, home=home)
    quiet = run("-q", *args, home=home)
    assert loud.returncode == quiet.returncode == 0, loud.stderr
    for stage in ("backtest EURUSD: features", "backtest EURUSD: signals",
                  "backtest EURUSD: simulate", "backtest: combine", "run folder", "indicators",
                  "trade paths", "charts", "report files"):  # fmt: skip
        assert stage in loud.stderr, stage
    assert quiet.stderr == ""
    assert loud.stdout == quiet.stdout and "run folder:" in quiet.stdout


def test_quiet_keeps_errors(home):
    r = run("-q", "backtest", "--strategy", "nope", "-s", "EURUSD", "-t", "H1", home=home)
    assert r.returncode == 2 and "error:" in r.stderr and "nope" in r.stderr


DRY_RUN = ("dry-run", "--state", "state", "--strategy", "breakout", "-s", "EURUSD", "-t", "H1",
           "--replay", "2024-02-01:2024-03-01")  # fmt: skip


def test_dry_run_replay_progress_quiet_and_off_a_terminal(home):
    import shutil

    from tradeforge.data.cache import ParquetStore

    if not ParquetStore(home).has("EURUSD", "H1"):  # the test run alone (-k)
        assert run("-q", *SYNTH, home=home).returncode == 0
    bars = ParquetStore(home).load("EURUSD", "H1", "2024-02-01", "2024-03-01")
    runs = {}
    for name, args, terminal in (("loud", DRY_RUN, True), ("quiet", ("-q", *DRY_RUN), True),
                                 ("piped", DRY_RUN, False)):  # fmt: skip
        shutil.rmtree(home / "state", ignore_errors=True)  # each a fresh replay
        runs[name] = run(*args, home=home, terminal=terminal)
        assert runs[name].returncode == 0, runs[name].stderr
    loud, quiet, piped = runs["loud"], runs["quiet"], runs["piped"]
    # the bar counts the replayed bars (the history before --replay's start is not played)
    assert "dry-run: replay" in loud.stderr and f"{len(bars)}/{len(bars)}" in loud.stderr
    assert quiet.stderr == "" and piped.stderr == ""
    assert loud.stdout == quiet.stdout
    assert "closed trade(s)" in piped.stdout and " order " in piped.stdout
