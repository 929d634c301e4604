"""The child process of one backtest job: ``python -m tradeforge.web.runjob SPEC_JSON OUT HOME``.

The worker runs every backtest in a child of its own so that cancelling kills it and a crash
of the backtest cannot take the worker down. The child reads the run specification
(`RunSpec.to_dict` form), loads the cached bars under the data home, runs `run_backtest` and
writes the run folder and report into ``OUT``. It knows nothing of Django: it reports on
stdout, one JSON object per line — ``{"progress": 0.4, "stage": "..."}`` while it works,
``{"error": "..."}`` for a refusal of the project's own kind (exit 2), ``{"done": true}`` last.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tradeforge.core.errors import TradeforgeError

__all__ = ["main", "run_job"]


def _say(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def run_job(spec_doc: dict, out: Path, home: Path) -> None:
    """Backtest ``spec_doc`` on the bars cached under ``home``; write run folder + report."""
    from tradeforge.analytics import write_report
    from tradeforge.backtest import run_backtest, write_result
    from tradeforge.backtest.conversion import load_conversion
    from tradeforge.data.cache import ParquetStore
    from tradeforge.trading.spec import RunSpec

    spec = RunSpec.from_dict(spec_doc)
    strategy = spec.create_strategy()
    if not spec.symbols or spec.timeframe is None:
        raise TradeforgeError("the run specification needs symbols and a timeframe")
    _say(progress=0.05, stage="loading data")
    store = ParquetStore(home)
    frames = {s: store.load(s, spec.timeframe, spec.start, spec.end) for s in spec.symbols}
    spec, conversion = load_conversion(spec, home)

    def progress(symbol: str, done: int, total: int) -> None:
        _say(progress=0.1 + 0.6 * done / total, stage=f"backtested {symbol} ({done}/{total})")

    _say(progress=0.1, stage="backtesting")
    result = run_backtest(strategy, frames, spec, conversion=conversion, progress=progress)
    _say(progress=0.75, stage="writing the run folder")
    write_result(result, out)
    _say(progress=0.85, stage="writing the report")
    write_report(result, out, ohlc=frames, signals=result.signals, charts=False)
    _say(done=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        sys.stderr.write("usage: python -m tradeforge.web.runjob SPEC_JSON OUT HOME\n")
        return 2
    spec_path, out, home = (Path(a) for a in args)
    try:
        run_job(json.loads(spec_path.read_text(encoding="utf-8")), out, home)
    except TradeforgeError as exc:
        _say(error=str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
