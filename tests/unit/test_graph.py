"""The Graph client's own HTTP/1.1 transport (mmcore.graph.KeepAlivePool) against a raw socket server on
127.0.0.1: keep-alive reuse, framing, and which failures say "never sent" (safe to retry) vs "Meta may have it"."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from mmcore.graph import Accepted, GraphClient
from mmcore.meta.errors import NOT_SENT, GraphError

OK = json.dumps(
    {
        "contacts": [{"input": "+1", "wa_id": "1"}],
        "messages": [{"id": "wamid.A", "message_status": "accepted"}],
    }
).encode()


def response(body: bytes = OK, status: str = "200 OK", headers: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    )
    return head.encode() + body


class Server:
    """Answers each request with ``answer(request_bytes)``: bytes to write, or None to close without a word."""

    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self.answer = answer
        self.connections = 0
        self.hang_up = False  # close each connection after its first answer
        self.requests: list[bytes] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v24.0"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                request = head + await reader.readexactly(length)
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


def run(coro):
    return asyncio.run(coro)


def test_sends_reuse_one_keep_alive_connection():
    async def main():
        async with (server := Server(lambda r: response())) as url:
            client = GraphClient(url, lambda: "tok", timeout=2)
            answers = [await client.send("123", b'{"to":"+1"}') for _ in range(5)]
            await client.aclose()
        return server, answers

    server, answers = run(main())
    assert answers == [Accepted("wamid.A", "accepted", "1")] * 5
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v24.0/123/marketing_messages HTTP/1.1\r\n")
    assert b"Authorization: Bearer tok" in first and first.endswith(b'{"to":"+1"}')


def test_concurrent_sends_open_at_most_the_pool_size():
    async def main():
        async with (server := Server(lambda r: response())) as url:
            client = GraphClient(url, lambda: "tok", timeout=2, max_connections=3)
            await asyncio.gather(*(client.send("123", b"{}") for _ in range(12)))
            await client.aclose()
        return server

    server = run(main())
    assert len(server.requests) == 12 and server.connections <= 3


def test_chunked_bodies_and_connection_close_are_handled():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunked += (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (OK[:10], OK[10:])) + b"0\r\n\r\n"
    )

    async def main():
        async with (server := Server(lambda r: chunked)) as url:
            client = GraphClient(url, lambda: "tok", timeout=2)
            answers = [await client.send("123", b"{}") for _ in range(2)]
            await client.aclose()
        return server, answers

    server, answers = run(main())
    assert [a.wamid for a in answers] == ["wamid.A", "wamid.A"]
    assert server.connections == 2  # the server said close: a new connection for the second


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    async def main():
        # keep-alive as far as HTTP says, but the server drops the connection once it has answered
        async with (server := Server(lambda r: response())) as url:
            server.hang_up = True
            client = GraphClient(url, lambda: "tok", timeout=2)
            await client.send("123", b"{}")
            await asyncio.sleep(0.05)  # the FIN arrives while the connection is idle
            answer = await client.send("123", b"{}")
            await client.aclose()
        return server, answer

    server, answer = run(main())
    assert answer.wamid == "wamid.A" and server.connections == 2


def test_management_calls_carry_query_and_json():
    body = json.dumps({"id": "T1", "message_send_ttl_seconds": 600}).encode()

    async def main():
        async with (server := Server(lambda r: response(body))) as url:
            client = GraphClient(url, lambda: "tok", timeout=2)
            answer = await client.call("GET", "/T1", params={"fields": "a,b c"})
            await client.call("POST", "/T1", json_body={"x": 1})
            await client.aclose()
        return server, answer

    server, answer = run(main())
    assert answer == {"id": "T1", "message_send_ttl_seconds": 600}
    assert server.requests[0].startswith(b"GET /v24.0/T1?fields=a%2Cb+c HTTP/1.1\r\n")
    assert server.requests[1].endswith(b'{"x":1}') and b"Content-Type: application/json" in server.requests[1]


def test_a_graph_error_answer_is_classified():
    error = json.dumps({"error": {"message": "(#131049) not delivered", "code": 131049}}).encode()

    async def main():
        async with Server(lambda r: response(error, "400 Bad Request")) as url:
            client = GraphClient(url, lambda: "tok", timeout=2)
            with pytest.raises(GraphError) as caught:
                await client.send("123", b"{}")
            await client.aclose()
        return caught.value

    assert run(main()).code == 131049


def test_no_connection_means_not_sent():
    async def main():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        client = GraphClient(f"http://127.0.0.1:{port}/v24.0", lambda: "tok", timeout=2)
        with pytest.raises(GraphError) as caught:
            await client.send("123", b"{}")
        return caught.value

    error = run(main())
    assert error.rule is NOT_SENT and not error.rule.ambiguous


@pytest.mark.parametrize("behaviour", ["closes", "never answers", "garbage"])
def test_no_answer_after_sending_is_ambiguous(behaviour):
    answers = {"closes": None, "never answers": b"", "garbage": b"NOT HTTP\r\n\r\n"}

    async def main():
        async with Server(lambda r: answers[behaviour]) as url:
            client = GraphClient(url, lambda: "tok", timeout=0.3)
            with pytest.raises(GraphError) as caught:
                await client.send("123", b"{}")
            await client.aclose()
        return caught.value

    error = run(main())
    assert error.rule.ambiguous and error.rule is not NOT_SENT
