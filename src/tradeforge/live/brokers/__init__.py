"""Broker adapters behind the `tradeforge.live.brokers.base.Broker` protocol."""
