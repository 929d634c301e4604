"""Names that become file or folder names (symbols above all): one rule, checked before any
file access, so ``../../x`` cannot leave the data folder and ``EUR/USD`` cannot make a nested
folder that listings do not see."""

from __future__ import annotations

import re

from tradeforge.core.errors import ConfigError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_ALLOWED = "use letters, digits, '.', '_' or '-'"


def _valid(text: str) -> bool:
    return bool(_NAME.fullmatch(text)) and ".." not in text


def check_name(name: str, what: str, example: str, *, upper: bool = False) -> str:
    """``name`` (upper-cased with ``upper``) when it is a safe path component: 1–32 letters,
    digits, ``.``, ``_`` or ``-``, starting with a letter or digit, no ``..``. Otherwise a
    `ConfigError` naming ``what``, with ``example`` and, when dropping the other characters
    leaves a valid name, a ``did you mean`` hint."""
    text = name if isinstance(name, str) else ""
    if _valid(text):
        return text.upper() if upper else text
    message = f"invalid {what} {name!r}: {_ALLOWED} (e.g. {example})"
    if len(text) > 32:
        message += ", at most 32 characters"
    guess = re.sub(r"[^A-Za-z0-9._-]", "", text)
    if guess != text and _valid(guess):
        message += f"; did you mean {guess.upper() if upper else guess}?"
    raise ConfigError(message)


def validate_symbol(name: str) -> str:
    """The upper-case form of a valid symbol (see `check_name`); `ConfigError` otherwise."""
    return check_name(name, "symbol", "EURUSD", upper=True)
