"""Reading a YAML or TOML settings file into a mapping, with one clear error per failure."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tradeforge.core.errors import ConfigError
from tradeforge.core.paths import user_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUFFIXES = (".yaml", ".yml", ".toml")


def read_config_file(path: str | Path, what: str) -> dict[str, Any]:
    """The top-level mapping of a ``.yaml``/``.yml``/``.toml`` file (an empty YAML file is ``{}``).

    ``what`` names the file in errors (e.g. ``"search config"``): a missing file, another
    suffix, a parse error or a top level that is not a mapping raise `ConfigError`.
    """
    path = user_path(path)
    if not path.exists():
        raise ConfigError(f"{what} not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"{what} {path} must be .yaml, .yml or .toml")
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:  # parser errors differ per format
        raise ConfigError(f"cannot parse {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must be a mapping")
    return data
