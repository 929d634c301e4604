"""tradeforge.backtest"""
