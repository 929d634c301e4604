"""Dry-run and live trading: one pipeline for both.

* `engine.Engine` — the event loop (feed → strategy → guards/sizing → broker → state), its
  steps in `events` (per tick / per bar), `entries` + `orders`, `pending` (fills), `exits` +
  `booking` (positions, trades), `reconcile`, `kill`, `account`, `market`, `decisions`,
  `summary`; `config.EngineConfig`, `context.EngineContext`;
* `feeds` — `ReplayFeed` (cached bars, synthesised or real ticks) and the `BrokerFeed` protocol;
* `brokers` — the `Broker` protocol, `PaperBroker` (dry-run) and `MT5Broker` (MetaTrader 5);
* `state` / `persist` / `journal` — crash-safe state: checksummed atomic snapshots plus a
  journal; `history` (is the journal's history complete?), `model` (the typed engine state),
  `migrations` (its stored layouts), `schema` (its validation), `lock` (one writer per state
  directory);
* `manager` — the backtest's exit rules applied to live positions; `sizing`, `guards`;
* `runner` — `run_dry` / `run_live` and ``python -m tradeforge.live STATE_DIR [SPEC_JSON]``.

Quick use (a dry-run replaying synthetic bars)::

    import tempfile
    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.live import run_dry, trades_frame
    from tradeforge.trading import Sizing
    from tradeforge.trading.spec import LiveSettings, RunSpec

    state = tempfile.mkdtemp()
    generate_bars("EURUSD", "H1", "2024-01-01", "2024-03-01", seed=1).to_parquet(f"{state}/b.pq")
    spec = RunSpec("sma_cross", symbols=("EURUSD",), timeframe="H1", start="2024-02-15",
                   end="2024-03-01", sizing=Sizing("fixed", 0.1),
                   live=LiveSettings(window=100, bars_file=f"{state}/b.pq"))
    run_dry(f"{state}/dry", spec)
    trades_frame(f"{state}/dry")

The names below load on first use (`tradeforge._lazy`), so ``python -m tradeforge.live``
starts as fast as possible.
"""

from tradeforge._lazy import lazy_exports

__all__ = [
    "Bar",
    "Broker",
    "Engine",
    "EngineConfig",
    "MT5Broker",
    "MT5Feed",
    "PaperBroker",
    "ReplayFeed",
    "RiskLimits",
    "StateLock",
    "StateRepository",
    "Tick",
    "dry_run_session",
    "journal_trades",
    "request_kill",
    "run_dry",
    "run_live",
    "trades_frame",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "tradeforge.live.brokers.base": ("Broker",),
        "tradeforge.live.brokers.mt5": ("MT5Broker", "MT5Feed"),
        "tradeforge.live.brokers.paper": ("PaperBroker",),
        "tradeforge.live.config": ("EngineConfig",),
        "tradeforge.live.engine": ("Engine",),
        "tradeforge.live.feeds": ("Bar", "ReplayFeed", "Tick"),
        "tradeforge.live.guards": ("RiskLimits", "request_kill"),
        "tradeforge.live.lock": ("StateLock",),
        "tradeforge.live.runner": (
            "dry_run_session",
            "journal_trades",
            "run_dry",
            "run_live",
            "trades_frame",
        ),
        "tradeforge.live.state": ("StateRepository",),
    },
)
