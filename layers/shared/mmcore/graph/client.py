"""The Graph API client on ``httpx.AsyncClient``: one pool of keep-alive connections per event loop.

Sends go through :meth:`GraphClient.send` (async, so one invocation's batch goes out concurrently);
management calls (templates, WABA) through :meth:`GraphClient.call`. Every failure is a
:class:`~mmcore.meta.errors.GraphError` whose ``rule`` says what to do next; whether Meta may already have the
message is decided here, from httpx's exception type:

- ``ConnectError``, ``ConnectTimeout`` (DNS, TCP, TLS), ``PoolTimeout`` (no free connection),
  ``ProxyError`` (the proxy refused the CONNECT tunnel), ``UnsupportedProtocol``: no byte of the request
  left the machine -> ``NOT_SENT``, retry.
- ``WriteError``, ``WriteTimeout``: ambiguous. The request may sit in the kernel's buffers whole, or all but its
  last bytes (a failed or slow write says nothing about what the peer already has), and a closing asyncio
  transport may still flush it.
- ``ReadError``, ``ReadTimeout``, ``RemoteProtocolError`` (reset or garbage mid-response): the request was
  written, Meta may have it -> ambiguous.
- any other ``httpx.HTTPError`` or ``OSError``: not provably unsent -> ambiguous.
- the access token cannot be had (Secrets Manager down): :class:`TokenUnavailable`, before any byte left ->
  the sender gives the message's claim back.
- HTTP >= 400: Meta's error code decides (:meth:`GraphError.from_response`).
- a 2xx that is not JSON, or a send answer without ``messages[0].id``: Meta may have the message but it cannot
  be tracked -> ambiguous. Odd fields beside the wamid (``contacts: [null]``) are tolerated.

The ``httpx.AsyncClient`` is built on first use inside the running loop (connections belong to a loop; the
handler keeps one loop per container, see :mod:`mmcore.clients`), with ``trust_env=True``: ``HTTPS_PROXY``
(``HTTP_PROXY`` for ``http://``), ``ALL_PROXY`` and ``NO_PROXY`` route it through a VPC's egress proxy, and
``SSL_CERT_FILE`` replaces certifi's bundle. The pool holds ``max_connections`` (the send concurrency) open
and idle, split into pools of ``POOL_SIZE``, each connection reused for ``KEEPALIVE_SECONDS``. HTTP/1.1
only: HTTP/2 (the ``h2`` package) could not be measured against the simulator, which speaks HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from mmcore.meta.errors import NOT_SENT, GraphError
from mmcore.meta.routing import Endpoint

KEEPALIVE_SECONDS = 5.0  # an idle connection older than this is closed, not reused (servers drop them)
# Connections per httpx client: httpcore's pool walks every connection of its pool (a poll() for each idle
# one) on every request and response. 100 connections in one pool cost 5-8 CPU ms per POST, 20 pools of 5
# ~1 ms (benchmarks/README.md). Requests go to the least busy pool.
POOL_SIZE = 5

# Raised before any byte of the request was written: safe to retry.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)


class TokenUnavailable(Exception):
    """The access token could not be read: the request was never made, so the message was not sent."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """Meta's success answer to one send: ``messages[0]`` and ``contacts[0]``."""

    wamid: str
    message_status: str
    wa_id: str | None


def accepted(answer: Any) -> Accepted:
    """Read a send's 200 answer. Without ``messages[0].id`` it is ambiguous (Meta may have the message, but it
    cannot be tracked); anything odd beside it (``contacts: [null]``, a missing status) is tolerated."""
    messages = answer.get("messages") if isinstance(answer, dict) else None
    message = messages[0] if isinstance(messages, list) and messages else None
    wamid = message.get("id") if isinstance(message, dict) else None
    if not isinstance(wamid, str) or not wamid:
        raise GraphError.no_response(f"200 without messages[0].id: {str(answer)[:200]}")
    status = message.get("message_status")
    contacts = answer.get("contacts")
    contact = contacts[0] if isinstance(contacts, list) and contacts else None
    wa_id = contact.get("wa_id") if isinstance(contact, dict) else None
    return Accepted(
        wamid, status if isinstance(status, str) else "accepted", wa_id if isinstance(wa_id, str) else None
    )


class GraphClient:
    """Talks to ``{base_url}`` (Graph host plus version, e.g. ``https://graph.facebook.com/v25.0``).

    ``token`` is called for every request so a rotated secret is picked up when its cache expires.
    ``transport`` replaces the network (tests pass an ``httpx.MockTransport``); proxies from the environment
    then do not apply.
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
        self._timeout = httpx.Timeout(timeout)
        pools = -(-max_connections // POOL_SIZE)
        self._sizes = [max_connections // pools + (i < max_connections % pools) for i in range(pools)]
        self._transport = transport
        self._tls: ssl.SSLContext | None = None
        self._pools: list[httpx.AsyncClient] = []
        self._busy: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def send(
        self, phone_number_id: str, body: bytes, endpoint: Endpoint = Endpoint.MARKETING_MESSAGES
    ) -> Accepted:
        """POST one wire body to ``/{phone_number_id}/{endpoint}`` (``marketing_messages`` or ``messages``:
        both answer ``messages[0].id``)."""
        return accepted(await self._request("POST", f"/{phone_number_id}/{endpoint}", content=body))

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

    def token(self) -> str:
        """The access token, or :class:`TokenUnavailable` (the sender asks before it claims a chunk)."""
        try:
            return self._token()
        except Exception as exc:  # whatever the secret store raised: nothing was sent
            raise TokenUnavailable(f"access token unavailable: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the pooled connections. Those of another (closed) loop are only dropped: they cannot be used."""
        pools, loop, self._pools, self._loop = self._pools, self._loop, [], None
        if loop is asyncio.get_running_loop():
            for pool in pools:
                await pool.aclose()

    def _pool(self) -> int:
        """The least busy pool of the running loop's, built on first use there (connections belong to a loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # One CA bundle load (~80 ms) for every pool and loop; honours SSL_CERT_FILE.
            if self._tls is None:
                self._tls = httpx.create_ssl_context(trust_env=True)
            self._pools = [
                httpx.AsyncClient(
                    timeout=self._timeout,
                    limits=httpx.Limits(
                        max_connections=size,
                        max_keepalive_connections=size,
                        keepalive_expiry=KEEPALIVE_SECONDS,
                    ),
                    verify=self._tls,
                    transport=self._transport,
                    trust_env=True,
                )
                for size in self._sizes
            ]
            self._busy = [0] * len(self._pools)
            self._loop = loop
        busy = self._busy
        return busy.index(min(busy))

    async def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, content: bytes | None = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        pool = self._pool()
        self._busy[pool] += 1
        try:
            response = await self._pools[pool].request(method, url, headers=headers, content=content)
        except _NOT_SENT as exc:
            raise GraphError(f"{type(exc).__name__}: {exc}", rule=NOT_SENT) from exc
        except (httpx.HTTPError, OSError) as exc:  # after the request was (or may have been) written
            raise GraphError.no_response(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._busy[pool] -= 1
        if response.status_code >= 400:
            raise GraphError.from_response(response.status_code, response.content)
        try:
            return json.loads(response.content)
        except ValueError:
            raise GraphError.no_response(f"HTTP {response.status_code} with a non-JSON body") from None
