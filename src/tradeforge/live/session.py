"""A session file: several strategy instances trading one account in one engine.

A session is a TOML or YAML file (read by `tradeforge.core.config.read_config_file`)::

    capital = 100000             # the paper account of a dry-run
    start = "2024-01-01T03:00"   # the replay (dry-run only); end exclusive
    end = "2025-01-01"
    exit_mode = "bar"            # close_at_end, leverage, max_lots, pace, home as the CLI's
    [execution]                  # the broker's costs, shared: spread, slippage, commission,
    commission = 3.0             # swap_long, swap_short, seed
    [limits]                     # the account's guards (the CLI's names): max_daily_loss,
    max_drawdown = 10            # max_drawdown, max_positions, stale_seconds, max_spread
    [bars]                       # a Parquet file per symbol (else the bar cache)
    EURUSD = "eurusd_m5.parquet"

    [[strategies]]
    name = "fast"                # unique; client ids, ``--strategy`` and trade files use it
    strategy = "sma_cross"
    params = { fast = 3, slow = 12 }
    symbol = "EURUSD"
    timeframe = "M5"
    sizing = "fixed:0.1"         # window, position_mode optional
    limits = { max_positions = 1 }   # optional guards of its own
    # code = "my_strategy.py"    # a file defining (registering) the strategy, imported first

Each instance trades one symbol on one timeframe (the engine runs a strategy per symbol);
several instances may share a symbol only at the same timeframe (they share its feed).
Relative paths are relative to the session file. Every check names the file and the key
(``session.toml: strategies[2].symbol: …``).

`Session` is the checked form: one `RunSpec` per instance (its own limits in
``live.limits``) and the account's guards; its `to_dict` is what a dry-run stores in
``<state>/session.json`` so a restart with only ``--state`` continues it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeforge.core.config import read_config_file
from tradeforge.core.errors import ConfigError, StateError, TradeforgeError
from tradeforge.core.names import check_name
from tradeforge.core.timeframes import Timeframe
from tradeforge.live.guards import ANY_SYMBOL, RiskLimits
from tradeforge.trading.execution import ExecutionModel, Sizing
from tradeforge.trading.spec import LiveSettings, RunSpec

SESSION_FILE = "session.json"

#: The file's guard names (as the command line's options) and `RiskLimits`' keywords.
LIMIT_KEYS = {
    "max_daily_loss": "max_daily_loss_pct",
    "max_drawdown": "max_drawdown_pct",
    "max_positions": "max_positions",
    "stale_seconds": "stale_seconds",
    "max_spread": "max_spread_pips",
    "max_symbol_lots": "max_symbol_lots",
    "max_total_lots": "max_total_lots",
    "max_orders_per_minute": "max_orders_per_minute",
    "max_deviation": "max_deviation_pips",
    "max_slippage": "max_slippage_pips",
    "slippage_pause": "slippage_pause_minutes",
    "trading_hours": "trading_hours",
}
_TOP = {
    "capital", "start", "end", "exit_mode", "close_at_end", "leverage", "max_lots", "pace",
    "home", "execution", "limits", "bars", "strategies",
}  # fmt: skip
_INSTANCE = {"name", "strategy", "params", "symbol", "timeframe", "sizing", "window",
             "position_mode", "limits", "code"}  # fmt: skip
_EXECUTION = {"spread", "slippage", "commission", "swap_long", "swap_short", "seed"}


@dataclass(frozen=True)
class Session:
    """The checked session: ``specs`` by instance name (sorted), each a one-symbol `RunSpec`
    with `LiveSettings` (its ``limits``: the instance's own guards); ``limits``: the
    account's guards (`RiskLimits` keywords); ``code``: the strategy files (absolute paths)
    of the instances whose strategy is defined in one."""

    specs: Mapping[str, RunSpec]
    limits: Mapping[str, float] = field(default_factory=dict)
    code: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "specs", dict(sorted(self.specs.items())))
        object.__setattr__(self, "limits", dict(self.limits))
        object.__setattr__(self, "code", dict(sorted(self.code.items())))

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    @property
    def symbols(self) -> list[str]:
        return sorted({s.symbol for s in self.specs.values()})

    @property
    def first(self) -> RunSpec:
        return next(iter(self.specs.values()))

    def to_dict(self) -> dict[str, Any]:
        out = {
            "limits": dict(self.limits),
            "strategies": {name: spec.to_dict() for name, spec in self.specs.items()},
        }
        if self.code:
            out["code"] = dict(self.code)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Session:
        """The session of `to_dict` (its strategy files imported); `StateError` when it is
        not one or a strategy file no longer imports."""
        from tradeforge.strategy.code import load_code_file

        try:
            code = dict(data.get("code") or {})
            for path in code.values():
                load_code_file(path)
            specs = {n: RunSpec.from_dict(d) for n, d in data["strategies"].items()}
            return cls(specs, dict(data.get("limits") or {}), code)
        except (KeyError, TypeError, AttributeError, ConfigError) as exc:
            raise StateError(f"malformed session settings ({exc})") from None


def _limits(value: Any, where: str) -> dict[str, float]:
    """`RiskLimits` keywords of a ``limits`` table (the CLI's names), checked."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table of guards ({', '.join(LIMIT_KEYS)})")
    unknown = sorted(set(value) - set(LIMIT_KEYS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown guard (known: {', '.join(LIMIT_KEYS)})")
    out = {LIMIT_KEYS[k]: v for k, v in value.items()}
    for key, v in value.items():
        if key == "trading_hours":  # a table SYMBOL = "HH:MM-HH:MM,…", or one for every symbol
            if not isinstance(v, (str, dict)):
                raise ConfigError(f'{where}.{key}: must be "HH:MM-HH:MM,…" or a table of them')
            out[key] = {ANY_SYMBOL: v} if isinstance(v, str) else dict(v)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where}.{key}: must be a number, got {v!r}")
    try:
        RiskLimits(**out)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return out


def _execution(value: Any) -> ExecutionModel:
    if value is None:
        return ExecutionModel()
    if not isinstance(value, dict):
        raise ConfigError("execution: must be a table (spread, slippage, commission, …)")
    unknown = sorted(set(value) - _EXECUTION)
    if unknown:
        raise ConfigError(
            f"execution.{unknown[0]}: unknown key (known: {', '.join(sorted(_EXECUTION))})"
        )
    values = dict(value)
    slippage = values.pop("slippage", None)
    slippage = None if slippage is None else str(slippage)
    return ExecutionModel(**values, **ExecutionModel.parse_slippage(slippage))


def _path(value: Any, base: Path, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: must be a file path")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _checked(where: str, make: Any) -> Any:
    """``make()``, its `TradeforgeError` (or a bad value's TypeError/ValueError) prefixed with
    ``where``."""
    try:
        return make()
    except TradeforgeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _instance(
    raw: Any, k: int, account: dict[str, Any], bars: dict[str, str], base: Path
) -> tuple[str, RunSpec, str | None]:
    from tradeforge.strategy.code import load_code_file
    from tradeforge.strategy.registry import create_strategy, get_strategy

    at = f"strategies[{k}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: must be a table (name, strategy, symbol, timeframe, …)")
    unknown = sorted(set(raw) - _INSTANCE)
    if unknown:
        raise ConfigError(f"{at}.{unknown[0]}: unknown key (known: {', '.join(sorted(_INSTANCE))})")
    for key in ("name", "strategy", "symbol", "timeframe"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{at}.{key}: required (text)")
    name = _checked(f"{at}.name", lambda: check_name(raw["name"], "strategy name", "fast_eur"))
    at = f"strategies[{k}] ({name})"
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{at}.params: must be a table of parameters")
    code = None if raw.get("code") is None else _path(raw["code"], base, f"{at}.code")
    if code is not None:
        _checked(f"{at}.code", lambda: load_code_file(code))
    _checked(f"{at}.strategy", lambda: get_strategy(raw["strategy"]))
    strategy = _checked(f"{at}.params", lambda: create_strategy(raw["strategy"], params))
    timeframe = _checked(f"{at}.timeframe", lambda: Timeframe.parse(raw["timeframe"]).name)
    sizing = raw.get("sizing", "risk:1")
    window = raw.get("window")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)):
        raise ConfigError(f"{at}.window: must be a number of bars, got {window!r}")
    symbol = _checked(f"{at}.symbol", lambda: RunSpec(symbols=(raw["symbol"],)).symbol)
    limits = _limits(raw.get("limits"), f"{at}.limits")
    sized = _checked(f"{at}.sizing", lambda: Sizing.parse(str(sizing)))
    live = _checked(
        f"{at}.window",
        lambda: LiveSettings(
            window=window, limits=limits, bars_file=bars.get(symbol), **account["live"]
        ),
    )
    spec = _checked(
        at,
        lambda: RunSpec.for_strategy(
            strategy, symbols=(symbol,), timeframe=timeframe, start=account["start"],
            end=account["end"], execution=account["execution"], sizing=sized,
            position_mode=raw.get("position_mode", "symbol"),
            initial_capital=account["capital"], live=live,
        ),
    )  # fmt: skip
    _checked(f"{at}.window", lambda: spec.resolve_window(strategy))
    return name, spec, code


def parse_session(data: dict[str, Any], base: Path) -> Session:
    """The checked `Session` of a session file's mapping; `ConfigError` names the key."""
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key (known: {', '.join(sorted(_TOP))})")
    raw_bars = data.get("bars") or {}
    if not isinstance(raw_bars, dict):
        raise ConfigError("bars: must be a table of SYMBOL = parquet file")
    bars = {}
    for symbol, path in raw_bars.items():
        name = _checked(f"bars.{symbol}", lambda s=symbol: RunSpec(symbols=(s,)).symbol)
        bars[name] = _path(path, base, f"bars.{symbol}")
    live: dict[str, Any] = {}
    for key in ("exit_mode", "close_at_end", "leverage", "max_lots", "pace"):
        if key in data:
            live[key] = data[key]
    if "home" in data:
        live["home"] = _path(data["home"], base, "home")
    _checked("session", lambda: LiveSettings(**live))
    capital = data.get("capital", 100_000.0)
    if isinstance(capital, bool) or not isinstance(capital, (int, float)):
        raise ConfigError(f"capital: must be a number, got {capital!r}")
    account = {
        "start": None if data.get("start") is None else str(data["start"]),
        "end": None if data.get("end") is None else str(data["end"]),
        "capital": float(capital),
        "execution": _checked("execution", lambda: _execution(data.get("execution"))),
        "live": live,
    }
    _checked("start", lambda: RunSpec(start=account["start"], end=account["end"]))
    raw = data.get("strategies")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("strategies: at least one [[strategies]] table is needed")
    specs: dict[str, RunSpec] = {}
    code: dict[str, str] = {}
    timeframes: dict[str, tuple[str, str]] = {}
    for k, item in enumerate(raw, start=1):
        name, spec, path = _instance(item, k, account, bars, base)
        if path is not None:
            code[name] = path
        if name in specs:
            raise ConfigError(f"strategies[{k}].name: {name!r} is used twice")
        seen = timeframes.setdefault(spec.symbol, (name, str(spec.timeframe)))
        if seen[1] != spec.timeframe:
            raise ConfigError(
                f"strategies[{k}] ({name}).timeframe: {spec.symbol} is traded on {seen[1]} by "
                f"{seen[0]}; instances on one symbol share its feed and timeframe"
            )
        specs[name] = spec
    return Session(specs, _limits(data.get("limits"), "limits"), code)


def load_session(path: str | Path) -> Session:
    """The checked session of file ``path``; `ConfigError` naming the file and the key."""
    path = Path(path).expanduser()
    data = read_config_file(path, "session file")
    try:
        return parse_session(data, path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
