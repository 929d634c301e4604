"""One symbol: prepare arrays from a frame and `Signals`, run the kernel, build the frames."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tradeforge.backtest import kernel as K
from tradeforge.backtest import precompile
from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.strategy.signals import SignalError, Signals, pack_signals
from tradeforge.trading.execution import ExecutionModel, Sizing
from tradeforge.trading.fx import Conversion, conversion_rates
from tradeforge.trading.result import EQUITY_COLUMNS, EXIT_REASONS, LEG_COLUMNS, TRADE_COLUMNS
from tradeforge.trading.spec import RunSpec

_NS_PER_DAY = 86_400 * 1_000_000_000
SIDES = ("long", "short")


@dataclass
class SymbolRun:
    """Frames of one symbol's run (trade ids local to the symbol, 0.. in entry order).
    ``equity`` is None for a symbol of a shared portfolio (the account has one curve)."""

    symbol: str
    trades: pd.DataFrame
    legs: pd.DataFrame
    equity: pd.DataFrame | None
    counters: dict[str, int] = field(default_factory=dict)


def _readonly(a: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """``a`` as a contiguous read-only array of ``dtype`` (no copy when it already is one).

    Every per-bar array reaches the kernel read-only, whatever made it (a pandas column, a
    shared constant, a fresh computation): Numba compiles one specialisation per mix of
    writable and read-only arguments, so a fixed mix keeps a process to one compilation."""
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


_BAR_TIMES: dict[int, tuple[weakref.ref, np.ndarray, np.ndarray]] = {}


def bar_times(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Bar open times (int64 ns) and their UTC day numbers, both read-only.

    Computed once per index *data*: an index's values never change, and the frames of
    repeated runs on the same bars (features recomputed every time) share their index's
    array, so a research loop or the peer bench does not redo the day division per run."""
    values = index.array
    key = id(values)
    hit = _BAR_TIMES.get(key)
    if hit is not None and hit[0]() is values and len(hit[1]) == len(index):
        return hit[1], hit[2]
    times = _readonly(index.as_unit("ns").asi8, np.int64)
    day = _readonly(times // _NS_PER_DAY, np.int64)
    try:
        ref = weakref.ref(values, lambda _, key=key: _BAR_TIMES.pop(key, None))
    except TypeError:  # an array type without weak references: not memoised
        return times, day
    _BAR_TIMES[key] = (ref, times, day)
    return times, day


def kernel_params(
    inst: Instrument,
    sizing: Sizing,
    execution: ExecutionModel,
    capital: float,
    fx_mode: int = 0,
) -> np.ndarray:
    """The kernel's float parameter vector (see `kernel.P_*`)."""
    p = np.zeros(K.N_PARAMS)
    p[K.P_FX_MODE] = fx_mode
    p[K.P_UNIT] = inst.unit
    p[K.P_STEP_LOTS] = inst.lot_step
    p[K.P_MIN_STEPS] = inst.min_steps
    p[K.P_MAX_STEPS] = inst.max_steps
    p[K.P_COMM_STEP] = execution.commission * inst.lot_step
    p[K.P_SWAP_LONG] = execution.swap_long
    p[K.P_SWAP_SHORT] = execution.swap_short
    p[K.P_CAPITAL] = capital
    if sizing.mode == "fixed":
        p[K.P_SIZING_MODE] = 0
        p[K.P_SIZING_VALUE] = inst.lot_steps(sizing.value)
    else:
        p[K.P_SIZING_MODE] = 1
        p[K.P_SIZING_VALUE] = sizing.value
    return p


@dataclass(frozen=True)
class SymbolInputs:
    """One symbol reduced to what the kernel reads (`prepare_symbol`)."""

    symbol: str
    index: pd.DatetimeIndex
    signals: Signals
    instrument: Instrument
    o: np.ndarray
    h: np.ndarray
    lo: np.ndarray
    c: np.ndarray
    spread: np.ndarray
    slip: np.ndarray
    day: np.ndarray
    fx: np.ndarray
    per_tag: bool
    n_slots: int
    fparams: np.ndarray

    @property
    def n_bars(self) -> int:
        return len(self.index)


def prepare_symbol(
    frame: pd.DataFrame,
    signals: Signals,
    instrument: Instrument,
    spec: RunSpec,
    *,
    symbol: str | None = None,
    conversion: Conversion | None = None,
) -> SymbolInputs:
    """The per-bar arrays of one symbol (spread, slippage, UTC day, conversion rate) and its
    kernel parameters, checked against its signals."""
    symbol = symbol or instrument.symbol
    n = len(frame)
    if signals.n_bars != n:
        raise SignalError(
            f"{symbol}: signals were computed on {signals.n_bars} bars, the frame has {n}"
        )
    if n == 0:
        raise ConfigError(f"{symbol}: no bars to backtest")
    execution = spec.execution
    times, day = bar_times(frame.index)
    o, h, lo, c = (_readonly(frame[k].to_numpy()) for k in ("open", "high", "low", "close"))
    fx_mode, fx = conversion_rates(
        instrument, spec.account_currency, spec.conversion_data(conversion), times, c
    )
    per_tag = spec.position_mode == "tag"
    return SymbolInputs(
        symbol=symbol,
        index=frame.index,
        signals=signals,
        instrument=instrument,
        o=o,
        h=h,
        lo=lo,
        c=c,
        spread=_readonly(execution.spread_array(frame, instrument)),
        slip=_readonly(execution.slippage_array(frame, instrument, symbol)),
        day=day,
        fx=_readonly(fx),
        per_tag=per_tag,
        n_slots=max(len(signals.tags), 1) if per_tag else 1,
        fparams=kernel_params(
            instrument, spec.sizing, execution, float(spec.initial_capital), fx_mode
        ),
    )


def simulate_symbol(
    frame: pd.DataFrame,
    signals: Signals,
    instrument: Instrument,
    spec: RunSpec | None = None,
    *,
    symbol: str | None = None,
    conversion: Conversion | None = None,
) -> SymbolRun:
    """Backtest ``signals`` (computed on ``frame``) for one instrument with the execution,
    sizing, position mode, capital and account currency of ``spec`` (default: `RunSpec()`).

    Money is in ``spec.account_currency`` (None: the instrument's quote currency); see
    `tradeforge.trading.fx` for the conversion and what ``conversion`` (the data behind
    ``spec.conversion``) holds."""
    x = prepare_symbol(
        frame, signals, instrument, spec or RunSpec(), symbol=symbol, conversion=conversion
    )
    return run_symbol(x)


def run_symbol(x: SymbolInputs) -> SymbolRun:
    """Run the single-symbol kernel on prepared inputs (its own balance, its own curve)."""
    signals = x.signals
    arrays = K.allocate(x.n_bars, len(signals), x.n_slots)
    precompile.ready("symbol")
    K.simulate(
        x.o, x.h, x.lo, x.c, x.spread, x.slip, x.day, x.fx, pack_signals(signals), x.per_tag,
        x.fparams, **arrays,
    )  # fmt: skip
    eq = arrays["equity"]
    equity = pd.DataFrame(
        {
            EQUITY_COLUMNS[0]: eq[0],
            EQUITY_COLUMNS[1]: eq[1],
            EQUITY_COLUMNS[2]: arrays["open_positions"],
        },
        index=x.index,
        copy=False,  # the kernel's arrays are ours: no 2-D consolidation copy
    )
    return symbol_run(x, arrays, equity)


def symbol_run(
    x: SymbolInputs, arrays: dict[str, np.ndarray], equity: pd.DataFrame | None
) -> SymbolRun:
    """The `SymbolRun` of the kernel's output ``arrays`` for ``x`` (``equity``: its curve,
    None inside a shared portfolio)."""
    counters = arrays["counters"]
    n_trades, n_legs = int(counters[K.C_N_TRADES]), int(counters[K.C_N_LEGS])
    ti, tf = arrays["trades_i"][:n_trades], arrays["trades_f"][:n_trades]
    li, lf = arrays["legs_i"][:n_legs], arrays["legs_f"][:n_legs]
    return SymbolRun(
        symbol=x.symbol,
        trades=_trades_frame(x.symbol, x.index, x.signals, x.instrument, ti, tf),
        legs=_legs_frame(x.symbol, x.index, x.signals, x.instrument, ti, li, lf),
        equity=equity,
        counters={
            name: int(v) for name, v in zip(K.COUNTER_NAMES, counters[: K.N_COUNTERS], strict=True)
        },
    )


def _lots(steps: np.ndarray, inst: Instrument) -> np.ndarray:
    return np.round(steps * inst.lot_step, 8)


_DTYPES: dict[tuple[str, ...], pd.CategoricalDtype] = {}


def _cat(codes: np.ndarray, categories: tuple[str, ...]) -> pd.Categorical:
    """A categorical straight from its codes. Each vocabulary's dtype is built once (the
    fixed ones, and a run's symbol and tags: building one costs more than the column)."""
    categories = tuple(categories)
    dtype = _DTYPES.get(categories)
    if dtype is None:
        if len(_DTYPES) >= 256:
            _DTYPES.clear()
        dtype = _DTYPES[categories] = pd.CategoricalDtype(list(categories))
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _sides(side: np.ndarray) -> pd.Categorical:
    return _cat((side < 0).astype(np.int8), SIDES)


def _trades_frame(symbol, index, s: Signals, inst, ti, tf) -> pd.DataFrame:
    sig = ti[:, K.TI_SIGNAL]
    size = ti[:, K.TI_SIZE]
    exit_bar = ti[:, K.TI_EXIT_BAR]
    with np.errstate(invalid="ignore", divide="ignore"):
        exit_price = tf[:, K.TF_EXIT_VALUE] / size
        r_mult = tf[:, K.TF_PNL_Q] / tf[:, K.TF_RISK_Q]  # R in quote currency
    data = {
        "trade_id": np.arange(len(ti), dtype=np.int64),
        "symbol": _cat(np.zeros(len(ti), dtype=np.int8), (symbol,)),
        "tag": _cat(s.tag[sig], s.tags),
        "side": _sides(s.side[sig]),
        "signal_time": index[s.bar[sig]],
        "entry_time": index[ti[:, K.TI_ENTRY_BAR]],
        "entry_price": tf[:, K.TF_ENTRY],
        "exit_time": index[exit_bar],
        "exit_price": exit_price,
        "size": _lots(size, inst),
        "initial_stop": tf[:, K.TF_INIT_STOP],
        "risk": tf[:, K.TF_RISK],
        "pnl": tf[:, K.TF_PNL],
        "commission": tf[:, K.TF_COMMISSION],
        "r_multiple": r_mult,
        "exit_reason": _cat(ti[:, K.TI_REASON], EXIT_REASONS),
        "bars_held": exit_bar - ti[:, K.TI_ENTRY_BAR],
    }
    return pd.DataFrame({k: data[k] for k in TRADE_COLUMNS}, copy=False)


def _legs_frame(symbol, index, s: Signals, inst, ti, li, lf) -> pd.DataFrame:
    trade = li[:, K.LI_TRADE]
    sig = ti[trade, K.TI_SIGNAL] if len(li) else np.zeros(0, dtype=np.int64)
    data = {
        "trade_id": trade,
        "symbol": _cat(np.zeros(len(li), dtype=np.int8), (symbol,)),
        "tag": _cat(s.tag[sig], s.tags),
        "side": _sides(s.side[sig]),
        "time": index[li[:, K.LI_BAR]],
        "price": lf[:, K.LF_PRICE],
        "size": _lots(li[:, K.LI_STEPS], inst),
        "pnl": lf[:, K.LF_PNL],
        "reason": _cat(li[:, K.LI_REASON], EXIT_REASONS),
    }
    return pd.DataFrame({k: data[k] for k in LEG_COLUMNS}, copy=False)
