"""Drawdown series and episode statistics on hand-built equity curves."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.analytics.helpers import T0, H, make_result
from tradeforge.analytics._data import equity_of
from tradeforge.analytics.drawdown import drawdown_series, drawdown_stats


def _dd(values, initial=100.0):
    eq = equity_of(make_result([], equity=values, initial=initial))
    return drawdown_series(eq, initial)


def test_series_and_unrecovered_episode():
    dd = _dd([100, 110, 105, 99, 120, 90, 95])
    np.testing.assert_allclose(dd.peak, [100, 110, 110, 110, 120, 120, 120])
    np.testing.assert_allclose(dd.money, [0, 0, -5, -11, 0, -30, -25])
    np.testing.assert_allclose(dd.pct, [0, 0, -500 / 110, -10, 0, -25, -2500 / 120])
    s = drawdown_stats(dd)
    assert s["max_drawdown"] == -30.0
    assert s["max_drawdown_pct"] == pytest.approx(-25.0)
    assert s["peak_time"] == T0 + 4 * H
    assert s["trough_time"] == T0 + 5 * H
    assert s["recovery_time"] is None and s["recovered"] is False
    assert s["duration_s"] == 2 * 3600  # to the last bar
    # under water 01:00 -> 04:00 (3h) and 04:00 -> 06:00 (2h, unrecovered)
    assert s["longest_underwater_s"] == 3 * 3600
    assert s["longest_underwater_start"] == T0 + H
    assert s["longest_underwater_end"] == T0 + 4 * H


def test_recovered_episode():
    s = drawdown_stats(_dd([100, 90, 80, 100, 101]))
    assert s["max_drawdown_pct"] == pytest.approx(-20.0)
    assert s["peak_time"] == T0
    assert s["trough_time"] == T0 + 2 * H
    assert s["recovery_time"] == T0 + 3 * H and s["recovered"] is True
    assert s["duration_s"] == 3 * 3600


def test_losing_from_the_first_bar_measures_from_initial_capital():
    dd = _dd([95, 90, 100])
    np.testing.assert_allclose(dd.pct, [-5, -10, 0])
    s = drawdown_stats(dd)
    assert s["peak_time"] == T0 and s["recovery_time"] == T0 + 2 * H
    assert s["longest_underwater_s"] == 2 * 3600


def test_money_and_percent_maxima_can_differ():
    # -10 of 100 (10 %) early; -15 of 300 (5 %) later
    s = drawdown_stats(_dd([90, 300, 285], initial=100.0))
    assert s["max_drawdown"] == -15.0
    assert s["max_drawdown_pct"] == pytest.approx(-10.0)


def test_no_drawdown_and_empty():
    s = drawdown_stats(_dd([100, 101, 102]))
    assert s["max_drawdown"] == 0.0 and s["max_drawdown_pct"] == 0.0
    assert s["peak_time"] is None and s["longest_underwater_s"] == 0.0
    empty = drawdown_stats(_dd([]))
    assert all(v is None for v in empty.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=1, max_size=60))
def test_drawdown_invariants(values):
    dd = _dd(values, initial=values[0])
    assert (dd.money <= 0).all() and (dd.pct <= 0).all() and (dd.pct > -100).all()
    assert (np.diff(dd.peak) >= 0).all()
    s = drawdown_stats(dd)
    assert s["max_drawdown"] == pytest.approx(float(dd.money.min()))
    if s["peak_time"] is not None:
        assert s["peak_time"] <= s["trough_time"]
        assert s["duration_s"] <= s["longest_underwater_s"] + 1e-9
