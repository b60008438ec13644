"""A campaign's whole path in process, for the tests that follow it: the campaign API, the send function and the
webhook handler on one moto stack, the Graph simulator over HTTP posting its status webhooks to the webhook
handler (test_routing, test_campaign_test_send)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aws import create_stack, use_stack
from handlers import LambdaContext, load_event, load_handler
from integration.conftest import SendEnv
from integration.test_webhook import VERIFY_TOKEN, wire
from webhookhttp import WebhookReceiver

from mmcore import clients


@dataclass
class World:
    send: SendEnv
    api: Any
    receiver: WebhookReceiver
    aws: Any

    @property
    def sim(self):
        return self.send.sim

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """The campaigns function's answer (status, JSON body) to ``method path`` with ``body``."""
        evt = load_event("campaigns_get.json")
        evt["rawPath"] = evt["requestContext"]["http"]["path"] = path
        evt["requestContext"]["http"]["method"] = method
        evt["pathParameters"] = {}
        if body is not None:
            evt["body"] = json.dumps(body)
            evt["headers"]["content-type"] = "application/json"
        answer = self.api.lambda_handler(evt, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"])

    def report(self, campaign_id: str) -> dict[str, Any]:
        self.send.stack.aggregate(self.aws)  # the counters a report reads, from the table's stream
        return self.call("GET", f"/campaigns/{campaign_id}")[1]

    def posts(self, endpoint: str) -> list[tuple[str | None, int, int | None]]:
        """(recipient, HTTP status, error code) of every POST the simulator got on ``endpoint``."""
        suffix = f"/{self.sim.phone_number_id}/{endpoint}"
        return [
            (r.recipient, r.status, r.error_code)
            for r in self.sim.requests(suffix)
            if r.path.endswith(suffix)
        ]

    def settle(self) -> None:
        """Let every webhook the simulator has to post reach the webhook handler."""
        self.sim.wait_for_webhooks_idle(10)

    def deliver(self) -> None:
        """Drain the send queue, then let every status webhook reach the webhook handler."""
        self.send.drain()
        self.settle()


@contextmanager
def campaign_world(aws: Any, sim: Any, monkeypatch: Any, name: str, **sim_config: Any) -> Iterator[World]:
    """A stack named ``name`` with the simulator posting its webhooks to the webhook handler."""
    stack = create_stack(
        aws, name, access_token=sim.access_token, app_secret=sim.app_secret, verify_token=VERIFY_TOKEN
    )
    hooks = wire(aws, stack, monkeypatch, sim.app_secret)
    use_stack(monkeypatch, stack, sim)
    send = SendEnv(stack, sim, aws.client("sqs"), load_handler("send"))
    receiver = WebhookReceiver(hooks.invoke)
    sim.config.update(webhook_url=receiver.url, pair_interval_seconds=None, **sim_config)
    try:
        yield World(send, load_handler("campaigns"), receiver, aws)
    finally:
        sim.config.webhook_url = None
        receiver.close()
        clients.reset()
