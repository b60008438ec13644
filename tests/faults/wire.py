"""Faults the simulator cannot make, put on the wire between the Graph client and the simulator, and between
the simulator and the webhook handler: connections refused before the request, odd success answers, a
poisoned item in a webhook POST (re-signed, as Meta would sign it)."""

from __future__ import annotations

import json
import random
import socket
from typing import Any

import httpx

from mmapi.simulator.webhooks import sign


def closed_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused (ECONNREFUSED)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ODD_ANSWERS = ("contacts-null", "no-messages", "not-json")


class FaultyWire(httpx.AsyncBaseTransport):
    """httpx's own transport, with a share of requests sent to a closed port (refused before any byte of the
    request left: httpx raises ``ConnectError``) and a share of the simulator's 200 answers rewritten into the
    odd shapes of ``ODD_ANSWERS`` (the simulator took the message: Meta has it)."""

    def __init__(self, *, refuse: float = 0.0, odd: float = 0.0, seed: int = 0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.refuse, self.odd, self.rng = refuse, odd, random.Random(seed)
        self.port = closed_port()
        self.counts: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.rng.random() < self.refuse:
            self._count("refused")
            request.url = request.url.copy_with(port=self.port)
            return await self.inner.handle_async_request(request)
        response = await self.inner.handle_async_request(request)
        if response.status_code != 200 or self.rng.random() >= self.odd:
            return response
        answer = json.loads(await response.aread())
        kind = self.rng.choice(ODD_ANSWERS)
        self._count(kind)
        if kind == "contacts-null":
            content = json.dumps({**answer, "contacts": [None]}).encode()
        elif kind == "no-messages":
            content = json.dumps({k: v for k, v in answer.items() if k != "messages"}).encode()
        else:
            content = b"<html>upstream answered 200</html>"
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    async def aclose(self) -> None:
        await self.inner.aclose()


# One odd item added to a status POST: each would have failed the whole POST before issue 16.
POISONS: tuple[Any, ...] = (
    {
        "id": "wamid.POISON",
        "status": "failed",
        "timestamp": "1",
        "recipient_id": "1",
        "errors": [{"code": "²"}],
    },
    {
        "id": "wamid.POISON",
        "status": "failed",
        "timestamp": "1",
        "recipient_id": "1",
        "errors": [{"code": "9" * 5000}],
    },
    {"id": "wamid.POISON", "status": "delivered", "timestamp": "1", "recipient_id": "٩١٩٨٧٦٥٤٣٢١٠"},
    {"status": "delivered"},  # no id
    "not an object",
)


class Poisoner:
    """Adds one poisoned item to every status POST, in turn, and signs the body again with the app secret."""

    def __init__(self, app_secret: str) -> None:
        self.app_secret, self.poisoned = app_secret, 0

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        payload = json.loads(event["body"])
        statuses = [
            c["value"]["statuses"] for e in payload["entry"] for c in e["changes"] if "statuses" in c["value"]
        ]
        if not statuses:
            return event
        statuses[0].insert(len(statuses[0]) // 2, POISONS[self.poisoned % len(POISONS)])
        self.poisoned += 1
        raw = json.dumps(payload).encode()
        headers = {**event["headers"], "x-hub-signature-256": sign(self.app_secret, raw)}
        return {**event, "body": raw.decode(), "headers": headers}
