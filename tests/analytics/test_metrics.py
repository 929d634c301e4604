"""Trade and return metrics against hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.analytics.helpers import T0, H, make_result, seven_trades, trade
from tradeforge.analytics import build_report
from tradeforge.analytics._data import equity_of, trades_of
from tradeforge.analytics.metrics import longest_run, return_metrics, trade_metrics


def test_trade_metrics_hand_computed():
    m = trade_metrics(trades_of(make_result(seven_trades())), trading_days=10)
    assert m["trades"] == 7
    assert (m["wins"], m["losses"], m["breakeven"]) == (3, 3, 1)
    assert m["trades_per_day"] == pytest.approx(0.7)
    assert m["win_rate_pct"] == pytest.approx(300 / 7)
    assert m["gross_profit"] == 400.0
    assert m["gross_loss"] == -150.0
    assert m["net_profit"] == 250.0
    assert m["avg_win"] == pytest.approx(400 / 3)
    assert m["avg_loss"] == -50.0
    assert m["payoff_ratio"] == pytest.approx(8 / 3)
    assert m["profit_factor"] == pytest.approx(8 / 3)
    assert m["expectancy"] == pytest.approx(250 / 7)
    assert m["expectancy_r"] == pytest.approx(2.5 / 7)
    assert m["avg_win_r"] == pytest.approx(4 / 3)
    assert m["avg_loss_r"] == -0.5
    # R = 1, 2, -.5, -.5, -.5, 0, 1: sample std 0.988023, SQN = sqrt(7) * 0.357143 / 0.988023
    assert m["sqn"] == pytest.approx(0.956369, rel=1e-5)
    assert (m["largest_win"], m["largest_loss"]) == (200.0, -50.0)
    assert (m["max_win_streak"], m["max_loss_streak"]) == (2, 3)
    assert m["avg_holding_s"] == pytest.approx(10 * 3600 / 7)
    assert m["avg_bars_held"] == pytest.approx(120 / 7)


def test_streaks_follow_exit_order_not_row_order():
    rows = seven_trades()
    shuffled = [rows[i] for i in (6, 2, 0, 5, 3, 1, 4)]
    a = trade_metrics(trades_of(make_result(rows)))
    b = trade_metrics(trades_of(make_result(shuffled)))
    assert a == b


def test_undefined_ratios_are_none_not_nan():
    only_wins = [trade(10.0, entry=T0, exit=T0 + H), trade(20.0, entry=T0, exit=T0 + 2 * H)]
    m = trade_metrics(trades_of(make_result(only_wins)))
    assert m["profit_factor"] is None
    assert m["payoff_ratio"] is None
    assert m["avg_loss"] is None and m["largest_loss"] is None
    one = trade_metrics(trades_of(make_result(only_wins[:1])))
    assert one["sqn"] is None


def test_zero_risk_trades_have_no_r():
    rows = [trade(10.0, entry=T0, exit=T0 + H, risk=0.0), trade(-5.0, entry=T0, exit=T0 + H)]
    m = trade_metrics(trades_of(make_result(rows)))
    assert m["r_trades"] == 1
    assert m["expectancy_r"] == pytest.approx(-0.05)


def test_empty_trades():
    m = trade_metrics(trades_of(make_result([])), trading_days=5)
    assert m["trades"] == 0 and m["net_profit"] == 0.0 and m["trades_per_day"] == 0.0
    assert m["win_rate_pct"] is None and m["expectancy"] is None and m["sqn"] is None


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], 0), ([False], 0), ([True], 1), ([1, 1, 0, 1, 1, 1, 0], 3), ([0, 1, 1], 2)],
)
def test_longest_run(flags, expected):
    assert longest_run(np.asarray(flags, dtype=bool)) == expected


def _weekday_closes(closes, first_day="2024-01-01"):
    """One bar per weekday at 21:00 UTC."""
    days = pd.bdate_range(first_day, periods=len(closes), tz="UTC")
    return [d + pd.Timedelta(hours=21) for d in days]


def test_daily_returns_sharpe_sortino():
    closes = [1010.0, 1000.0, 1020.0, 1020.0, 1030.0]
    times = _weekday_closes(closes)
    res = make_result([], equity=closes, times=times, initial=1000.0)
    m = return_metrics(equity_of(res), 1000.0, max_drawdown_pct=None)
    # hand: 1010/1000-1, 1000/1010-1, 1020/1000-1, 0, 1030/1020-1
    r = np.array([0.01, -0.00990099009901, 0.02, 0.0, 0.00980392156863])
    assert m["trading_days"] == 5
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(260), rel=1e-9)
    downside = math.sqrt((0.00990099009901**2) / 5)
    assert m["sortino"] == pytest.approx(r.mean() / downside * math.sqrt(260), rel=1e-9)
    assert m["net_profit"] == 30.0 and m["return_pct"] == pytest.approx(3.0)
    assert m["volatility_ann_pct"] == pytest.approx(100 * r.std(ddof=1) * math.sqrt(260))


def test_weekend_bars_fold_into_monday():
    sunday = pd.Timestamp("2024-01-07 22:00", tz="UTC")
    times = [sunday, sunday + H, sunday + 23 * H, sunday + 47 * H]  # Sun, Sun, Mon, Tue
    res = make_result([], equity=[1001.0, 1002.0, 1010.0, 1020.0], times=times, initial=1000.0)
    m = return_metrics(equity_of(res), 1000.0, None)
    assert m["trading_days"] == 2  # Sunday's bars belong to Monday's session
    r = np.array([0.01, 1020 / 1010 - 1])
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(260))


def test_cagr_calmar_exposure():
    start = pd.Timestamp("2021-01-04 00:00", tz="UTC")
    end = start + pd.Timedelta(days=2 * 365.25)
    res = make_result(
        [],
        equity=[1000.0, 900.0, 1100.0, 1210.0],
        times=[start, start + H, start + 2 * H, end],
        open_positions=[0, 1, 1, 0],
        initial=1000.0,
    )
    report = build_report(res)
    ret = report.summary["returns"]
    assert ret["years"] == pytest.approx(2.0)
    assert ret["cagr_pct"] == pytest.approx(10.0)
    assert report.summary["drawdown"]["max_drawdown_pct"] == pytest.approx(-10.0)
    assert ret["calmar"] == pytest.approx(1.0)
    assert ret["exposure_pct"] == 50.0


def test_wiped_out_account_does_not_crash():
    res = make_result([], equity=[500.0, -20.0], initial=1000.0)
    report = build_report(res)
    assert report.summary["returns"]["cagr_pct"] == -100.0
    assert "NaN" not in report.to_json()
