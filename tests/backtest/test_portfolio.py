"""Shared-cash portfolio: several symbols on one balance (hand-computed, EURUSD and GBPUSD:
1 lot = $10 a pip, a lot step of 0.01 = $0.10 a pip)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.backtest import Sizing, combine_runs, run_backtest, write_result
from tradeforge.backtest.engine import prepare_symbol, simulate_symbol
from tradeforge.backtest.portfolio import run_portfolio
from tradeforge.core.errors import ConfigError
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.strategy import create_strategy
from tradeforge.strategy.signals import make_signals
from tradeforge.trading.spec import RunSpec

from .helpers import bars, flat

P = 0.0001


def _both(frames, signals, sizing, capital=100_000.0):
    """The shared portfolio and the sub-accounts result of precomputed ``signals``."""
    out = {}
    for mode in ("shared", "sub-accounts"):
        spec = RunSpec(
            symbols=tuple(frames), sizing=sizing, initial_capital=capital, portfolio=mode
        )
        if mode == "shared":
            inputs = [
                prepare_symbol(frames[s], signals[s], spec.instrument(s), spec, symbol=s)
                for s in frames
            ]
            runs, equity = run_portfolio(inputs, capital)
        else:
            runs = [
                simulate_symbol(frames[s], signals[s], spec.instrument(s), spec, symbol=s)
                for s in sorted(frames)
            ]
            equity = None
        out[mode] = combine_runs(runs, capital, config={}, checksums={}, equity=equity)
    return out["shared"], out["sub-accounts"]


def _trades(result):
    return result.trades[["symbol", "entry_time", "entry_price", "size", "exit_price", "pnl"]]


def test_fixed_sizing_equity_is_the_capital_plus_both_symbols_pnl():
    eur = bars([*flat(1.1000), (1.1000, 1.1010, 1.0995, 1.1008), (1.1008, 1.1012, 1.1000, 1.1004),
                *flat(1.1004)])  # fmt: skip
    gbp = bars([*flat(1.2500), (1.2500, 1.2505, 1.2490, 1.2492), (1.2492, 1.2495, 1.2480, 1.2485),
                *flat(1.2485)])  # fmt: skip
    signals = {
        "EURUSD": make_signals(4, [0], 1, stop_distance=10 * P),
        "GBPUSD": make_signals(4, [0], -1, stop_distance=10 * P),
    }
    shared, subs = _both({"EURUSD": eur, "GBPUSD": gbp}, signals, Sizing("fixed", 1.0))
    pd.testing.assert_frame_equal(_trades(shared), _trades(subs))
    # EURUSD long from 1.1000: +8, +4, +4 pips; GBPUSD short from 1.2500: +8, +15, +15 pips
    assert shared.equity["equity"].tolist() == pytest.approx([100_000, 100_160, 100_190, 100_190])
    assert shared.equity["balance"].tolist() == pytest.approx([100_000, 100_000, 100_000, 100_190])
    assert shared.equity["open_positions"].tolist() == [0, 2, 2, 0]
    assert shared.initial_capital == 100_000.0
    assert subs.initial_capital == 200_000.0  # two sub-accounts of 100k
    np.testing.assert_allclose(
        shared.equity["equity"].to_numpy(), subs.equity["equity"].to_numpy() - 100_000.0
    )


def _loser_then_second_symbol(second_signal_bar):
    """EURUSD buys at bar 1's open 1.1000 with a 10-pip stop hit inside bar 1; GBPUSD sells
    (20-pip stop) from its signal bar's next open. Risk 1 % of a 10,000 balance."""
    eur = bars([*flat(1.1000), (1.1000, 1.1002, 1.0980, 1.0985), *flat(1.0985, 3)])
    gbp = bars(flat(1.2500, 5))
    signals = {
        "EURUSD": make_signals(5, [0], 1, stop_distance=10 * P),
        "GBPUSD": make_signals(5, [second_signal_bar], -1, stop_distance=20 * P),
    }
    return _both({"EURUSD": eur, "GBPUSD": gbp}, signals, Sizing("risk", 1.0), capital=10_000.0)


