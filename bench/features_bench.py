"""Time the reference feature set (tradeforge.features.REFERENCE_FEATURES) on ~736k M5 bars.

Usage: python bench/features_bench.py [--bars 736000] [--repeat 5] [--cold] [--json PATH]

``--cold`` points Numba's cache at an empty temporary directory first, so the first call
includes compiling every kernel; without it the first call loads the on-disk cache.
Prints first-call and warm (best of ``--repeat``) times, including informative timeframes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def random_walk_bars(n: int, seed: int = 7):
    """Seeded M5 random-walk OHLCV bars from 2019-01-01 (continuous, no gaps)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    close = 1.12 * np.exp(np.cumsum(rng.normal(0.0, 2e-4, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0.0, 1.5e-4, (2, n)))
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    index = pd.date_range("2019-01-01", periods=n, freq="5min", tz="UTC", name="time")
    volume = rng.integers(1, 100, n).astype("float64")
    spread = np.full(n, 1e-5)
    return pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "spread": spread,
        },
        index=index,
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=736_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="compile with an empty Numba cache")
    parser.add_argument("--json", help="write the timings as JSON to this path")
    args = parser.parse_args(argv)
    if args.cold:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="tf-numba-")

    t0 = time.perf_counter()
    from tradeforge.features import REFERENCE_FEATURES, FeatureEngine

    import_s = time.perf_counter() - t0
    bars = random_walk_bars(args.bars)
    engine = FeatureEngine()

    t0 = time.perf_counter()
    out = engine.compute(bars, REFERENCE_FEATURES, "M5")
    first_s = time.perf_counter() - t0
    warm = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        engine.compute(bars, REFERENCE_FEATURES, "M5")
        warm.append(time.perf_counter() - t0)
    result = {
        "bars": len(bars),
        "features": list(REFERENCE_FEATURES),
        "columns": len(out.columns) - len(bars.columns),
        "cold_compile": bool(args.cold),
        "import_s": round(import_s, 4),
        "first_call_s": round(first_s, 4),
        "warm_best_s": round(min(warm), 4) if warm else None,
        "warm_median_s": round(sorted(warm)[len(warm) // 2], 4) if warm else None,
    }
    for key, value in result.items():
        if key != "features":
            print(f"{key:>15}: {value}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
