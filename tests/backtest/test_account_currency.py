"""Money in an account currency other than the quote currency, against hand computations.

USDJPY (quote JPY): 1 lot = 100,000 USD, so 1 yen of price = 100,000 JPY per lot; with a USD
account that money is divided by the USDJPY price (fill price for legs and risk, close for
the mark-to-market). EURGBP (quote GBP) with a USD account is converted at GBPUSD, the close
of the last GBPUSD bar completed when the traded bar opens.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tradeforge.backtest import ExecutionModel, Sizing, backtest_signals, run_backtest
from tradeforge.backtest.io import write_result
from tradeforge.cli import app
from tradeforge.core.errors import ConfigError
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.strategy import create_strategy
from tradeforge.strategy.signals import Target, make_signals

from .helpers import bars

JPY_PIP = 0.01
GBP_PIP = 0.0001


def _long(frame, symbol, *, stop, target_r=None, sizing=None, execution=None, **kw):
    targets = [Target(target_r, 1.0)] if target_r else []
    sig = make_signals(len(frame), [0], 1, stop_distance=stop, targets=targets)
    return backtest_signals(
        frame,
        sig,
        symbol,
        sizing=sizing or Sizing("fixed", 1.0),
        execution=execution or ExecutionModel(),
        **kw,
    )


# -- USDJPY with a USD account (account = base currency) -------------------------------------


def _usdjpy_target_frame():
    # bar 1 fills at 150.000; 20-pip stop 149.800; 2R target 150.400 is hit in bar 1
    return bars([(150.0, 150.0, 150.0, 150.0), (150.0, 150.5, 149.9, 150.3)])


def test_usdjpy_realized_pnl_and_commission_are_divided_by_the_exit_price():
    ex = ExecutionModel(commission=700.0)  # JPY per lot per side
    res = _long(
        _usdjpy_target_frame(), "USDJPY", stop=20 * JPY_PIP, target_r=2.0, execution=ex,
        account_currency="USD",
    )  # fmt: skip
    t = res.trades.iloc[0]
    assert t["exit_price"] == pytest.approx(150.4)
    assert t["commission"] == pytest.approx(1400.0 / 150.4)
    assert t["pnl"] == pytest.approx((0.4 * 100_000 - 1400.0) / 150.4)  # 256.65 USD
    assert t["risk"] == pytest.approx(0.2 * 100_000 / 150.0)  # 133.33 USD at the entry fill
    # R stays in yen: (40,000 - 1,400) / 20,000 (not pnl / risk, converted at two prices)
    assert t["r_multiple"] == pytest.approx(1.93, abs=1e-12)
    assert res.legs["pnl"].sum() == pytest.approx(t["pnl"])
    assert res.equity["balance"].iloc[-1] == pytest.approx(100_000 + t["pnl"])
    assert res.config["account_currency"] == "USD"


def test_usdjpy_risk_sizing_in_usd():
    # 1 % of 100,000 USD = 1,000 USD; 20 pips at 150.000 cost 0.20 * 100,000 / 150 = 133.33 USD
    # per lot -> 7.5 lots (750 steps of 0.01). In JPY money the same call buys 0.05 lots.
    frame = _usdjpy_target_frame()
    usd = _long(frame, "USDJPY", stop=20 * JPY_PIP, sizing=Sizing("risk", 1.0),
                account_currency="USD")  # fmt: skip
    jpy = _long(frame, "USDJPY", stop=20 * JPY_PIP, sizing=Sizing("risk", 1.0))
    assert usd.trades["size"].iloc[0] == pytest.approx(7.5)
    assert usd.trades["risk"].iloc[0] == pytest.approx(1_000.0)
    assert jpy.trades["size"].iloc[0] == pytest.approx(0.05)


def test_usdjpy_mark_to_market_uses_the_bar_close():
    frame = bars(
        [
            (150.0, 150.0, 150.0, 150.0),
            (150.0, 150.35, 149.9, 150.3),  # open: marked at 150.3
            (150.3, 150.7, 150.2, 150.6),  # last bar: closed at 150.6 (reason end)
        ]
    )
    ex = ExecutionModel(commission=700.0)
    res = _long(frame, "USDJPY", stop=20 * JPY_PIP, execution=ex, account_currency="USD")
    eq = res.equity
    # open position: price PnL minus the exit-side commission still to pay, both at the close
    assert eq["equity"].iloc[1] == pytest.approx(100_000 + (0.3 * 100_000 - 700.0) / 150.3)
    assert eq["balance"].iloc[1] == 100_000
    final = (0.6 * 100_000 - 1400.0) / 150.6
    assert res.trades["pnl"].iloc[0] == pytest.approx(final)
    assert eq["equity"].iloc[2] == pytest.approx(100_000 + final)
    assert eq["balance"].iloc[2] == pytest.approx(100_000 + final)


@pytest.mark.parametrize(
    "rows,r",
    [
        # bar 1 fills at 150.000, stop 149.800 is hit: -0.2 * 100,000 JPY at 149.8 is
        # -133.51 USD, the risk 0.2 * 100,000 JPY at 150.0 is 133.33 USD (was -1.0013R)
        ([(150.0, 150.0, 150.0, 150.0), (150.0, 150.1, 149.7, 149.9)], -1.0),
        # the 2R target 150.400: +40,000 JPY at 150.4 = 265.96 USD (was +1.9947R)
        ([(150.0, 150.0, 150.0, 150.0), (150.0, 150.5, 149.9, 150.3)], 2.0),
    ],
)
def test_usdjpy_r_multiple_is_exact_with_a_usd_account(rows, r):
    usd = _long(bars(rows), "USDJPY", stop=20 * JPY_PIP, target_r=2.0, account_currency="USD")
    jpy = _long(bars(rows), "USDJPY", stop=20 * JPY_PIP, target_r=2.0)
    t = usd.trades.iloc[0]
    assert t["exit_reason"] == ("stop" if r < 0 else "target")
    assert t["r_multiple"] == pytest.approx(r, abs=1e-12)
    assert jpy.trades["r_multiple"].iloc[0] == pytest.approx(r, abs=1e-12)
    # money stays converted as documented: PnL at the exit fill, risk at the entry fill
    exit_price = 149.8 if r < 0 else 150.4
    assert t["pnl"] == pytest.approx(r * 0.2 * 100_000 / exit_price)
    assert t["risk"] == pytest.approx(0.2 * 100_000 / 150.0)


# -- EURGBP with a USD account (conversion through GBPUSD) -----------------------------------


def _eurgbp_frame():
    return bars(
        [
            (0.8500, 0.8500, 0.8500, 0.8500),  # 00:00 signal
            (0.8500, 0.8510, 0.8495, 0.8505),  # 01:00 fill at 0.8500, stop 0.8480
            (0.8505, 0.8525, 0.8500, 0.8520),  # 02:00
            (0.8520, 0.8545, 0.8515, 0.8530),  # 03:00 2R target 0.8540 hit
        ]
    )


def _gbpusd(start="2023-12-31 23:00", closes=(1.25, 1.26, 1.27, 1.28, 1.29), freq="1h"):
    index = pd.date_range(start, periods=len(closes), freq=freq, tz="UTC", name="time")
    c = np.array(closes)
    return pd.DataFrame({"open": c, "high": c, "low": c, "close": c, "volume": 1.0}, index=index)


def test_eurgbp_converts_at_the_previous_completed_gbpusd_bar():
    # traded bar at 01:00 uses the GBPUSD bar of 00:00 (close 1.26), 03:00 uses 02:00 (1.28);
    # the 03:00 GBPUSD bar (1.29) is not complete when the 03:00 EURGBP bar opens
    res = _long(
        _eurgbp_frame(), "EURGBP", stop=20 * GBP_PIP, target_r=2.0,
        account_currency="USD", conversion={"GBPUSD": _gbpusd()},
    )  # fmt: skip
    t = res.trades.iloc[0]
    assert t["risk"] == pytest.approx(0.0020 * 100_000 * 1.26)  # 252 USD
    assert t["pnl"] == pytest.approx(0.0040 * 100_000 * 1.28)  # 512 USD
    assert t["r_multiple"] == pytest.approx(2.0, abs=1e-12)  # 40 / 20 pips, not 512 / 252
    eq = res.equity["equity"].to_numpy()
    expected = [100_000, 100_000 + 50 * 1.26, 100_000 + 200 * 1.27, 100_000 + 512]
    np.testing.assert_allclose(eq, expected)
    assert res.config["conversion"] == {"GBPUSD": "bars"}


def test_conversion_bars_on_a_higher_timeframe_wait_for_the_bar_to_complete():
    # a D1 GBPUSD bar of 2023-12-31 completes at 2024-01-01 00:00: all traded bars use it
    daily = _gbpusd("2023-12-30", closes=(1.20, 1.30, 1.40), freq="1D")
    res = _long(
        _eurgbp_frame(), "EURGBP", stop=20 * GBP_PIP, target_r=2.0,
        account_currency="USD", conversion={"GBPUSD": daily},
    )  # fmt: skip
    assert res.trades["pnl"].iloc[0] == pytest.approx(400 * 1.30)


def test_constant_rate_and_inverse_symbol():
    frame = _eurgbp_frame()
    direct = _long(frame, "EURGBP", stop=20 * GBP_PIP, target_r=2.0,
                   account_currency="usd", conversion={"GBPUSD": 1.25})  # fmt: skip
    assert direct.trades["pnl"].iloc[0] == pytest.approx(400 * 1.25)
    assert direct.trades["risk"].iloc[0] == pytest.approx(200 * 1.25)
    inverse = _long(frame, "EURGBP", stop=20 * GBP_PIP, target_r=2.0,
                    account_currency="USD", conversion={"USDGBP": 0.8})  # fmt: skip
    assert inverse.trades["pnl"].iloc[0] == pytest.approx(400 / 0.8)


def test_missing_conversion_names_the_symbol():
    with pytest.raises(ConfigError, match="GBPUSD"):
        _long(_eurgbp_frame(), "EURGBP", stop=20 * GBP_PIP, account_currency="USD")
    with pytest.raises(ConfigError, match="GBPUSD"):
        _long(_eurgbp_frame(), "EURGBP", stop=20 * GBP_PIP, account_currency="USD",
              conversion={"EURUSD": 1.1})  # fmt: skip


def test_conversion_bars_starting_too_late_are_rejected():
    late = _gbpusd("2024-01-01 00:00")  # its first bar completes only at 01:00
    with pytest.raises(ConfigError, match="no completed GBPUSD bar"):
        _long(_eurgbp_frame(), "EURGBP", stop=20 * GBP_PIP, account_currency="USD",
              conversion={"GBPUSD": late})  # fmt: skip


def test_bad_rates_and_currency_codes_are_rejected():
    with pytest.raises(ConfigError, match="> 0"):
        _long(_eurgbp_frame(), "EURGBP", stop=20 * GBP_PIP, account_currency="USD",
              conversion={"GBPUSD": 0.0})  # fmt: skip
    with pytest.raises(ConfigError, match="3-letter"):
        _long(_eurgbp_frame(), "EURGBP", stop=20 * GBP_PIP, account_currency="DOLLAR")


# -- account = quote currency is today's behaviour, byte for byte ----------------------------


def _files(result, folder):
    write_result(result, folder)
    return {name: (folder / name).read_bytes() for name in ("trades.csv", "legs.csv", "equity.csv")}


@pytest.mark.parametrize("symbol,account", [("EURUSD", "USD"), ("USDJPY", "JPY")])
def test_account_equal_to_quote_is_identical_to_none(tmp_path, symbol, account):
    frame = generate_bars(symbol, "H1", "2023-01-02", "2023-03-01", seed=7)
    kwargs = dict(
        execution=ExecutionModel(
            commission=3.5, swap_long=-2.0, swap_short=0.5, slippage="random", slippage_value=0.5
        ),
        sizing=Sizing("risk", 1.0),
        timeframe="H1",
    )
    strategy = create_strategy(
        "sma_cross", {"fast": 5, "slow": 20, "stop_pips": 15, "target_pips": 30}
    )
    base = run_backtest(strategy, {symbol: frame}, **kwargs)
    same = run_backtest(strategy, {symbol: frame}, account_currency=account, **kwargs)
    assert len(base.trades) > 5
    assert _files(base, tmp_path / "a") == _files(same, tmp_path / "b")
    assert "account_currency" not in base.config
    assert same.config["account_currency"] == account


# -- CLI -----------------------------------------------------------------------------------


def _cli(home, out, *extra):
    args = [
        "backtest", "--strategy", "sma_cross", "--symbol", "EURGBP", "--timeframe", "H1",
        "--start", "2022-02-01", "--end", "2022-04-01", "--param", "fast=10",
        "--param", "slow=30", "--param", "stop_pips=20", "--param", "target_pips=40",
        "--sizing", "0.1", "--out", str(out), "--home", str(home), *extra,
    ]  # fmt: skip
    return CliRunner().invoke(app, args)


def test_cli_account_currency_end_to_end(tmp_path):
    home = tmp_path / "home"
    store = ParquetStore(home)
    store.write("EURGBP", "H1", generate_bars("EURGBP", "H1", "2022-01-01", "2022-04-01", seed=3),
                source="synthetic")  # fmt: skip

    missing = _cli(home, tmp_path / "none", "--account-currency", "USD")
    assert missing.exit_code != 0
    assert "GBPUSD" in missing.output + str(missing.exception)

    const = _cli(home, tmp_path / "const", "--account-currency", "USD", "--fx-rate", "GBPUSD=2")
    assert const.exit_code == 0, const.output
    quote = _cli(home, tmp_path / "quote")
    assert quote.exit_code == 0, quote.output
    a = pd.read_csv(tmp_path / "const" / "trades.csv")
    b = pd.read_csv(tmp_path / "quote" / "trades.csv")
    # fixed lots: the same trades, every money amount at 2 USD per GBP
    assert len(a) > 3
    np.testing.assert_allclose(a["size"], b["size"])
    np.testing.assert_allclose(a["pnl"], 2 * b["pnl"], rtol=1e-9, atol=1e-6)

    store.write("GBPUSD", "H1", generate_bars("GBPUSD", "H1", "2022-01-01", "2022-04-01", seed=4),
                source="synthetic")  # fmt: skip
    bars_run = _cli(home, tmp_path / "bars", "--account-currency", "USD")
    assert bars_run.exit_code == 0, bars_run.output
    meta = json.loads((tmp_path / "bars" / "run.json").read_text())
    assert meta["config"]["account_currency"] == "USD"
    assert meta["config"]["conversion"] == {"GBPUSD": "bars"}
    trades = pd.read_csv(tmp_path / "bars" / "trades.csv")
    equity = pd.read_csv(tmp_path / "bars" / "equity.csv")
    assert equity["balance"].iloc[-1] == pytest.approx(100_000 + trades["pnl"].sum())


def _over_midnight(price):
    frame = bars([(price, price, price, price)] * 4)
    frame.index = frame.index - pd.Timedelta(hours=2)  # 22:00, 23:00 | 00:00, 01:00
    return frame


@pytest.mark.parametrize(
    "symbol,price,conversion,rate",
    [("EURGBP", 0.85, {"GBPUSD": 1.25}, 1.25), ("USDJPY", 160.0, None, 1 / 160.0)],
)
def test_swap_is_converted_when_it_accrues(symbol, price, conversion, rate):
    # one night held (the 00:00 bar opens a new UTC date); flat prices: PnL is the swap only
    ex = ExecutionModel(swap_long=-5.0)
    res = _long(_over_midnight(price), symbol, stop=0.01, execution=ex,
                account_currency="USD", conversion=conversion)  # fmt: skip
    assert res.trades["pnl"].iloc[0] == pytest.approx(-5.0 * rate)
    # R in quote currency: -5 swap / (0.01 * 100,000 = 1,000) risk
    assert res.trades["r_multiple"].iloc[0] == pytest.approx(-0.005)
    assert res.equity["equity"].iloc[2] == pytest.approx(100_000 - 5.0 * rate)


def test_cli_store_url_supplies_the_conversion_bars(tmp_path):
    """With ``--store-url`` the conversion bars come from that store, like the traded bars:
    a ``--home`` without them is not asked (it used to be, and the run failed)."""
    store_home = tmp_path / "shared"
    store = ParquetStore(store_home)
    for symbol, seed in (("EURGBP", 3), ("GBPUSD", 4)):
        store.write(symbol, "H1", generate_bars(symbol, "H1", "2022-01-01", "2022-04-01",
                                                seed=seed), source="synthetic")  # fmt: skip
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    url = store_home.as_uri()
    run = _cli(empty_home, tmp_path / "url", "--account-currency", "USD", "--store-url", url)
    assert run.exit_code == 0, run.output
    local = _cli(store_home, tmp_path / "local", "--account-currency", "USD")
    assert local.exit_code == 0, local.output
    meta = json.loads((tmp_path / "url" / "run.json").read_text())
    assert meta["config"]["conversion"] == {"GBPUSD": "bars"}
    for name in ("trades.csv", "legs.csv", "equity.csv"):
        assert (tmp_path / "url" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert len((tmp_path / "url" / "trades.csv").read_text().splitlines()) > 4
