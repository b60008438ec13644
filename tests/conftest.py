"""Shared fixtures. Paths resolve from this file; pytest's ``pythonpath`` puts layers/shared, local and tests
on sys.path."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from mmapi import motoserver

# Set before any handler or mmcore.observability import: Powertools reads them at construction.
for _var, _value in {
    "POWERTOOLS_SERVICE_NAME": "whatsapp-mm-campaigns",
    "POWERTOOLS_METRICS_NAMESPACE": "WhatsAppMarketing",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ.setdefault(_var, _value)


def _serialize_moto() -> None:
    """moto's in-process backends are not thread-safe (the sender and the webhook make DynamoDB calls from a
    thread pool); real DynamoDB applies each request atomically. One lock per request gives tests that."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock, handle = threading.RLock(), BotocoreStubber.__call__

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return handle(self, *args, **kwargs)

    BotocoreStubber.__call__ = locked  # type: ignore[method-assign]


_serialize_moto()
motoserver.install()  # the same moto the local stack serves (its transactions roll back touched items only)

if TYPE_CHECKING:
    import httpx

    from mmapi.simulator import Simulator


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A started Graph API simulator (default config, seed 0) on 127.0.0.1; stopped after the test.

    Change knobs on ``simulator.config``, move time with ``simulator.clock.advance(seconds)``.
    """
    from mmapi.simulator import Simulator  # imported here: unit tests never pay for aiohttp

    with Simulator() as sim:
        yield sim


@pytest.fixture
def graph_client(simulator: Simulator) -> Iterator[httpx.Client]:
    """An httpx client on the simulator's ``base_url`` with its Bearer token."""
    import httpx

    with httpx.Client(base_url=simulator.base_url, headers=simulator.auth_headers, timeout=5) as client:
        yield client


@dataclass(frozen=True)
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes  # the exact bytes received, for signature checks


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that records every POST. ``responses`` (status codes) are answered in
    order before falling back to 200, to exercise the sender's retries."""

    def __init__(self) -> None:
        self.received: list[ReceivedWebhook] = []
        self.responses: list[int] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._changed:
                    status = receiver.responses.pop(0) if receiver.responses else 200
                    receiver.received.append(ReceivedWebhook(self.path, dict(self.headers.items()), body))
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedWebhook]:
        """Block until at least ``count`` POSTs arrived; returns them all."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} webhooks received, expected {count}")
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
