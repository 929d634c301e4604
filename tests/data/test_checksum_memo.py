"""`cached_frame_checksum`: one hash per frame object, redone when the frame's columns change."""

from __future__ import annotations

import gc

from tradeforge.data import checksum
from tradeforge.data.checksum import cached_frame_checksum, frame_checksum
from tradeforge.data.sources.synthetic import generate_bars


def test_cached_checksum_matches_and_follows_replaced_columns(monkeypatch):
    bars = generate_bars("EURUSD", "H1", "2024-01-01", "2024-01-10", seed=1)
    first = cached_frame_checksum(bars)
    assert first == frame_checksum(bars)
    calls = []
    monkeypatch.setattr(checksum, "frame_checksum", lambda f: calls.append(1) or "x")
    assert cached_frame_checksum(bars) == first and not calls  # memo hit
    bars["close"] = bars["close"] + 0.0
    assert cached_frame_checksum(bars) == "x" and calls == [1]  # a new column buffer
    assert cached_frame_checksum(bars.iloc[:-1]) == "x" and calls == [1, 1]  # another frame


def test_memo_entry_goes_with_the_frame():
    bars = generate_bars("EURUSD", "H1", "2024-01-01", "2024-01-03", seed=2)
    cached_frame_checksum(bars)
    key = id(bars)
    del bars
    gc.collect()
    assert key not in checksum._memo
