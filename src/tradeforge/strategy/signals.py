"""The `Signals` table: what a strategy emits and what backtest and live engines consume.

One row per signal bar. The columns are declared once, in
`tradeforge.strategy.signal_schema.COLUMNS` (storage and the packed form the kernel reads are
described there); each is an attribute of the table (``sig.stop_distance``: one value per row,
``sig.target_kind``: ``(n, MAX_TARGETS)``).
Every price-like value is in price units of the instrument; convert pips with
``pips * instrument.pip_size`` and ATR multiples with ``atr[bars] * k`` *when the signal is
made* (`make_signals` does not know the instrument).

Semantics (docs/conventions.md §Fills states them in full; the engine implements them):

* **entry** — ``market``: fills at the next bar's open; ``limit`` / ``stop``: an order at
  ``entry_price`` (ask level for longs, bid level for shorts) live on bars ``t+1 … t+expiry``.
* **initial stop** — either an absolute ``stop_price`` or a ``stop_distance`` from the fill
  price; exactly one per row.
* **targets** — up to `MAX_TARGETS` levels, each with the fraction of the *initial* size it
  closes and a kind: ``r`` (multiple of the initial risk from the fill), ``price`` (absolute)
  or ``distance`` (price distance from the fill). Fractions sum to at most 1; the last target
  closes whatever is left unless ``runner`` is set, in which case the rest stays open for the
  stop, trailing stop, time stop or the end of data.
* **break-even** — once the favourable excursion reaches ``be_trigger_r`` × initial risk, the
  stop moves to entry ± ``be_offset`` from the next bar on.
* **trailing** — ``distance``: stop trails the best price by ``trail_distance``; ``swing``: stop
  follows the per-bar level arrays ``trail_level_long`` / ``trail_level_short``; optional
  ``trail_start_r`` delays activation. The stop only ever tightens.
* **time stop** — close at the open of bar ``entry_bar + time_stop`` (0 = none).
* **exit on opposite signal** — ``exit_opposite``: a signal on bar ``t`` with this flag closes
  every open position of the same symbol whose side is opposite to it (whatever its tag), at
  bar ``t+1``'s open — longs at the bid open minus slippage, shorts at the ask open plus
  slippage, commission charged — with exit reason ``signal``, *before* entries at that open
  are processed. Pending (unfilled) entry orders of the opposite side are cancelled when the
  signal is known (bar ``t``'s close; counted as expired). Exits during bar ``t`` itself come
  first: a stop or target hit inside bar ``t`` closes the position then, and there is nothing
  left for the signal to close. The signal itself is then handled normally, except that a slot
  (tag or symbol) held by an opposite position that closes at ``t+1``'s open counts as free for
  that open — so with one position per symbol an opposite signal *reverses* (close the long,
  open the short at the same open) instead of being de-duplicated. Same-side open positions
  are unaffected (the signal is de-duplicated as usual). Signals of one bar are applied in
  row order, each seeing what the previous ones did.
* **size scale** — ``size_scale`` in (0, 1]: the share of the run's configured size this
  signal trades (risk % or fixed lots times the scale, then rounded down to lot steps as
  usual); 1 trades the configured size. A filter uses it to size by confidence
  (`tradeforge.research.ml`); the configured sizing stays the ceiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeforge.core.errors import TradeforgeError
from tradeforge.strategy.signal_schema import (
    BY_NAME,
    COLUMNS,
    ENTRY_LIMIT,
    ENTRY_MARKET,
    ENTRY_STOP,
    ENTRY_TYPES,
    FLOAT,
    MAX_TARGETS,
    TARGET_DISTANCE,
    TARGET_KINDS,
    TARGET_NONE,
    TARGET_PRICE,
    TARGET_R,
    TRAIL_DISTANCE,
    TRAIL_KINDS,
    TRAIL_NONE,
    TRAIL_SWING,
    Column,
    PackedSignals,
    blank_blocks,
    column,
    stored,
)

__all__ = [
    "ENTRY_LIMIT", "ENTRY_MARKET", "ENTRY_STOP", "ENTRY_TYPES", "MAX_TARGETS", "TARGET_DISTANCE",
    "TARGET_KINDS", "TARGET_NONE", "TARGET_PRICE", "TARGET_R", "TRAIL_DISTANCE", "TRAIL_KINDS",
    "TRAIL_NONE", "TRAIL_SWING", "BreakEven", "PackedSignals", "SignalError", "Signals",
    "Target", "Trailing", "make_signals", "pack_signals", "validate_signals",
]  # fmt: skip


class SignalError(TradeforgeError):
    """A signal table is inconsistent (the message names the offending row)."""


@dataclass(frozen=True)
class Target:
    """One rung of a target ladder. ``value``/``fraction`` may be scalars or per-row arrays."""

    value: Any
    fraction: Any
    kind: str = "r"


@dataclass(frozen=True)
class BreakEven:
    trigger_r: Any
    offset: Any = 0.0  # price units beyond the entry (in the trade's favour)


@dataclass(frozen=True)
class Trailing:
    kind: str = "distance"  # "distance" | "swing"
    distance: Any = np.nan  # price units, for kind="distance"
    start_r: Any = np.nan  # activate once the excursion reaches this many R (NaN: at once)


@dataclass(frozen=True, eq=False)
class Signals:
    """Columnar signal table; build it with `make_signals`, `Signals.concat` or `Signals.take`.

    Every column of `signal_schema.COLUMNS` is an attribute (one value per row; a read-only
    broadcast view for a column the table stores once, see `signal_schema`); ``bar`` holds
    positions into the frame the signals were computed on (``n_bars`` long) and is sorted
    ascending.
    """

    n_bars: int
    tags: tuple[str, ...]
    n_rows: int
    ints: np.ndarray  # the int block (`signal_schema.layout`)
    floats: np.ndarray
    int_at: np.ndarray  # (N_INT_ROWS, 2): offset, step
    float_at: np.ndarray  # (N_FLOAT_ROWS, 2)
    trail_level_long: np.ndarray | None = None  # (n_bars,) float64
    trail_level_short: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n_rows

    @property
    def tag_names(self) -> np.ndarray:
        """Tag name per row (object array)."""
        return np.asarray(self.tags, dtype=object)[self.tag]

    def stored(self, name: str) -> np.ndarray:
        """Column ``name`` as stored: ``(width, n)`` per row, ``(width, 1)`` when constant."""
        c = BY_NAME[name]
        if c.block == FLOAT:
            return stored(self.floats, self.float_at, c, self.n_rows)
        return stored(self.ints, self.int_at, c, self.n_rows)

    @classmethod
    def empty(cls, n_bars: int) -> Signals:
        return make_signals(n_bars, np.empty(0, np.int64), 1, stop_distance=1.0)

    def take(self, rows: Any, **columns: np.ndarray) -> Signals:
        """The table of ``rows`` (a boolean mask or positions, kept in the order given; tags
        unchanged), with ``columns`` (one value per taken row) replacing those columns."""
        rows = np.asarray(rows)
        n = int(rows.sum()) if rows.dtype == bool else len(rows)
        values = {c.name: self.stored(c.name) for c in COLUMNS}
        values = {k: v[:, rows] if v.shape[1] != 1 or self.n_rows == 1 else v
                  for k, v in values.items()}  # fmt: skip
        for name, v in columns.items():
            values[name] = np.asarray(v, dtype=BY_NAME[name].dtype).reshape(1, n)
        return _table(self.n_bars, self.tags, n, values, self.trail_level_long,
                      self.trail_level_short)  # fmt: skip

    @classmethod
    def concat(cls, parts: Sequence[Signals]) -> Signals:
        """Merge signal tables of the same frame, sorted by bar (stable: earlier parts first)."""
        parts = [p for p in parts if p is not None]
        if not parts:
            raise SignalError("Signals.concat needs at least one table")
        n_bars = parts[0].n_bars
        if any(p.n_bars != n_bars for p in parts):
            raise SignalError("Signals.concat: tables were computed on frames of different length")
        tags: list[str] = []
        for p in parts:
            tags.extend(t for t in p.tags if t not in tags)
        n = sum(len(p) for p in parts)
        values: dict[str, np.ndarray] = {}
        for c in COLUMNS:
            stores = [p.stored(c.name) for p in parts]
            if c.name == "tag":  # codes into the merged tag list
                luts = [np.array([tags.index(t) for t in p.tags] or [0], np.int64) for p in parts]
                stores = [lut[v] for lut, v in zip(luts, stores, strict=True)]
            first = stores[0]
            if n != 1 and all(v.shape[1] == 1 and np.array_equal(v, first, equal_nan=c.block == FLOAT)
                              for v in stores):  # fmt: skip
                values[c.name] = first
            else:
                values[c.name] = np.concatenate(
                    [np.broadcast_to(v, (c.width, len(p))) for v, p in zip(stores, parts, strict=True)],
                    axis=1,
                )  # fmt: skip
        levels = {}
        for name in ("trail_level_long", "trail_level_short"):
            arrays = [getattr(p, name) for p in parts if getattr(p, name) is not None]
            levels[name] = arrays[0] if arrays else None
        merged = _table(n_bars, tuple(tags), n, values, **levels)
        return merged.take(np.argsort(merged.bar, kind="stable"))

    def to_frame(self, index: Any = None) -> Any:
        """A pandas view for inspection (one row per signal; ``time`` when ``index`` given)."""
        import pandas as pd

        data: dict[str, Any] = {"bar": self.bar}
        if index is not None:
            data["time"] = index[self.bar]
        for c in COLUMNS[1:]:
            values = getattr(self, c.name)
            if c.name == "tag":
                values = self.tag_names
            elif c.names:
                values = np.asarray(c.names, dtype=object)[values]
            if c.width == 1:
                data[c.name] = values
            else:  # target_kind -> target1_kind ...
                head, rest = c.name.split("_", 1)
                for k in range(c.width):
                    data[f"{head}{k + 1}_{rest}"] = values[:, k]
        return pd.DataFrame(data)


def _table(
    n_bars: int,
    tags: tuple[str, ...],
    n: int,
    values: dict[str, Any],
    trail_level_long: np.ndarray | None = None,
    trail_level_short: np.ndarray | None = None,
) -> Signals:
    """A table of ``n`` rows from ``values``: column name -> ``(width, n)`` (per row) or
    ``(width, 1)`` (constant) arrays; columns not given take their default."""
    per_row = {name for name, v in values.items() if np.shape(v)[1] != 1}
    ints, floats, int_at, float_at = blank_blocks(n, values, per_row)
    for name, v in values.items():
        c = BY_NAME[name]
        if c.block == FLOAT:
            stored(floats, float_at, c, n)[:] = v
        else:
            stored(ints, int_at, c, n)[:] = v
    return Signals(n_bars, tags, n, ints, floats, int_at, float_at, trail_level_long,
                   trail_level_short)  # fmt: skip


def _accessor(c: Column) -> property:
    def get(self: Signals) -> np.ndarray:
        if c.block == FLOAT:
            return column(self.floats, self.float_at, c, self.n_rows)
        values = column(self.ints, self.int_at, c, self.n_rows)
        return values != 0 if c.dtype is np.bool_ else values

    return property(get, doc=c.doc)


for _c in COLUMNS:
    setattr(Signals, _c.name, _accessor(_c))


def pack_signals(signals: Signals) -> PackedSignals:
    """The kernel's form of a table (no copy of the blocks; see `signal_schema`)."""
    lv_long, lv_short = signals.trail_level_long, signals.trail_level_short
    if lv_long is None and lv_short is None:
        levels = np.full((2, 1), np.nan)
    else:
        levels = np.full((2, signals.n_bars), np.nan)
        for k, lv in enumerate((lv_long, lv_short)):
            if lv is not None:
                levels[k] = lv
    return PackedSignals(signals.ints, signals.floats, signals.int_at, signals.float_at, levels)


