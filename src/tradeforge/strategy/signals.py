"""The `Signals` table: what a strategy emits and what backtest and live engines consume.

One row per signal bar, stored as aligned numpy arrays (the Numba kernel reads them as is).
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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradeforge.core.errors import TradeforgeError

MAX_TARGETS = 4

ENTRY_TYPES: tuple[str, ...] = ("market", "limit", "stop")
TARGET_KINDS: tuple[str, ...] = ("none", "r", "price", "distance")
TRAIL_KINDS: tuple[str, ...] = ("none", "distance", "swing")

ENTRY_MARKET, ENTRY_LIMIT, ENTRY_STOP = 0, 1, 2
TARGET_NONE, TARGET_R, TARGET_PRICE, TARGET_DISTANCE = 0, 1, 2, 3
TRAIL_NONE, TRAIL_DISTANCE, TRAIL_SWING = 0, 1, 2


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
    """Columnar signal table; build it with `make_signals` or `Signals.concat`.

    All per-row arrays have length ``len(self)``; ``bar`` holds positions into the frame the
    signals were computed on (``n_bars`` long) and is sorted ascending.
    """

    n_bars: int
    bar: np.ndarray  # int64
    side: np.ndarray  # int64, +1 long / -1 short
    tag: np.ndarray  # int64 codes into ``tags``
    tags: tuple[str, ...]
    entry_type: np.ndarray  # int64, ENTRY_*
    entry_price: np.ndarray  # float64, NaN for market
    expiry: np.ndarray  # int64 bars (>= 1 for limit/stop)
    stop_price: np.ndarray  # float64 or NaN
    stop_distance: np.ndarray  # float64 or NaN
    target_kind: np.ndarray  # (n, MAX_TARGETS) int64, TARGET_*
    target_value: np.ndarray  # (n, MAX_TARGETS) float64
    target_fraction: np.ndarray  # (n, MAX_TARGETS) float64
    runner: np.ndarray  # int64 0/1
    be_trigger_r: np.ndarray  # float64, NaN = none
    be_offset: np.ndarray  # float64 price units
    trail_kind: np.ndarray  # int64, TRAIL_*
    trail_distance: np.ndarray  # float64
    trail_start_r: np.ndarray  # float64, NaN = immediately
    time_stop: np.ndarray  # int64 bars, 0 = none
    exit_opposite: np.ndarray  # bool: close opposite positions at the next open
    trail_level_long: np.ndarray | None = field(default=None)  # (n_bars,) float64
    trail_level_short: np.ndarray | None = field(default=None)

    def __len__(self) -> int:
        return int(self.bar.shape[0])

    @property
    def tag_names(self) -> np.ndarray:
        """Tag name per row (object array)."""
        return np.asarray(self.tags, dtype=object)[self.tag]

    @classmethod
    def empty(cls, n_bars: int) -> Signals:
        return make_signals(n_bars, np.empty(0, np.int64), 1, stop_distance=1.0)

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
        remapped = []
        for p in parts:
            lut = np.array([tags.index(t) for t in p.tags], dtype=np.int64)
            remapped.append(lut[p.tag] if len(p.tags) else p.tag)
        bar = np.concatenate([p.bar for p in parts])
        order = np.argsort(bar, kind="stable")

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])[order]

        levels = {}
        for name in ("trail_level_long", "trail_level_short"):
            arrays = [getattr(p, name) for p in parts if getattr(p, name) is not None]
            levels[name] = arrays[0] if arrays else None
        return cls(
            n_bars=n_bars,
            bar=bar[order],
            side=cat("side"),
            tag=np.concatenate(remapped)[order],
            tags=tuple(tags),
            entry_type=cat("entry_type"),
            entry_price=cat("entry_price"),
            expiry=cat("expiry"),
            stop_price=cat("stop_price"),
            stop_distance=cat("stop_distance"),
            target_kind=cat("target_kind"),
            target_value=cat("target_value"),
            target_fraction=cat("target_fraction"),
            runner=cat("runner"),
            be_trigger_r=cat("be_trigger_r"),
            be_offset=cat("be_offset"),
            trail_kind=cat("trail_kind"),
            trail_distance=cat("trail_distance"),
            trail_start_r=cat("trail_start_r"),
            time_stop=cat("time_stop"),
            exit_opposite=cat("exit_opposite"),
            **levels,
        )

    def to_frame(self, index: Any = None) -> Any:
        """A pandas view for inspection (one row per signal; ``time`` when ``index`` given)."""
        import pandas as pd

        data: dict[str, Any] = {"bar": self.bar}
        if index is not None:
            data["time"] = index[self.bar]
        data.update(
            side=self.side,
            tag=self.tag_names,
            entry_type=np.asarray(ENTRY_TYPES, dtype=object)[self.entry_type],
            entry_price=self.entry_price,
            expiry=self.expiry,
            stop_price=self.stop_price,
            stop_distance=self.stop_distance,
        )
        for k in range(MAX_TARGETS):
            data[f"target{k + 1}_kind"] = np.asarray(TARGET_KINDS, dtype=object)[
                self.target_kind[:, k]
            ]
            data[f"target{k + 1}_value"] = self.target_value[:, k]
            data[f"target{k + 1}_fraction"] = self.target_fraction[:, k]
        data.update(
            runner=self.runner.astype(bool),
            be_trigger_r=self.be_trigger_r,
            be_offset=self.be_offset,
            trail_kind=np.asarray(TRAIL_KINDS, dtype=object)[self.trail_kind],
            trail_distance=self.trail_distance,
            trail_start_r=self.trail_start_r,
            time_stop=self.time_stop,
            exit_opposite=self.exit_opposite,
        )
        return pd.DataFrame(data)


def _col(value: Any, n: int, dtype: Any, name: str) -> np.ndarray:
    arr = np.asarray(value if value is not None else np.nan, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n, arr.item(), dtype=dtype)
    if arr.shape != (n,):
        raise SignalError(f"signal column {name!r} has shape {arr.shape}, expected ({n},)")
    return np.ascontiguousarray(arr)


def _flag(value: Any, n: int, name: str) -> np.ndarray:
    """A boolean column from a bool scalar or array (0/1 integers accepted, nothing else)."""
    arr = np.asarray(value)
    integer_flags = arr.dtype.kind in "iu" and (arr.size == 0 or np.isin(arr, (0, 1)).all())
    if arr.dtype != np.bool_ and not integer_flags:
        raise SignalError(f"signal column {name!r} must be boolean (True/False)")
    return _col(arr.astype(np.bool_), n, np.bool_, name)


def _code(value: Any, names: tuple[str, ...], n: int, what: str) -> np.ndarray:
    if isinstance(value, str):
        if value not in names:
            raise SignalError(f"unknown {what} {value!r}; use one of {', '.join(names)}")
        return np.full(n, names.index(value), dtype=np.int64)
    arr = _col(value, n, np.int64, what)
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
        if n and (tag_codes.min() < 0 or tag_codes.max() >= len(tags)):
            raise SignalError(f"tag codes must be in 0..{len(tags) - 1}")
    elif isinstance(tag, str):
        tags, tag_codes = (tag,), np.zeros(n, dtype=np.int64)
    else:
        tag_arr = np.asarray(tag, dtype=object)
        if tag_arr.shape != (n,):
            raise SignalError(f"signal column 'tag' has shape {tag_arr.shape}, expected ({n},)")
        uniq, tag_codes = np.unique(tag_arr.astype(str), return_inverse=True)
        tags, tag_codes = tuple(str(t) for t in uniq), tag_codes.astype(np.int64)

    tk = np.zeros((n, MAX_TARGETS), dtype=np.int64)
    tv = np.full((n, MAX_TARGETS), np.nan)
    tf = np.zeros((n, MAX_TARGETS))
    if len(targets) > MAX_TARGETS:
        raise SignalError(f"at most {MAX_TARGETS} targets per signal, got {len(targets)}")
    for k, t in enumerate(targets):
        if t.kind not in TARGET_KINDS[1:]:
            raise SignalError(f"target kind must be one of r, price, distance; got {t.kind!r}")
        tk[:, k] = TARGET_KINDS.index(t.kind)
        tv[:, k] = _col(t.value, n, np.float64, f"target{k + 1}")
        tf[:, k] = _col(t.fraction, n, np.float64, f"target{k + 1} fraction")

    be = break_even or BreakEven(trigger_r=np.nan, offset=0.0)
    tr = trailing or Trailing(kind="none")
    if tr.kind not in TRAIL_KINDS:
        raise SignalError(f"trailing kind must be one of {', '.join(TRAIL_KINDS)}; got {tr.kind!r}")

    sig = Signals(
        n_bars=int(n_bars),
        bar=bars_arr,
        side=_col(side, n, np.int64, "side"),
        tag=tag_codes,
        tags=tags,
        entry_type=_code(entry, ENTRY_TYPES, n, "entry type"),
        entry_price=_col(entry_price, n, np.float64, "entry_price"),
        expiry=_col(expiry, n, np.int64, "expiry"),
        stop_price=_col(stop_price, n, np.float64, "stop_price"),
        stop_distance=_col(stop_distance, n, np.float64, "stop_distance"),
        target_kind=tk,
        target_value=tv,
        target_fraction=tf,
        runner=_col(runner, n, np.bool_, "runner").astype(np.int64),
        be_trigger_r=_col(be.trigger_r, n, np.float64, "be_trigger_r"),
        be_offset=_col(be.offset, n, np.float64, "be_offset"),
        trail_kind=np.full(n, TRAIL_KINDS.index(tr.kind), dtype=np.int64),
        trail_distance=_col(tr.distance, n, np.float64, "trail_distance"),
        trail_start_r=_col(tr.start_r, n, np.float64, "trail_start_r"),
        time_stop=_col(time_stop, n, np.int64, "time_stop"),
        exit_opposite=_flag(exit_opposite, n, "exit_opposite"),
        trail_level_long=None
        if trail_level_long is None
        else np.ascontiguousarray(trail_level_long, dtype=np.float64),
        trail_level_short=None
        if trail_level_short is None
        else np.ascontiguousarray(trail_level_short, dtype=np.float64),
    )
    ref = None if reference_price is None else _col(reference_price, n, np.float64, "reference")
    validate_signals(sig, reference_price=ref)
    if n and np.any(np.diff(sig.bar) < 0):
        order = np.argsort(sig.bar, kind="stable")
        sig = Signals.concat([_take(sig, order)])
    return sig


def _take(sig: Signals, order: np.ndarray) -> Signals:
    values = {}
    for name in Signals.__dataclass_fields__:
        v = getattr(sig, name)
        if isinstance(v, np.ndarray) and name not in ("trail_level_long", "trail_level_short"):
            v = v[order]
        values[name] = v
    return Signals(**values)


def _fail(sig: Signals, rows: np.ndarray, rule: str) -> SignalError:
    i = int(np.flatnonzero(rows)[0])
    return SignalError(
        f"signal row {i} (bar {int(sig.bar[i])}, side {int(sig.side[i]):+d}, "
        f"tag {sig.tags[sig.tag[i]]!r}): {rule}"
    )


def validate_signals(sig: Signals, reference_price: np.ndarray | None = None) -> None:
    """Raise `SignalError` naming the first row that breaks a rule."""
    n = len(sig)
    if n == 0:
        return
    checks: list[tuple[np.ndarray, str]] = [
        ((sig.bar < 0) | (sig.bar >= sig.n_bars), f"bar outside the frame (0..{sig.n_bars - 1})"),
        ((sig.side != 1) & (sig.side != -1), "side must be +1 or -1"),
    ]
    has_price = np.isfinite(sig.stop_price)
    has_dist = np.isfinite(sig.stop_distance)
    checks += [
        (has_price == has_dist, "give exactly one of stop_price or stop_distance"),
        (has_dist & ~(sig.stop_distance > 0), "stop_distance must be > 0"),
    ]
    pending = sig.entry_type != ENTRY_MARKET
    checks += [
        (pending & ~(np.isfinite(sig.entry_price) & (sig.entry_price > 0)), "entry_price needed"),
        (pending & (sig.expiry < 1), "limit/stop entries need expiry >= 1 bar"),
        (sig.time_stop < 0, "time_stop must be >= 0"),
        (np.isfinite(sig.be_trigger_r) & ~(sig.be_trigger_r > 0), "be_trigger_r must be > 0"),
        (~np.isfinite(sig.be_offset), "be_offset must be finite"),
        (
            (sig.trail_kind == TRAIL_DISTANCE) & ~(sig.trail_distance > 0),
            "trailing distance must be > 0",
        ),
    ]
    used = sig.target_kind != TARGET_NONE
    frac = np.where(used, sig.target_fraction, 0.0)
    checks += [
        ((used & ~((frac > 0) & (frac <= 1))).any(axis=1), "target fractions must be in (0, 1]"),
        (frac.sum(axis=1) > 1 + 1e-9, "target fractions sum to more than 1"),
        ((used & ~np.isfinite(sig.target_value)).any(axis=1), "target value is NaN"),
        (
            (used & (sig.target_kind != TARGET_PRICE) & ~(sig.target_value > 0)).any(axis=1),
            "R and distance targets must be > 0",
        ),
    ]
    if (sig.trail_kind == TRAIL_SWING).any():
        for name in ("trail_level_long", "trail_level_short"):
            lv = getattr(sig, name)
            if lv is None or lv.shape != (sig.n_bars,):
                raise SignalError(f"swing trailing needs {name} with one value per bar")
    # Right side of the market: the entry price for pending orders, else the reference price.
    ref = np.where(pending, sig.entry_price, np.nan)
    if reference_price is not None:
        ref = np.where(pending, ref, reference_price)
    known = np.isfinite(ref)
    long_ = sig.side == 1
    wrong = known & has_price & np.where(long_, sig.stop_price >= ref, sig.stop_price <= ref)
    checks.append((wrong, "stop is on the wrong side of the entry"))
    price_t = used & (sig.target_kind == TARGET_PRICE)
    tv = sig.target_value
    wrong_t = (
        price_t & known[:, None] & np.where(long_[:, None], tv <= ref[:, None], tv >= ref[:, None])
    ).any(axis=1)
    checks.append((wrong_t, "price target is on the wrong side of the entry"))
    for bad, rule in checks:
        if bad.any():
            raise _fail(sig, bad, rule)
