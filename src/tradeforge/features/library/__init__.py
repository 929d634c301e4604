"""tradeforge.features.library"""
