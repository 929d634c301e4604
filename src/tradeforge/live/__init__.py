"""tradeforge.live"""
