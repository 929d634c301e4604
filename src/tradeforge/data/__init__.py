"""Data layer: sources, validation, resampling and the Parquet cache."""
