"""Tell "the server cannot be reached at all" apart from a failure worth retrying.

A name that does not resolve, a refused connection or a missing route fails every file of a
download the same way, so retrying each file only delays the inevitable (minutes when offline).
Timeouts, resets and HTTP errors stay transient: they can affect one request and not the next.
"""

from __future__ import annotations

import errno
import socket
import urllib.error

from tradeforge.core.errors import DataError

_NO_ROUTE = {
    errno.ENETUNREACH: "network is unreachable",
    errno.EHOSTUNREACH: "no route to host",
}


class UnreachableError(DataError):
    """The server cannot be reached (DNS failure, connection refused, no route)."""


def unreachable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` (raised while connecting) means the host is unreachable, or None."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        if not isinstance(reason, BaseException):
            return None
        exc = reason
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.errno in _NO_ROUTE:
        return _NO_ROUTE[exc.errno]
    return None
