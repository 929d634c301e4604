"""`RunSpec`: everything a run needs except the bars, validated in one place.

A backtest, a research trial, a dry-run and a live session all start from one `RunSpec`:
strategy name and parameters, symbols, timeframe, date range, `ExecutionModel`, `Sizing`,
position mode, portfolio mode, initial capital, account currency, conversion rates, instrument overrides
and — for the dry-run/live engine only — `LiveSettings`. Every entry point builds it once and
passes it whole, so the settings cannot drift between them.

It is a frozen dataclass rather than a pydantic model: its parts (`ExecutionModel`,
`Sizing`, `Instrument`) are frozen dataclasses already, it is pickled to every worker process
of a search, and ``python -m tradeforge.live`` reads it without building a model class.
`to_dict` / `from_dict` round-trip it through JSON: that dictionary is ``run.json``'s
``config`` (`tradeforge.backtest.io.run_config`) and a dry-run's ``dryrun.json``.

The conversion *data* (bars of ``GBPUSD`` …) is not part of the spec, like the traded bars:
``conversion`` maps each conversion symbol to a constant rate or to ``"bars"``, and the
caller passes the bars alongside (`tradeforge.backtest.conversion.load_conversion`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.core.names import validate_symbol
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.strategy.base import Strategy
from tradeforge.trading.execution import POSITION_MODES, ExecutionModel, Sizing
from tradeforge.trading.fx import normalize_currency

EXIT_MODES = ("bar", "tick")
#: How several symbols share money: ``shared`` (one balance, `tradeforge.backtest.portfolio`)
#: or ``sub-accounts`` (each symbol its own balance of the initial capital, curves summed).
PORTFOLIO_MODES = ("shared", "sub-accounts")
#: Bars the dry-run/live window holds beyond the strategy's warm-up (a margin against
#: features whose warm-up is only approximately declared, such as Wilder smoothing).
WINDOW_MARGIN = 50
#: The shortest default window (the former fixed default): a longer window costs little.
DEFAULT_WINDOW = 300
#: Keywords `RunSpec.from_keywords` accepts (the convenience of `run_backtest`).
_KEYWORDS = frozenset(
    {"execution", "sizing", "position_mode", "portfolio", "initial_capital", "timeframe",
     "instruments", "account_currency"}
)  # fmt: skip


@dataclass(frozen=True)
class LiveSettings:
    """Settings only the dry-run/live engine has (the backtest sees every bar at once).

    ``window`` is the number of bars handed to the strategy on each closed candle; None means
    "derive it from the strategy's warm-up" (`RunSpec.resolve_window`). ``limits`` are the
    risk guards' keywords (`tradeforge.live.guards.RiskLimits`, which checks them).
    ``bars_file`` / ``home`` say where a replay reads its bars (a Parquet file, else the cache
    under ``home``), so a restarted dry-run reads the same ones."""

    window: int | None = None
    exit_mode: str = "bar"
    close_at_end: bool = False
    max_lots: float | None = None
    leverage: float = 100.0
    limits: Mapping[str, float] = field(default_factory=dict)
    pace: float = 0.0
    bars_file: str | None = None
    home: str | None = None

    def __post_init__(self) -> None:
        if self.window is not None and not (isinstance(self.window, int) and self.window >= 2):
            raise ConfigError(f"window must be >= 2 bars, got {self.window}")
        if self.exit_mode not in EXIT_MODES:
            raise ConfigError(f"exit mode must be one of {', '.join(EXIT_MODES)}")
        if self.max_lots is not None and not self.max_lots > 0:
            raise ConfigError(f"max_lots must be > 0, got {self.max_lots}")
        if not self.leverage > 0:
            raise ConfigError(f"leverage must be > 0, got {self.leverage}")
        if not self.pace >= 0:
            raise ConfigError(f"pace must be >= 0 seconds per bar, got {self.pace}")
        object.__setattr__(self, "limits", dict(self.limits))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class RunSpec:
    """One run's settings (see the module docstring); invalid values raise `ConfigError`.

    ``strategy`` is a registered strategy name (None for a bare `backtest_signals` run) and
    ``params`` its parameter values (`for_strategy` takes them from a validated instance; a
    search keeps only the fixed ones here). ``symbols`` are upper-cased and sorted;
    ``start``/``end`` are ISO 8601 text (end exclusive). ``instruments`` overrides the
    registry for the symbols it names. ``portfolio`` (`PORTFOLIO_MODES`) only matters with
    several symbols: one symbol trades the same in both modes."""

    strategy: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    symbols: tuple[str, ...] = ()
    timeframe: str | None = None
    start: str | None = None
    end: str | None = None
    execution: ExecutionModel = field(default_factory=ExecutionModel)
    sizing: Sizing = field(default_factory=Sizing)
    position_mode: str = "symbol"
    portfolio: str = "shared"
    initial_capital: float = 100_000.0
    account_currency: str | None = None
    conversion: Mapping[str, float | str] = field(default_factory=dict)
    instruments: Mapping[str, Instrument] = field(default_factory=dict)
    live: LiveSettings | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "params", dict(self.params))
        put(self, "symbols", tuple(sorted({validate_symbol(s) for s in self.symbols})))
        if self.timeframe is not None:
            put(self, "timeframe", Timeframe.parse(self.timeframe).name)
        first, last = to_utc(self.start, "start"), to_utc(self.end, "end")
        if first is not None and last is not None and not first < last:
            raise ConfigError(f"start {self.start} must be before end {self.end}")
        if not isinstance(self.execution, ExecutionModel):
            raise ConfigError("execution must be an ExecutionModel")
        if not isinstance(self.sizing, Sizing):
            raise ConfigError("sizing must be a Sizing (e.g. Sizing.parse('risk:1'))")
        if self.position_mode not in POSITION_MODES:
            raise ConfigError(f"position mode must be one of {', '.join(POSITION_MODES)}")
        if self.portfolio not in PORTFOLIO_MODES:
            raise ConfigError(f"portfolio must be one of {', '.join(PORTFOLIO_MODES)}")
        if not self.initial_capital > 0:
            raise ConfigError(f"initial capital must be > 0, got {self.initial_capital}")
        put(self, "initial_capital", float(self.initial_capital))
        put(self, "account_currency", normalize_currency(self.account_currency))
        put(self, "conversion", _conversion(self.conversion, self.account_currency))
        put(self, "instruments", {validate_symbol(k): v for k, v in self.instruments.items()})

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def for_strategy(cls, strategy: Strategy, **values: Any) -> RunSpec:
        """The spec of ``strategy`` (its validated parameters) with the other ``values``."""
        described = strategy.describe()
        return cls(strategy=described["name"], params=described["params"], **values)

    @classmethod
    def from_keywords(
        cls,
        strategy: Strategy | None,
        symbols: Iterable[str],
        conversion: Mapping[str, Any] | None = None,
        **keywords: Any,
    ) -> RunSpec:
        """The spec of the keyword convenience (`run_backtest`, `backtest_signals`,
        research's ``prepare``): ``execution``, ``sizing``, ``position_mode``, ``portfolio``,
        ``initial_capital``, ``timeframe``, ``instruments``, ``account_currency``; None or
        absent means the default; another name is a `TypeError`, as for any function.
        ``conversion`` maps symbols to bars or rates (bars become ``"bars"``)."""
        unknown = sorted(set(keywords) - set(_KEYWORDS))
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
        values = {k: v for k, v in keywords.items() if v is not None}
        values["conversion"] = conversion_kinds(conversion)
        values["symbols"] = tuple(symbols)
        if strategy is None:
            return cls(**values)
        return cls.for_strategy(strategy, **values)

    # -- use ------------------------------------------------------------------------------------
    def instrument(self, symbol: str) -> Instrument:
        """The override for ``symbol``, else the registry's instrument."""
        return self.instruments.get(symbol.upper()) or get_instrument(symbol)

    def create_strategy(self) -> Strategy:
        """A strategy instance with these parameters (validated by its model)."""
        from tradeforge.strategy.registry import create_strategy

        if self.strategy is None:
            raise ConfigError("the run names no strategy")
        return create_strategy(self.strategy, self.params)

    def conversion_data(self, bars: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What `tradeforge.trading.fx.conversion_rates` reads: the constant rates of
        ``conversion`` plus, for each ``"bars"`` entry, its frame from ``bars``."""
        given = {str(k).upper(): v for k, v in (bars or {}).items()}
        out: dict[str, Any] = {}
        for name, value in self.conversion.items():
            if value != "bars":
                out[name] = value
            elif name in given:
                out[name] = given[name]
            else:
                raise ConfigError(f"conversion {name}: the spec says bars but none were given")
        return out

    @property
    def symbol(self) -> str:
        """The one symbol of a dry-run/live session."""
        if len(self.symbols) != 1:
            raise ConfigError(f"a dry-run/live session trades one symbol, got {self.symbols}")
        return self.symbols[0]

    def resolve_window(self, strategy: Strategy) -> int:
        """The live window: the explicit ``live.window``, refused when it cannot hold the
        strategy's warm-up (``Strategy.warmup_bars``: bars needed *before* a signal bar) plus
        the signal bar; else that plus `WINDOW_MARGIN` bars, at least `DEFAULT_WINDOW`. A
        feature without a declared warm-up makes ``warmup_bars`` (and so this) refuse."""
        if self.timeframe is None:
            raise ConfigError("a dry-run/live session needs a timeframe")
        needed = strategy.warmup_bars(Timeframe.parse(self.timeframe)) + 1
        window = self.live.window if self.live else None
        if window is None:
            return max(DEFAULT_WINDOW, needed + WINDOW_MARGIN)
        if window < needed:
            raise ConfigError(
                f"window {window} is shorter than {_label(strategy)}'s warm-up of {needed - 1} "
                f"bars; use --window {needed} or more (the warm-up plus the signal bar)"
            )
        return window

    # -- JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (``run.json``'s ``config``, ``dryrun.json``)."""
        out: dict[str, Any] = {
            "strategy": None
            if self.strategy is None
            else {"name": self.strategy, "params": dict(self.params)},
            "symbols": list(self.symbols),
            "timeframe": self.timeframe,
            "start": self.start,
            "end": self.end,
            "position_mode": self.position_mode,
            "portfolio": self.portfolio,
            "initial_capital": self.initial_capital,
            "execution": self.execution.to_dict(),
            "sizing": self.sizing.to_dict(),
            "instruments": {s: i.to_dict() for s, i in sorted(self.instruments.items())},
        }
        if self.account_currency is not None:  # else money is in quote currency: no entries
            out["account_currency"] = self.account_currency
            out["conversion"] = dict(sorted(self.conversion.items()))
        if self.live is not None:
            out["live"] = self.live.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """The spec of `to_dict` (also a ``run.json`` config, and a ``dryrun.json`` of the
        flat layout written before `RunSpec`); `StateError` when it is neither."""
        if "symbol" in data and "symbols" not in data:
            data = _from_flat(data)
        try:
            strategy = data.get("strategy") or {}
            live = data.get("live")
            return cls(
                strategy=strategy.get("name"),
                params=strategy.get("params") or {},
                symbols=tuple(data.get("symbols") or ()),
                timeframe=data.get("timeframe"),
                start=data.get("start"),
                end=data.get("end"),
                execution=ExecutionModel(**(data.get("execution") or {})),
                sizing=Sizing(**(data.get("sizing") or {})),
                position_mode=data.get("position_mode", "symbol"),
                # configs written before the shared portfolio existed ran sub-accounts
                portfolio=data.get("portfolio", "sub-accounts"),
                initial_capital=data.get("initial_capital", 100_000.0),
                account_currency=data.get("account_currency"),
                conversion=data.get("conversion") or {},
                instruments={
                    s: Instrument(**v) for s, v in (data.get("instruments") or {}).items()
                },
                live=None if live is None else LiveSettings(**live),
            )
        except (TypeError, AttributeError) as exc:
            raise StateError(f"malformed run settings ({exc})") from None


def conversion_kinds(conversion: Mapping[str, Any] | None) -> dict[str, float | str]:
    """What a spec records of conversion data: ``"bars"`` for a frame, else the rate."""
    out: dict[str, float | str] = {}
    for key, value in (conversion or {}).items():
        is_bars = hasattr(value, "columns")  # a bars frame (no pandas import here)
        out[str(key).upper()] = "bars" if is_bars else value
    return out


def _conversion(conversion: Mapping[str, Any], account: str | None) -> dict[str, float | str]:
    if conversion and account is None:
        raise ConfigError("conversion rates need an account currency (money is in quote currency)")
    out: dict[str, float | str] = {}
    for key, value in conversion.items():
        name = validate_symbol(str(key))
        if value == "bars":
            out[name] = "bars"
            continue
        try:
            rate = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"conversion {name}: expected bars or a number, got {value!r}"
            ) from None
        if not (rate > 0 and math.isfinite(rate)):
            raise ConfigError(f"conversion rate from {name} must be finite and > 0, got {value}")
        out[name] = rate
    return out


def _label(strategy: Strategy) -> str:
    """``sma_cross(slow=400)``: the strategy with the parameters that differ from defaults."""
    values = strategy.params.model_dump(mode="json")
    try:
        defaults = type(strategy).Params().model_dump(mode="json")
    except ValueError:  # a parameter without a default: show them all
        defaults = {}
    changed = ", ".join(f"{k}={v}" for k, v in values.items() if defaults.get(k) != v)
    return f"{strategy.name}({changed})"


#: Fields of the flat ``dryrun.json`` layout that became `LiveSettings`.
_FLAT_LIVE = ("window", "exit_mode", "close_at_end", "max_lots", "leverage", "limits", "pace",
              "bars_file", "home")  # fmt: skip


def _from_flat(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The `to_dict` layout of a ``dryrun.json`` written by the former ``DryRunSpec``."""
    try:
        execution = ExecutionModel(
            spread=flat.get("spread", "data"),
            commission=flat.get("commission", 0.0),
            swap_long=flat.get("swap_long", 0.0),
            swap_short=flat.get("swap_short", 0.0),
            seed=flat.get("slippage_seed", 0),
            **ExecutionModel.parse_slippage(flat.get("slippage")),
        )
        return {
            "strategy": {"name": flat["strategy"], "params": flat.get("params") or {}},
            "symbols": [flat["symbol"]],
            "timeframe": flat["timeframe"],
            "start": flat["start"],
            "end": flat["end"],
            "position_mode": flat.get("position_mode", "symbol"),
            "initial_capital": flat.get("capital", 100_000.0),
            "execution": execution.to_dict(),
            "sizing": Sizing.parse(flat.get("sizing", "risk:1")).to_dict(),
            "live": {"window": 300, **{k: flat[k] for k in _FLAT_LIVE if k in flat}},
        }
    except KeyError as exc:
        raise StateError(f"malformed dry-run settings (no {exc})") from None
