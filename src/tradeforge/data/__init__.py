"""Data layer: sources, validation, resampling and the Parquet cache.

Quick use::

    import tempfile
    from tradeforge.data import ParquetStore, generate_bars, resample_ohlcv

    bars = generate_bars("EURUSD", "M5", "2024-01-01", "2024-02-01", seed=42)
    store = ParquetStore(tempfile.mkdtemp())
    store.write("EURUSD", "M5", bars, source="synthetic")
    m30 = resample_ohlcv(store.load("EURUSD", "M5", start="2024-01-15"), "M30")

The names below load on first use (`tradeforge._lazy`): importing one data module does not
load the others (Parquet, HTTP, MetaTrader 5).
"""

from tradeforge._lazy import lazy_exports

__all__ = [
    "CTraderSource",
    "DataSource",
    "DukascopySource",
    "FileSource",
    "MT5Source",
    "ParquetStore",
    "SyntheticSource",
    "frame_checksum",
    "generate_bars",
    "read_bars_file",
    "repair_partitions",
    "resample_ohlcv",
    "ticks_to_m1",
    "validate_ohlcv",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "tradeforge.data.cache": ("ParquetStore",),
        "tradeforge.data.cache_repair": ("repair_partitions",),
        "tradeforge.data.checksum": ("frame_checksum",),
        "tradeforge.data.resample": ("resample_ohlcv",),
        "tradeforge.data.sources.base": ("DataSource",),
        "tradeforge.data.sources.ctrader": ("CTraderSource",),
        "tradeforge.data.sources.dukascopy": ("DukascopySource",),
        "tradeforge.data.sources.file_source": ("FileSource",),
        "tradeforge.data.sources.files": ("read_bars_file",),
        "tradeforge.data.sources.mt5": ("MT5Source",),
        "tradeforge.data.sources.synthetic": ("SyntheticSource", "generate_bars"),
        "tradeforge.data.ticks": ("ticks_to_m1",),
        "tradeforge.data.validate": ("validate_ohlcv",),
    },
)
