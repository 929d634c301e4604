"""Portfolio and exit modes as a user selects them: the installed console script."""

from __future__ import annotations

import json

import pandas as pd

from tests.test_cli_inputs import assert_refused, run_cli


def _synth(home, *symbols: str, tf: str = "H1") -> None:
    for s in symbols:
        r = run_cli("data", "synth", "-s", s, "-t", tf, "--start", "2023-01-01",
                    "--end", "2023-04-01", home=home)  # fmt: skip
        assert r.returncode == 0, r.stderr


def test_backtest_portfolio_modes(tmp_path):
    home = tmp_path / "home"
    _synth(home, "EURUSD", "GBPUSD")
    runs = {}
    for mode in ("shared", "sub-accounts"):
        out = tmp_path / mode
        r = run_cli("backtest", "--strategy", "breakout", "-s", "EURUSD", "-s", "GBPUSD",
                    "--sizing", "risk:1", "--portfolio", mode, "--out", str(out), home=home)  # fmt: skip
        assert r.returncode == 0, r.stderr
        runs[mode] = (json.loads((out / "run.json").read_text()), pd.read_csv(out / "equity.csv"))
    shared, subs = runs["shared"], runs["sub-accounts"]
    assert shared[0]["config"]["portfolio"] == "shared"
    assert subs[0]["config"]["portfolio"] == "sub-accounts"
    assert shared[1]["equity"].iloc[0] == 100_000  # one account of the initial capital
    assert subs[1]["equity"].iloc[0] == 200_000  # two sub-accounts of 100k each
    assert_refused(
        run_cli(
            "backtest", "--strategy", "breakout", "-s", "EURUSD", "--portfolio", "pooled", home=home
        ),
        "portfolio",
    )


def test_dry_run_exit_mode_is_stored_and_checked(tmp_path):
    home = tmp_path / "home"
    _synth(home, "EURUSD", tf="M15")
    state = tmp_path / "state"
    r = run_cli("dry-run", "--state", str(state), "--strategy", "breakout", "-s", "EURUSD",
                "-t", "M15", "--replay", "2023-03-20:2023-03-24", "--exit-mode", "tick",
                home=home)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads((state / "dryrun.json").read_text())["body"]["live"]["exit_mode"] == "tick"
    bad = run_cli("dry-run", "--state", str(tmp_path / "s2"), "--strategy", "breakout",
                  "-s", "EURUSD", "-t", "M15", "--replay", "2023-03-20:2023-03-24",
                  "--exit-mode", "tik", home=home)  # fmt: skip
    assert_refused(bad, "exit mode must be one of bar, tick")
    assert not (tmp_path / "s2" / "dryrun.json").exists()
