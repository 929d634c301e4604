import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.data.checksum import frame_checksum
from tradeforge.data.sources.synthetic import SyntheticParams, SyntheticSource, generate_bars
from tradeforge.data.validate import validate_ohlcv


def test_same_seed_same_bytes_other_seed_differs():
    a = generate_bars("EURUSD", "M5", "2024-01-01", "2024-02-01", seed=3)
    b = generate_bars("EURUSD", "M5", "2024-01-01", "2024-02-01", seed=3)
    c = generate_bars("EURUSD", "M5", "2024-01-01", "2024-02-01", seed=4)
    assert frame_checksum(a) == frame_checksum(b)
    assert frame_checksum(a) != frame_checksum(c)


def test_valid_fx_calendar_and_spread():
    f = generate_bars("EURUSD", "M15", "2024-01-01", "2024-03-01", seed=1)
    validate_ohlcv(f)
    week_s = (f.index - f.index.normalize()).total_seconds() + f.index.day_of_week * 86400
    closed = (week_s >= 4 * 86400 + 22 * 3600) & (week_s < 6 * 86400 + 22 * 3600)
    assert not closed.any()  # nothing between Friday 22:00 and Sunday 22:00
    assert (f["spread"] > 0).all()
    assert np.allclose(f["open"], np.round(f["open"], 5))
    # rollover spread wider than the London-session spread on average
    hours = f.index.hour
    assert f["spread"][hours == 21].mean() > f["spread"][hours == 9].mean()


def test_weekend_gap_and_volatility_clustering():
    f = generate_bars("EURUSD", "H1", "2020-01-01", "2023-01-01", seed=5)
    prev_close = f["close"].shift(1)
    gaps = (f["open"] - prev_close).abs()
    monday_open = f.index.to_series().diff() > pd.Timedelta(hours=6)
    assert gaps[monday_open].mean() > 5 * gaps[~monday_open].iloc[1:].mean()
    r = np.log(f["close"]).diff().dropna().to_numpy()
    abs_r = np.abs(r)
    lag1 = np.corrcoef(abs_r[:-1], abs_r[1:])[0, 1]
    assert lag1 > 0.1  # |returns| autocorrelated: volatility clusters


def test_intraday_seasonality():
    f = generate_bars("EURUSD", "M5", "2024-01-01", "2024-07-01", seed=2)
    rng = (f["high"] - f["low"]).groupby(f.index.hour).mean()
    assert rng.loc[13:15].mean() > 2 * rng.loc[0:3].mean()


def test_higher_timeframes_and_continuous_calendar():
    d1 = generate_bars("USDJPY", "D1", "2024-01-01", "2024-03-01")
    assert d1["close"].between(50, 250).all()
    m5 = generate_bars(
        "EURUSD", "M5", "2024-01-01", "2024-01-08", params=SyntheticParams(calendar="continuous")
    )
    assert len(m5) == 7 * 288


def test_source_protocol_and_errors():
    src = SyntheticSource(seed=9)
    out = src.fetch(
        "GBPUSD", "H1", pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-10", tz="UTC")
    )
    assert out.index[0] >= pd.Timestamp("2024-01-01", tz="UTC")
    with pytest.raises(ConfigError, match="must be after"):
        generate_bars("EURUSD", "H1", "2024-02-01", "2024-01-01")
    with pytest.raises(ConfigError, match="calendar"):
        generate_bars(
            "EURUSD", "H1", "2024-01-01", "2024-01-05", params=SyntheticParams(calendar="moon")
        )
