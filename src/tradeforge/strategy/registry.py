"""Registry of strategies by name, and parameters from ``--param k=v`` or config files."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tradeforge.core.config import read_config_file
from tradeforge.core.errors import ConfigError
from tradeforge.strategy.base import Strategy

_REGISTRY: dict[str, type[Strategy]] = {}
_BUILTINS_LOADED = False
_PLUGINS_LOADED = False


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator adding a `Strategy` subclass under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)) or not cls.name:
        raise ConfigError("register_strategy needs a Strategy subclass with a name")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        same = (existing.__module__, existing.__qualname__) == (cls.__module__, cls.__qualname__)
        if not same:
            raise ConfigError(f"strategy name {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


@contextmanager
def isolated(module: str) -> Iterator[None]:
    """Registrations by classes of ``module`` made inside are undone when it ends (a module's
    code rebuilt for one instance of a live session, `tradeforge.strategy.code.build_class`,
    stays out of the registry); what other modules imported meanwhile register stays."""
    saved = dict(_REGISTRY)
    try:
        yield
    finally:
        for name, cls in list(_REGISTRY.items()):
            if cls.__module__ == module and saved.get(name) is not cls:
                if name in saved:
                    _REGISTRY[name] = saved[name]
                else:
                    del _REGISTRY[name]


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        import tradeforge.strategy.builtin  # noqa: F401  (registers on import)


def _load_plugins() -> None:
    """Strategies of other packages (and of tradeforge's upper layers, such as the ML filter)
    register when their module loads: the "tradeforge_strategies" entry points. Loaded only
    when a name is not built in, so built-in strategies never pay for them."""
    global _PLUGINS_LOADED
    if not _PLUGINS_LOADED:
        _PLUGINS_LOADED = True
        from importlib.metadata import entry_points

        for entry in entry_points(group="tradeforge_strategies"):
            entry.load()


def available_strategies() -> list[str]:
    _load_builtins()
    _load_plugins()
    return sorted(_REGISTRY)


def get_strategy(name: str) -> type[Strategy]:
    """The strategy class registered as ``name``."""
    _load_builtins()
    if name not in _REGISTRY:
        _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown strategy {name!r}{hint} (available: {', '.join(sorted(_REGISTRY))})"
        ) from None


def create_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """Instantiate ``name`` with validated ``params``."""
    return get_strategy(name)(dict(params or {}))


def parse_params(items: Iterable[str]) -> dict[str, str]:
    """``["fast=10", "slow=30"]`` → ``{"fast": "10", "slow": "30"}`` (the model coerces types)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"parameter {item!r} must look like name=value")
        out[key] = value.strip()
    return out


def load_strategy_config(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """Read a YAML/TOML file: either ``{strategy: name, params: {...}}`` or a flat params map.

    Returns ``(strategy name or None, params)``.
    """
    data = read_config_file(path, "strategy config")
    if "params" in data or "strategy" in data:
        unknown = set(data) - {"strategy", "params"}
        if unknown:
            raise ConfigError(f"strategy config {path}: unknown keys {sorted(unknown)}")
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise ConfigError(f"strategy config {path}: 'params' must be a mapping")
        name = data.get("strategy")
        return (str(name) if name is not None else None), dict(params)
    return None, dict(data)


def resolve_strategy(
    name: str | None,
    params: Iterable[str] = (),
    config: str | Path | None = None,
) -> Strategy:
    """Strategy from a name, ``--param`` strings and an optional config file (params given
    on the command line override the file)."""
    file_name, file_params = (None, {}) if config is None else load_strategy_config(config)
    if name and file_name and name != file_name:
        raise ConfigError(f"--strategy {name!r} disagrees with {file_name!r} in {config}")
    chosen = name or file_name
    if not chosen:
        raise ConfigError("no strategy given (use --strategy or 'strategy:' in the config)")
    return create_strategy(chosen, {**file_params, **parse_params(params)})
