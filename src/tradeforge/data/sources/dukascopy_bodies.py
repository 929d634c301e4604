"""Body validators for Dukascopy downloads: what may enter (or stay in) the raw-file cache.

Each validator decodes a complete body far enough to know it is whole, so a corrupt or truncated
body (a 200 with bad LZMA, a connection closed early without ``Content-Length``) is retried and
never cached, and a cached file that fails is downloaded again. An HTML page (a block or error
page served with 200) fails at once: retrying would fetch the same page.

* bi5: 0 bytes is a closed period; anything else must LZMA-decode to whole records (20 bytes
  for ticks, 24 for candles);
* JSON: a data object (``timestamp``, ``multiplier``) whose record columns are lists of one
  length. The API answers closed periods with empty lists, so a 0-byte body is retried.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tradeforge.core.errors import DataError
from tradeforge.data.bi5 import CANDLE_DTYPE, TICK_DTYPE, decompress, parse_records
from tradeforge.data.download import BodyValidator, TransientError
from tradeforge.data.sources import dukascopy_json as dj


def body_validator(mode: str, side: str) -> BodyValidator:
    """The validator for a file of ``mode`` (``side`` is set for candle files)."""
    if mode in ("json", "json-candles"):
        keys = dj.CANDLE_KEYS if side else dj.TICK_KEYS
        return lambda body, url: _check_json(body, url, keys)
    dtype = CANDLE_DTYPE if side else TICK_DTYPE
    return lambda body, url: _check_bi5(body, url, dtype)


def _read(body: Path) -> bytes:
    try:
        return body.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {body}: {exc}") from exc


def _check_bi5(body: Path, url: str, dtype: np.dtype) -> None:
    data = _read(body)
    if not data:
        return
    if data.lstrip()[:1] == b"<":
        raise DataError(f"{url}: got an HTML page instead of a bi5 file (blocked?)")
    try:
        parse_records(decompress(data, "bi5 body"), dtype, "bi5 body")
    except DataError as exc:
        raise TransientError(str(exc)) from None


def _check_json(body: Path, url: str, keys: tuple[str, ...]) -> None:
    data = _read(body)
    if not data.strip():
        raise TransientError("empty body where a JSON object was expected")
    try:
        dj.check_body(data, keys, "JSON body")
    except DataError as exc:
        if data.lstrip()[:1] == b"<":
            raise DataError(f"{url}: {exc}") from None
        raise TransientError(str(exc)) from None
