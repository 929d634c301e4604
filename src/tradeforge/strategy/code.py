"""Strategy code as a versioned thing: a user's file loaded as a module (a session file's
``code = "my_strategy.py"``), and a strategy class rebuilt from a given source without
touching the imported module or the registry (``tradeforge ctl reload --code / --reimport``).

A code version is identified by the SHA-256 of the module's source; `archive` keeps that
source content-addressed under ``<state>/code/<sha256>.py`` so that a restart, or a replay of
a journaled reload, rebuilds exactly the class that was validated, whatever the file on disk
holds by then. A rebuilt class lives in a fresh module object of the original module's name
(so its relative imports still resolve), which is never put in ``sys.modules``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tradeforge.core.atomic import atomic_write_bytes
from tradeforge.core.errors import ConfigError, StateError
from tradeforge.strategy.base import Strategy

CODE_DIR = "code"
_LOCK = threading.Lock()  # one build at a time: it briefly swaps the module in sys.modules
_BUILT: dict[tuple[str, str, str], type[Strategy]] = {}  # (sha256, module, strategy) -> class


@dataclass(frozen=True)
class CodeVersion:
    """One version of a strategy's module: its name, the SHA-256 of its source and the file
    it was read from (for ``--reimport`` of a later version)."""

    module: str
    sha256: str
    origin: str

    def to_json(self) -> dict[str, str]:
        return {"module": self.module, "sha256": self.sha256, "origin": self.origin}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CodeVersion:
        return cls(str(data["module"]), str(data["sha256"]), str(data["origin"]))

    @property
    def short(self) -> str:
        return self.sha256[:12]


def sha256_text(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _failure(exc: BaseException) -> str:
    """One line for an exception raised while importing code (its type, message, line)."""
    if isinstance(exc, SyntaxError):
        where = f" ({Path(exc.filename or '?').name}, line {exc.lineno})" if exc.lineno else ""
        return f"SyntaxError: {exc.msg}{where}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def module_name_for(path: Path) -> str:
    """The module name a code file is loaded under: ``_tradeforge_code_<stem>_<hash of the
    path>`` (files of one name in two directories are two modules)."""
    stem = re.sub(r"\W", "_", path.stem)
    return f"_tradeforge_code_{stem}_{sha256_text(str(path))[:8]}"


def load_code_file(path: str | Path) -> ModuleType:
    """Import the strategy file ``path`` (its strategies register as it runs); once per file.
    `ConfigError` with one line when it cannot be read or fails to import."""
    path = Path(path).expanduser().resolve()
    name = module_name_for(path)
    known = sys.modules.get(name)
    if known is not None:
        return known
    if not path.is_file():
        raise ConfigError(f"strategy code {path}: no such file")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"strategy code {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - user code: any failure is a refusal
        del sys.modules[name]
        raise ConfigError(f"strategy code {path}: {_failure(exc)}") from None
    return module


def source_file(cls: type) -> Path:
    """The file the module of ``cls`` was imported from; `ConfigError` when it has none."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if not file or not str(file).endswith(".py"):
        raise ConfigError(f"the code of {cls.__qualname__} ({cls.__module__}) has no source file")
    return Path(file)


def read_source(path: str | Path) -> str:
    """A source file's text; `ConfigError` with one line when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read strategy code {path}: {exc}") from None


def build_class(source: str, module: str, origin: str, strategy: str) -> type[Strategy]:
    """The `Strategy` subclass named ``strategy`` that ``source`` defines, run as a fresh
    module ``module`` (``origin``: its file, for messages); the registry and ``sys.modules``
    are as before afterwards. Built once per version. `ConfigError` (one line) when the code
    fails to import or defines no such strategy."""
    from tradeforge.strategy import registry

    key = (sha256_text(source), module, strategy)
    with _LOCK:
        if key in _BUILT:
            return _BUILT[key]
        try:
            code = compile(source, origin, "exec")
        except (SyntaxError, ValueError) as exc:
            raise ConfigError(_failure(exc)) from None
        fresh = ModuleType(module)
        fresh.__file__ = origin
        fresh.__package__ = module.rpartition(".")[0]
        before = sys.modules.get(module)
        sys.modules[module] = fresh  # what the class machinery (pydantic) resolves names in
        try:
            with registry.isolated(module):
                exec(code, fresh.__dict__)  # noqa: S102 - the operator's own strategy code
        except Exception as exc:  # noqa: BLE001 - user code: any failure is a refusal
            raise ConfigError(_failure(exc)) from None
        finally:
            if before is None:
                sys.modules.pop(module, None)
            else:
                sys.modules[module] = before
        found = [
            v for v in vars(fresh).values()
            if isinstance(v, type) and issubclass(v, Strategy) and v.__module__ == module
            and getattr(v, "name", None) == strategy
        ]  # fmt: skip
        if len(found) != 1:
            raise ConfigError(
                f"{origin} defines {len(found) or 'no'} strategy class(es) named {strategy!r}"
            )
        _BUILT[key] = found[0]
        return found[0]


def archive(state_dir: Path, source: str) -> Path:
    """Keep ``source`` as ``<state>/code/<sha256>.py`` (written once, atomically)."""
    path = Path(state_dir) / CODE_DIR / f"{sha256_text(source)}.py"
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, source.encode("utf-8"))
        except OSError as exc:
            raise StateError(f"cannot write {path}: {exc}") from None
    return path


def archived_class(state_dir: Path, version: CodeVersion, strategy: str) -> type[Strategy]:
    """The class of ``version`` rebuilt from its archived source; `StateError` when the
    archive is missing or altered, or no longer builds."""
    path = Path(state_dir) / CODE_DIR / f"{version.sha256}.py"
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"code version {version.short} of {strategy}: {exc}") from None
    if sha256_text(source) != version.sha256:
        raise StateError(f"{path}: altered (its SHA-256 is not {version.sha256})")
    try:
        return build_class(source, version.module, version.origin, strategy)
    except ConfigError as exc:
        raise StateError(f"code version {version.short} of {strategy}: {exc}") from None
