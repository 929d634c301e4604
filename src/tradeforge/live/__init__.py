"""Dry-run and live trading: one pipeline for both.

* `engine.Engine` — the event loop (feed → strategy → guards/sizing → broker → state), its
  steps in `events` (per tick / per bar), `entries` + `orders`, `pending` (fills), `exits` +
  `booking` (positions, trades), `reconcile`, `kill`, `account`, `market`, `decisions`,
  `summary`; `config.EngineConfig`, `context.EngineContext`;
* `feeds` — `ReplayFeed` (cached bars, synthesised or real ticks) and the `BrokerFeed` protocol;
* `brokers` — the `Broker` protocol, `PaperBroker` (dry-run) and `MT5Broker` (MetaTrader 5);
* `state` / `persist` / `journal` — crash-safe state: checksummed atomic snapshots plus a
  journal; `history` (is the journal's history complete?), `schema` (engine state shape),
  `lock` (one writer per state directory);
* `manager` — the backtest's exit rules applied to live positions; `sizing`, `guards`;
* `runner` — `run_dry` / `run_live` and ``python -m tradeforge.live STATE_DIR [SPEC_JSON]``.

Kept free of imports so ``python -m tradeforge.live`` starts as fast as possible.
"""
