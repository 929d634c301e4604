"""Breakdown tables, period returns and stability windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.analytics.helpers import T0, H, make_result, seven_trades, trade
from tradeforge.analytics import build_report
from tradeforge.analytics._data import equity_of, trades_of
from tradeforge.analytics.breakdowns import breakdown_tables, period_returns
from tradeforge.analytics.stability import stability


def _row(frame, key, value):
    return frame.set_index(key).loc[value]


def test_by_tag_hand_computed():
    tables = breakdown_tables(trades_of(make_result(seven_trades())))
    tag = tables["tag"]
    assert tag["tag"].tolist() == ["A", "B"]
    a, b = _row(tag, "tag", "A"), _row(tag, "tag", "B")
    assert a["trades"] == 3 and a["net_profit"] == 250 and a["profit_factor"] == 6.0
    assert a["win_rate_pct"] == pytest.approx(200 / 3)
    assert a["expectancy"] == pytest.approx(250 / 3) and a["expectancy_r"] == pytest.approx(2.5 / 3)
    assert b["trades"] == 4 and b["net_profit"] == 0 and b["profit_factor"] == 1.0
    assert b["win_rate_pct"] == 25.0 and b["expectancy_r"] == 0.0
    assert b["avg_bars_held"] == pytest.approx((12 * 3 + 48) / 4)


def test_by_side_reason_month_year():
    tables = breakdown_tables(trades_of(make_result(seven_trades())))
    side = tables["side"].set_index("side")
    assert side.loc["long", "net_profit"] == 100 and side.loc["short", "net_profit"] == 150
    reason = tables["exit_reason"].set_index("exit_reason")
    assert reason["trades"].to_dict() == {"breakeven": 1, "stop": 3, "target": 2, "time": 1}
    assert np.isnan(reason.loc["target", "profit_factor"])  # no losses
    month = tables["month"].set_index("month")
    assert month["trades"].to_dict() == {"2024-01": 4, "2024-02": 3}
    assert month["net_profit"].to_dict() == {"2024-01": 200.0, "2024-02": 50.0}
    assert tables["year"]["year"].tolist() == ["2024"] and tables["year"]["trades"].tolist() == [7]


def test_categorical_labels_match_strings():
    res = make_result(seven_trades())
    cat = res.trades.copy()
    cat["tag"] = pd.Categorical(cat["tag"], categories=["unused", "B", "A"])
    res.trades = cat
    tag = breakdown_tables(trades_of(res))["tag"]
    assert tag["tag"].tolist() == ["A", "B"]  # unused category dropped, sorted by name
    assert tag["trades"].tolist() == [3, 4]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-500, 500, allow_nan=False), st.sampled_from("xyz"), st.integers(0, 400)
        ),
        min_size=1,
        max_size=40,
    )
)
def test_breakdowns_add_up_to_totals(rows):
    trades = [trade(p, entry=T0 + d * H, exit=T0 + (d + 1) * H * 30, tag=t) for p, t, d in rows]
    report = build_report(make_result(trades))
    total = report.summary["trades"]
    for name, frame in report.breakdowns.items():
        assert frame["trades"].sum() == total["trades"], name
        assert frame["net_profit"].sum() == pytest.approx(total["net_profit"], abs=1e-6), name


def test_period_returns():
    times = [
        pd.Timestamp(t, tz="UTC")
        for t in ("2023-12-28 10:00", "2024-01-15 10:00", "2024-01-31 10:00", "2024-02-01 10:00")
    ]
    res = make_result([], equity=[1100.0, 1000.0, 1210.0, 1089.0], times=times, initial=1000.0)
    p = period_returns(equity_of(res), 1000.0)
    m = p["monthly"]
    assert list(zip(m["year"], m["month"], strict=True)) == [(2023, 12), (2024, 1), (2024, 2)]
    np.testing.assert_allclose(m["return_pct"], [10.0, 10.0, -10.0])
    y = p["yearly"]
    assert y["year"].tolist() == [2023, 2024]
    np.testing.assert_allclose(y["return_pct"], [10.0, -1.0])
    np.testing.assert_allclose(y["net_profit"], [100.0, -11.0])


def test_stability_equal_windows():
    # 4 days of hourly equity, 2 windows of 2 days; trades exit on day 0, 1, 3
    times = [T0 + i * H for i in range(96)]
    equity = np.linspace(1000.0, 1100.0, 96)
    rows = [
        trade(50.0, entry=T0, exit=T0 + 5 * H),
        trade(-20.0, entry=T0, exit=T0 + 30 * H),
        trade(70.0, entry=T0, exit=T0 + 80 * H),
    ]
    res = make_result(rows, equity=equity, times=times, initial=1000.0)
    s = stability(trades_of(res), equity_of(res), 1000.0, windows=2)
    t = s["table"]
    assert t["trades"].tolist() == [2, 1]
    assert t["net_profit"].tolist() == [30.0, 70.0]
    assert t["expectancy"].tolist() == [15.0, 70.0]
    assert s["profitable_windows"] == 2 and s["profitable_share_pct"] == 100.0
    assert s["expectancy_mean"] == pytest.approx(42.5)
    assert s["expectancy_std"] == pytest.approx(np.std([15.0, 70.0], ddof=1))
    assert s["expectancy_cv"] == pytest.approx(np.std([15.0, 70.0], ddof=1) / 42.5)
    # equity window returns chain: (1+r1)(1+r2) = 1100/1000
    r = t["return_pct"].to_numpy() / 100
    assert (1 + r[0]) * (1 + r[1]) == pytest.approx(1.1)
    assert t["start"].iloc[0] == T0 and t["end"].iloc[-1] == times[-1]


def test_stability_by_year_with_an_empty_window():
    times = [pd.Timestamp(t, tz="UTC") for t in ("2022-06-01", "2023-06-01", "2024-06-01")]
    rows = [
        trade(10.0, entry=times[0], exit=times[0] + H),
        trade(-30.0, entry=times[2], exit=times[2] + H),
    ]
    res = make_result(rows, equity=[1000.0, 1010.0, 980.0], times=times, initial=1000.0)
    s = stability(trades_of(res), equity_of(res), 1000.0, windows=None)
    t = s["table"]
    assert s["mode"] == "year" and t["window"].tolist() == ["2022", "2023", "2024"]
    assert t["trades"].tolist() == [1, 0, 1]
    assert t["net_profit"].tolist() == [10.0, 0.0, -30.0]
    assert s["profitable_windows"] == 1
    assert s["expectancy_mean"] == pytest.approx(-10.0)  # the empty year has no expectancy
