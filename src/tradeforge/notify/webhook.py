"""A generic JSON webhook: each send POSTs ``{"source", "session", "messages": [...]}`` (every
message's level, kind, event time, text and fields) to the URLs of the messages' level.

2xx is delivered; 408, 425, 429 and 5xx or a network error are retried (a ``Retry-After``
in seconds is honoured); any other status drops the batch as refused. URLs often embed a
secret, so reports name only their scheme and host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from tradeforge.notify.channel import DeliveryError, Notifier
from tradeforge.notify.message import Level, Message

RETRY_STATUSES = {408, 425, 429}


class WebhookNotifier(Notifier):
    """JSON batches to HTTP endpoints, routed per level."""

    name = "webhook"

    def __init__(
        self,
        urls: Mapping[Level, Sequence[str]],
        *,
        label: str = "",
        timeout: float = 10.0,
        max_batch: int = 50,
        interval: float = 0.0,
    ) -> None:
        self.urls = {level: tuple(urls.get(level, ())) for level in Level}
        self.label = label
        self.timeout = timeout
        self.max_batch = max_batch
        self._interval = interval
        self._client: Any = None

    def routes(self) -> Mapping[Level, Sequence[str]]:
        return self.urls

    def interval(self, target: str) -> float:
        return self._interval

    def batch_size(self, pending: Sequence[Message]) -> int:
        return max(1, min(len(pending), self.max_batch))

    def body(self, messages: Sequence[Message]) -> dict[str, Any]:
        return {
            "source": "tradeforge",
            "session": self.label,
            "messages": [m.to_json() for m in messages],
        }

    async def send(self, target: str, messages: Sequence[Message]) -> None:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        where = self.describe(target)
        try:
            response = await self._client.post(target, json=self.body(messages))
        except httpx.HTTPError as exc:  # connect, read, timeout: the request never completed
            raise DeliveryError(f"{where}: {type(exc).__name__}", transient=True) from None
        code = response.status_code
        if 200 <= code < 300:
            return
        if code in RETRY_STATUSES or code >= 500:
            wait = response.headers.get("Retry-After", "")
            retry_in = float(wait) if wait.isdigit() else None
            raise DeliveryError(f"{where}: HTTP {code}", transient=True, retry_in=retry_in)
        raise DeliveryError(f"{where}: HTTP {code} {response.reason_phrase}", transient=False)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def describe(self, target: str) -> str:
        parts = urlsplit(target)
        return f"webhook {parts.scheme}://{parts.netloc}/…"
