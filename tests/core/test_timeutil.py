"""Dates are ISO 8601 only: no day-first/month-first guessing (core/timeutil.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import make_bars
from tradeforge.core.errors import ConfigError
from tradeforge.core.timeutil import parse_time, to_utc
from tradeforge.data.cache import ParquetStore


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-05", "2024-01-05 00:00"),
        ("2024-01-05T10:00", "2024-01-05 10:00"),
        ("2024-01-05 10:00:30", "2024-01-05 10:00:30"),
        ("2024-01-05T10:00Z", "2024-01-05 10:00"),
        ("2024-01-05T10:00+02:00", "2024-01-05 08:00"),
        ("2024-01-05T10:00:00.250-0130", "2024-01-05 11:30:00.250"),
    ],
)
def test_iso_8601_is_read_as_utc(text: str, expected: str) -> None:
    assert parse_time(text) == pd.Timestamp(expected, tz="UTC")


@pytest.mark.parametrize(
    "text", ["05.01.2024", "13/01/2024", "01/05/2024", "2024-1-5", "2024", "Jan 5 2024", "",
             "2024-01-05Z", "20240105"],
)  # fmt: skip
def test_other_date_syntaxes_are_refused_not_guessed(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_time(text, "--start")
    assert str(err.value) == (
        f"invalid --start {text!r}: use ISO 8601, e.g. 2024-01-05 or 2024-01-05T10:00Z"
    )


def test_impossible_dates_name_the_problem() -> None:
    with pytest.raises(ConfigError, match=r"invalid --end '2024-02-30': day is out of range"):
        parse_time("2024-02-30", "--end")


def test_to_utc_is_strict_for_text_and_keeps_timestamps() -> None:
    assert to_utc(pd.Timestamp("2024-01-05 10:00")) == pd.Timestamp("2024-01-05 10:00", tz="UTC")
    with pytest.raises(ConfigError, match="invalid start '05.01.2024'"):
        to_utc("05.01.2024", "start")


def test_store_load_refuses_ambiguous_dates(tmp_path) -> None:
    store = ParquetStore(tmp_path)
    store.write("EURUSD", "M5", make_bars(10), source="test")
    with pytest.raises(ConfigError, match="invalid start '05.01.2024'"):
        store.load("EURUSD", "M5", start="05.01.2024")
