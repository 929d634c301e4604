"""Divergence monitor cost: one comparison (the shadow backtest of `sma_cross` on the bars so
far — features, signals, `backtest_signals` — then matching, metrics and checks through
`compare_trades`) on 1,000, 5,000 and 20,000 closed EURUSD M5 bars (20,000 is the default
``max_bars``: the bound of one comparison whatever the session's length). With
``every_bars = 12`` (default) a session pays one comparison every 12 bars, in the monitor's
thread; the cost per bar is that time / 12. Each size is timed 5 times after one warm-up run
(compiled kernels cached), median reported. Results go to ``bench/results/monitor.json``.

    python bench/monitor_bench.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
sys.path.insert(0, str(ROOT))  # the bar generator and the spec helper live with the tests

from tests.live.helpers import small_spec  # noqa: E402

from tradeforge.live.model import EngineState  # noqa: E402
from tradeforge.live.runner import build_dry_run  # noqa: E402
from tradeforge.notify.config import MonitorSettings  # noqa: E402
from tradeforge.notify.monitor import DivergenceMonitor  # noqa: E402

SIZES = (1_000, 5_000, 20_000)
EVERY = MonitorSettings().every_bars


def main() -> None:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        spec = small_spec(Path(tmp), n_bars=max(SIZES) + 100)
        engine = build_dry_run(Path(tmp) / "s", spec)  # not run: the monitor reads its feed
        monitor = DivergenceMonitor(MonitorSettings(max_bars=max(SIZES)))
        monitor.engine = engine
        assert monitor.prepare(engine) is None
        state = EngineState.initial(engine.cfg.identity(), spec.initial_capital)
        for n in SIZES:
            bar = monitor.first + n - 1
            monitor.compare(state, bar)  # warm-up
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                doc = monitor.compare(state, bar)
                times.append(time.perf_counter() - t0)
            seconds = statistics.median(times)
            runs.append(
                {
                    "bars": n,
                    "shadow_trades": doc["summary"]["expected_trades"],
                    "comparison_ms": round(seconds * 1e3, 1),
                    "every_bars": EVERY,
                    "per_bar_ms": round(seconds * 1e3 / EVERY, 2),
                }
            )
    for r in runs:
        print(
            f"{r['bars']:>6} bars ({r['shadow_trades']} shadow trades): one comparison "
            f"{r['comparison_ms']:.1f} ms, {r['per_bar_ms']:.2f} ms per bar at every_bars={EVERY}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "monitor.json").write_text(json.dumps({"runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