def _col(value: Any, n: int, dtype: Any, name: str) -> np.ndarray | Any:
    """A scalar (broadcast by the caller) or an ``(n,)`` array of ``dtype``."""
    arr = np.asarray(value if value is not None else np.nan, dtype=dtype)
    if arr.ndim == 0:
        return arr.item()
    if arr.shape != (n,):
        raise SignalError(f"signal column {name!r} has shape {arr.shape}, expected ({n},)")
    return arr


def _flag(value: Any, n: int, name: str) -> np.ndarray | Any:
    """A boolean column from a bool scalar or array (0/1 integers accepted, nothing else)."""
    arr = np.asarray(value)
    integer_flags = arr.dtype.kind in "iu" and (arr.size == 0 or np.isin(arr, (0, 1)).all())
    if arr.dtype != np.bool_ and not integer_flags:
        raise SignalError(f"signal column {name!r} must be boolean (True/False)")
    return _col(arr.astype(np.bool_), n, np.bool_, name)


def _code(value: Any, names: tuple[str, ...], n: int, what: str) -> np.ndarray | int:
    if isinstance(value, str):
        if value not in names:
            raise SignalError(f"unknown {what} {value!r}; use one of {', '.join(names)}")
        return names.index(value)
    arr = _col(value, n, np.int64, what)
    if np.ndim(arr) == 0:
        arr = np.full(n, arr, dtype=np.int64)
    if n and (arr.min() < 0 or arr.max() >= len(names)):
        raise SignalError(f"{what} codes must be in 0..{len(names) - 1}")
    return arr


