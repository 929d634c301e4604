"""tradeforge.analytics"""
