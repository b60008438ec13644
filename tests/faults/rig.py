"""One fresh stack per fault scenario, on this machine only: moto in-process, the Graph simulator on 127.0.0.1,
the send, webhook and resolver handlers, the simulator's webhooks posted to the webhook handler.

The rig plays what AWS would: the SQS event source (a record given back is made visible again at once, so
backoffs pass without waiting), the resolver's schedule, and time (:meth:`Rig.advance` moves the simulator's
clock and the sender's and resolver's together, so leases, silences and match windows pass in a blink).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws import Stack, create_stack, use_stack
from handlers import LambdaContext, load_handler
from moto import mock_aws
from simsend import sim_send
from webhookhttp import WebhookReceiver

from mmapi.simulator import Simulator
from mmapi.sqsevents import lambda_event, receive, settle
from mmcore import clients
from mmcore.meta.messages import parse_send_request
from mmcore.store import messages as L

HEARTBEAT = "9198009{:05d}"  # other users of the number, whose statuses keep its stream flowing
RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


def body(i: int, campaign: str = "faults") -> dict[str, Any]:
    """The ``i``-th message of a scenario: a campaign's marketing template to its own user."""
    return {
        "messaging_product": "whatsapp",
        "to": f"9198770{i:05d}",
        "type": "template",
        "template": {"name": "summer_sale", "language": {"code": "en_US"}},
        "campaign_id": campaign,
    }


@dataclass
class Row:
    """One scenario's line of the table."""

    scenario: str
    messages: int = 0
    posts: int = 0
    duplicates: int = 0  # users Meta accepted the message for more than once
    lost: int = 0  # no ledger item at all, and not queued
    unknown_taken: int = 0  # left `unknown`, Meta has it
    unknown_unsent: int = 0  # left `unknown`, Meta never got it
    stuck: int = 0  # `queued`, `sending` or `retry` after draining
    states: Counter[str] = field(default_factory=Counter)
    resolver: Counter[str] = field(default_factory=Counter)
    resend: bool = False
    seconds: float = 0.0
    note: str = ""


ROWS: list[Row] = []  # the suite's table, one row per scenario run (printed by conftest.py)


class Context(LambdaContext):
    """A Lambda context whose remaining time is ``remaining()`` (the default: 30 s, the function's timeout)."""

    def __init__(self, remaining: Callable[[], float] | None = None) -> None:
        self._remaining = remaining

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return 30_000 if self._remaining is None else int(self._remaining() * 1000)


