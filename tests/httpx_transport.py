"""Tests' Graph fakes speak httpx (``httpx.MockTransport``, custom transports): this adapts one to the
:class:`mmcore.graph.Transport` the GraphClient takes, building a real ``httpx.Request`` for each call
and mapping httpx's transport errors to the pool's (``NotSent`` before sending, ``OSError`` after)."""

from __future__ import annotations

import httpx

from mmcore.graph import NotSent


class HttpxTransport:
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        request = httpx.Request(method, url, headers=headers, content=body)
        try:
            response = await self.inner.handle_async_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # what KeepAlivePool raises: never sent
            raise NotSent(str(exc)) from exc
        except httpx.TransportError as exc:  # sent, no answer
            raise OSError(str(exc)) from exc
        return response.status_code, await response.aread()

    async def aclose(self) -> None:
        await self.inner.aclose()
