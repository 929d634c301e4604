"""Imported once by the job runner's fork server (`runjob`): imports the backtester and the
report writer and runs one small backtest (synthetic bars, a temporary folder) so that their
Numba kernels are loaded and every job forked from the server starts with them. A failure
here only loses that head start: each job then loads what it needs itself."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path


def warm_up() -> None:
    from tradeforge.analytics import write_report
    from tradeforge.backtest import run_backtest, write_result
    from tradeforge.core.timeframes import Timeframe
    from tradeforge.data.cache import ParquetStore
    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.trading.spec import RunSpec

    frame = generate_bars("EURUSD", Timeframe.parse("H1"), "2024-01-01", "2024-02-01", seed=1)
    spec = RunSpec.from_dict(
        {"strategy": {"name": "sma_cross", "params": {}}, "symbols": ["EURUSD"],
         "timeframe": "H1"}
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tradeforge-warm-") as tmp:
        ParquetStore(Path(tmp))  # the cache module's own imports
        result = run_backtest(spec.create_strategy(), {"EURUSD": frame}, spec)
        write_result(result, Path(tmp) / "run")
        write_report(result, Path(tmp) / "run", ohlc={"EURUSD": frame}, signals=result.signals,
                     charts=False)  # fmt: skip


with contextlib.suppress(Exception):  # an optimisation only: the jobs still run without it
    warm_up()
