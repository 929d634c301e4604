"""Non-positive capital and worker counts are refused by the library, not only by the CLI."""

from __future__ import annotations

import pytest

from tests.conftest import make_bars
from tradeforge.backtest import run_backtest
from tradeforge.core.errors import ConfigError
from tradeforge.live.brokers.paper import PaperBroker
from tradeforge.research.backends import make_backend
from tradeforge.strategy import create_strategy
from tradeforge.trading.spec import RunSpec


@pytest.mark.parametrize("workers", [0, -1])
def test_run_backtest_refuses_fewer_than_one_worker(workers: int) -> None:
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        run_backtest(create_strategy("sma_cross"), {"EURUSD": make_bars()}, workers=workers)


@pytest.mark.parametrize("capital", [0.0, -1.0, float("nan")])
def test_run_backtest_refuses_non_positive_capital(capital: float) -> None:
    with pytest.raises(ConfigError, match="initial capital must be > 0"):
        run_backtest(create_strategy("sma_cross"), {"EURUSD": make_bars()}, initial_capital=capital)


@pytest.mark.parametrize("workers", [0, -1])
def test_research_backend_refuses_fewer_than_one_worker(workers: int) -> None:
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        make_backend(workers)


def test_search_refuses_non_positive_capital_up_front() -> None:
    with pytest.raises(ConfigError, match="initial capital must be > 0"):
        RunSpec("sma_cross", initial_capital=0.0)


@pytest.mark.parametrize("balance", [0.0, -1.0])
def test_paper_broker_refuses_non_positive_balance(balance: float) -> None:
    with pytest.raises(ConfigError, match="initial balance must be > 0"):
        PaperBroker(None, initial_balance=balance)
