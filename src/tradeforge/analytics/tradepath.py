"""Each trade's stop, targets and signal over its life, recomputed for the charts.

A run folder records the legs of a trade, not how its stop moved, nor the targets that never
filled. Both are deterministic: they follow from the signal row that opened the trade and
from the bars it lived on, through the same rules the backtest ran (`tradeforge.trading.rules`:
`open_position`, then per bar `process_observation` and `update_after_observation`). So
`trade_paths` replays every trade on its bars — in one compiled loop, as the kernel does —
from its recorded fill price, initial stop and size, and writes down each change of the stop
(break-even, every trailing step) and every target level, filled or not.

The signal rows come from the run (``result.signals``, a fresh run) or, for a run loaded
from its folder, from the strategy recorded in ``run.json`` recomputed on the bars — on the
feature frames `tradeforge.analytics.indicators.strategy_features` computed once for the
indicator lines too. A trade is matched to its row by signal bar, side and tag.

Replayed exits are checked against the recorded legs (bar, reason, size and price, within
half a tick): a trade whose replay differs — other bars than the run's, a strategy this
process does not know, a recursive feature still warming up on the padded bars of a rebuilt
report — keeps only what the run recorded: its initial stop up to the exit and the targets
that filled. Nothing drawn is therefore a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from tradeforge.core.errors import TradeforgeError
from tradeforge.strategy.signal_schema import MAX_TARGETS, PackedSignals
from tradeforge.strategy.signals import Signals, pack_signals
from tradeforge.trading.result import EXIT_REASONS, BacktestResult
from tradeforge.trading.rules import (
    F_NEXT_T,
    F_NT,
    F_REMAINING,
    F_SIDE,
    F_STOP,
    F_STOP_SRC,
    F_TARGET,
    NF,
    R_END,
    SRC_INITIAL,
    entry_fill,
    market_exit_price,
    open_position,
    process_observation,
    update_after_observation,
)
from tradeforge.trading.steps import fill_view

#: kinds of a stop segment, by the rules' stop source code (`rules.SRC_*`)
STOP_KINDS: tuple[str, ...] = ("initial", "breakeven", "trailing")
_STOP_COLUMNS = ("trade_id", "symbol", "start", "end", "price", "kind")
_TARGET_COLUMNS = ("trade_id", "symbol", "start", "end", "price", "filled")
_SIGNAL_COLUMNS = ("symbol", "time", "side", "price")
# how the replay ends a trade at its exit bar
_EXIT_RULES, _EXIT_AT_OPEN, _EXIT_AT_CLOSE = 0, 1, 2
_R_TIME, _R_SIGNAL = EXIT_REASONS.index("time"), EXIT_REASONS.index("signal")


def _frame(columns: tuple[str, ...], data: Mapping[str, Any] | None = None) -> pd.DataFrame:
    return pd.DataFrame(data if data is not None else {c: [] for c in columns})[list(columns)]


@dataclass(frozen=True)
class TradePaths:
    """What the charts draw over each trade's life (times are UTC bar open times).

    ``stops``: one row per stop level in force from ``start`` to ``end`` (``kind``: initial,
    breakeven, trailing); ``targets``: one row per target level from the entry to its fill
    (``filled``) or to the exit; ``signals``: every signal of the strategy (``side`` +1/-1,
    ``price`` the signal bar's low for longs, its high for shorts); ``verified``: the trades
    whose replay reproduced their recorded exits (the others show only the recorded levels);
    ``checked``: the trades there were bars to check on (``verified`` is a subset).
    """

    stops: pd.DataFrame = field(default_factory=lambda: _frame(_STOP_COLUMNS))
    targets: pd.DataFrame = field(default_factory=lambda: _frame(_TARGET_COLUMNS))
    signals: pd.DataFrame = field(default_factory=lambda: _frame(_SIGNAL_COLUMNS))
    verified: frozenset[int] = frozenset()
    checked: frozenset[int] = frozenset()

    def tally(self, trade_ids: Any) -> dict[str, Any]:
        """How many of ``trade_ids`` were checked and verified, and the ids checked but not
        verified: the ``trade_paths`` section of ``report.json``, which the console summary,
        ``report.txt`` and ``report.html`` print (`format.trade_paths_line`)."""
        ids = set(np.asarray(trade_ids).tolist())
        checked = self.checked & ids
        return {
            "trades": len(ids),
            "checked": len(checked),
            "verified": len(self.verified & checked),
            "unverified": sorted(checked - self.verified),
        }

    def of(self, trade_ids: Any) -> TradePaths:
        """The paths of ``trade_ids`` only (signals unchanged)."""
        ids = set(np.asarray(trade_ids).tolist())
        return TradePaths(
            self.stops[self.stops["trade_id"].isin(ids)],
            self.targets[self.targets["trade_id"].isin(ids)],
            self.signals,
            frozenset(self.verified & ids),
            frozenset(self.checked & ids),
        )


@njit(cache=True)
def _replay(
    o, h, lo, c, spread, slip, sig: PackedSignals, rows, entry_bar, exit_bar, side, entry,
    stop, steps, inside, finish, final_reason, stops_out, targets_out, legs_out,
):  # fmt: skip
    """Replay trade ``t`` (row ``rows[t]`` of ``sig``) from ``entry_bar[t]`` to ``exit_bar[t]``
    with the kernel's per-bar order. ``inside[t]``: the entry type when the fill happened
    inside the entry bar (-1: at its open). ``finish[t]``: `_EXIT_AT_OPEN` (a time or signal
    exit at the exit bar's open), `_EXIT_AT_CLOSE` (end of data) or `_EXIT_RULES`.
    Writes stop changes (trade, first bar, level, source), targets (trade, index, level, fill
    bar or -1) and legs (trade, bar, price, steps, reason); returns the three counts."""
    st = np.empty((1, NF))
    # the rules get the slot and the side with the backtest kernel's types (the slot a
    # variable, not the literal 0; the side a float): they then compile once for both
    slot = st.shape[0] - 1
    out = np.empty((MAX_TARGETS + 1, 3))
    levels = sig.levels
    last_level = levels.shape[1] - 1
    ns = nt_ = nl = 0
    for t in range(len(rows)):
        e, x = entry_bar[t], exit_bar[t]
        open_position(st, slot, side[t], entry[t], stop[t], steps[t], sig, rows[t])
        first_target = nt_
        for k in range(int(st[0, F_NT])):
            targets_out[nt_, 0] = t
            targets_out[nt_, 1] = k
            targets_out[nt_, 2] = st[0, F_TARGET + k]
            targets_out[nt_, 3] = -1
            nt_ += 1
        stops_out[ns, 0] = t
        stops_out[ns, 1] = e
        stops_out[ns, 2] = st[0, F_STOP]
        stops_out[ns, 3] = SRC_INITIAL
        ns += 1
        for i in range(e, x + 1):
            sp, sl = spread[i], slip[i]
            if i == x and finish[t] == _EXIT_AT_OPEN:
                legs_out[nl, 0] = t
                legs_out[nl, 1] = i
                legs_out[nl, 2] = market_exit_price(st[slot, F_SIDE], o[i], sp, sl)
                legs_out[nl, 3] = st[0, F_REMAINING]
                legs_out[nl, 4] = final_reason[t]
                nl += 1
                break
            oi, hi, li = o[i], h[i], lo[i]
            if i == e and inside[t] >= 0:
                oi, hi, li = fill_view(side[t], inside[t], entry[t], sp, h[i], lo[i], c[i])
            before = int(st[0, F_NEXT_T])
            k = process_observation(st, slot, oi, hi, li, sp, sl, out)
            for q in range(before, int(st[0, F_NEXT_T])):
                targets_out[first_target + q, 3] = i
            for q in range(k):
                legs_out[nl, 0] = t
                legs_out[nl, 1] = i
                legs_out[nl, 2] = out[q, 0]
                legs_out[nl, 3] = out[q, 1]
                legs_out[nl, 4] = out[q, 2]
                nl += 1
            if st[0, F_REMAINING] <= 0:
                break
            if i == x and finish[t] == _EXIT_AT_CLOSE:
                legs_out[nl, 0] = t
                legs_out[nl, 1] = i
                legs_out[nl, 2] = market_exit_price(st[slot, F_SIDE], c[i], sp, sl)
                legs_out[nl, 3] = st[0, F_REMAINING]
                legs_out[nl, 4] = R_END
                nl += 1
                break
            prev = st[0, F_STOP]
            lv = i if i < last_level else last_level
            update_after_observation(st, slot, hi, li, c[i], sp, levels[0, lv], levels[1, lv])
            if st[0, F_STOP] != prev and i < x:
                stops_out[ns, 0] = t
                stops_out[ns, 1] = i + 1
                stops_out[ns, 2] = st[0, F_STOP]
                stops_out[ns, 3] = st[0, F_STOP_SRC]
                ns += 1
    return ns, nt_, nl


def rebuild_signals(
    config: Mapping[str, Any] | None,
    symbol: str,
    bars: pd.DataFrame,
    features: pd.DataFrame | None = None,
):
    """The `Signals` of the run's recorded strategy on ``bars`` (None when the run names no
    strategy this process knows, or the strategy fails on these bars). ``features``: the
    strategy's feature frame of ``bars`` when already computed (`strategy_features`)."""
    from tradeforge.analytics.indicators import strategy_of

    strategy = strategy_of(config)
    if strategy is None or not len(bars):
        return None
    try:
        spec = _spec(config)
        inst = spec.instrument(symbol) if spec is not None else symbol
        if features is None:
            features = strategy.compute_features(bars, (config or {}).get("timeframe"))
        return strategy.signals(features, inst)
    except TradeforgeError:
        return None


def _spec(config: Mapping[str, Any] | None):
    from tradeforge.trading.spec import RunSpec

    try:
        return RunSpec.from_dict(config or {})
    except (TradeforgeError, AttributeError, TypeError, ValueError):
        return None


def trade_paths(
    result: BacktestResult,
    ohlc: Mapping[str, pd.DataFrame] | None,
    signals: Mapping[str, Any] | None = None,
    features: Mapping[str, pd.DataFrame] | None = None,
) -> TradePaths:
    """The stop, target and signal paths of ``result``'s trades on the bars ``ohlc`` (see the
    module docstring). ``signals`` ({symbol: `Signals` computed on those bars}) defaults to
    ``result.signals``, else to the strategy's signals recomputed from ``run.json`` — on
    ``features`` ({symbol: feature frame of `strategy_features`}) when given."""
    parts: list[TradePaths] = []
    spec = _spec(result.config)
    given = dict(signals or result.signals or {})
    trades = result.trades
    for symbol in sorted(ohlc or {}):
        bars = ohlc[symbol]  # type: ignore[index]
        mine = trades[trades["symbol"].astype(str) == symbol] if len(trades) else trades
        sig = given.get(symbol)
        if not isinstance(sig, Signals) and len(bars):
            sig = rebuild_signals(result.config, symbol, bars, (features or {}).get(symbol))
        if not isinstance(sig, Signals) or sig.n_bars != len(bars):
            sig = None
        parts.append(_symbol_paths(symbol, bars, mine, result.legs, sig, spec))
    if not parts:
        return TradePaths()
    return TradePaths(
        pd.concat([p.stops for p in parts], ignore_index=True),
        pd.concat([p.targets for p in parts], ignore_index=True),
        pd.concat([p.signals for p in parts], ignore_index=True),
        frozenset().union(*(p.verified for p in parts)),
        frozenset().union(*(p.checked for p in parts)),
    )


def _signal_points(symbol: str, bars: pd.DataFrame, sig: Signals | None) -> pd.DataFrame:
    if sig is None or not len(sig):
        return _frame(_SIGNAL_COLUMNS)
    pos, side = sig.bar, np.sign(sig.side).astype(np.int64)
    price = np.where(
        side > 0, bars["low"].to_numpy(np.float64)[pos], bars["high"].to_numpy(np.float64)[pos]
    )
    return _frame(
        _SIGNAL_COLUMNS,
        {"symbol": symbol, "time": bars.index[pos], "side": side, "price": price},
    )


def _symbol_paths(
    symbol: str,
    bars: pd.DataFrame,
    trades: pd.DataFrame,
    legs: pd.DataFrame,
    sig: Signals | None,
    spec: Any,
) -> TradePaths:
    points = _signal_points(symbol, bars, sig)
    if not len(trades) or not len(bars):
        return TradePaths(signals=points)
    times = bars.index.as_unit("ns").asi8
    e_bar, x_bar, s_bar = (
        _positions(times, trades[c]) for c in ("entry_time", "exit_time", "signal_time")
    )
    ids = trades["trade_id"].to_numpy(np.int64)
    ok = (e_bar >= 0) & (x_bar >= e_bar)
    replayed = _empty_replay()
    if sig is not None and spec is not None and ok.any():
        rows = _match_rows(sig, trades, s_bar)
        ok &= rows >= 0
        if ok.any():
            replayed = _run_replay(symbol, bars, trades[ok], e_bar[ok], x_bar[ok], rows[ok],
                                   sig, spec)  # fmt: skip
    good = _verify(replayed, trades, legs, times, spec, symbol)
    stops, targets = _drawn(symbol, bars, trades, legs, replayed, good, e_bar, x_bar, ids)
    # without the run's signals (a strategy this process does not know) nothing was replayed:
    # those trades are not checked, rather than all "not reproduced"
    checked = ids.tolist() if sig is not None and spec is not None else []
    return TradePaths(stops, targets, points, frozenset(good), frozenset(checked))


def _positions(times: np.ndarray, col: pd.Series) -> np.ndarray:
    """Bar position of each time of ``col`` (-1 where it is not a bar of ``times``)."""
    t = pd.DatetimeIndex(pd.to_datetime(col, utc=True)).as_unit("ns").asi8
    pos = np.searchsorted(times, t)
    found = pos < len(times)
    found[found] = times[pos[found]] == t[found]
    return np.where(found, pos, -1)


def _match_rows(sig: Signals, trades: pd.DataFrame, s_bar: np.ndarray) -> np.ndarray:
    """The signal row of each trade: same bar, side and tag (the first such row; -1: none)."""
    first: dict[tuple[int, int, int], int] = {}
    for j, key in enumerate(zip(sig.bar.tolist(), np.sign(sig.side).tolist(),
                                sig.tag.tolist(), strict=True)):  # fmt: skip
        first.setdefault(key, j)
    codes = {t: k for k, t in enumerate(sig.tags)}
    side = np.where(trades["side"].astype(str).to_numpy() == "long", 1, -1)
    tag = [codes.get(str(t), -1) for t in trades["tag"]]
    return np.array(
        [first.get(k, -1) for k in zip(s_bar.tolist(), side.tolist(), tag, strict=True)],
        dtype=np.int64,
    )


@dataclass
class _Replay:
    ids: np.ndarray  # trade id per replayed trade
    stops: np.ndarray  # (n, 4): trade index, first bar, level, source
    targets: np.ndarray  # (n, 4): trade index, target index, level, fill bar (-1: unfilled)
    legs: np.ndarray  # (n, 5): trade index, bar, price, steps, reason
    lot_step: float = 1.0


def _empty_replay() -> _Replay:
    return _Replay(np.empty(0, np.int64), np.empty((0, 4)), np.empty((0, 4)), np.empty((0, 5)))


def _run_replay(symbol, bars, trades, e_bar, x_bar, rows, sig, spec) -> _Replay:
    inst = spec.instrument(symbol)
    o, h, lo, c = (np.ascontiguousarray(bars[k].to_numpy(np.float64))
                   for k in ("open", "high", "low", "close"))  # fmt: skip
    spread = np.ascontiguousarray(spec.execution.spread_array(bars, inst), dtype=np.float64)
    slip = np.ascontiguousarray(spec.execution.slippage_array(bars, inst, symbol), np.float64)
    side = np.where(trades["side"].astype(str).to_numpy() == "long", 1, -1).astype(np.int64)
    entry = trades["entry_price"].to_numpy(np.float64)
    stop = trades["initial_stop"].to_numpy(np.float64)
    steps = np.round(trades["size"].to_numpy(np.float64) / inst.lot_step).astype(np.int64)
    etype = sig.entry_type[rows]
    inside = np.full(len(rows), -1, np.int64)
    for t in np.flatnonzero(etype != 0).tolist():  # limit / stop entries: filled at the open?
        i = e_bar[t]
        _, at_open = entry_fill(int(side[t]), int(etype[t]), float(sig.entry_price[rows[t]]),
                                o[i], h[i], lo[i], spread[i], slip[i])  # fmt: skip
        if not at_open:
            inside[t] = etype[t]
    reason = trades["exit_reason"].astype(str).to_numpy()
    final = np.array([EXIT_REASONS.index(r) if r in EXIT_REASONS else -1 for r in reason],
                     dtype=np.int64)  # fmt: skip
    finish = np.where((final == _R_TIME) | (final == _R_SIGNAL), _EXIT_AT_OPEN, _EXIT_RULES)
    finish = np.where(final == R_END, _EXIT_AT_CLOSE, finish).astype(np.int64)
    n_bars = int((x_bar - e_bar + 1).sum())
    stops_out = np.empty((len(rows) + n_bars, 4))
    targets_out = np.empty((len(rows) * MAX_TARGETS, 4))
    legs_out = np.empty((len(rows) * (MAX_TARGETS + 1), 5))
    ns, nt, nl = _replay(
        o, h, lo, c, spread, slip, pack_signals(sig), rows, e_bar.astype(np.int64),
        x_bar.astype(np.int64), side, entry, stop, steps, inside, finish, final, stops_out,
        targets_out, legs_out,
    )  # fmt: skip
    ids = trades["trade_id"].to_numpy(np.int64)
    return _Replay(ids, stops_out[:ns], targets_out[:nt], legs_out[:nl], inst.lot_step)


def _verify(rep: _Replay, trades, legs, times, spec, symbol) -> set[int]:
    """Ids of the replayed trades whose legs equal the recorded ones (bar, reason, size, and
    price within half a tick)."""
    if not len(rep.ids):
        return set()
    rec = legs[legs["trade_id"].isin(set(rep.ids.tolist()))] if len(legs) else legs
    rec_bar = _positions(times, rec["time"]) if len(rec) else np.empty(0, np.int64)
    rec_reason = np.array([EXIT_REASONS.index(r) if r in EXIT_REASONS else -1
                           for r in rec["reason"].astype(str)], dtype=np.int64)  # fmt: skip
    rec_id = rec["trade_id"].to_numpy(np.int64)
    order = np.lexsort((rec_bar, rec_id))  # legs of one trade in time order, stable
    rec_id, rec_bar, rec_reason = rec_id[order], rec_bar[order], rec_reason[order]
    rec_price = rec["price"].to_numpy(np.float64)[order]
    rec_size = rec["size"].to_numpy(np.float64)[order]
    rep_id = rep.ids[rep.legs[:, 0].astype(np.int64)]
    order = np.lexsort((rep.legs[:, 1], rep_id))
    rep_id, rep_legs = rep_id[order], rep.legs[order]
    uid = np.unique(np.r_[rep.ids, rec_id])
    n_rec = np.bincount(np.searchsorted(uid, rec_id), minlength=len(uid))
    n_rep = np.bincount(np.searchsorted(uid, rep_id), minlength=len(uid))
    same_count = set(uid[n_rec == n_rep].tolist()) & set(rep.ids.tolist())
    a = np.isin(rec_id, list(same_count))
    b = np.isin(rep_id, list(same_count))
    tick = spec.instrument(symbol).tick_size
    price_tol = np.maximum(0.5 * tick, 1e-9 * np.abs(rec_price[a]))
    bad = (
        (rec_bar[a] != rep_legs[b, 1])
        | (rec_reason[a] != rep_legs[b, 4])
        | (np.abs(rec_size[a] - rep_legs[b, 3] * rep.lot_step) > rep.lot_step / 2)
        | (np.abs(rec_price[a] - rep_legs[b, 2]) > price_tol)
    )
    return same_count - set(rec_id[a][bad].tolist())


def _drawn(symbol, bars, trades, legs, rep: _Replay, good: set[int], e_bar, x_bar, ids):
    """Stop and target rows: the replay's for the verified trades, the recorded initial stop
    and filled targets for the others."""
    index = bars.index
    exit_of = dict(zip(ids.tolist(), x_bar.tolist(), strict=True))
    stops, targets = [], []
    if len(rep.ids) and good:
        keep = np.isin(rep.ids, list(good))
        s = rep.stops[keep[rep.stops[:, 0].astype(np.int64)]]
        sid = rep.ids[s[:, 0].astype(np.int64)]
        start = s[:, 1].astype(np.int64)
        # each level holds until the next change of the same trade, the last until the exit
        nxt = np.r_[start[1:], 0]
        same = np.r_[sid[1:] == sid[:-1], False]
        end = np.where(same, nxt, [exit_of[i] for i in sid.tolist()])
        stops.append(_frame(_STOP_COLUMNS, {
            "trade_id": sid, "symbol": symbol, "start": index[start], "end": index[end],
            "price": s[:, 2], "kind": np.asarray(STOP_KINDS, dtype=object)[s[:, 3].astype(int)],
        }))  # fmt: skip
        tg = rep.targets[keep[rep.targets[:, 0].astype(np.int64)]]
        tid = rep.ids[tg[:, 0].astype(np.int64)]
        filled = tg[:, 3] >= 0
        end = np.where(filled, tg[:, 3], [exit_of[i] for i in tid.tolist()]).astype(np.int64)
        first = {i: e for i, e in zip(ids.tolist(), e_bar.tolist(), strict=True)}
        targets.append(_frame(_TARGET_COLUMNS, {
            "trade_id": tid, "symbol": symbol,
            "start": index[[first[i] for i in tid.tolist()]], "end": index[end],
            "price": tg[:, 2], "filled": filled,
        }))  # fmt: skip
    rest = recorded_paths(trades[~trades["trade_id"].isin(good)], legs)
    stops.append(rest.stops)
    targets.append(rest.targets)
    stops_f = _sorted(stops, _STOP_COLUMNS)
    targets_f = _sorted(targets, _TARGET_COLUMNS)
    return stops_f, targets_f


def recorded_paths(trades: pd.DataFrame, legs: pd.DataFrame) -> TradePaths:
    """What the run folder itself says of ``trades``: the initial stop from entry to exit and
    the targets that filled (their legs), without signals."""
    if not len(trades):
        return TradePaths()
    ids = trades["trade_id"].to_numpy(np.int64)
    stops = _frame(_STOP_COLUMNS, {
        "trade_id": ids, "symbol": trades["symbol"].astype(str).to_numpy(),
        "start": trades["entry_time"].to_numpy(), "end": trades["exit_time"].to_numpy(),
        "price": trades["initial_stop"].to_numpy(np.float64), "kind": "initial",
    })  # fmt: skip
    hit = legs[legs["trade_id"].isin(set(ids.tolist()))] if len(legs) else legs
    hit = hit[hit["reason"].astype(str) == "target"] if len(hit) else hit
    targets = [_frame(_TARGET_COLUMNS)]
    if len(hit):
        entry_time = pd.Series(trades["entry_time"].to_numpy(), index=ids)
        targets.append(_frame(_TARGET_COLUMNS, {
            "trade_id": hit["trade_id"].to_numpy(np.int64),
            "symbol": hit["symbol"].astype(str).to_numpy(),
            "start": entry_time.reindex(hit["trade_id"].to_numpy()).to_numpy(),
            "end": hit["time"].to_numpy(), "price": hit["price"].to_numpy(np.float64),
            "filled": True,
        }))  # fmt: skip
    return TradePaths(_sorted([stops], _STOP_COLUMNS), _sorted(targets, _TARGET_COLUMNS))


def _sorted(parts: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _frame(columns)
    out = pd.concat(parts, ignore_index=True)
    for col in ("start", "end"):
        out[col] = pd.to_datetime(out[col], utc=True)
    return out.sort_values(["start", "trade_id"], kind="stable").reset_index(drop=True)
