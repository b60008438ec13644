"""The Graph API client: one pool of keep-alive connections per warm container, injected for tests.

Sends go through :meth:`GraphClient.send` (async, so one invocation's batch goes out concurrently);
management calls (templates, WABA) through :meth:`GraphClient.call`. Every failure is a
:class:`~mmcore.meta.errors.GraphError` whose ``rule`` says what to do next; whether Meta may already have the
message is decided here, from how the transport failed.

The transport is :class:`KeepAlivePool`: HTTP/1.1 over asyncio streams, parsed by h11 (the parser httpx
uses underneath), with a free list of idle connections. It exists for CPU: per POST it costs ~0.18 ms where
``httpx.AsyncClient`` cost 0.45-0.9 ms (its pool walks every connection for every request; measured in
benchmarks/README.md), and a sender at Meta's 1,000 messages/s has ~1 ms per message.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import h11

from mmcore.meta.errors import NOT_SENT, GraphError

KEEPALIVE_SECONDS = 5.0  # an idle connection older than this is closed, not reused (servers drop them)


class NotSent(Exception):
    """The request never left: no connection could be made. Safe to retry."""


class Transport(Protocol):
    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class _Connection:
    __slots__ = ("h11", "idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    def reusable(self) -> bool:
        return not self.reader.at_eof() and time.monotonic() - self.idle_since < KEEPALIVE_SECONDS

    async def exchange(self, request: h11.Request, body: bytes | None) -> tuple[int, bytes, bool]:
        """Send one request, read its whole response: (status, body, whether the connection can be reused)."""
        conn = self.h11
        data = (
            conn.send(request)
            + (conn.send(h11.Data(data=body)) if body else b"")
            + conn.send(h11.EndOfMessage())
        )
        self.writer.write(data)
        await self.writer.drain()
        status, parts = 0, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self.reader.read(65536))  # b"" at EOF: h11 then raises or closes
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                parts.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif not isinstance(event, h11.InformationalResponse):
                raise h11.RemoteProtocolError(f"connection ended mid-response ({type(event).__name__})")
        keep = conn.our_state is h11.DONE and conn.their_state is h11.DONE
        if keep:
            conn.start_next_cycle()
            self.idle_since = time.monotonic()
        return status, b"".join(parts), keep

    def close(self) -> None:
        self.writer.close()


class KeepAlivePool:
    """HTTP/1.1 to one origin (``https://graph.facebook.com`` or the simulator), at most ``size`` connections.

    ``request`` raises :class:`NotSent` when no connection could be made; any other exception means the
    request may have reached the server.
    """

    def __init__(self, origin: str, *, timeout: float, size: int) -> None:
        parts = urlsplit(origin)
        self.host, self.secure = parts.hostname or "", parts.scheme == "https"
        self.port = parts.port or (443 if self.secure else 80)
        self.authority = parts.netloc
        self.timeout = timeout
        self._tls: ssl.SSLContext | None = None
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(size)

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        fields = [("Host", self.authority), *headers.items(), ("Content-Length", str(len(body or b"")))]
        request = h11.Request(method=method, target=target, headers=fields)
        async with self._slots:
            connection = await self._connection()
            try:
                async with asyncio.timeout(self.timeout):
                    status, content, keep = await connection.exchange(request, body)
            except BaseException:
                connection.close()
                raise
            if keep:
                self._idle.append(connection)
            else:
                connection.close()
            return status, content

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable():
                return connection
            connection.close()
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self._context())
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise NotSent(f"{type(exc).__name__}: {exc}") from exc
        return _Connection(reader, writer)

    def _context(self) -> ssl.SSLContext | None:
        if self.secure and self._tls is None:
            from botocore.httpsession import where  # certifi's bundle if installed, else botocore's own

            self._tls = ssl.create_default_context(cafile=where())
        return self._tls

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()


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
        transport: Transport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = transport or KeepAlivePool(self.base_url, timeout=timeout, size=max_connections)

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
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        try:
            status, body = await self._http.request(method, url, headers, content)
        except NotSent as exc:
            raise GraphError(str(exc), rule=NOT_SENT) from exc
        except (OSError, TimeoutError, EOFError, h11.ProtocolError) as exc:  # after sending: Meta may have it
            raise GraphError.no_response(f"{type(exc).__name__}: {exc}") from exc
        if status >= 400:
            raise GraphError.from_response(status, body)
        try:
            return json.loads(body)
        except ValueError:
            raise GraphError.no_response(f"HTTP {status} with a non-JSON body") from None

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
