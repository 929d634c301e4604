"""tradeforge — end-to-end quantitative trading research and execution framework."""

__version__ = "0.1.0"
