"""The one declaration of the `Signals` columns, and the packed form the Numba code reads.

`COLUMNS` lists every per-row field once: name, storage type, the value of an omitted
argument, what it means, its width (targets have `MAX_TARGETS` values per row) and, for coded
columns, the names of its codes. `Signals` (its attributes), `make_signals` (defaults),
`Signals.to_frame`, the live engine's JSON rows and the kernel's row indices are derived from
it.

Storage: two flat blocks per table, ``ints`` (int64; integer, coded and boolean columns as
0/1) and ``floats`` (float64). Each column is either *per row* (its values, row after row) or
*constant* (one value for the whole table, stored once: most columns of a strategy's table
are defaults or one value given as a scalar, and writing them per row was most of the bytes
a table costs). Row ``r`` of a block (`ROW` gives each column's first; a column of width
``w`` has ``w`` of them) sits at ``at[r] = (offset, step)`` of that block's `Layout`: row
``j``'s value is ``block[offset + j * step]``, step 1 per row, 0 constant. ``bar`` is always
per row and followed by one more value, -1, which no bar equals: a scan for a bar's signals
stops there without knowing the row count. Each column stays contiguous, so building and
validating a table are plain vectorised numpy operations (a constant column is checked once),
while the kernel receives the whole table as a few arrays — `PackedSignals`, built without
copying by `tradeforge.strategy.signals.pack_signals` — instead of one argument per column:
one compiled signature, a small argument list, and nothing to keep in sync when a column is
added.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

MAX_TARGETS = 4

ENTRY_TYPES: tuple[str, ...] = ("market", "limit", "stop")
TARGET_KINDS: tuple[str, ...] = ("none", "r", "price", "distance")
TRAIL_KINDS: tuple[str, ...] = ("none", "distance", "swing")

ENTRY_MARKET, ENTRY_LIMIT, ENTRY_STOP = 0, 1, 2
TARGET_NONE, TARGET_R, TARGET_PRICE, TARGET_DISTANCE = 0, 1, 2, 3
TRAIL_NONE, TRAIL_DISTANCE, TRAIL_SWING = 0, 1, 2

INT, FLOAT = 0, 1  # blocks


@dataclass(frozen=True)
class Column:
    """One per-row field of a `Signals` table."""

    name: str
    dtype: type  # np.int64, np.float64 or np.bool_ (kept as 0/1 in the int block)
    default: Any  # value when the argument is omitted; None: required
    doc: str
    width: int = 1  # values per row
    names: tuple[str, ...] = ()  # what the codes of a coded int column mean
    block: int = field(init=False)  # INT or FLOAT

    def __post_init__(self) -> None:
        object.__setattr__(self, "block", FLOAT if self.dtype is np.float64 else INT)


COLUMNS: tuple[Column, ...] = (
    Column("bar", np.int64, None, "position of the signal bar in the frame (sorted ascending)"),
    Column("side", np.int64, None, "+1 long, -1 short"),
    Column("tag", np.int64, 0, "code into `Signals.tags`"),
    Column("entry_type", np.int64, ENTRY_MARKET, "how the entry fills", names=ENTRY_TYPES),
    Column("entry_price", np.float64, math.nan, "limit/stop level (NaN for market)"),
    Column("expiry", np.int64, 0, "bars a limit/stop order stays live (>= 1)"),
    Column("stop_price", np.float64, math.nan, "absolute initial stop (or NaN)"),
    Column("stop_distance", np.float64, math.nan, "initial stop distance from the fill (or NaN)"),
    Column("target_kind", np.int64, TARGET_NONE, "kind per target", MAX_TARGETS, TARGET_KINDS),
    Column("target_value", np.float64, math.nan, "R multiple, price or distance", MAX_TARGETS),
    Column("target_fraction", np.float64, 0.0, "share of the initial size", MAX_TARGETS),
    Column("runner", np.int64, 0, "1: the last target leaves the rest open"),
    Column("be_trigger_r", np.float64, math.nan, "excursion in R that arms break-even (NaN: none)"),
    Column("be_offset", np.float64, 0.0, "break-even stop beyond the entry, price units"),
    Column("trail_kind", np.int64, TRAIL_NONE, "trailing stop kind", names=TRAIL_KINDS),
    Column("trail_distance", np.float64, math.nan, "trailing distance, price units"),
    Column("trail_start_r", np.float64, math.nan, "excursion in R that starts trailing (NaN: at once)"),
    Column("time_stop", np.int64, 0, "close at the open of entry bar + this many bars (0: none)"),
    Column("exit_opposite", np.bool_, False, "close opposite positions at the next open"),
    Column("size_scale", np.float64, 1.0, "share of the configured size (risk % or lots), (0, 1]"),
)  # fmt: skip
BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}


def _layout() -> tuple[dict[str, int], list[int]]:
    rows: dict[str, int] = {}
    counts = [0, 0]
    for c in COLUMNS:
        rows[c.name] = counts[c.block]
        counts[c.block] += c.width
    return rows, counts


ROW, (N_INT_ROWS, N_FLOAT_ROWS) = _layout()


class PackedSignals(NamedTuple):
    """A `Signals` table as the Numba code reads it (see the module docstring; the rules read
    a value with `tradeforge.trading.rules.sig_int` / `sig_float`).

    ``levels`` holds the swing-trailing levels, long then short, one per bar — or a single
    NaN column when the table has none (readers index it at ``min(i, levels.shape[1] - 1)``).
    """

    ints: np.ndarray  # int64 values of the int block
    floats: np.ndarray  # float64 values of the float block
    int_at: np.ndarray  # (N_INT_ROWS, 2) int64: offset and step of each int row
    float_at: np.ndarray  # (N_FLOAT_ROWS, 2) int64
    levels: np.ndarray  # (2, n_bars or 1) float64


def layout(n: int, per_row: Collection[str]) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(int_at, float_at, int_size, float_size)`` of an ``n``-row table whose ``per_row``
    columns (and ``bar``) hold one value per row and the others one value in all."""
    at: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
    size = [0, 0]
    for c in COLUMNS:  # in block row order
        step = 1 if c.name == "bar" or c.name in per_row else 0
        for _ in range(c.width):
            at[c.block].append((size[c.block], step))
            size[c.block] += n if step else 1
        if c.name == "bar":
            size[c.block] += 1  # the -1 after the last row
    int_at, float_at = (np.array(rows, dtype=np.int64).reshape(-1, 2) for rows in at)
    return int_at, float_at, size[INT], size[FLOAT]


