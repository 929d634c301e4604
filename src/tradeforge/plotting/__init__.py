"""tradeforge.plotting"""