def test_risk_sizing_after_a_loss_uses_the_shared_balance():
    shared, subs = _loser_then_second_symbol(1)
    eur = shared.trades[shared.trades.symbol == "EURUSD"].iloc[0]
    # 1 % of 10,000 = $100 over a 10-pip stop ($1 a step) = 100 steps = 1 lot; stopped: -$100
    assert eur["size"] == pytest.approx(1.0)
    assert eur["pnl"] == pytest.approx(-100.0)
    gbp = shared.trades[shared.trades.symbol == "GBPUSD"].iloc[0]
    assert gbp["entry_time"] == shared.equity.index[2]
    # shared: 1 % of 9,900 = $99 over 20 pips ($2 a step) = 49 steps = 0.49 lot
    assert gbp["size"] == pytest.approx(0.49)
    # sub-accounts: GBPUSD's own 10,000 -> $100 / $2 = 50 steps
    assert subs.trades[subs.trades.symbol == "GBPUSD"].iloc[0]["size"] == pytest.approx(0.50)


def test_no_look_ahead_into_another_symbols_bar():
    """Both fill at bar 1's open: EURUSD's stop inside bar 1 comes after that open, so GBPUSD
    is sized on the full 10,000 although EURUSD (first by name) is processed first."""
    shared, _ = _loser_then_second_symbol(0)
    gbp = shared.trades[shared.trades.symbol == "GBPUSD"].iloc[0]
    assert gbp["entry_time"] == shared.equity.index[1]
    assert gbp["size"] == pytest.approx(0.50)


def test_bars_at_different_times_are_merged_on_the_union_of_times():
    """GBPUSD's bars start two hours later; EURUSD's loss at 01:00 sizes GBPUSD's 03:00 fill,
    and the curve holds EURUSD's marks at the times only it has."""
    eur = bars([*flat(1.1000), (1.1000, 1.1002, 1.0980, 1.0985), *flat(1.0985, 3)])
    gbp = bars(flat(1.2500, 5))
    gbp.index = gbp.index + pd.Timedelta(hours=2)
    signals = {
        "EURUSD": make_signals(5, [0], 1, stop_distance=10 * P),
        "GBPUSD": make_signals(5, [0], -1, stop_distance=20 * P),
    }
    frames = {"EURUSD": eur, "GBPUSD": gbp}
    shared, _ = _both(frames, signals, Sizing("risk", 1.0), capital=10_000.0)
    assert shared.equity.index.equals(eur.index.union(gbp.index))
    gbp_trade = shared.trades[shared.trades.symbol == "GBPUSD"].iloc[0]
    assert gbp_trade["entry_time"] == gbp.index[1] and gbp_trade["size"] == pytest.approx(0.49)
    assert shared.equity["balance"].iloc[1] == pytest.approx(9_900.0)


def test_a_blown_balance_stops_entries_on_every_symbol():
    """A 150-pip gap through EURUSD's stop loses $1,500 of 1,000: no symbol enters again."""
    eur = bars([*flat(1.1000, 2), *flat(1.0850, 3)])
    gbp = bars(flat(1.2500, 5))
    signals = {
        "EURUSD": make_signals(5, [0, 3], 1, stop_distance=100 * P),
        "GBPUSD": make_signals(5, [2], -1, stop_distance=20 * P),
    }
    shared, subs = _both(
        {"EURUSD": eur, "GBPUSD": gbp}, signals, Sizing("fixed", 1.0), capital=1_000.0
    )
    assert len(shared.trades) == 1 and shared.trades.pnl.iloc[0] == pytest.approx(-1_500.0)
    assert shared.counters["skipped_size"] == 2
    assert shared.equity["balance"].iloc[-1] == pytest.approx(-500.0)
    assert set(subs.trades.symbol.astype(str)) == {"EURUSD", "GBPUSD"}  # GBPUSD's own 1,000


@pytest.fixture(scope="module")
def frames():
    return {
        s: generate_bars(s, "H1", "2023-01-01", "2023-07-01", seed=k)
        for k, s in enumerate(("EURUSD", "GBPUSD", "AUDUSD"))
    }


def _run(frames, **kw):
    params = {"fast": 5, "slow": 20, "stop_pips": 15, "target_pips": 30}
    return run_backtest(create_strategy("sma_cross", params), frames, sizing=Sizing("risk", 1.0),
                        initial_capital=10_000.0, **kw)  # fmt: skip