class Rig:
    """The stack of one scenario (see the module docstring)."""

    def __init__(self, session: Any, sim: Simulator, stack: Stack, mp: pytest.MonkeyPatch) -> None:
        self.sim, self.stack, self.mp = sim, stack, mp
        self.sqs = session.client("sqs")
        self.offset = 0.0  # seconds the rig moved time forward
        self.send = load_handler("send")
        self.webhook = load_handler("webhook")
        self.resolver = load_handler("resolver")
        self.webhook_hook: Callable[[dict[str, Any]], dict[str, Any]] = lambda event: event
        self.receiver = WebhookReceiver(self._deliver)
        sim.config.webhook_url = self.receiver.url
        self.heartbeats = self.invocations = 0
        self.in_flight: dict[str, Any] = {"Records": []}  # the last batch handed to the send function
        self.clock_sender()

    # ------------------------------------------------------------------ the pieces

    def _deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.webhook.lambda_handler(self.webhook_hook(event), LambdaContext())

    def now(self) -> float:
        return time.time() + self.offset

    def clock_sender(self) -> None:
        """The (possibly new) sender reads the rig's clock."""
        self.send.sender().clock = self.now

    def new_process(self) -> None:
        """What a new Lambda container starts with: no cached clients, loop, secret or sender."""
        clients.reset()
        self.send.sender.cache_clear()
        self.resolver.resolver.cache_clear()
        self.clock_sender()

    def advance(self, seconds: float) -> None:
        self.sim.state.clock.advance(seconds)
        self.offset += seconds

    @property
    def queue_arn(self) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.stack.queue_url, AttributeNames=["QueueArn"])
        return attrs["Attributes"]["QueueArn"]

    # ------------------------------------------------------------------ the event sources

    def enqueue(self, bodies: list[dict[str, Any]]) -> None:
        for b in bodies:
            self.sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=json.dumps(b))

    def invoke(self, context: Context | None = None) -> bool:
        """One event-source step: up to 10 records to the send handler, the ones it gave back made visible
        again at once. False when the queue is empty (in flight included)."""
        url = self.stack.queue_url
        got = receive(self.sqs, url, 10, wait_seconds=0)
        if not got:
            return self._hidden() > 0
        event = self.in_flight = lambda_event(got, self.queue_arn, "us-east-1")
        self.invocations += 1
        response = self.send.lambda_handler(event, context or Context())
        settle(self.sqs, url, event, response)
        self.visible([f["itemIdentifier"] for f in response["batchItemFailures"]], event)
        return True

    def visible(self, record_ids: list[str], event: dict[str, Any]) -> None:
        for record in event["Records"]:
            if record["messageId"] in record_ids:
                self.sqs.change_message_visibility(
                    QueueUrl=self.stack.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )

    def killed_batch_visible(self) -> None:
        """The visibility timeout of a killed invocation's batch has run out: SQS hands it out again."""
        self.visible([r["messageId"] for r in self.in_flight["Records"]], self.in_flight)

    def drain(self, context: Callable[[], Context] | None = None, rounds: int = 200) -> None:
        """Play the event source until the queue is empty."""
        for _ in range(rounds):
            if not self.invoke(context() if context else None):
                self.sim.wait_for_webhooks_idle(20)
                return
        raise AssertionError(f"queue not drained after {rounds} invocations")

    def _hidden(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def resolve(self, ids: list[str], rounds: int = 6) -> Counter[str]:
        """The fault burst is over: while the number's other messages keep getting statuses, time passes,
        the resolver runs on its schedule and what it queued again is sent, until no message is unknown."""
        config = self.sim.config
        config.error_rates, config.reset_ratio, config.slow_ratio = {}, 0.0, 0.0
        outcomes: Counter[str] = Counter()
        for _ in range(rounds):
            if not any(self.state(m) == L.State.UNKNOWN for m in ids):
                break
            self.advance(130)  # past the resolver's minimum age and the silence (60 s here)
            sim_send(self.sim, to=HEARTBEAT.format(self.heartbeats))
            self.heartbeats += 1
            self.sim.wait_for_webhooks_idle(20)
            resolver = self.resolver.resolver()
            resolver.clock = self.now
            outcomes += resolver.run()
            self.drain()
        return outcomes

    # ------------------------------------------------------------------ the tally

    def ledger(self) -> L.Ledger:
        return self.send.sender().ledger

    def state(self, message_id: str) -> str | None:
        item = self.ledger().get_message(message_id)
        return item["state"] if item else None

    def tally(self, row: Row, bodies: list[dict[str, Any]]) -> Row:
        """Fill the row from the ledger and what the simulator saw."""
        users = {b["to"] for b in bodies}
        taken = self.sim.sends_by_recipient(accepted_only=True)
        row.messages = len(bodies)
        row.posts = sum(n for u, n in self.sim.sends_by_recipient().items() if u in users)
        row.duplicates = sum(1 for u in users if taken.get(u, 0) > 1)
        for b in bodies:
            state = self.state(parse_send_request(b).identity())
            row.states[state or "none"] += 1
            if state is None:
                row.lost += 1
            elif state == L.State.UNKNOWN:
                if taken.get(b["to"]):
                    row.unknown_taken += 1
                else:
                    row.unknown_unsent += 1
            elif state not in L.FINAL:
                row.stuck += 1
        return row

    def status_mismatches(self, bodies: list[dict[str, Any]]) -> list[str]:
        """Accepted messages whose recorded delivery status is not the newest one Meta posted for their wamid
        (duplicated, reordered or late webhooks must not lose or regress a status)."""
        newest: dict[str, str] = {}
        for delivery in self.sim.webhook_deliveries():
            for entry in json.loads(delivery.body)["entry"]:
                for change in entry["changes"]:
                    for s in change["value"].get("statuses", ()):
                        old = newest.get(s["id"])
                        if old is None or RANK[s["status"]] > RANK[old]:
                            newest[s["id"]] = s["status"]
        wrong = []
        for b in bodies:
            item = self.ledger().get_message(parse_send_request(b).identity()) or {}
            wamid = item.get("wamid")
            if item.get("state") == L.State.ACCEPTED and item.get("status") != newest.get(wamid):
                wrong.append(f"{b['to']}: {item.get('status')} != {newest.get(wamid)}")
        return wrong

    def close(self) -> None:
        self.sim.wait_for_webhooks_idle(20)  # none may reach the handler once moto is gone
        self.sim.config.webhook_url = None
        self.receiver.close()


@contextmanager
def rig(**env: str) -> Iterator[Rig]:
    """A fresh stack (moto in-process, the simulator, the three handlers) with ``env`` set on the functions."""
    with pytest.MonkeyPatch.context() as mp, mock_aws(), Simulator() as sim:
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        for var, value in {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }.items():
            mp.setenv(var, value)
        mp.setattr("mmcore.sending.resolve.REQUEUE_DELAY_SECONDS", 0)  # 30 s on AWS; the rig skips waits
        sim.config.mps = None
        sim.config.pair_interval_seconds = None
        sim.config.webhook_batch_size = 10  # Meta batches statuses too; one POST per status is 3x slower here
        session = boto3.Session(region_name="us-east-1")
        stack = create_stack(session, "faults", access_token=sim.access_token, app_secret=sim.app_secret)
        use_stack(mp, stack, sim, **{"UNKNOWN_SILENCE_SECONDS": "60", "GRAPH_TIMEOUT_SECONDS": "2", **env})
        r = Rig(session, sim, stack, mp)
        try:
            yield r
        finally:
            r.close()
            clients.reset()