def stored(block: np.ndarray, at: np.ndarray, c: Column, n: int) -> np.ndarray:
    """Column ``c`` of an ``n``-row table as stored in ``block``: a ``(width, n)`` view when
    it is per row, ``(width, 1)`` when constant."""
    row = ROW[c.name]
    offset = at.item(row, 0)
    length = n if at.item(row, 1) else 1
    return block[offset : offset + c.width * length].reshape(c.width, length)


def column(block: np.ndarray, at: np.ndarray, c: Column, n: int) -> np.ndarray:
    """Column ``c``'s values of an ``n``-row table, ``(n,)`` or ``(n, width)``: a view of
    ``block``, read-only and broadcast when the column is constant."""
    v = stored(block, at, c, n)
    if c.width == 1:
        return v[0] if v.shape[1] == n else np.broadcast_to(v[0], (n,))
    return v.T if v.shape[1] == n else np.broadcast_to(v[:, 0], (n, c.width))


def blank_blocks(
    n: int, given: Collection[str] = (), per_row: Collection[str] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ints, floats, int_at, float_at)`` of an ``n``-row table laid out by `layout`, every
    column at its default (required ones zero) except the ``given`` ones, left uninitialised
    for the caller to fill; ``bar`` ends with its -1."""
    int_at, float_at, int_size, float_size = layout(n, per_row)
    ints = np.empty(int_size, dtype=np.int64)
    floats = np.empty(float_size, dtype=np.float64)
    ints[int_at[ROW["bar"], 0] + n] = -1
    for c in COLUMNS:
        if c.name not in given:
            block, at = (floats, float_at) if c.block == FLOAT else (ints, int_at)
            stored(block, at, c, n)[:] = c.default or 0
    return ints, floats, int_at, float_at


def pack_row(values: dict[str, Any]) -> PackedSignals:
    """A one-row packed table from plain values (the live engine's stored signal rows).

    Missing or None values take the column default; coded columns accept their names;
    multi-value columns take a list. Keys that are not columns, and text in a column without
    names (the row's tag name: the table's tag list is not known here), are ignored."""
    ints, floats, int_at, float_at = blank_blocks(1)
    for c in COLUMNS:
        v = values.get(c.name)
        if v is None:
            continue
        items = list(v) if c.width > 1 else [v]
        block, at = (floats, float_at) if c.block == FLOAT else (ints, int_at)
        for k, item in enumerate(items):
            if item is None:
                continue
            if isinstance(item, str):
                if not c.names:
                    continue
                item = c.names.index(item)
            stored(block, at, c, 1)[k, 0] = item
    return PackedSignals(ints, floats, int_at, float_at, np.full((2, 1), np.nan))
