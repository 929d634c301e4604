"""Stored engine-state layouts and the steps between them.

`SCHEMA_VERSION` is the layout this code writes; ``MIGRATIONS[v]`` turns a body of version
``v`` into one of ``v + 1``. A body is migrated as JSON, before it is typed and validated
(`tradeforge.live.schema`); the repository journals the migration like any other change (a
``migrate`` record), so a crash during or after it replays exactly as before.

* **1** — the first layout; keys added over time were optional (``queued``, ``atr``,
  ``stats.expired``, a position's ``signal_exit`` / ``fill_at_open`` / ``entry_type`` /
  ``exit_time`` / ``exit_reason``, a pending order's ``bars_left``).
* **2** — every key always present (`tradeforge.live.model`).
* **3** — runtime control (`tradeforge.live.control`): ``control`` (the global pause and each
  strategy's pause / disable switches), ``blackouts`` and ``commands`` (acknowledged operator
  commands not applied yet).
* **4** — several strategies in one session: what belonged to the one strategy (``identity``,
  ``positions``, ``pending``, ``queued``, ``atr``, ``signals``) moves into
  ``strategies[<its name>]`` with its own counters (``stats``) and guard state (``risk``), its
  ``params`` and ``window`` (None: the configuration's, recorded when the engine starts); the
  account keeps ``daily``, ``risk`` and the totals in ``stats``; ``last_symbol`` joins
  ``last_key`` (events of several feeds are ordered by time, priority and symbol).
* **5** — code reloads: each strategy's ``code`` (the code version a ``ctl reload --code`` or
  ``--reimport`` installed; None: the code imported at start).
* **6** — execution guards (`tradeforge.live.guards`): each strategy's ``risk.orders`` (entry
  orders sent in the last minute) and ``risk.slips`` (fills that slipped past a limit), and a
  pending order's ``ref`` (the price it was sized against; None for orders sent before).

Steps must be pure and deterministic, and must leave malformed bodies for the validation to
name (they fill what is missing, never assume a shape).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tradeforge.core.errors import StateError

Body = dict[str, Any]

SCHEMA_VERSION = 6


def _records(body: Body, key: str) -> list[Body]:
    """The mapping entries of ``body[key]``, whatever else is there."""
    entries = body.get(key)
    if not isinstance(entries, dict):
        return []
    return [v for v in entries.values() if isinstance(v, dict)]


def v1_to_v2(body: Body) -> Body:
    """Make every optional v1 key explicit, with the value its absence meant."""
    body.setdefault("queued", {})
    body.setdefault("atr", None)
    if isinstance(body.get("stats"), dict):
        body["stats"].setdefault("expired", 0)
    for pos in _records(body, "positions"):
        pos.setdefault("signal_exit", False)
        pos.setdefault("fill_at_open", True)
        pos.setdefault("entry_type", "market")  # limit/stop entries came with the key
        pos.setdefault("exit_time", None)
        pos.setdefault("exit_reason", None)
    for order in _records(body, "pending"):
        order.setdefault("bars_left", None)
    body["schema_version"] = 2
    return body


def v2_to_v3(body: Body) -> Body:
    """Runtime control starts empty: nothing paused, the session's strategy enabled, no
    blackout windows, no pending commands."""
    identity = body.get("identity")
    name = identity.get("strategy") if isinstance(identity, dict) else None
    strategies = {name: {"paused": False, "disabled": None}} if isinstance(name, str) else {}
    body.setdefault("control", {"paused": False, "strategies": strategies})
    body.setdefault("blackouts", {})
    body.setdefault("commands", {})
    body["schema_version"] = 3
    return body


def v3_to_v4(body: Body) -> Body:
    """The one strategy of a v3 state becomes a session of one, named after its strategy
    (the name its client ids already carry). Its counters are the account's; its own guard
    state (it had no guards of its own) starts when the engine fills in its ``capital``."""
    identity = body.pop("identity", None)
    name = identity.get("strategy") if isinstance(identity, dict) else None
    stats = body.get("stats") if isinstance(body.get("stats"), dict) else {}
    book = {
        "identity": identity,
        "params": None,
        "window": None,
        **{key: body.pop(key, None) for key in ("positions", "pending", "queued", "atr")},
        "signals": body.pop("signals", None),
        "stats": {k: stats.get(k) for k in ("trades", "realized", "orders", "expired")},
        "risk": {"capital": None, "day": None, "day_start": 0.0, "peak": 0.0},
    }
    if isinstance(name, str):  # else no strategy: the validation names what is missing
        body["strategies"] = {name: book}
    last = body.get("last_key")
    known = last is not None and isinstance(identity, dict)
    body["last_symbol"] = identity.get("symbol") if known else None
    body["schema_version"] = 4
    return body


def v4_to_v5(body: Body) -> Body:
    """Every strategy trades the code imported at start (no code reload yet)."""
    for book in _records(body, "strategies"):
        book.setdefault("code", None)
    body["schema_version"] = 5
    return body


def v5_to_v6(body: Body) -> Body:
    """No entry orders counted nor slipped fills yet; the orders already pending have no
    reference price (their fills are not judged for slippage)."""
    for book in _records(body, "strategies"):
        if isinstance(book.get("risk"), dict):
            book["risk"].setdefault("orders", [])
            book["risk"].setdefault("slips", [])
        for order in _records(book, "pending"):
            order.setdefault("ref", None)
    body["schema_version"] = 6
    return body


MIGRATIONS: dict[int, Callable[[Body], Body]] = {
    1: v1_to_v2, 2: v2_to_v3, 3: v3_to_v4, 4: v4_to_v5, 5: v5_to_v6,
}  # fmt: skip


def version_of(body: Any) -> int:
    """The layout version of a stored body; `StateError` unless this code can read it."""
    version = body.get("schema_version") if isinstance(body, dict) else None
    if type(version) is not int or not 1 <= version <= SCHEMA_VERSION:
        raise StateError("unsupported schema version")
    return version


def upgrade(body: Body) -> Body:
    """``body`` migrated to `SCHEMA_VERSION` (``body`` itself is never changed)."""
    version = version_of(body)
    if version == SCHEMA_VERSION:
        return body
    out = copy.deepcopy(body)
    while version < SCHEMA_VERSION:
        out = MIGRATIONS[version](out)
        version += 1
    return out
