"""What the Graph client's tests put on the other end: a raw HTTP/1.1 server on 127.0.0.1 (keep-alive, framing,
proxies, faults mid-response) and ``httpx`` transports that fail the way a network does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx

OK = json.dumps(
    {
        "contacts": [{"input": "+1", "wa_id": "1"}],
        "messages": [{"id": "wamid.A", "message_status": "accepted"}],
    }
).encode()


def response(body: bytes = OK, status: str = "200 OK", headers: str = "") -> bytes:
    """A whole HTTP/1.1 response with a Content-Length."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    )
    return head.encode() + body


class Server:
    """Answers each request with ``answer(request_bytes)``: bytes to write, or None to close without a word.

    ``async with Server(...) as url`` gives ``http://127.0.0.1:<port>/v24.0``; ``requests`` holds every
    request as received (head and body), ``connections`` counts the TCP connections accepted.
    """

    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self.answer = answer
        self.connections = 0
        self.hang_up = False  # close each connection after its first answer
        self.requests: list[bytes] = []

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"{self.origin}/v24.0"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lengths = [
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ]
                request = head + await reader.readexactly(lengths[0] if lengths else 0)
                self.requests.append(request)
                out = self.answer(request)
                if out is None:
                    break
                writer.write(out)
                await writer.drain()
                if b"Connection: close" in out or self.hang_up:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def raising(error: type[httpx.TransportError]) -> httpx.MockTransport:
    """A transport on which every request fails with ``error``, as httpx raises it from the network."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error(f"simulated {error.__name__}", request=request)

    return httpx.MockTransport(handler)


def answering(status: int, content: bytes) -> httpx.MockTransport:
    """A transport answering every request with ``status`` and the raw ``content``."""
    return httpx.MockTransport(lambda request: httpx.Response(status, content=content))
