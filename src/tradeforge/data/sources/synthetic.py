"""Seeded synthetic FX-like bars for demos, tests and benchmarks.

The generator models what makes real FX bars awkward for a backtester:

* volatility clustering — per-bar volatility follows a mean-reverting AR(1) process in log space;
* intraday seasonality — quiet Asian session, active London and New York, busiest overlap;
* gaps — the weekly open gaps away from Friday's close, plus rare intraday jumps;
* a ``spread`` column that widens around the daily rollover and when volatility is high.

Bars are bid prices rounded to the instrument's digits. The ``fx`` calendar trades from Sunday
22:00 to Friday 22:00 UTC; ``continuous`` trades around the clock (used by the reference
benchmark, whose 2019–2025 M5 set has ~736k bars). Same arguments, same bytes.

`wave_bars` is the other kind: a few bars of a smooth wave, for code that needs a frame's
columns and dtypes but not its values (compiling a strategy's or the backtest's kernels).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.data.resample import resample_ohlcv
from tradeforge.data.validate import validate_ohlcv

_YEAR_SECONDS = 260 * 86400  # trading-year convention for annualised volatility
_START_PRICES = {"fx": 1.15, "fx_jpy": 110.0, "metal": 1800.0, "index": 15000.0}
#: hourly activity (UTC hour -> relative volatility), mean normalised to 1 at use
_HOURLY_ACTIVITY = np.array(
    [0.55, 0.5, 0.5, 0.55, 0.6, 0.6, 0.7, 1.0, 1.35, 1.35, 1.2, 1.1,
     1.3, 1.6, 1.7, 1.6, 1.3, 1.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5]
)  # fmt: skip


@dataclass(frozen=True)
class SyntheticParams:
    """Knobs of the generator (defaults resemble a major FX pair)."""

    annual_vol: float = 0.08
    vol_persistence: float = 0.995  # per-hour AR(1) coefficient of log-volatility
    vol_of_vol: float = 0.08  # per-hour shock size of log-volatility
    jump_probability: float = 0.0005  # per bar
    jump_size: float = 6.0  # in bar standard deviations
    weekend_gap: float = 8.0  # std of the weekly-open gap, in bar standard deviations
    spread_pips: float = 0.6
    calendar: str = "fx"  # "fx" or "continuous"
    start_price: float | None = None


@njit(cache=True)
def _log_vol_path(shocks: np.ndarray, phi: float) -> np.ndarray:
    out = np.empty_like(shocks)
    level = 0.0
    for i in range(shocks.shape[0]):
        level = phi * level + shocks[i]
        out[i] = level
    return out


def _bar_times(start: pd.Timestamp, end: pd.Timestamp, tf: Timeframe, calendar: str):
    step = tf.seconds * 1_000_000_000
    first = -(-start.as_unit("ns").value // step) * step
    times = np.arange(first, end.as_unit("ns").value, step, dtype=np.int64)
    if calendar == "continuous":
        return times
    if calendar != "fx":
        raise ConfigError(f"unknown synthetic calendar {calendar!r}; use 'fx' or 'continuous'")
    # seconds since Monday 00:00 of the bar's week; FX closes Fri 22:00, opens Sun 22:00
    week_s = ((times // 1_000_000_000) - 4 * 86400) % (7 * 86400)
    open_mask = (week_s < 4 * 86400 + 22 * 3600) | (week_s >= 6 * 86400 + 22 * 3600)
    return times[open_mask]


def _seed_for(seed: int, symbol: str, tf: Timeframe) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(symbol.encode()), tf.seconds])


def generate_bars(
    symbol: str,
    timeframe: Timeframe | str,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    seed: int = 42,
    params: SyntheticParams | None = None,
    instrument: Instrument | None = None,
) -> pd.DataFrame:
    """Bars with open times in ``[start, end)``; timeframes above H1 are built from H1 bars."""
    tf = Timeframe.parse(timeframe)
    params = params or SyntheticParams()
    inst = instrument or get_instrument(symbol)
    start_ts, end_ts = to_utc(start, "start"), to_utc(end, "end")
    if end_ts <= start_ts:
        raise ConfigError(f"end {end_ts} must be after start {start_ts}")
    if tf.seconds > 3600:
        hourly = generate_bars(symbol, "H1", start_ts, end_ts, seed, params, inst)
        return resample_ohlcv(hourly, tf)

    times = _bar_times(start_ts, end_ts, tf, params.calendar)
    n = len(times)
    if n == 0:
        raise ConfigError(f"no {params.calendar} trading bars between {start_ts} and {end_ts}")
    rng = _seed_for(seed, inst.symbol, tf)
    bars_per_hour = 3600 / tf.seconds
    base_sigma = params.annual_vol * np.sqrt(tf.seconds / _YEAR_SECONDS)

    hours = (times // 3_600_000_000_000) % 24
    seasonal = _HOURLY_ACTIVITY[hours] / _HOURLY_ACTIVITY.mean()
    phi = params.vol_persistence ** (1.0 / bars_per_hour)
    shock_scale = params.vol_of_vol / np.sqrt(bars_per_hour)
    log_vol = _log_vol_path(rng.standard_normal(n) * shock_scale, phi)
    log_vol -= 0.5 * shock_scale**2 / (1 - phi**2)  # keep E[exp(log_vol)^2] near 1
    sigma = base_sigma * seasonal * np.exp(log_vol)

    returns = sigma * rng.standard_normal(n)
    gaps = np.zeros(n)
    jumps = rng.random(n) < params.jump_probability
    gaps[jumps] = rng.standard_normal(jumps.sum()) * params.jump_size * sigma[jumps]
    if n > 1:
        after_break = np.r_[False, np.diff(times) > 6 * 3600 * 1_000_000_000]
        gaps[after_break] += (
            rng.standard_normal(after_break.sum()) * params.weekend_gap * (sigma[after_break])
        )

    p0 = params.start_price or _default_start_price(inst)
    log_close = np.log(p0) + np.cumsum(gaps + returns)
    close = np.exp(log_close)
    open_ = np.exp(log_close - returns)  # open after the gap, before the bar's move
    wick_up = np.abs(rng.standard_normal(n)) * sigma * 0.6
    wick_dn = np.abs(rng.standard_normal(n)) * sigma * 0.6
    high = np.maximum(open_, close) * np.exp(wick_up)
    low = np.minimum(open_, close) * np.exp(-wick_dn)

    rollover = np.isin(hours, (21, 22))
    spread_pips = params.spread_pips * (1 + 2.0 * rollover) * np.clip(np.exp(log_vol), 0.5, 4)
    spread = np.round(spread_pips * inst.pip_size / inst.tick_size) * inst.tick_size
    spread = np.maximum(spread, inst.tick_size)
    volume = np.round(
        200 * bars_per_hour**-0.5 * seasonal * np.exp(log_vol) * rng.lognormal(0, 0.3, n)
    )

    frame = pd.DataFrame(
        {
            "open": np.round(open_, inst.digits),
            "high": np.round(high, inst.digits),
            "low": np.round(low, inst.digits),
            "close": np.round(close, inst.digits),
            "volume": volume + 1.0,
            "spread": np.round(spread, inst.digits + 1),
        },
        index=pd.DatetimeIndex(times.astype("datetime64[ns]"), name="time").tz_localize("UTC"),
    )
    return validate_ohlcv(frame, source=f"synthetic {inst.symbol} {tf}")


def wave_bars(timeframe: str, count: int) -> pd.DataFrame:
    """``count`` bars of ``timeframe`` ending 2024-01-05 (a smooth wave around 1.1): the
    columns and dtypes of stored bars, values of no interest."""
    step = pd.Timedelta(seconds=Timeframe.parse(timeframe).seconds)
    index = pd.date_range(
        end=pd.Timestamp("2024-01-05", tz="UTC"), periods=count, freq=step, name="time"
    )
    wave = 1.1 + 0.002 * np.sin(np.arange(count + 1) / 5.0)
    o, c = wave[:-1], wave[1:]
    return pd.DataFrame(
        {"open": o, "high": np.maximum(o, c) + 0.0003, "low": np.minimum(o, c) - 0.0003,
         "close": c, "volume": np.full(count, 100.0), "spread": np.full(count, 0.0001)},
        index=index,
    )  # fmt: skip


def _default_start_price(inst: Instrument) -> float:
    if inst.asset_class == "fx":
        return _START_PRICES["fx_jpy"] if inst.quote_currency == "JPY" else _START_PRICES["fx"]
    return _START_PRICES.get(inst.asset_class, 100.0)


class SyntheticSource:
    """`DataSource` over `generate_bars` (seeded, deterministic)."""

    name = "synthetic"

    def __init__(self, seed: int = 42, params: SyntheticParams | None = None) -> None:
        self.seed = seed
        self.params = params or SyntheticParams()

    def fetch(
        self, symbol: str, timeframe: Timeframe, start: pd.Timestamp, end: pd.Timestamp
    ) -> pd.DataFrame:
        return generate_bars(symbol, timeframe, start, end, seed=self.seed, params=self.params)