def test_shared_account_ends_at_the_capital_plus_every_trades_pnl(frames):
    res = _run(frames)
    assert res.config["portfolio"] == "shared" and res.initial_capital == 10_000.0
    assert set(res.trades.symbol.astype(str)) == set(frames)
    last = res.equity.iloc[-1]
    assert last.equity == pytest.approx(10_000.0 + res.trades.pnl.sum())
    assert last.balance == pytest.approx(last.equity) and last.open_positions == 0
    assert res.legs.pnl.sum() == pytest.approx(res.trades.pnl.sum())
    assert res.equity.index.equals(frames["EURUSD"].index)
    assert res.counters["filled"] == len(res.trades)


def test_parallel_workers_equal_serial_byte_for_byte(frames, tmp_path):
    a = write_result(_run(frames), tmp_path / "a")
    b = write_result(_run(frames, workers=2), tmp_path / "b")
    for name in ("trades", "legs", "equity", "run"):
        assert a[name].read_bytes() == b[name].read_bytes(), name


def test_one_symbol_trades_the_same_in_both_modes(frames, tmp_path):
    one = {"EURUSD": frames["EURUSD"]}
    a = write_result(_run(one, portfolio="shared"), tmp_path / "a")
    b = write_result(_run(one, portfolio="sub-accounts"), tmp_path / "b")
    for name in ("trades", "legs", "equity"):
        assert a[name].read_bytes() == b[name].read_bytes(), name


def test_the_portfolio_loop_on_one_symbol_is_the_single_symbol_loop(frames):
    strategy = create_strategy("breakout")
    spec = RunSpec(sizing=Sizing("risk", 1.0), position_mode="tag", timeframe="H1")
    frame = strategy.compute_features(frames["GBPUSD"], "H1")
    inst = spec.instrument("GBPUSD")
    signals = strategy.signals(frame, inst)
    single = simulate_symbol(frame, signals, inst, spec)
    runs, equity = run_portfolio([prepare_symbol(frame, signals, inst, spec)], 100_000.0)
    assert len(single.trades) > 10
    pd.testing.assert_frame_equal(runs[0].trades, single.trades)
    pd.testing.assert_frame_equal(runs[0].legs, single.legs)
    assert runs[0].counters == single.counters
    np.testing.assert_array_equal(equity.to_numpy(), single.equity.to_numpy())


def test_one_balance_needs_one_currency():
    data = {
        s: generate_bars(s, "H1", "2023-01-01", "2023-02-01", seed=1) for s in ("EURUSD", "USDJPY")
    }
    with pytest.raises(ConfigError, match="account currency"):
        _run(data)
    assert len(_run(data, portfolio="sub-accounts").trades) > 0
    assert _run(data, account_currency="USD").initial_capital == 10_000.0


def test_the_mode_is_part_of_the_spec():
    spec = RunSpec(portfolio="sub-accounts")
    assert RunSpec.from_dict(spec.to_dict()) == spec
    assert RunSpec.from_dict({"symbols": ["EURUSD"]}).portfolio == "sub-accounts"  # older runs
    assert RunSpec().portfolio == "shared"
    with pytest.raises(ConfigError, match="portfolio"):
        RunSpec(portfolio="pooled")


def _arrays(n: int = 5) -> dict[str, np.ndarray]:
    from tradeforge.backtest.portfolio_kernel import ADDRESSES

    int64 = {"day", "times", "ints"}
    out = {name: np.zeros(n, dtype=np.int64 if name in int64 else np.float64) for name in ADDRESSES}
    out["levels"] = np.full((2, 1), np.nan)
    return out


def test_the_address_table_points_at_each_array_and_refuses_what_the_loop_cannot_read():
    from tradeforge.backtest.portfolio_kernel import ADDRESSES, S_LEVELS, address_table

    arrays = _arrays()
    addresses, sizes = address_table([arrays, _arrays(7)])
    assert addresses[0, ADDRESSES.index("c")] == arrays["c"].ctypes.data  # in place, no copy
    assert sizes[1, S_LEVELS] == 1
    strided = {**arrays, "h": np.zeros(10)[::2]}
    with pytest.raises(TypeError, match="h: expected a C-contiguous float64"):
        address_table([strided])
    with pytest.raises(TypeError, match="times: expected a C-contiguous int64"):
        address_table([{**arrays, "times": np.zeros(5)}])
    with pytest.raises(ValueError, match=r"spread: \(4,\) values for 5 bars"):
        address_table([{**arrays, "spread": np.zeros(4)}])
    with pytest.raises(ValueError, match="levels: expected 2 rows"):
        address_table([{**arrays, "levels": np.zeros((3, 1))}])
