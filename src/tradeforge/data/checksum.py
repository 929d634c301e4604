"""Content checksums of frames (cache metadata, run provenance, feature-cache keys)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def frame_checksum(frame: pd.DataFrame) -> str:
    """blake2b-128 hex digest of the index (as int64 ns) and every column's values.

    Independent of the index's time unit and of how the frame was stored, so a cache round
    trip keeps the checksum.
    """
    digest = hashlib.blake2b(digest_size=16)
    index = frame.index
    if isinstance(index, pd.DatetimeIndex):
        digest.update(np.ascontiguousarray(index.as_unit("ns").asi8).tobytes())
    else:
        digest.update(np.ascontiguousarray(index.to_numpy()).tobytes())
    for name in frame.columns:
        digest.update(str(name).encode())
        values = frame[name].to_numpy()
        if values.dtype == object or values.dtype.kind in "OUST":
            digest.update("\x1f".join(map(str, values)).encode())
        else:
            digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()
