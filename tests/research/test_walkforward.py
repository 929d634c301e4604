"""Walk-forward: fold geometry, stitching, efficiency, validation and backends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.research.backends import ProcessBackend
from tradeforge.research.objective import Objective
from tradeforge.research.space import ParameterSpace
from tradeforge.research.walkforward import Length, WalkForwardConfig, make_folds, walk_forward
from tradeforge.strategy import get_strategy

SMA = get_strategy("sma_cross")
HOURS = pd.date_range("2024-01-01", periods=100, freq="1h", tz="UTC")


def _ns(i: int) -> int:
    return int(HOURS[i].as_unit("ns").value) if i < 100 else int(HOURS[-1].value) + 3600 * 10**9


def test_rolling_bar_folds():
    folds = make_folds(HOURS, WalkForwardConfig.build("40", "20"))
    assert [(f.train, f.test) for f in folds] == [
        ((_ns(0), _ns(40)), (_ns(40), _ns(60))),
        ((_ns(20), _ns(60)), (_ns(60), _ns(80))),
        ((_ns(40), _ns(80)), (_ns(80), _ns(100))),
    ]


def test_anchored_bar_folds_with_validation_and_step():
    cfg = WalkForwardConfig.build("30", "20", validation="10", step="25", scheme="anchored")
    folds = make_folds(HOURS, cfg)
    assert [(f.train, f.validation, f.test) for f in folds] == [
        ((_ns(0), _ns(30)), (_ns(30), _ns(40)), (_ns(40), _ns(60))),
        ((_ns(0), _ns(55)), (_ns(55), _ns(65)), (_ns(65), _ns(85))),
    ]


def test_calendar_folds():
    days = pd.date_range("2024-01-01", "2024-06-30 23:00", freq="1h", tz="UTC")
    folds = make_folds(days, WalkForwardConfig.build("2M", "1M"))
    starts = [pd.Timestamp(f.test[0], tz="UTC").strftime("%Y-%m-%d") for f in folds]
    assert starts == ["2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01"]
    assert pd.Timestamp(folds[0].train[0], tz="UTC") == pd.Timestamp("2024-01-01", tz="UTC")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train": "6X", "test": "1M"}, "use bars"),
        ({"train": "100", "test": "1M"}, "all be bars or all be calendar"),
        ({"train": "100", "test": "10", "scheme": "expanding"}, "scheme must be"),
    ],
)
def test_bad_configs(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        WalkForwardConfig.build(**kwargs)


def test_no_fold_fits():
    with pytest.raises(ConfigError, match="no complete walk-forward fold"):
        make_folds(HOURS, WalkForwardConfig.build("90", "20"))


def test_length_parse():
    assert Length.parse("2000").bars == 2000
    assert Length.parse("1q").offset == pd.DateOffset(months=3)


@pytest.fixture(scope="module")
def wf(h1_bars):
    space = ParameterSpace.from_specs(SMA, ["fast=5:15:5", "slow=30,50"])
    cfg = WalkForwardConfig.build("1200", "600")
    return walk_forward(SMA, {"EURUSD": h1_bars}, space, cfg, objective=Objective("net_profit"))


def test_walkforward_oos_trades_stay_in_test_windows(wf):
    assert wf.summary["folds"] == len(wf.folds) >= 2
    trades = wf.oos.trades
    assert len(trades) == wf.folds["oos_trades"].sum()
    starts = pd.DatetimeIndex(wf.folds["test_start"])
    ends = pd.DatetimeIndex(wf.folds["test_end"])
    entry = pd.DatetimeIndex(trades["entry_time"])
    inside = np.zeros(len(trades), dtype=bool)
    for s, e in zip(starts, ends, strict=True):
        inside |= (entry >= s) & (entry < e)
    assert inside.all()


def test_stitched_equity_chains_fold_pnl(wf):
    eq = wf.equity
    final = eq["equity"].iloc[-1]
    assert final == pytest.approx(100_000.0 + wf.folds["oos_net_profit"].sum(), abs=1e-6)
    for fold, part in eq.groupby("fold"):
        row = wf.folds.set_index("fold").loc[fold]
        assert part.index.min() >= row["test_start"] and part.index.max() < row["test_end"]


def test_efficiency_follows_its_definition(wf):
    f = wf.folds
    years = lambda a, b: (b - a) / pd.Timedelta(days=365.25)  # noqa: E731
    is_rate = f["is_net_profit"] / years(f["train_start"], f["train_end"])
    oos_rate = f["oos_net_profit"] / years(f["test_start"], f["test_end"])
    for i in range(len(f)):
        expected = oos_rate[i] / is_rate[i] if is_rate[i] > 0 else np.nan
        assert f["wfe"][i] == pytest.approx(expected, nan_ok=True)
    total_years = years(f["test_start"], f["test_end"]).sum()
    overall = f["oos_net_profit"].sum() / total_years / is_rate.mean()
    if is_rate.mean() > 0:
        assert wf.summary["wfe"] == pytest.approx(overall)
    # chosen parameters are the best train trial of each fold
    for fold, trials in wf.trials.groupby("fold"):
        ok = trials[trials["status"] == "ok"]
        best = ok.loc[ok["objective"].idxmax()]
        assert f.loc[fold, "is_objective"] == best["objective"]


def test_walkforward_with_validation_is_backend_independent(h1_bars):
    space = ParameterSpace.from_specs(SMA, ["fast=5:15:5", "slow=30,50"])
    cfg = WalkForwardConfig.build("1000", "500", validation="400", top_k=3)
    a = walk_forward(SMA, {"EURUSD": h1_bars}, space, cfg)
    with ProcessBackend(2) as backend:
        b = walk_forward(SMA, {"EURUSD": h1_bars}, space, cfg, backend=backend)
    pd.testing.assert_frame_equal(a.folds, b.folds)
    pd.testing.assert_frame_equal(a.equity, b.equity)
    assert a.folds["validation_start"].notna().all()
