"""Webhook POSTs as API Gateway delivers them: HttpApi v2 events, and a callback URL on 127.0.0.1 that turns the
simulator's signed POSTs into invocations of the webhook handler."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from handlers import load_event


def http_event(
    method: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    *,
    base64_encoded: bool = False,
) -> dict[str, Any]:
    """An HttpApi v2 event like API Gateway builds: lowercase header names, the body as received."""
    event = {k: v for k, v in load_event("webhook_post_status.json").items() if k != "_comment"}
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} /webhook"
    event["requestContext"]["http"]["method"] = method
    event["headers"] = {
        "user-agent": "facebookexternalua",
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    event.pop("body", None)
    event["isBase64Encoded"] = base64_encoded
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if base64_encoded else body.decode()
    if query is not None:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return event


@dataclass(frozen=True)
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes  # the exact bytes received, for signature checks
    status: int = 200  # what the receiver answered


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that records every POST. With ``invoke`` (a webhook handler), each POST
    becomes an HttpApi v2 event for it, one invocation at a time (one Lambda container), answered with the
    handler's status code; without, ``responses`` (status codes) are answered in order before falling back to
    200, to exercise the sender's retries."""

    def __init__(self, invoke: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.received: list[ReceivedWebhook] = []
        self.responses: list[int] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._changed:
                    headers = dict(self.headers.items())
                    if invoke is not None:
                        status = invoke(http_event("POST", body, headers))["statusCode"]
                    else:
                        status = receiver.responses.pop(0) if receiver.responses else 200
                    receiver.received.append(ReceivedWebhook(self.path, headers, body, status))
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
