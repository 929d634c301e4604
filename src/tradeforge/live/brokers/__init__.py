"""tradeforge.live.brokers"""
