"""The Graph client (mmcore.graph.GraphClient on httpx) against a raw socket server on 127.0.0.1 and failing
transports: keep-alive reuse, framing, proxies from the environment, and which failures say "never sent"
(safe to retry) vs "Meta may have it"."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from httpx_transport import OK, Server, answering, raising, response

from mmcore.graph import Accepted, GraphClient
from mmcore.meta.errors import NOT_SENT, GraphError

run = asyncio.run


async def failure(client: GraphClient) -> GraphError:
    with pytest.raises(GraphError) as caught:
        await client.send("123", b"{}")
    await client.aclose()
    return caught.value


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


@pytest.mark.parametrize("size", [3, 12])  # one httpx pool; three (POOL_SIZE 5: 4 + 4 + 4 connections)
def test_concurrent_sends_open_at_most_the_pool_size(size):
    async def main():
        async with (server := Server(lambda r: response())) as url:
            client = GraphClient(url, lambda: "tok", timeout=2, max_connections=size)
            for _ in range(2):
                await asyncio.gather(*(client.send("123", b"{}") for _ in range(4 * size)))
            await client.aclose()
        return server

    server = run(main())
    assert len(server.requests) == 8 * size and server.connections <= size


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
            return await failure(GraphClient(url, lambda: "tok", timeout=2))

    assert run(main()).code == 131049


def test_no_connection_means_not_sent():
    async def main():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return await failure(GraphClient(f"http://127.0.0.1:{port}/v24.0", lambda: "tok", timeout=2))

    error = run(main())
    assert error.rule is NOT_SENT and not error.rule.ambiguous


@pytest.mark.parametrize("behaviour", ["closes", "never answers", "garbage", "resets mid-body"])
def test_no_answer_after_sending_is_ambiguous(behaviour):
    answers = {
        "closes": None,
        "never answers": b"",
        "garbage": b"NOT HTTP\r\n\r\n",
        "resets mid-body": response()[
            :-10
        ],  # Content-Length promises 10 more bytes, then the server hangs up
    }

    async def main():
        async with (server := Server(lambda r: answers[behaviour])) as url:
            server.hang_up = True
            return await failure(GraphClient(url, lambda: "tok", timeout=0.3))

    error = run(main())
    assert error.rule.ambiguous and error.rule is not NOT_SENT


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError]
)
def test_failures_before_the_request_left_are_not_sent(error):
    client = GraphClient("https://graph.test/v24.0", lambda: "tok", transport=raising(error))
    assert run(failure(client)).rule is NOT_SENT


@pytest.mark.parametrize(
    "error",
    [
        httpx.WriteError,  # part of the request, or all of it, may be in the kernel's buffers
        httpx.WriteTimeout,
        httpx.ReadError,
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
    ],
)
def test_failures_after_writing_began_are_ambiguous(error):
    client = GraphClient("https://graph.test/v24.0", lambda: "tok", transport=raising(error))
    caught = run(failure(client))
    assert caught.rule.ambiguous and caught.rule is not NOT_SENT
    assert error.__name__ in caught.message


@pytest.mark.parametrize(
    "body",
    [b"<html>gateway</html>", b"{}", b"[]", b'{"messages":[]}', b'{"messages":[null]}', b'{"messages":[{}]}'],
)
def test_a_200_without_a_wamid_is_ambiguous(body):
    client = GraphClient("https://graph.test/v24.0", lambda: "tok", transport=answering(200, body))
    caught = run(failure(client))
    assert caught.rule.ambiguous and caught.rule is not NOT_SENT


@pytest.mark.parametrize(
    ("answer", "accepted"),
    [
        ({"messages": [{"id": "wamid.X"}], "contacts": [None]}, Accepted("wamid.X", "accepted", None)),
        ({"messages": [{"id": "wamid.X"}], "contacts": ["+1"]}, Accepted("wamid.X", "accepted", None)),
        ({"messages": [{"id": "wamid.X"}], "contacts": None}, Accepted("wamid.X", "accepted", None)),
        (
            {"messages": [{"id": "wamid.X"}], "contacts": [{"wa_id": 91}]},
            Accepted("wamid.X", "accepted", None),
        ),
        (
            {
                "messages": [{"id": "wamid.X", "message_status": "held_for_quality_assessment"}],
                "contacts": [{}],
            },
            Accepted("wamid.X", "held_for_quality_assessment", None),
        ),
        ({"messages": [{"id": "wamid.X"}], "contacts": [{"wa_id": ""}]}, Accepted("wamid.X", "accepted", "")),
    ],
)
def test_odd_fields_beside_the_wamid_still_mean_accepted(answer, accepted):
    async def main():
        client = GraphClient(
            "https://graph.test/v24.0", lambda: "tok", transport=answering(200, json.dumps(answer).encode())
        )
        return await client.send("123", b"{}")

    assert run(main()) == accepted


def test_a_non_json_answer_to_a_management_call_is_ambiguous():
    async def main():
        client = GraphClient("https://graph.test/v24.0", lambda: "tok", transport=answering(200, b"ok"))
        with pytest.raises(GraphError) as caught:
            await client.call("POST", "/T1", json_body={"x": 1})
        return caught.value

    assert run(main()).rule.ambiguous


def test_http_proxy_from_the_environment_carries_the_request(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "")  # set below, once the proxy's port is known

    async def main():
        async with (proxy := Server(lambda r: response())) as _:
            monkeypatch.setenv("HTTP_PROXY", proxy.origin)
            client = GraphClient("http://graph.test/v24.0", lambda: "tok", timeout=2)
            answer = await client.send("123", b"{}")
            await client.aclose()
        return proxy, answer

    proxy, answer = run(main())
    assert answer.wamid == "wamid.A"  # graph.test does not resolve: only the proxy can have answered
    assert proxy.requests[0].startswith(b"POST http://graph.test/v24.0/123/marketing_messages HTTP/1.1\r\n")


def test_no_proxy_from_the_environment_bypasses_the_proxy(monkeypatch):
    async def main():
        async with (
            (proxy := Server(lambda r: response())) as _,
            (origin := Server(lambda r: response())) as url,
        ):
            monkeypatch.setenv("HTTP_PROXY", proxy.origin)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            client = GraphClient(url, lambda: "tok", timeout=2)
            await client.send("123", b"{}")
            await client.aclose()
        return proxy, origin

    proxy, origin = run(main())
    assert proxy.requests == [] and len(origin.requests) == 1


def test_an_https_proxy_refusing_the_tunnel_means_not_sent(monkeypatch):
    async def main():
        async with (proxy := Server(lambda r: response(b"", "403 Forbidden"))) as _:
            monkeypatch.setenv("HTTPS_PROXY", proxy.origin)
            error = await failure(GraphClient("https://graph.facebook.com/v24.0", lambda: "tok", timeout=2))
        return proxy, error

    proxy, error = run(main())
    assert proxy.requests[0].startswith(b"CONNECT graph.facebook.com:443 HTTP/1.1\r\n")
    assert error.rule is NOT_SENT


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(OK)))
        self.end_headers()
        self.wfile.write(OK)

    def log_message(self, *args: object) -> None:
        pass


def test_a_new_event_loop_gets_its_own_connections():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = GraphClient(f"http://127.0.0.1:{server.server_port}/v24.0", lambda: "tok", timeout=2)
        first = run(client.send("123", b"{}"))  # leaves a keep-alive connection bound to a loop now closed
        second = run(client.send("123", b"{}"))
        run(client.aclose())
    finally:
        server.shutdown()
        server.server_close()
    assert first.wamid == second.wamid == "wamid.A"
