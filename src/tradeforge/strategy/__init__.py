"""tradeforge.strategy"""
