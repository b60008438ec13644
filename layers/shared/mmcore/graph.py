"""The Graph API client: one pooled httpx client per warm container, injected for tests.

Sends go through :meth:`GraphClient.send` (async, so one invocation's batch goes out concurrently);
management calls (templates, WABA) through :meth:`GraphClient.call`. Every failure is a
:class:`~mmcore.errors.GraphError` whose ``rule`` says what to do next; whether Meta may already have the
message is decided here, from how the transport failed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from mmcore.errors import NOT_SENT, GraphError

# Transport failures that prove the request never reached Meta: safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclass(frozen=True, slots=True)
class Accepted:
    """Meta's success answer to one send: ``messages[0]`` and ``contacts[0]``."""

    wamid: str
    message_status: str
    wa_id: str | None


class GraphClient:
    """Talks to ``{base_url}`` (Graph host plus version, e.g. ``https://graph.facebook.com/v24.0``).

    ``token`` is called for every request so a rotated secret is picked up when its cache expires.
    """

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str],
        *,
        timeout: float = 10.0,
        max_connections: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    async def send(self, phone_number_id: str, body: bytes) -> Accepted:
        """POST one wire body to ``/{phone_number_id}/marketing_messages``."""
        answer = await self._request("POST", f"/{phone_number_id}/marketing_messages", content=body)
        try:
            message, contact = answer["messages"][0], (answer.get("contacts") or [{}])[0]
            return Accepted(message["id"], message.get("message_status", "accepted"), contact.get("wa_id"))
        except (KeyError, IndexError, TypeError):
            # A 200 without a wamid: Meta may have the message, but we cannot track it.
            raise GraphError.no_response(f"200 without messages[0].id: {str(answer)[:200]}") from None

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A management call (templates, WABA settings); returns the decoded JSON answer."""
        content = json.dumps(json_body, separators=(",", ":")).encode() if json_body is not None else None
        return await self._request(method, path, params=params, content=content)

    async def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, content: bytes | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token()}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method, self.base_url + path, params=params, content=content, headers=headers
            )
        except _NOT_SENT as exc:
            raise GraphError(f"{type(exc).__name__}: {exc}", rule=NOT_SENT) from exc
        except httpx.HTTPError as exc:  # read timeout, reset after sending: Meta may have it
            raise GraphError.no_response(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise GraphError.from_response(response.status_code, response.content)
        try:
            return response.json()
        except ValueError:
            raise GraphError.no_response(f"HTTP {response.status_code} with a non-JSON body") from None

    async def aclose(self) -> None:
        await self._http.aclose()


class RateLimiter:
    """Token bucket: at most ``rate`` acquisitions per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)
