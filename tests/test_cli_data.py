"""The data commands, run as a user would: through the real console script in a subprocess."""

import subprocess
import sys

import pandas as pd

from tradeforge.data.cache import ParquetStore


def run_cli(*args, home=None):
    cmd = [sys.executable, "-c", "from tradeforge.cli import main; main()", *args]
    if home is not None:
        cmd += ["--home", str(home)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_synth_list_show_resample(home):
    r = run_cli(
        "data",
        "synth",
        "-s",
        "EURUSD",
        "-t",
        "M5",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-15",
        home=home,
    )
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    r = run_cli("data", "resample", "-s", "EURUSD", "--from", "M5", "--to", "H1", home=home)
    assert r.returncode == 0, r.stderr
    m5 = ParquetStore(home).load("EURUSD", "M5")
    h1 = ParquetStore(home).load("EURUSD", "H1")
    assert h1["volume"].sum() == m5["volume"].sum()
    assert h1["high"].max() == m5["high"].max()
    r = run_cli("data", "list", home=home)
    assert r.returncode == 0 and "EURUSD" in r.stdout and "H1" in r.stdout
    r = run_cli("data", "show", "-s", "EURUSD", "-t", "H1", "-n", "2", home=home)
    assert r.returncode == 0 and "2024-01-01" in r.stdout


def test_user_errors_are_one_line_without_traceback(home):
    r = run_cli("data", "synth", "-s", "EURUSX", home=home)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "unknown symbol 'EURUSX'; did you mean EURUSD" in r.stderr
    r = run_cli("data", "show", "-s", "EURUSD", "-t", "M7", home=home)
    assert r.returncode == 2 and "M7 does not divide the hour" in r.stderr


def test_every_command_has_help():
    for args in (
        ["--help"],
        ["data", "--help"],
        ["data", "synth", "--help"],
        ["data", "list", "--help"],
    ):
        r = run_cli(*args)
        assert r.returncode == 0 and "Usage" in r.stdout


def test_home_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEFORGE_HOME", str(tmp_path / "envhome"))
    r = run_cli("data", "synth", "-t", "D1", "--start", "2024-01-01", "--end", "2024-02-01")
    assert r.returncode == 0, r.stderr
    frame = ParquetStore(tmp_path / "envhome").load("EURUSD", "D1")
    assert frame.index[0] >= pd.Timestamp("2024-01-01", tz="UTC")


def test_strategies_command_lists_params():
    r = run_cli("strategies")
    assert r.returncode == 0, r.stderr
    for text in ("sma_cross", "breakout", "structure", "fast", ">= 1", "exit_on_opposite"):
        assert text in r.stdout
