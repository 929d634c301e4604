"""Runner: several symbols, serial == parallel byte for byte, result files, progress."""

from __future__ import annotations

import json

import pytest

from tradeforge.backtest import ExecutionModel, Sizing, run_backtest, write_result
from tradeforge.core.errors import ConfigError
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.strategy import create_strategy
from tradeforge.trading.result import LEG_COLUMNS, TRADE_COLUMNS


@pytest.fixture(scope="module")
def frames():
    return {
        s: generate_bars(s, "H1", "2023-01-01", "2023-07-01", seed=5) for s in ("GBPUSD", "EURUSD")
    }


def _run(frames, workers, progress=None):
    return run_backtest(
        create_strategy("sma_cross", {"fast": 5, "slow": 20, "stop_pips": 15, "target_pips": 30}),
        frames,
        execution=ExecutionModel(slippage="random", slippage_value=0.5, seed=3, commission=3.0),
        sizing=Sizing("risk", 0.5),
        workers=workers,
        progress=progress,
    )


def test_serial_equals_parallel_byte_for_byte(frames, tmp_path):
    seen = []
    serial = _run(frames, 1, progress=lambda s, d, t: seen.append((s, d, t)))
    parallel = _run(frames, 2)
    assert [d for _, d, _ in seen] == [1, 2] and {s for s, _, _ in seen} == set(frames)
    a, b = write_result(serial, tmp_path / "a"), write_result(parallel, tmp_path / "b")
    for name in ("trades", "legs", "equity", "run"):
        assert a[name].read_bytes() == b[name].read_bytes(), name
    assert len(serial.trades) > 10
    assert set(serial.trades.symbol.astype(str)) == {"EURUSD", "GBPUSD"}


def test_combined_result_is_ordered_and_consistent(frames):
    res = _run(frames, 1)
    t = res.trades
    assert list(t.columns) == list(TRADE_COLUMNS)
    assert list(res.legs.columns) == list(LEG_COLUMNS)
    assert list(t.trade_id) == list(range(len(t)))
    assert t.entry_time.is_monotonic_increasing
    assert res.legs.groupby("trade_id")["pnl"].sum().to_numpy() == pytest.approx(
        t.set_index("trade_id")["pnl"].to_numpy()
    )
    final = res.equity.iloc[-1]
    assert final.balance == pytest.approx(res.initial_capital + t.pnl.sum())
    assert final.open_positions == 0
    assert set(res.checksums) == {"EURUSD/H1", "GBPUSD/H1"}
    assert res.counters["filled"] == len(t)


def test_run_files(frames, tmp_path):
    res = run_backtest(create_strategy("sma_cross"), frames["EURUSD"], symbol="EURUSD")
    paths = write_result(res, tmp_path)
    header = paths["trades"].read_text().splitlines()[0].split(",")
    assert header == list(TRADE_COLUMNS)
    first = paths["trades"].read_text().splitlines()[1].split(",")
    assert first[header.index("entry_time")].endswith("Z")
    assert first[header.index("side")] in ("long", "short")
    meta = json.loads(paths["run"].read_text())
    assert meta["config"]["execution"]["commission"] == 0.0
    assert meta["counters"]["signals"] >= meta["counters"]["filled"]
    assert "EURUSD/H1" in meta["checksums"]
    assert any("zero" in n for n in meta["notes"])


def test_single_frame_needs_a_symbol(frames):
    with pytest.raises(ConfigError, match="symbol"):
        run_backtest(create_strategy("sma_cross"), frames["EURUSD"])


def test_csv_quotes_only_when_a_value_needs_it():
    import io

    import pandas as pd

    from tradeforge.backtest.io import _csv_bytes

    plain = pd.DataFrame({"tag": ["long", "short"], "x": [1.5, 2.0]})
    assert _csv_bytes(plain).decode() == "tag,x\nlong,1.5\nshort,2\n"
    odd = pd.DataFrame({"tag": ["a,b", 'c"d'], "x": [1.5, 2.0]})
    back = pd.read_csv(io.BytesIO(_csv_bytes(odd)))
    assert back["tag"].tolist() == ["a,b", 'c"d']
    times = pd.DataFrame({"t": pd.to_datetime(["2024-01-02 03:04:05"], utc=True)})
    assert _csv_bytes(times, ("t",)).decode() == "t\n2024-01-02T03:04:05Z\n"


