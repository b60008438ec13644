"""Integration fixtures: moto in-process AWS (resources from template.yaml) and the Graph simulator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws import Stack, create_stack, use_stack
from handlers import LambdaContext, load_event, load_handler, now_ms  # noqa: F401 - re-exported
from moto import mock_aws

from mmapi.simulator import Simulator
from mmapi.sqsevents import lambda_event, receive, settle
from mmcore import clients


@pytest.fixture
def aws(monkeypatch):
    """moto in-process; AWS_ENDPOINT_URL would bypass it, so it is unset."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for var, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "WhatsAppMarketing",
        "POWERTOOLS_SERVICE_NAME": "whatsapp-mm-campaigns",
    }.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


@pytest.fixture
def sim(simulator):
    """The Graph simulator (``simulator`` in tests/conftest.py) under the short name handler tests use."""
    return simulator


@dataclass
class SendEnv:
    """The send function wired to moto and the simulator, plus a driver that plays the event source."""

    stack: Stack
    sim: Simulator
    sqs: Any
    handler: Any

    @property
    def queue_arn(self) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.stack.queue_url, AttributeNames=["QueueArn"])
        return attrs["Attributes"]["QueueArn"]

    def enqueue(self, *bodies: Any) -> None:
        for body in bodies:
            text = body if isinstance(body, str) else json.dumps(body)
            self.sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=text)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.handler.lambda_handler(event, LambdaContext())

    def poll_once(self, batch: int = 10) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Receive one batch, invoke the handler, delete what succeeded: one event source mapping step."""
        messages = receive(self.sqs, self.stack.queue_url, batch)
        if not messages:
            return None
        event = lambda_event(messages, self.queue_arn)
        response = self.invoke(event)
        settle(self.sqs, self.stack.queue_url, event, response)
        return event, response

    def drain(self, rounds: int = 50, fast_forward: float = 0.0) -> list[dict[str, Any]]:
        """Poll until the queue is empty. Retried records are made visible again at once and the simulator's
        clock moves by ``fast_forward`` seconds, so delays pass without waiting (they are unit-tested)."""
        responses = []
        for _ in range(rounds):
            step = self.poll_once()
            if step is None:
                if not self._hidden():
                    return responses
                continue
            event, response = step
            responses.append(response)
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            for record in event["Records"]:
                if record["messageId"] in failed:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.stack.queue_url,
                        ReceiptHandle=record["receiptHandle"],
                        VisibilityTimeout=0,
                    )
            if failed and fast_forward:
                self.sim.clock.advance(fast_forward)
        raise AssertionError(f"queue not drained after {rounds} rounds")

    def _hidden(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def message(self, message_id: str) -> dict[str, Any] | None:
        return self.handler.sender().ledger.get_message(message_id)


@pytest.fixture
def send_env(aws, sim, monkeypatch):
    stack = create_stack(aws, "t", access_token=sim.access_token, app_secret=sim.app_secret)
    use_stack(monkeypatch, stack, sim)
    handler = load_handler("send")
    yield SendEnv(stack, sim, aws.client("sqs"), handler)
    clients.reset()
