"""The `Strategy` base class: typed parameters, declared features, a pure ``signals`` step.

A strategy knows nothing of portfolio, broker or backtest. Subclasses set:

* ``name`` — registry key;
* ``Params`` — a pydantic model whose fields (with defaults and constraints) are the
  parameters; unknown names are rejected;
* ``features()`` — feature requests for `tradeforge.features.compute_features`
  (informative timeframes are part of a request, e.g. ``"ema(50)@M30"``);
* ``chart_features()`` — the requests a report draws as indicators (default: all of
  ``features()``; a wrapper whose extra features are model inputs draws its inner strategy's);
* ``signal_lookback`` — earlier bars ``signals`` compares with (1: a cross reads bar ``t-1``);
  with the features' declared warm-ups it gives `Strategy.warmup_bars`;
* ``signals(frame, instrument)`` — a `Signals` table from a frame that already holds the
  features (`compute_features` adds them). It must use bar ``t``'s values only for a signal
  on bar ``t`` (the engine fills at bar ``t+1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.strategy.signals import Signals


class StrategyParams(BaseModel):
    """Base for strategy parameter models (strict about unknown names, immutable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy:
    """Base class of all strategies; see the module docstring."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    signal_lookback: ClassVar[int] = 1

    def __init__(self, params: StrategyParams | Mapping[str, Any] | None = None, **kwargs: Any):
        if isinstance(params, StrategyParams):
            if kwargs:
                params = params.model_copy(update=kwargs)
        else:
            values = {**dict(params or {}), **kwargs}
            try:
                params = self.Params(**values)
            except ValidationError as exc:
                raise ConfigError(f"strategy {self.name!r}: {_describe(exc)}") from None
        self.params = params
        self.check_params()

    def check_params(self) -> None:
        """Cross-parameter checks; raise `ConfigError` (override as needed)."""

    # -- declarations ---------------------------------------------------------------------
    def features(self) -> list[str]:
        """Feature requests this strategy reads (column names follow the feature engine)."""
        return []

    def chart_features(self) -> list[str]:
        """Feature requests a report draws on its charts (a subset of `features`)."""
        return self.features()

    def informative_timeframes(self) -> list[Timeframe]:
        """Higher timeframes used through ``@TF`` feature requests."""
        tfs = {r.rsplit("@", 1)[1] for r in self.features() if "@" in r}
        return sorted(Timeframe.parse(t) for t in tfs)

    def warmup_bars(self, timeframe: Timeframe | str) -> int:
        """Bars of history a bar needs before it for its signals to equal the backtest's:
        the features' declared warm-ups on ``timeframe`` plus `signal_lookback`. A window
        handed to ``signals`` must hold this many bars plus the signal bar itself.

        Raises `FeatureError` for a feature without a declared warm-up.
        """
        from tradeforge.features import warmup_bars

        return warmup_bars(self.features(), timeframe) + self.signal_lookback

    # -- steps --------------------------------------------------------------------------------
    def compute_features(
        self, frame: pd.DataFrame, timeframe: Timeframe | str | None = None, engine: Any = None
    ) -> pd.DataFrame:
        """``frame`` plus this strategy's features (via the feature engine)."""
        requests = self.features()
        if not requests:
            return frame
        if engine is None:
            from tradeforge.features import compute_features

            return compute_features(frame, requests, timeframe)
        return engine.compute(frame, requests, timeframe)

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        """The signal table of ``frame`` (which holds the features)."""
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def resolve_instrument(frame: pd.DataFrame, instrument: Instrument | str | None) -> Instrument:
        if isinstance(instrument, Instrument):
            return instrument
        symbol = instrument or frame.attrs.get("symbol")
        if not symbol:
            raise ConfigError("signals() needs the instrument (or frame.attrs['symbol'])")
        return get_instrument(str(symbol))

    @staticmethod
    def column(frame: pd.DataFrame, name: str) -> Any:
        try:
            return frame[name].to_numpy(dtype="float64")
        except KeyError:
            raise ConfigError(
                f"frame lacks column {name!r}; run compute_features() first"
            ) from None

    def describe(self) -> dict[str, Any]:
        """Name and parameter values (for run.json)."""
        return {"name": self.name, "params": self.params.model_dump(mode="json")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"{type(self).__name__}({args})"


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "params"
        msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