def test_result_keeps_each_symbols_signals(frames):
    res = run_backtest(create_strategy("sma_cross"), frames, workers=2)
    assert sorted(res.signals) == ["EURUSD", "GBPUSD"]
    assert sum(len(s) for s in res.signals.values()) == res.counters["signals"]
    for symbol, sig in res.signals.items():
        entries = res.trades.loc[res.trades["symbol"].astype(str) == symbol, "signal_time"]
        bar_times = frames[symbol].index[sig.bar]
        assert set(entries) <= set(bar_times)  # every trade comes from one of its signals


def test_sub_accounts_add_up_to_the_capital_deployed(frames):
    """Each symbol trades its own 50k; the combined account starts at 100k, so percentages are
    of the capital deployed (it used to start at 50k: two losing sub-accounts could report
    more than -100 % and a negative equity)."""
    from tradeforge.analytics import build_summary

    def run(data):
        params = {"fast": 5, "slow": 20, "stop_pips": 15, "target_pips": 30}
        return run_backtest(
            create_strategy("sma_cross", params), data, sizing=Sizing("fixed", 1.0),
            initial_capital=50_000.0, portfolio="sub-accounts",
        )  # fmt: skip

    res = run(frames)
    singles = [run({s: frames[s]}) for s in sorted(frames)]
    assert res.initial_capital == 100_000.0
    pnl = res.trades["pnl"].sum()
    assert pnl == pytest.approx(sum(s.trades["pnl"].sum() for s in singles))
    assert res.equity["balance"].iloc[-1] == pytest.approx(100_000.0 + pnl)
    assert res.equity["equity"].min() > 0
    assert build_summary(res)["returns"]["return_pct"] == pytest.approx(pnl / 100_000.0 * 100)


@pytest.mark.parametrize("portfolio", ["shared", "sub-accounts"])
@pytest.mark.parametrize("threads", [False, True])
def test_stages_are_reported_per_symbol_then_for_the_run(frames, portfolio, threads):
    from tradeforge.backtest.parallel import ThreadBackend

    seen: list[tuple[str | None, str]] = []
    run_backtest(
        create_strategy("sma_cross", {"fast": 5, "slow": 20}),
        frames,
        portfolio=portfolio,
        backend=ThreadBackend(2) if threads else None,
        stage=lambda symbol, name: seen.append((symbol, name)),
    )
    last = "inputs" if portfolio == "shared" else "simulate"
    for symbol in frames:  # each symbol's stages in order (threads interleave symbols)
        assert [n for s, n in seen if s == symbol] == ["features", "signals", last]
    run = ["portfolio", "combine"] if portfolio == "shared" else ["combine"]
    assert seen[-len(run) :] == [(None, n) for n in run]
    assert len(seen) == 3 * len(frames) + len(run)


def test_combined_categorical_columns_unite_the_vocabularies_in_order_of_first_appearance():
    """Frames whose tags come from different vocabularies (and a missing value): the combined
    column holds every frame's values under one set of categories, the first frame's first."""
    import pandas as pd

    from tradeforge.backtest.runner import _concat

    def frame(symbol, tags, values):
        return pd.DataFrame(
            {
                "symbol": pd.Categorical([symbol] * len(values), categories=[symbol]),
                "tag": pd.Categorical(values, categories=tags),
                "side": pd.Categorical(["long"] * len(values), categories=["long", "short"]),
                "n": range(len(values)),
            }
        )

    parts = [frame("AAA", ["b", "c"], ["c", "b", None]), frame("BBB", ["a", "b"], ["a", "b"])]
    out = _concat(parts, ("symbol", "tag", "side"))
    assert list(out["tag"].cat.categories) == ["b", "c", "a"]
    assert list(out["symbol"].cat.categories) == ["AAA", "BBB"]
    assert list(out["side"].cat.categories) == ["long", "short"]
    assert out["tag"].tolist()[:2] + out["tag"].tolist()[3:] == ["c", "b", "a", "b"]
    assert pd.isna(out["tag"].iloc[2])
    assert list(out["symbol"].astype(str)) == ["AAA"] * 3 + ["BBB"] * 2
    assert list(out["n"]) == [0, 1, 2, 0, 1]
