"""The bars a saved run was computed on, checked against the data checksums of ``run.json``.

A report rebuilt later draws trades on the bars the cache holds *now*; if they were
regenerated or re-imported since the run, the trades would sit on other prices. `check_run_bars`
reloads a symbol's bars over the run (config ``start``/``end``, clipped to the equity curve's
span so bars added to the cache later do not count) and compares their `frame_checksum` with the
one recorded by `run_backtest`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from tradeforge.core.errors import DataError, TradeforgeError
from tradeforge.core.timeframes import Timeframe
from tradeforge.data.checksum import frame_checksum
from tradeforge.trading.result import BacktestResult


class RunDataChangedError(DataError):
    """The cached bars of a symbol are not the bars its run was computed on."""


def recorded_checksum(result: BacktestResult, symbol: str) -> tuple[str, str] | None:
    """``(timeframe, checksum)`` recorded for ``symbol`` (None: the run recorded none)."""
    for key, checksum in sorted((result.checksums or {}).items()):
        name, _, timeframe = str(key).partition("/")
        if name.upper() == symbol.upper() and timeframe:
            return timeframe, str(checksum)
    return None


def check_run_bars(result: BacktestResult, store: Any, symbol: str) -> None:
    """Raise `RunDataChangedError` when ``store`` (a `ParquetStore`) no longer holds the bars
    ``symbol`` was backtested on; a run without a recorded checksum passes unchecked."""
    recorded = recorded_checksum(result, symbol)
    if recorded is None or len(result.equity) == 0:
        return
    timeframe, expected = recorded
    config = result.config or {}
    frame = store.load(symbol, timeframe, config.get("start"), config.get("end"))
    first, last = result.equity.index[0], result.equity.index[-1]
    frame = frame[(frame.index >= first) & (frame.index <= last)]
    if frame_checksum(frame) != expected:
        raise RunDataChangedError(
            f"{symbol.upper()} {timeframe}: the cached bars changed since this run (data "
            "checksum differs from run.json), so its trades cannot be drawn on them; rebuild "
            "the report without trade charts (--no-trade-charts) or re-run the backtest"
        )


def load_run_bars(
    result: BacktestResult,
    store: Any,
    pad_bars: int = 500,
    on_missing: Callable[[str, Exception], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Bars of every traded symbol over the run plus ``pad_bars`` either side, from ``store``
    (a `ParquetStore`), for candlestick charts.

    Needs ``config["timeframe"]`` in the run; returns ``{}`` (charts without candles) when the
    timeframe is unknown. A symbol whose bars cannot be loaded is left out (``on_missing``
    is told why). Raises `RunDataChangedError` when the cached bars are not those the run was
    computed on (its recorded data checksums).
    """
    timeframe = (result.config or {}).get("timeframe")
    if not timeframe or len(result.trades) == 0:
        return {}
    try:
        tf = Timeframe.parse(str(timeframe))
    except TradeforgeError:
        return {}
    pad = tf.delta * pad_bars
    start = pd.to_datetime(result.trades["entry_time"], utc=True).min() - pad
    end = pd.to_datetime(result.trades["exit_time"], utc=True).max() + pad
    out = {}
    for symbol in sorted({str(s) for s in result.trades["symbol"]}):
        try:
            bars = store.load(symbol, tf, start, end)
        except TradeforgeError as exc:
            if on_missing is not None:
                on_missing(symbol, exc)
            continue
        check_run_bars(result, store, symbol)
        out[symbol] = bars
    return out
