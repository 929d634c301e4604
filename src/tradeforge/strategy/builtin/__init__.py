"""tradeforge.strategy.builtin"""
