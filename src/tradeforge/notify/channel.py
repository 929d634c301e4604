"""The `Notifier` interface every delivery channel implements, and how a send fails.

A channel knows its targets per level, how often one target may be sent to, how many pending
messages one send can carry (so a burst is coalesced) and how to send them. It never queues,
retries or waits by itself: `tradeforge.notify.dispatch.Dispatcher` owns the queues, the
pacing and the retries, in one background thread for every channel, so adding a channel does
not touch the delivery logic (the Telegram commands run in the same thread's loop as a task of
their own, `tradeforge.notify.operator`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from tradeforge.core.errors import TradeforgeError
from tradeforge.notify.message import Level, Message


class NotifyError(TradeforgeError):
    """A notification could not be delivered (``tradeforge notify test``: exit 2)."""


class DeliveryError(Exception):
    """A send failed.

    ``transient``: worth trying again (network, timeout, server error, rate limit); the batch
    is kept. ``retry_in``: seconds the server asked to wait (Telegram's ``retry_after``), else
    the dispatcher backs off. ``whole_channel``: the failure concerns every target of the
    channel (a rate limit of the bot, a rejected token), not only this one.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        retry_in: float | None = None,
        whole_channel: bool = False,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_in = retry_in
        self.whole_channel = whole_channel


class Notifier(ABC):
    """One delivery channel (Telegram, a webhook). Its coroutines run in the dispatcher's
    event loop; ``send`` is called for one target at a time."""

    name: str = ""

    @abstractmethod
    def routes(self) -> Mapping[Level, Sequence[str]]:
        """The targets (chat ids, URLs) of each level."""

    def interval(self, target: str) -> float:
        """Minimum seconds between two sends to ``target``."""
        return 0.0

    def spacing(self) -> float:
        """Minimum seconds between any two sends of this channel (its overall rate)."""
        return 0.0

    @abstractmethod
    def batch_size(self, pending: Sequence[Message]) -> int:
        """How many of the ``pending`` messages (oldest first) one send carries, at least 1."""

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect and check the credentials; raises `DeliveryError`."""

    @abstractmethod
    async def send(self, target: str, messages: Sequence[Message]) -> None:
        """Deliver ``messages`` to ``target`` in one request; raises `DeliveryError`."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def describe(self, target: str) -> str:
        """How ``target`` is named in reports (``telegram chat 42``)."""
        return f"{self.name} {target}"
