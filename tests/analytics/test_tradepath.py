"""Stop, target and signal paths recomputed from the shared rules (analytics/tradepath.py).

The hand case: one long EURUSD market entry, 1 lot, no spread or slippage. Signal on bar 0;
fill at bar 1's open 1.1000 with a 10-pip stop (1.0990, risk 0.0010); break-even at 1R to
entry + 1 pip; a 15-pip trailing stop from 2R; targets at 3R (half) and 10R (the rest).

======  ======  ======  ======  ======  =================================================
bar     open    high    low     close   what happens (the stop moves take effect next bar)
======  ======  ======  ======  ======  =================================================
1       1.1000  1.1012  1.0995  1.1010  best 1.1012 >= 1.1010 (1R): stop -> 1.1001 (BE)
2       1.1010  1.1025  1.1005  1.1020  best 1.1025 >= 1.1020 (2R): trail -> 1.1010
3       1.1020  1.1035  1.1015  1.1030  target 1.1030 fills half; trail -> 1.1020
4       1.1030  1.1040  1.1025  1.1035  trail -> 1.1025
5       1.1035  1.1036  1.1020  1.1022  low 1.1020 hits the trailing stop 1.1025: rest out
======  ======  ======  ======  ======  =================================================

So the stop is 1.0990 (bar 1), 1.1001 (2), 1.1010 (3), 1.1020 (4), 1.1025 (5) — the last
equals the recorded exit of the trade (reason ``trailing``) — and the 10R target 1.1100
never fills.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.analytics import load_run
from tradeforge.analytics.tradepath import trade_paths
from tradeforge.backtest import backtest_signals, run_backtest, write_result
from tradeforge.strategy import create_strategy
from tradeforge.strategy.signals import BreakEven, Target, Trailing, make_signals

ROWS = [  # open, high, low, close
    (1.1000, 1.1005, 1.0995, 1.1000),
    (1.1000, 1.1012, 1.0995, 1.1010),
    (1.1010, 1.1025, 1.1005, 1.1020),
    (1.1020, 1.1035, 1.1015, 1.1030),
    (1.1030, 1.1040, 1.1025, 1.1035),
    (1.1035, 1.1036, 1.1020, 1.1022),
    (1.1022, 1.1030, 1.1018, 1.1025),
    (1.1025, 1.1030, 1.1020, 1.1026),
]


@pytest.fixture(scope="module")
def hand_run():
    index = pd.date_range("2024-01-08", periods=len(ROWS), freq="h", tz="UTC", name="time")
    bars = pd.DataFrame(ROWS, columns=["open", "high", "low", "close"], index=index)
    bars["volume"] = 100.0
    sig = make_signals(
        len(bars), [0], 1, stop_distance=0.0010,
        targets=[Target(3.0, 0.5), Target(10.0, 0.5)],
        break_even=BreakEven(1.0, 0.0001), trailing=Trailing("distance", 0.0015, 2.0),
    )  # fmt: skip
    result = backtest_signals(bars, sig, "EURUSD", timeframe="H1")
    return result, bars, sig


def test_hand_case_stop_path_matches_the_recorded_exit(hand_run):
    result, bars, sig = hand_run
    (trade,) = result.trades.itertuples()
    assert trade.exit_reason == "trailing"
    assert trade.exit_price == pytest.approx((1.1030 + 1.1025) / 2)
    paths = trade_paths(result, {"EURUSD": bars}, {"EURUSD": sig})
    assert paths.verified == {trade.trade_id}
    stops = paths.stops
    t = bars.index
    assert stops["kind"].tolist() == ["initial", "breakeven", "trailing", "trailing", "trailing"]
    np.testing.assert_allclose(stops["price"], [1.0990, 1.1001, 1.1010, 1.1020, 1.1025])
    assert stops["start"].tolist() == [t[1], t[2], t[3], t[4], t[5]]
    assert stops["end"].tolist() == [t[2], t[3], t[4], t[5], t[5]]
    # the final stop is the recorded exit of the last leg
    last_leg = result.legs.iloc[-1]
    assert last_leg["reason"] == "trailing"
    assert stops["price"].iloc[-1] == pytest.approx(last_leg["price"], abs=1e-12)
    targets = paths.targets
    np.testing.assert_allclose(targets["price"], [1.1030, 1.1100])
    assert targets["filled"].tolist() == [True, False]
    assert targets["start"].tolist() == [t[1], t[1]]
    assert targets["end"].tolist() == [t[3], t[5]]
    # the signal marker sits under the signal bar
    assert paths.signals[["time", "side", "price"]].values.tolist() == [[t[0], 1, 1.0995]]


def test_a_run_that_differs_keeps_only_what_it_recorded(hand_run):
    result, bars, sig = hand_run
    other = bars.copy()
    other.loc[other.index[4], "low"] = 1.1019  # the trailing stop would hit a bar earlier
    paths = trade_paths(result, {"EURUSD": other}, {"EURUSD": sig})
    assert paths.verified == frozenset()
    assert paths.stops["kind"].tolist() == ["initial"]
    assert paths.stops["price"].tolist() == [pytest.approx(1.0990)]
    assert paths.targets["filled"].tolist() == [True]  # the recorded target leg only


def test_loaded_run_rebuilds_the_signals_from_run_json(tmp_path):
    from tradeforge.data.sources.synthetic import generate_bars

    bars = generate_bars("EURUSD", "H1", "2024-01-01", "2024-05-01", seed=7)
    strategy = create_strategy("breakout")
    result = run_backtest(strategy, {"EURUSD": bars}, timeframe="H1")
    assert len(result.trades) > 10
    write_result(result, tmp_path)
    loaded = load_run(tmp_path)
    fresh = trade_paths(result, {"EURUSD": bars})
    rebuilt = trade_paths(loaded, {"EURUSD": bars})  # no signals: rebuilt from run.json
    ids = set(result.trades["trade_id"].tolist())
    assert fresh.verified == rebuilt.verified == ids
    pd.testing.assert_frame_equal(fresh.stops, rebuilt.stops)
    pd.testing.assert_frame_equal(fresh.targets, rebuilt.targets)
    assert "breakeven" in set(rebuilt.stops["kind"])
    assert len(rebuilt.signals) == len(result.signals["EURUSD"])
    # every stop/breakeven exit leaves at the last stop level (no slippage), unless the bar
    # opened through it (then at the open: bid for longs, ask for shorts)
    last = rebuilt.stops.groupby("trade_id").tail(1).set_index("trade_id")["price"]
    legs = loaded.legs.groupby("trade_id").tail(1).set_index("trade_id")
    out = legs[legs["reason"].isin(["stop", "breakeven"])]
    at = bars.reindex(out["time"])
    bar_open = at["open"].to_numpy() + np.where(out["side"] == "short", at["spread"], 0.0)
    gapped = np.isclose(out["price"].to_numpy(), bar_open)
    assert (~gapped).sum() > 10
    np.testing.assert_allclose(out["price"][~gapped], last.reindex(out.index)[~gapped])


def test_rebuilt_report_computes_the_features_once_per_symbol(tmp_path, monkeypatch):
    """A report rebuilt from a run folder needs the strategy's features twice — for the
    indicator lines and for the signals the trade paths replay — and computes them once."""
    from tradeforge.analytics import write_report
    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.features.engine import FeatureEngine

    frames = {s: generate_bars(s, "H1", "2024-01-01", "2024-03-01", seed=k)
              for k, s in enumerate(("EURUSD", "GBPUSD"))}  # fmt: skip
    result = run_backtest(create_strategy("breakout"), frames, timeframe="H1")
    write_result(result, tmp_path / "run")
    loaded = load_run(tmp_path / "run")
    assert not loaded.signals  # a run folder keeps no signals: they are rebuilt
    computed: list[str] = []
    compute = FeatureEngine.compute

    def counted(self, frame, *args, **kwargs):
        computed.extend(s for s, bars in frames.items() if bars is frame)
        return compute(self, frame, *args, **kwargs)

    monkeypatch.setattr(FeatureEngine, "compute", counted)
    files = write_report(loaded, tmp_path / "report", frames, charts=False)
    assert sorted(computed) == ["EURUSD", "GBPUSD"]
    page = files.html.read_text()
    assert "line_EURUSD_donchian_upper_20" in page and "line_GBPUSD_atr_14" in page
    n = len(result.trades)  # every trade's replay reproduced its recorded exits
    assert f"<b>Trade paths: {n:,} of {n:,} trades verified</b>" in page


def test_report_json_and_text_carry_the_verified_count(tmp_path):
    """One trade's recorded exit moved 10 pips: its replay no longer reproduces it, so
    report.json counts every other trade verified and names that one; report.txt and the
    page print the same line. Without bars nothing is checked, and says so."""
    import json
    from dataclasses import replace

    from tradeforge.analytics import build_report, write_report
    from tradeforge.data.sources.synthetic import generate_bars

    bars = {"EURUSD": generate_bars("EURUSD", "H1", "2024-01-01", "2024-05-01", seed=7)}
    result = run_backtest(create_strategy("breakout"), bars, timeframe="H1")
    ids = result.trades["trade_id"].tolist()
    n, bad = len(ids), int(ids[3])
    legs = result.legs.copy()
    legs.loc[legs.index[legs["trade_id"] == bad][-1], "price"] += 0.0010
    changed = replace(result, legs=legs)
    files = write_report(changed, tmp_path / "bad", bars, charts=False)
    doc = json.loads(files.json.read_text())
    assert doc["trade_paths"] == {"trades": n, "checked": n, "verified": n - 1,
                                  "unverified": [bad]}  # fmt: skip
    line = f"Trade paths: {n - 1:,} of {n:,} trades verified (not reproduced: #{bad})"
    assert line in files.txt.read_text().splitlines()
    assert f"<b>{line}</b>" in files.html.read_text()
    assert files.report.trade_paths == doc["trade_paths"]
    # the same run without bars: no trade could be checked
    files = write_report(result, tmp_path / "no_bars", None, charts=False)
    doc = json.loads(files.json.read_text())
    assert doc["trade_paths"] == {"trades": n, "checked": 0, "verified": 0, "unverified": []}
    unchecked = f"Trade paths: 0 of {n:,} trades verified ({n:,} not checked: no bars or no strategy to replay)"
    assert unchecked in files.txt.read_text()
    # bars, but a strategy this process does not know: nothing replayed, nothing checked
    config = {**result.config, "strategy": {"name": "not_registered", "params": {}}}
    files = write_report(replace(result, config=config, signals={}), tmp_path / "custom", bars,
                         charts=False)  # fmt: skip
    assert json.loads(files.json.read_text())["trade_paths"]["checked"] == 0
    assert unchecked in files.txt.read_text()
    # a report built without writing checks nothing
    assert build_report(result).to_dict()["trade_paths"] is None


def test_the_replay_calls_the_rules_with_the_kernels_types(tmp_path):
    """On an empty Numba cache, a backtest and its trade paths compile each rule once: the
    replay passes the rules what the kernel passes (a slot variable, a float side), so no
    rule gets a second specialisation (Numba's ``name.2.nbc`` file)."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        from tradeforge.analytics.tradepath import trade_paths
        from tradeforge.backtest import run_backtest
        from tradeforge.data.sources.synthetic import generate_bars
        from tradeforge.strategy import create_strategy
        bars = generate_bars("EURUSD", "H1", "2024-01-01", "2024-03-01", seed=3)
        result = run_backtest(create_strategy("sma_cross"), {"EURUSD": bars})
        assert len(result.trades) > 5
        assert len(trade_paths(result, {"EURUSD": bars}).stops) >= len(result.trades)
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rules = sorted(p.name for p in tmp_path.rglob("*.nbc") if p.name.startswith("rules."))
    assert rules and not [name for name in rules if not name.endswith(".1.nbc")], rules
