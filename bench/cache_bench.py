"""Parquet cache loads: the `pyarrow.dataset` partition scan against reading whole year files.

The store holds the reference workload's bars (synthetic EURUSD M5, 2019–2025, ~736k rows, one
row group per month). Each round times, interleaved in one process, `ParquetStore.load` and the
yardstick — every year file of the range read whole with ``pq.read_table``, concatenated and
sliced, as the store loaded before — for three requests: everything, one month, and the close
column of one year. Both must return the same frame. Medians go to
``bench/results/cache.json``.

    python bench/cache_bench.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.synthetic import generate_bars

RESULTS = Path(__file__).with_name("results")
REQUESTS = {  # name: (start, end, columns)
    "all": (None, None, None),
    "one month": ("2023-03-01", "2023-04-01", None),
    "close of one year": ("2022-01-01", "2023-01-01", ["close"]),
}


def whole_files(store: ParquetStore, start: str | None, end: str | None, columns) -> pd.DataFrame:
    """The yardstick: every year file of the range read whole, then sliced."""
    lo = None if start is None else pd.Timestamp(start, tz="UTC")
    hi = None if end is None else pd.Timestamp(end, tz="UTC")
    paths = sorted(store.partition_dir("EURUSD", "M5").glob("*.parquet"), key=lambda p: p.stem)
    paths = [
        p for p in paths
        if (lo is None or int(p.stem) >= lo.year) and (hi is None or int(p.stem) <= hi.year)
    ]  # fmt: skip
    frame = pa.concat_tables([pq.read_table(p) for p in paths]).to_pandas()
    a = 0 if lo is None else frame.index.searchsorted(lo)
    b = len(frame) if hi is None else frame.index.searchsorted(hi)
    frame = frame.iloc[a:b]
    return frame if columns is None else frame[columns]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ParquetStore(tmp)
        bars = generate_bars("EURUSD", "M5", "2019-01-01", "2026-01-01", seed=42)
        store.write("EURUSD", "M5", bars, source="synthetic")
        times: dict[str, dict[str, list[float]]] = {
            name: {"scan": [], "whole files": []} for name in REQUESTS
        }
        for _ in range(args.rounds):
            for name, (start, end, columns) in REQUESTS.items():
                t0 = time.perf_counter()
                got = store.load("EURUSD", "M5", start, end, columns=columns)
                t1 = time.perf_counter()
                want = whole_files(store, start, end, columns)
                t2 = time.perf_counter()
                pd.testing.assert_frame_equal(got, want, check_freq=False)
                times[name]["scan"].append(t1 - t0)
                times[name]["whole files"].append(t2 - t1)
    out = {"rows": len(bars), "rounds": args.rounds, "median seconds": {}}
    for name, runs in times.items():
        scan, whole = statistics.median(runs["scan"]), statistics.median(runs["whole files"])
        out["median seconds"][name] = {"scan": scan, "whole files": whole, "ratio": scan / whole}
        print(f"{name:>18}: scan {scan * 1e3:7.1f} ms, whole files {whole * 1e3:7.1f} ms, "
              f"ratio {scan / whole:.2f}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cache.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
