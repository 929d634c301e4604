"""tradeforge.features"""
