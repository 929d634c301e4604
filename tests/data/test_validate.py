import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_bars
from tradeforge.core.errors import DataValidationError
from tradeforge.data.validate import validate_ohlcv


def test_valid_frame_passes_and_is_not_mutated(bars):
    before = bars.copy(deep=True)
    out = validate_ohlcv(bars, source="unit")
    pd.testing.assert_frame_equal(bars, before)
    assert list(out.columns) == ["open", "high", "low", "close", "volume", "spread"]
    assert out.index.name == "time"
    assert all(out.dtypes == "float64")


def _broken(mutate):
    frame = make_bars(10)
    mutate(frame)
    return frame


@pytest.mark.parametrize(
    ("mutate", "row", "rule"),
    [
        (
            lambda f: f.__setitem__("close", f["close"].where(f.index != f.index[3], np.nan)),
            3,
            "close is NaN",
        ),
        (
            lambda f: f.__setitem__("high", f["high"].where(f.index != f.index[4], np.inf)),
            4,
            "high is NaN or infinite",
        ),
        (
            lambda f: f.__setitem__("open", f["open"].where(f.index != f.index[2], -1.0)),
            2,
            "open must be positive",
        ),
        (
            lambda f: f.__setitem__("volume", f["volume"].where(f.index != f.index[6], -5.0)),
            6,
            "volume must not be negative",
        ),
        (
            lambda f: f.__setitem__(
                "high", f["high"].where(f.index != f.index[5], f["low"].iloc[5] - 0.001)
            ),
            5,
            "high < low",
        ),
        (
            lambda f: f.__setitem__(
                "high",
                f["high"].where(f.index != f.index[7], np.minimum(f["open"], f["close"]).iloc[7]),
            ),
            7,
            "high < max",
        ),
        (
            lambda f: f.__setitem__(
                "low",
                f["low"].where(f.index != f.index[1], np.maximum(f["open"], f["close"]).iloc[1]),
            ),
            1,
            "low > min",
        ),
    ],
)
def test_each_rule_names_row_and_source(mutate, row, rule):
    frame = _broken(mutate)
    with pytest.raises(DataValidationError, match=rf"^my.csv: row {row} at .*{rule}"):
        validate_ohlcv(frame, source="my.csv")


def test_unsorted_and_duplicate_timestamps():
    frame = make_bars(6)
    idx = frame.index.tolist()
    idx[3], idx[4] = idx[4], idx[3]
    unsorted = frame.set_axis(pd.DatetimeIndex(idx, name="time"))
    with pytest.raises(DataValidationError, match="row 4 .*not sorted"):
        validate_ohlcv(unsorted, source="s")
    idx = frame.index.tolist()
    idx[2] = idx[1]
    dup = frame.set_axis(pd.DatetimeIndex(idx, name="time"))
    with pytest.raises(DataValidationError, match="row 2 .*duplicate timestamp"):
        validate_ohlcv(dup, source="s")


def test_structure_errors():
    frame = make_bars(5)
    with pytest.raises(DataValidationError, match="missing columns \\['volume'\\]"):
        validate_ohlcv(frame.drop(columns="volume"), source="s")
    with pytest.raises(DataValidationError, match="tz-aware UTC"):
        validate_ohlcv(frame.tz_localize(None), source="s")
    with pytest.raises(DataValidationError, match="tz-aware UTC"):
        validate_ohlcv(frame.tz_convert("Europe/Berlin"), source="s")
    with pytest.raises(DataValidationError, match="DatetimeIndex"):
        validate_ohlcv(frame.reset_index(drop=True), source="s")
