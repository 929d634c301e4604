import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.core.timeframes import Timeframe


@pytest.mark.parametrize(
    ("text", "name", "seconds"),
    [
        ("M1", "M1", 60),
        ("m5", "M5", 300),
        ("5min", "M5", 300),
        ("15m", "M15", 900),
        ("M30", "M30", 1800),
        ("1h", "H1", 3600),
        ("H4", "H4", 14400),
        ("D1", "D1", 86400),
        ("1d", "D1", 86400),
        ("W1", "W1", 604800),
    ],
)
def test_parse(text, name, seconds):
    tf = Timeframe.parse(text)
    assert tf.name == name
    assert tf.seconds == seconds
    assert tf.delta == pd.Timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "X5", "M0", "5M", "hourly", "M-5", "M7", "H5", "D2", "W2"])
def test_parse_rejects(bad):
    with pytest.raises(ConfigError):
        Timeframe.parse(bad)


def test_ordering_and_divides():
    m5, m30, h1, h4 = (Timeframe.parse(x) for x in ("M5", "M30", "H1", "H4"))
    assert m5 < m30 < h1 < h4
    assert m5.divides(m30) and m30.divides(h4)
    assert not m30.divides(m5)
    assert not Timeframe.parse("M15").divides(Timeframe.parse("M20"))


def test_floor_weekly_is_monday():
    ts = pd.Timestamp("2024-01-04 13:00", tz="UTC")  # Thursday
    assert Timeframe.parse("W1").floor(ts) == pd.Timestamp("2024-01-01", tz="UTC")
    assert Timeframe.parse("H4").floor(ts) == pd.Timestamp("2024-01-04 12:00", tz="UTC")