def make_signals(
    n_bars: int,
    bars: Any,
    side: Any,
    *,
    tag: Any = "default",
    tag_names: Sequence[str] | None = None,
    entry: Any = "market",
    entry_price: Any = None,
    expiry: Any = 0,
    stop_price: Any = None,
    stop_distance: Any = None,
    targets: Sequence[Target] = (),
    runner: Any = False,
    break_even: BreakEven | None = None,
    trailing: Trailing | None = None,
    time_stop: Any = 0,
    exit_opposite: Any = False,
    size_scale: Any = 1.0,
    reference_price: Any = None,
    trail_level_long: np.ndarray | None = None,
    trail_level_short: np.ndarray | None = None,
) -> Signals:
    """Build and validate a `Signals` table.

    ``bars`` are positions (or a boolean mask of length ``n_bars``); every other per-row
    argument is a scalar or an array aligned with the selected rows. ``tag`` is a string, an
    array of strings, or integer codes into ``tag_names`` (fastest). ``reference_price`` (e.g. the signal bar's close) lets price stops and
    price targets of market entries be checked for the right side of the market.
    """
    bars_arr = np.asarray(bars)
    if bars_arr.dtype == bool:
        if bars_arr.shape != (n_bars,):
            raise SignalError(f"signal mask has shape {bars_arr.shape}, expected ({n_bars},)")
        bars_arr = np.flatnonzero(bars_arr)
    bars_arr = bars_arr.astype(np.int64, copy=False).reshape(-1)
    n = bars_arr.shape[0]

    if tag_names is not None:
        tags = tuple(str(t) for t in tag_names)
        tag_codes = _col(tag, n, np.int64, "tag")
        if n and (np.min(tag_codes) < 0 or np.max(tag_codes) >= len(tags)):
            raise SignalError(f"tag codes must be in 0..{len(tags) - 1}")
    elif isinstance(tag, str):
        tags, tag_codes = (tag,), 0
    else:
        tag_arr = np.asarray(tag, dtype=object)
        if tag_arr.shape != (n,):
            raise SignalError(f"signal column 'tag' has shape {tag_arr.shape}, expected ({n},)")
        uniq, tag_codes = np.unique(tag_arr.astype(str), return_inverse=True)
        tags = tuple(str(t) for t in uniq)

    if len(targets) > MAX_TARGETS:
        raise SignalError(f"at most {MAX_TARGETS} targets per signal, got {len(targets)}")
    for t in targets:
        if t.kind not in TARGET_KINDS[1:]:
            raise SignalError(f"target kind must be one of r, price, distance; got {t.kind!r}")
    be = break_even or BreakEven(trigger_r=np.nan, offset=0.0)
    tr = trailing or Trailing(kind="none")
    if tr.kind not in TRAIL_KINDS:
        raise SignalError(f"trailing kind must be one of {', '.join(TRAIL_KINDS)}; got {tr.kind!r}")

    values: dict[str, Any] = {
        "bar": bars_arr,
        "side": _col(side, n, np.int64, "side"),
        "tag": tag_codes,
        "entry_type": _code(entry, ENTRY_TYPES, n, "entry type"),
        "entry_price": _col(entry_price, n, np.float64, "entry_price"),
        "expiry": _col(expiry, n, np.int64, "expiry"),
        "stop_price": _col(stop_price, n, np.float64, "stop_price"),
        "stop_distance": _col(stop_distance, n, np.float64, "stop_distance"),
        "runner": _col(runner, n, np.bool_, "runner"),
        "be_trigger_r": _col(be.trigger_r, n, np.float64, "be_trigger_r"),
        "be_offset": _col(be.offset, n, np.float64, "be_offset"),
        "trail_kind": TRAIL_KINDS.index(tr.kind),
        "trail_distance": _col(tr.distance, n, np.float64, "trail_distance"),
        "trail_start_r": _col(tr.start_r, n, np.float64, "trail_start_r"),
        "time_stop": _col(time_stop, n, np.int64, "time_stop"),
        "exit_opposite": _flag(exit_opposite, n, "exit_opposite"),
        "size_scale": _col(size_scale, n, np.float64, "size_scale"),
    }
    stores = {name: _stored(v, BY_NAME[name].dtype) for name, v in values.items()}
    if targets:
        kinds = np.zeros((MAX_TARGETS, 1), dtype=np.int64)
        rungs = {"target_value": [np.nan] * MAX_TARGETS, "target_fraction": [0.0] * MAX_TARGETS}
        for k, t in enumerate(targets):
            kinds[k] = TARGET_KINDS.index(t.kind)
            rungs["target_value"][k] = _col(t.value, n, np.float64, f"target{k + 1}")
            rungs["target_fraction"][k] = _col(t.fraction, n, np.float64, f"target{k + 1} fraction")
        stores["target_kind"] = kinds
        for name, rung in rungs.items():
            per_row = any(isinstance(v, np.ndarray) for v in rung)
            stores[name] = np.empty((MAX_TARGETS, n if per_row else 1))
            for k, v in enumerate(rung):
                stores[name][k] = v

    def level(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.ascontiguousarray(a, dtype=np.float64)

    sig = _table(int(n_bars), tags, n, stores, level(trail_level_long), level(trail_level_short))
    ref = None if reference_price is None else _col(reference_price, n, np.float64, "reference")
    if ref is not None and np.ndim(ref) == 0:
        ref = np.full(1, ref)  # a scalar reference broadcasts like a constant column
    validate_signals(sig, ref)
    if n and np.any(bars_arr[1:] < bars_arr[:-1]):
        sig = sig.take(np.argsort(bars_arr, kind="stable"))
    return sig


def _stored(value: Any, dtype: Any) -> np.ndarray:
    """A scalar or ``(n,)`` value of `make_signals` in `_table`'s form."""
    return np.asarray(value, dtype=dtype).reshape(1, -1)


def _fail(sig: Signals, rows: np.ndarray, rule: str) -> SignalError:
    i = int(np.flatnonzero(rows)[0])
    return SignalError(
        f"signal row {i} (bar {int(sig.bar[i])}, side {int(sig.side[i]):+d}, "
        f"tag {sig.tags[sig.tag[i]]!r}): {rule}"
    )


def _rule_checks(sig: Signals, reference_price: np.ndarray | None):
    """``(bad rows, rule)`` pairs, computed lazily in the order they are reported.

    A constant column (stored once, see `signal_schema`) is read as its one value and numpy
    broadcasts it against the others. A rule on constant columns alone is then checked
    once: it fails on every row or on none, and row 0 is the first bad row either way."""

    def col(name: str) -> np.ndarray:
        rows = sig.stored(name)
        return rows if BY_NAME[name].width > 1 else rows[0]

    bar, side, stop_price, stop_dist = col("bar"), col("side"), col("stop_price"), col("stop_distance")  # fmt: skip
    yield (bar < 0) | (bar >= sig.n_bars), f"bar outside the frame (0..{sig.n_bars - 1})"
    yield (side != 1) & (side != -1), "side must be +1 or -1"
    has_price = np.isfinite(stop_price)
    has_dist = np.isfinite(stop_dist)
    yield has_price == has_dist, "give exactly one of stop_price or stop_distance"
    yield has_dist & ~(stop_dist > 0), "stop_distance must be > 0"
    pending = col("entry_type") != ENTRY_MARKET
    entry = col("entry_price")
    yield pending & ~(np.isfinite(entry) & (entry > 0)), "entry_price needed"
    yield pending & (col("expiry") < 1), "limit/stop entries need expiry >= 1 bar"
    yield col("time_stop") < 0, "time_stop must be >= 0"
    scale = col("size_scale")
    yield ~((scale > 0) & (scale <= 1)), "size_scale must be in (0, 1]"
    be_r = col("be_trigger_r")
    yield np.isfinite(be_r) & ~(be_r > 0), "be_trigger_r must be > 0"
    yield ~np.isfinite(col("be_offset")), "be_offset must be finite"
    yield (
        (col("trail_kind") == TRAIL_DISTANCE) & ~(col("trail_distance") > 0),
        ("trailing distance must be > 0"),
    )
    # targets: one contiguous row per slot; slots no row uses are skipped
    kinds = col("target_kind")
    values = col("target_value")
    fracs = col("target_fraction")
    slots = [k for k in range(MAX_TARGETS) if (kinds[k] != TARGET_NONE).any()]
    used = {k: kinds[k] != TARGET_NONE for k in slots}
    none = np.zeros(1, dtype=bool)

    def any_slot(bad) -> np.ndarray:
        out = none
        for k in slots:
            out = out | bad(k)
        return out

    yield (
        any_slot(lambda k: used[k] & ~((fracs[k] > 0) & (fracs[k] <= 1))),
        ("target fractions must be in (0, 1]"),
    )
    total = np.zeros(1)
    for k in slots:
        total = total + np.where(used[k], fracs[k], 0.0)
    yield total > 1 + 1e-9, "target fractions sum to more than 1"
    yield any_slot(lambda k: used[k] & ~np.isfinite(values[k])), "target value is NaN"
    yield (
        any_slot(lambda k: used[k] & (kinds[k] != TARGET_PRICE) & ~(values[k] > 0)),
        ("R and distance targets must be > 0"),
    )
    # right side of the market: the entry price for pending orders, else the reference price
    ref = np.where(pending, entry, np.nan)
    if reference_price is not None:
        ref = np.where(pending, ref, reference_price)
    known = np.isfinite(ref)
    long_ = side == 1

    def wrong_side(level: np.ndarray, checked: np.ndarray, long_bad, short_bad) -> np.ndarray:
        """``checked`` rows whose ``level`` is on the wrong side of ``ref``. The per-row side
        test runs only when some row is checked at all — often none is (no price stops or
        targets, no reference price), and that test costs more than every other rule."""
        if not checked.any():
            return checked
        return checked & np.where(long_, long_bad(level, ref), short_bad(level, ref))

    yield (
        wrong_side(stop_price, known & has_price, np.greater_equal, np.less_equal),
        "stop is on the wrong side of the entry",
    )
    yield (
        any_slot(
            lambda k: wrong_side(
                values[k],
                used[k] & (kinds[k] == TARGET_PRICE) & known,
                np.less_equal,
                np.greater_equal,
            )
        ),
        "price target is on the wrong side of the entry",
    )


def validate_signals(sig: Signals, reference_price: np.ndarray | None = None) -> None:
    """Raise `SignalError` naming the first row that breaks a rule."""
    if len(sig) == 0:
        return
    if (sig.stored("trail_kind") == TRAIL_SWING).any():
        for name in ("trail_level_long", "trail_level_short"):
            lv = getattr(sig, name)
            if lv is None or lv.shape != (sig.n_bars,):
                raise SignalError(f"swing trailing needs {name} with one value per bar")
    for bad, rule in _rule_checks(sig, reference_price):
        if bad.any():
            raise _fail(sig, bad, rule)
