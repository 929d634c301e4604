"""R distribution, contribution and Monte Carlo against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.research.rdist import analyze_r, monte_carlo, r_distribution, top_contribution

R = np.array([-1.0, -1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 5.0])


def test_distribution_statistics():
    d = r_distribution(np.r_[R, np.nan, np.inf], alpha=0.2)
    assert d["trades"] == 10
    assert d["mean"] == pytest.approx(0.8)
    assert d["median"] == pytest.approx(0.25)
    assert d["std"] == pytest.approx(np.std(R, ddof=1))
    c = R - R.mean()
    assert d["skew"] == pytest.approx(np.mean(c**3) / np.mean(c**2) ** 1.5)
    assert d["excess_kurtosis"] == pytest.approx(np.mean(c**4) / np.mean(c**2) ** 2 - 3)
    # worst 20 % = 2 trades: -1, -1
    assert d["var"] == -1.0 and d["cvar"] == -1.0
    assert d["upper_tail_mean"] == pytest.approx(4.0)
    assert d["positive_pct"] == pytest.approx(50.0)
    assert d["min"] == -1.0 and d["max"] == 5.0


def test_distribution_of_nothing_and_bad_alpha():
    assert r_distribution(np.array([np.nan]))["trades"] == 0
    with pytest.raises(ConfigError):
        r_distribution(R, alpha=0.7)


def test_top_contribution():
    pnl = np.array([100.0, -50.0, 10.0, -20.0, 400.0])
    out = top_contribution(pnl, pnl / 50.0)
    top1 = out["rows"][0]
    assert top1["k"] == 1 and top1["top_profit"] == 400.0
    assert top1["share_of_net_pct"] == pytest.approx(100 * 400 / 440)
    assert top1["net_without"] == pytest.approx(40.0)
    assert top1["expectancy_r_without"] == pytest.approx((2.0 - 1.0 + 0.2 - 0.4) / 4)
    assert out["rows"][3]["k"] == 1  # 10 % of 5 trades rounds up to 1
    assert out["edge_without_top_1pct"] is True
    assert out["curve"]["net_without"][:2] == [40.0, -60.0]


def test_shuffle_keeps_final_equity_and_is_seeded():
    rng = np.random.default_rng(0)
    pnl = rng.normal(5, 50, 200)
    a = monte_carlo(pnl, 10_000, sims=300, seed=4, mode="shuffle")
    b = monte_carlo(pnl, 10_000, sims=300, seed=4, mode="shuffle")
    assert a["max_drawdown"] == b["max_drawdown"]
    finals = a["samples"]["final_equity"]
    assert np.allclose(finals, 10_000 + pnl.sum())
    assert a["max_drawdown_pct"]["5"] <= a["max_drawdown_pct"]["95"] <= 0


def test_actual_drawdown_by_hand():
    out = monte_carlo(np.array([100.0, -300.0, 50.0, 400.0]), 1000, sims=10, seed=0)
    # equity 1100, 800, 850, 1250: peak 1100 -> trough 800
    assert out["actual"]["max_drawdown"] == -300.0
    assert out["actual"]["max_drawdown_pct"] == pytest.approx(-300 / 1100 * 100)
    assert out["actual"]["final_equity"] == 1250.0


def test_bootstrap_varies_final_equity_and_batches_consistently(monkeypatch):
    import tradeforge.research.rdist as rd

    pnl = np.arange(-20.0, 30.0)
    a = monte_carlo(pnl, 1000, sims=64, seed=1)
    monkeypatch.setattr(rd, "_BATCH_CELLS", 7 * len(pnl))  # several batches, same draws
    b = monte_carlo(pnl, 1000, sims=64, seed=1)
    assert np.ptp(a["samples"]["final_equity"]) > 0
    np.testing.assert_array_equal(a["samples"]["final_equity"], b["samples"]["final_equity"])


def test_analyze_r_sorts_by_exit_time():
    trades = pd.DataFrame(
        {
            "trade_id": [0, 1, 2],
            "exit_time": pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02"], utc=True),
            "pnl": [30.0, -10.0, 20.0],
            "r_multiple": [3.0, -1.0, 2.0],
        }
    )
    doc = analyze_r(trades, 1000.0, sims=20, seed=0)
    assert doc["distribution"]["trades"] == 3
    assert list(doc["r"]) == [-1.0, 2.0, 3.0]
    assert doc["monte_carlo"]["shuffle"]["actual"]["max_drawdown"] == -10.0
