"""Bad names, dates and numbers on the command line: one line naming the problem, exit 2, no
traceback, nothing written. Run through the installed console script, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TRADEFORGE = Path(sys.executable).with_name("tradeforge")


def run_cli(*args: str, home: Path | None = None, cwd: Path | None = None):
    cmd = [str(TRADEFORGE), *args] + (["--home", str(home)] if home is not None else [])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=cwd)


def assert_refused(r: subprocess.CompletedProcess, *fragments: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    for fragment in fragments:
        assert fragment in r.stderr, r.stderr


def test_escaping_symbol_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    home = tmp_path / "a" / "home"
    r = run_cli("data", "synth", "--symbol", "../../ESCAPE", "--start", "2024-01-01",
                "--end", "2024-01-03", home=home)  # fmt: skip
    assert_refused(r, "invalid symbol '../../ESCAPE': use letters, digits, '.', '_' or '-'")
    assert not any(tmp_path.rglob("*.parquet"))


def test_slash_symbol_gets_a_hint(tmp_path: Path) -> None:
    r = run_cli("data", "resample", "-s", "EUR/USD", "--from", "M5", "--to", "H1", home=tmp_path)
    assert_refused(r, "invalid symbol 'EUR/USD'", "did you mean EURUSD?")


@pytest.mark.parametrize(
    "args",
    [
        ("data", "show", "-s", "EURUSD", "-t", "M5", "--start", "05.01.2024"),
        ("backtest", "--strategy", "sma_cross", "--start", "05.01.2024"),
        ("optimize", "--strategy", "sma_cross", "--space", "fast=5,10", "--start", "05.01.2024"),
    ],
)
def test_non_iso_start_is_refused(tmp_path: Path, args: tuple[str, ...]) -> None:
    r = run_cli(*args, home=tmp_path)
    assert_refused(
        r, "invalid --start '05.01.2024': use ISO 8601, e.g. 2024-01-05 or 2024-01-05T10:00Z"
    )


def test_non_iso_replay_is_refused_before_the_state_exists(tmp_path: Path) -> None:
    state = tmp_path / "state"
    r = run_cli("dry-run", "--state", str(state), "--strategy", "sma_cross", "-s", "EURUSD",
                "-t", "H1", "--replay", "13/01/2024..2024-02-01", home=tmp_path)  # fmt: skip
    assert_refused(r, "invalid --replay start '13/01/2024'")
    assert not state.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("backtest", "--strategy", "sma_cross", "--workers", "0"), "--workers"),
        (("backtest", "--strategy", "sma_cross", "--workers", "-1"), "--workers"),
        (("backtest", "--strategy", "sma_cross", "--capital", "-1"), "--capital must be > 0"),
        (("backtest", "--strategy", "sma_cross", "--capital", "0"), "--capital must be > 0"),
        (("optimize", "--strategy", "sma_cross", "--space", "fast=5,10", "--workers", "0"),
         "--workers"),
        (("walkforward", "--strategy", "sma_cross", "--space", "fast=5,10", "--train", "100",
          "--test", "50", "--capital", "0"), "--capital must be > 0"),
        (("data", "download", "-s", "EURUSD", "--start", "2024-01-01", "--end", "2024-01-02",
          "--workers", "0"), "--workers"),
    ],
)  # fmt: skip
def test_non_positive_numbers_are_refused(tmp_path: Path, args, message) -> None:
    assert_refused(run_cli(*args, home=tmp_path), message)


@pytest.mark.parametrize(
    ("extra", "message"),
    [(("--capital", "-1"), "--capital must be > 0"), (("--sizing", "risk:-1"), "sizing"),
     (("--window", "0"), "--window"), (("--leverage", "0"), "--leverage must be > 0")],
)  # fmt: skip
def test_bad_dry_run_settings_leave_no_state_behind(tmp_path: Path, extra, message) -> None:
    state = tmp_path / "state"
    r = run_cli("dry-run", "--state", str(state), "--strategy", "sma_cross", "-s", "EURUSD",
                "-t", "H1", "--replay", "2024-01-01:2024-02-01", *extra, home=tmp_path)  # fmt: skip
    assert_refused(r, message)
    assert not state.exists()


def test_out_with_a_tilde_goes_to_the_home_directory(tmp_path: Path) -> None:
    env_home = tmp_path / "user"
    env_home.mkdir()
    data = tmp_path / "data"
    synth = [str(TRADEFORGE), "data", "synth", "-t", "H1", "--start", "2024-01-01",
             "--end", "2024-02-01", "--home", str(data)]  # fmt: skip
    assert subprocess.run(synth, capture_output=True, timeout=180).returncode == 0
    cmd = [str(TRADEFORGE), "backtest", "--strategy", "sma_cross", "--out=~/runs/a",
           "--home", str(data)]  # fmt: skip
    env = {"HOME": str(env_home), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert (env_home / "runs" / "a" / "run.json").is_file()
    assert not (tmp_path / "~").exists()
