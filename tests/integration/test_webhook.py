"""The webhook function end to end: HttpApi v2 events (from events/ and from the Graph simulator's signed POSTs,
received on 127.0.0.1) -> the handler in-process -> moto (DynamoDB, Secrets Manager, EventBridge -> SQS)."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import conformance
import pytest
from aws import Stack, create_stack
from handlers import LambdaContext, load_event, load_handler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simsend import sim_send
from webhookhttp import WebhookReceiver, http_event

from mmapi.simulator import Simulator
from mmcore import clients, webhooks
from mmcore.meta.errors import Scope
from mmcore.meta.messages import parse_send_request
from mmcore.store import deliveries, keys, statuses
from mmcore.store import messages as L
from mmcore.store.accounts import Accounts
from mmcore.store.clicks import Clicks
from mmcore.store.codec import from_item, to_item
from mmcore.store.halts import Halt, template_halt_key
from mmcore.store.inbound import Replies, Unhandled
from mmcore.store.suppressions import Suppressions
from mmcore.store.templates import Templates
from mmcore.webhooks import sign

VERIFY_TOKEN = "local-verify-token"  # what events/webhook_get_verify.json carries
EVENTS_SECRET = "sim-app-secret"  # what signs events/webhook_post_*.json (the simulator's default)
WAMID = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQzQ1RjhCQzE3NUQ3MzdEQjQ5AA=="  # in the event files
WABA = "102290129340398"  # the entry id of the event files and of envelope()


# ---------------------------------------------------------------- wiring


def envelope(*changes: dict[str, Any], waba: str = WABA, at: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": waba, "changes": list(changes)}
    if at is not None:
        entry["time"] = at
    return {"object": "whatsapp_business_account", "entry": [entry]}


def statuses_change(*items: dict[str, Any]) -> dict[str, Any]:
    metadata = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
    return {
        "field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": metadata, "statuses": list(items)},
    }


PRICING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing_lite"}


def status(wamid: str, name: str, at: int, to: str = "919876543210", **extra: Any) -> dict[str, Any]:
    item = {"id": wamid, "status": name, "timestamp": str(at), "recipient_id": to, **extra}
    if name in ("sent", "delivered") and "pricing" not in extra:
        item["pricing"] = PRICING
    if name == "failed" and "errors" not in extra:
        item["errors"] = [{"code": 131026, "title": "Message undeliverable", "error_data": {"details": "x"}}]
    return item


@dataclass(repr=False)
class WebhookEnv:
    stack: Stack
    handler: Any
    ddb: Any
    sqs: Any
    replies_queue: str
    app_secret: str

    @property
    def table(self) -> str:
        return self.stack.table

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.handler.lambda_handler(event, LambdaContext())

    def post(
        self,
        payload: Any,
        *,
        secret: str | None = None,
        signature: str | None = None,
        base64_encoded: bool = False,
    ) -> dict[str, Any]:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if signature != "":
            headers["X-Hub-Signature-256"] = signature or sign(secret or self.app_secret, raw)
        return self.invoke(http_event("POST", raw, headers, base64_encoded=base64_encoded))

    def get(self, query: dict[str, str]) -> dict[str, Any]:
        return self.invoke(http_event("GET", query=query))

    def items(self) -> dict[tuple[str, str], dict[str, Any]]:
        out, kwargs = {}, {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.ddb.scan(**kwargs)
            for item in page["Items"]:
                out[(item["pk"]["S"], item["sk"]["S"])] = from_item(item)
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def state(self, wamid: str) -> dict[str, Any] | None:
        found = self.ddb.get_item(TableName=self.table, Key=keys.wamid_state(wamid), ConsistentRead=True)
        return from_item(found["Item"]) if "Item" in found else None

    def delivery(self, wamid: str) -> dict[str, Any] | None:
        """Where ``wamid``'s delivery state is kept: its message once the sender recorded the wamid (the
        webhook joins statuses onto it), else its STATE item (statuses before the sender's record)."""
        link = self.ddb.get_item(TableName=self.table, Key=keys.wamid_link(wamid), ConsistentRead=True)
        if "Item" in link:
            message = self.message(from_item(link["Item"])["message_id"]) or {}
            if message.get("wamid") == wamid and "status_order" in message:
                return message
        return self.state(wamid)

    def events(self, wamid: str) -> list[dict[str, Any]]:
        """The status events kept for ``wamid``: the items beside its state whose key is an event's, and the
        ones its state's history remembers (on its STATE item, or on its message once the sender recorded
        it)."""
        stored = self._events(keys.wamid_state(wamid))
        history = set((self.state(wamid) or {}).get("history") or ())
        link = self.ddb.get_item(TableName=self.table, Key=keys.wamid_link(wamid), ConsistentRead=True)
        if "Item" in link:
            message = self.message(from_item(link["Item"])["message_id"]) or {}
            history |= set(message.get("history") or ()) if message.get("wamid") == wamid else set()
        kept = {f"{e['timestamp']}#{e['status']}" for e in stored}
        for entry in sorted(history - kept):
            at, _, name = entry.partition("#")
            stored.append({"wamid": wamid, "status": name, "timestamp": int(at)})
        return stored

    def template_events(self, name: str, language: str) -> list[dict[str, Any]]:
        return self._events(keys.template(WABA, name, language))

    def _events(self, beside: keys.Key) -> list[dict[str, Any]]:
        answer = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
            ExpressionAttributeValues={":pk": beside["pk"], ":evt": {"S": keys.EVT}},
            ConsistentRead=True,
        )
        return [from_item(i) for i in answer["Items"]]

    def suppression(self, user: str) -> dict[str, Any] | None:
        return Suppressions(self.ddb, self.table).get(user)

    def halt(self, scope: Scope, key: str) -> Halt | None:
        """The live halt the sender would see, or None."""
        return self.prefetch(halts=[(scope, key)]).halted.get((scope, key))

    def message(self, message_id: str) -> dict[str, Any] | None:
        return L.Ledger(self.ddb, self.table).get_message(message_id)

    # what the sender does around a POST to Meta
    def claim(self, message_id: str, campaign: str = "camp-1", to: str = "919876543210") -> None:
        ledger = L.Ledger(self.ddb, self.table)
        fields = {"campaign_id": campaign, "to": to}
        assert not ledger.apply([L.claim(message_id, None, fields, int(time.time()), 60)])

    def record_link(self, wamid: str, message_id: str, campaign: str = "camp-1") -> None:
        L.Ledger(self.ddb, self.table).write([L.wamid_link_item(wamid, message_id, campaign)])

    def record_message(self, wamid: str, message_id: str, campaign: str = "camp-1", to: str = "919876543210"):
        item = L.message_item(message_id, state=L.State.ACCEPTED, wamid=wamid, campaign_id=campaign, to=to)
        L.Ledger(self.ddb, self.table).write([item])

    def record_send(self, wamid: str, message_id: str, campaign: str = "camp-1", to: str = "919876543210"):
        """The sender's record after Meta accepted, then the reconcile it runs right after."""
        self.record_message(wamid, message_id, campaign, to)
        self.record_link(wamid, message_id, campaign)
        return statuses.reconcile(self.ddb, self.table, [(wamid, message_id)])

    def prefetch(self, *recipients: str, halts=(), now: float | None = None) -> L.Prefetched:
        return L.Ledger(self.ddb, self.table).prefetch(recipients, halts, int(now or time.time()))

    def replies(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            answer = self.sqs.receive_message(
                QueueUrl=self.replies_queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            for message in answer.get("Messages", []):
                got.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.replies_queue, ReceiptHandle=message["ReceiptHandle"])
        return got


def wire(aws, stack: Stack, monkeypatch, app_secret: str) -> WebhookEnv:
    """The webhook handler on ``stack``, with a bus whose rule forwards replies to an SQS queue."""
    buses = stack.local.resources("AWS::Events::EventBus")
    bus = next((stack.local.physical[b]["Name"] for b in buses), None)
    events, sqs = aws.client("events"), aws.client("sqs")
    if bus is None:  # template.yaml without the bus yet
        bus = f"{stack.table}-bus"
        events.create_event_bus(Name=bus)
    queue = sqs.create_queue(QueueName=f"{stack.table}-replies")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="replies", EventBusName=bus, EventPattern=json.dumps({"source": ["whatsapp.mm"]}))
    events.put_targets(Rule="replies", EventBusName=bus, Targets=[{"Id": "replies", "Arn": queue_arn}])
    for var, value in {
        "TABLE_NAME": stack.table,
        "GRAPH_SECRET_ARN": stack.graph_secret_arn,
        "WEBHOOK_SECRET_ARN": stack.webhook_secret_arn,
        "EVENT_BUS_NAME": bus,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(var, value)
    clients.reset()
    return WebhookEnv(stack, load_handler("webhook"), aws.client("dynamodb"), sqs, queue, app_secret)


@pytest.fixture
def env(aws, sim, monkeypatch) -> Iterator[WebhookEnv]:
    stack = create_stack(
        aws, "w", access_token=sim.access_token, app_secret=sim.app_secret, verify_token=VERIFY_TOKEN
    )
    yield wire(aws, stack, monkeypatch, sim.app_secret)
    clients.reset()


@pytest.fixture
def receiver(env, sim) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(env.invoke)
    sim.config.update(webhook_url=receiver.url, pair_interval_seconds=None)
    yield receiver
    sim.config.webhook_url = None
    receiver.close()


def delivered_statuses(sim: Simulator) -> dict[str, set[str]]:
    """wamid -> the statuses the simulator posted for it."""
    out: dict[str, set[str]] = {}
    for delivery in sim.webhook_deliveries():
        for entry in delivery.payload["entry"]:
            for change in entry["changes"]:
                for s in change["value"].get("statuses", []):
                    out.setdefault(s["id"], set()).add(s["status"])
    return out


def best(names: set[str]) -> str:
    return max(names, key=lambda n: statuses.RANK.get(n, 0))


# ---------------------------------------------------------------- handshake


def test_handshake_answers_the_challenge_from_the_event_file(env):
    # Given Meta's verification GET with the right verify token (events/webhook_get_verify.json)
    response = env.invoke(load_event("webhook_get_verify.json"))
    # Then the challenge comes back as plain text
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/plain"
    assert response["body"] == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "wrong"},
        {"hub.mode": "unsubscribe", "hub.challenge": "42", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe", "hub.challenge": "42"},
        {},
    ],
    ids=["bad-token", "wrong-mode", "no-challenge", "no-token", "nothing"],
)
def test_handshake_refuses_anything_else(env, query):
    assert env.get(query)["statusCode"] == 403


# ---------------------------------------------------------------- signature and body


def test_the_event_files_are_signed_with_the_simulators_default_secret(env, sim):
    assert sim.app_secret == EVENTS_SECRET
    response = env.invoke(load_event("webhook_post_status.json"))
    assert response["statusCode"] == 200
    assert {e["status"] for e in env.events(WAMID)} == {"sent", "delivered"}
    state = env.state(WAMID)
    assert (state["status"], state["path"], state["pricing"]["category"]) == (
        "delivered",
        "mm_api",
        "marketing_lite",
    )


def test_base64_body_v23_shape_with_conversation(env):
    # Given the v23 shape (conversation.origin) of a Cloud API fallback, base64-encoded by API Gateway
    response = env.invoke(load_event("webhook_post_status_v23_base64.json"))
    assert response["statusCode"] == 200
    state = env.state(WAMID)
    assert state["status"] == "read"
    assert (state["pricing"]["origin_type"], state["path"]) == ("marketing", "cloud_api_fallback")
    # the v23 conversation.origin is kept as the pricing's origin_type (above); the event is remembered once
    assert [e["status"] for e in env.events(WAMID)] == ["read"]


def test_missing_signature_is_401_and_nothing_is_written(env):
    before = env.items()
    assert (
        env.post(envelope(statuses_change(status("wamid.A", "sent", 1750000000))), signature="")["statusCode"]
        == 401
    )
    assert env.items() == before


@pytest.mark.parametrize("how", ["wrong-secret", "tampered", "sha1", "garbage", "reserialized"])
def test_wrong_signature_is_403_and_nothing_is_written(env, how):
    payload = envelope(statuses_change(status("wamid.B", "sent", 1750000000)))
    raw = json.dumps(payload, separators=(",", ":")).encode()
    before = env.items()
    if how == "wrong-secret":
        response = env.post(raw, secret="not-the-app-secret")
    elif how == "tampered":
        response = env.post(raw.replace(b"sent", b"read"), signature=sign(env.app_secret, raw))
    elif how == "sha1":
        response = env.post(raw, signature="sha1=" + sign(env.app_secret, raw).split("=", 1)[1][:40])
    elif how == "garbage":
        response = env.post(raw, signature="sha256=zz\u00e9")
    else:  # same JSON, other bytes: the signature is over the bytes, never a re-serialization
        response = env.post(json.dumps(payload, indent=1).encode(), signature=sign(env.app_secret, raw))
    assert response["statusCode"] == 403
    assert env.items() == before


def test_valid_signature_over_base64_body(env):
    payload = envelope(statuses_change(status("wamid.C", "sent", 1750000000)))
    assert env.post(payload, base64_encoded=True)["statusCode"] == 200
    assert env.state("wamid.C")["status"] == "sent"


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b'{"entry": [NaN]}',
        b"[1, 2]",
        b'{"object": "whatsapp_business_account"}',
        b'{"entry": 5}',
    ],
    ids=["broken", "empty", "nan", "array", "no-entry", "entry-not-a-list"],
)
def test_malformed_json_or_envelope_is_400_and_nothing_is_written(env, raw):
    before = env.items()
    response = env.post(raw)
    assert response["statusCode"] == 400
    assert env.items() == before


def test_body_over_meta_limit_is_413(env):
    raw = b'{"entry":[],"pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert env.post(raw)["statusCode"] == 413


def test_store_failure_answers_5xx_and_the_retry_stores_once(env, monkeypatch):
    # Given DynamoDB throttles the first state update
    from botocore.exceptions import ClientError

    client = env.handler.ingestor().client
    real, calls = client.update_item, []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
        return real(**kwargs)

    monkeypatch.setattr(client, "update_item", flaky)
    env.claim("m-retry")
    env.record_send("wamid.R", "m-retry")
    payload = envelope(
        statuses_change(status("wamid.R", "sent", 1750000000), status("wamid.R", "delivered", 1750000005))
    )
    # When Meta posts: 503 (not acknowledged), then Meta's retry: 200
    assert env.post(payload)["statusCode"] == 503
    assert env.post(payload)["statusCode"] == 200
    # Then every event is stored once and the message shows the final status
    assert sorted(e["status"] for e in env.events("wamid.R")) == ["delivered", "sent"]
    assert env.message("m-retry")["status"] == "delivered"


# ---------------------------------------------------------------- statuses from the simulator


@pytest.mark.parametrize("v23", [False, True], ids=["v24-no-conversation", "v23-conversation"])
def test_simulator_statuses_reach_the_message(env, sim, receiver, v23):
    sim.config.update(include_conversation=v23, read_ratio=1.0)
    env.claim("m-sim")
    wamid = sim_send(sim)
    sim.wait_for_webhooks_idle(5)
    # The statuses arrived before the sender's record: the state waits for it, the reconcile applies it
    assert env.state(wamid)["status"] == "read"
    assert env.message("m-sim")["status"] == "sending"
    assert env.record_send(wamid, "m-sim") == 1
    message = env.message("m-sim")
    assert (message["state"], message["status"], message["status_rank"]) == ("accepted", "read", 4)
    assert (message["pricing_category"], message["path"]) == ("marketing_lite", "mm_api")
    assert message["gsi2sk"] == keys.campaign_status("read", "m-sim")["gsi2sk"]
    assert {e["status"] for e in env.events(wamid)} == {"sent", "delivered", "read"}
    assert all(r.status == 200 for r in receiver.received)
    state = env.state(wamid)
    assert ("origin_type" in state["pricing"]) is v23


def test_simulator_duplicates_and_reordering_are_stored_once(env, sim, receiver):
    sim.config.update(duplicate_ratio=1.0, reorder_ratio=1.0, read_ratio=1.0)
    wamids = [sim_send(sim, to=f"91987654{i:04d}") for i in range(5)]
    for i, wamid in enumerate(wamids):
        env.claim(f"m{i}", to=f"91987654{i:04d}")
        env.record_send(wamid, f"m{i}", to=f"91987654{i:04d}")
    sim.wait_for_webhooks_idle(5)
    assert len(receiver.received) > 15  # every POST came twice
    for i, wamid in enumerate(wamids):
        assert sorted(e["status"] for e in env.events(wamid)) == ["delivered", "read", "sent"]
        assert env.message(f"m{i}")["status"] == "read"


def test_sender_and_simulator_end_to_end(send_env, aws, monkeypatch):
    # Given the real send function and the simulator posting statuses while the batch is being sent
    sim = send_env.sim
    env = wire(aws, send_env.stack, monkeypatch, sim.app_secret)
    receiver = WebhookReceiver(env.invoke)
    sim.config.update(webhook_url=receiver.url, pair_interval_seconds=None, read_ratio=0.5)
    try:
        bodies = [
            {**json.loads(load_event("send_seeds.json")["Records"][1]["body"]), "to": f"91987650{i:04d}"}
            for i in range(20)
        ]
        send_env.enqueue(*bodies)
        send_env.drain()
        sim.wait_for_webhooks_idle(10)
    finally:
        receiver.close()
    ids = [m["message_id"] for m in _campaign_messages(env)]
    accepted = [(env.message(i)["wamid"], i) for i in ids if env.message(i)["state"] == "accepted"]
    assert len(accepted) == 20
    statuses.reconcile(env.ddb, env.table, accepted)  # what the sender calls after its record
    posted = delivered_statuses(sim)
    for wamid, message_id in accepted:
        message = env.message(message_id)
        assert message["status"] == best(posted[wamid]), message_id
        assert message["path"] == "mm_api"


def _campaign_messages(env: WebhookEnv) -> list[dict[str, Any]]:
    return [
        i for k, i in env.items().items() if "message_id" in i and k == keys.of(keys.message(i["message_id"]))
    ]


# ---------------------------------------------------------------- precedence


ORDERED = [("sent", 1750000000), ("failed", 1750000001), ("delivered", 1750000002), ("read", 1750000003)]
VOLATILE = {
    "wamid",
    "version",
    "state_version",
    "updated_at",
    "expires_at",
    "message_id",
    "gsi2sk",
    "gsi2pk",  # its shard follows the message id
    "pk",
    "gsi1pk",
}


def _settled(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in VOLATILE}


@pytest.mark.parametrize("duplicates", [False, True], ids=["once", "with-duplicates"])
def test_every_order_of_sent_failed_delivered_read_ends_the_same(env, duplicates):
    finals = set()
    for n, order in enumerate(itertools.permutations(ORDERED)):
        wamid, message_id = f"wamid.P{n}{duplicates}", f"m-perm-{n}-{duplicates}"
        env.claim(message_id)
        env.record_send(wamid, message_id)
        posts = [[status(wamid, name, at)] for name, at in order]
        if duplicates:  # every event again: alone, and inside a batch with its neighbour
            posts += [[status(wamid, name, at)] for name, at in order[::2]]
            posts += [
                [status(wamid, a[0], a[1]), status(wamid, b[0], b[1])] for a, b in itertools.pairwise(order)
            ]
        for post in posts:
            assert env.post(envelope(statuses_change(*post)))["statusCode"] == 200
        # the sender recorded the wamid first: the statuses are joined onto the message, no STATE item
        message = env.message(message_id)
        assert env.state(wamid) is None and env.delivery(wamid) == message
        assert len(env.events(wamid)) == 4
        assert (message["status"], message["gsi2sk"]) == (
            "read",
            keys.campaign_status("read", message_id)["gsi2sk"],
        )
        assert message["errors"][0]["code"] == 131026  # failed is kept with its errors...
        assert "error" not in message  # ...but never replaces read
        assert message["state"] == "accepted"  # the sender's view is never touched
        finals.add(json.dumps(_settled(message), sort_keys=True, default=str))
    assert len(finals) == 1


def test_delivered_after_failed_wins_and_failed_alone_records_its_error(env):
    env.claim("m-f")
    env.record_send("wamid.F", "m-f")
    env.post(
        envelope(
            statuses_change(status("wamid.F", "sent", 1750000000), status("wamid.F", "failed", 1750000001))
        )
    )
    message = env.message("m-f")
    assert (message["status"], message["error"]["code"]) == ("failed", 131026)
    env.post(envelope(statuses_change(status("wamid.F", "delivered", 1750000002))))
    message = env.message("m-f")
    assert message["status"] == "delivered" and "error" not in message


def test_pricing_comes_from_the_highest_status_that_carries_it_in_any_order(env):
    fallback = {**PRICING, "category": "marketing"}
    events = [("sent", 1, PRICING), ("delivered", 2, fallback), ("read", 3, None)]
    results = set()
    for n, order in enumerate(itertools.permutations(events)):
        wamid = f"wamid.PR{n}"
        for name, at, pricing in order:
            extra = {"pricing": pricing} if pricing else {}
            item = {
                "id": wamid,
                "status": name,
                "timestamp": str(1750000000 + at),
                "recipient_id": "1",
                **extra,
            }
            env.post(envelope(statuses_change(item)))
        state = env.state(wamid)
        results.add((state["status"], state["pricing"]["category"], state["path"]))
    assert results == {("read", "marketing", "cloud_api_fallback")}


def _events(*items: dict[str, Any]) -> list[statuses.StatusEvent]:
    """Status items as the webhook parses them."""
    return webhooks.parse(json.dumps(envelope(statuses_change(*items))).encode()).statuses


def test_a_state_written_between_the_read_and_the_put_is_merged_not_lost(env):
    # Given the STATE of a wamid the sender has not recorded yet as a webhook read it (sent), then another
    # POST that moves it to delivered meanwhile
    env.post(envelope(statuses_change(status("wamid.RACE", "sent", 1750000000))))
    read = env.state("wamid.RACE")
    fallback = {**PRICING, "category": "marketing"}
    env.post(envelope(statuses_change(status("wamid.RACE", "delivered", 1750000002, pricing=fallback))))
    # When the first webhook puts what it merged from its read: a failure, older than delivered
    recorded = statuses.advance(env.ddb, env.table, _events(status("wamid.RACE", "failed", 1750000001)), read)
    # Then the put on the stale version is refused and merged again: delivered stays, the errors are kept
    state = env.state("wamid.RACE")
    assert (state["status"], state["errors"][0]["code"], state["pricing"]["category"]) == (
        "delivered",
        131026,
        "marketing",
    )
    assert recorded.changed and recorded.state["version"] == state["version"] == 3
    # And nothing changes for the same events again (no write at all)
    again = statuses.advance(env.ddb, env.table, _events(status("wamid.RACE", "failed", 1750000001)), state)
    assert not again.changed and env.state("wamid.RACE") == state


def test_a_message_written_between_the_read_and_the_update_is_merged_not_lost(env):
    # Given a recorded message as a webhook read it (sent), then another POST that moves it to delivered
    env.claim("m-race")
    env.record_send("wamid.RACE", "m-race")
    env.post(envelope(statuses_change(status("wamid.RACE", "sent", 1750000000))))
    read = env.message("m-race")
    fallback = {**PRICING, "category": "marketing"}
    env.post(envelope(statuses_change(status("wamid.RACE", "delivered", 1750000002, pricing=fallback))))
    # When the first webhook joins what it has onto the item it read: a failure, older than delivered
    failed = statuses.merge(None, _events(status("wamid.RACE", "failed", 1750000001)), 1750000100)
    written = deliveries.write(env.ddb, env.table, "m-race", read, failed)
    # Then the update on the stale version is refused and joined again: delivered stays, the errors are kept
    message = env.message("m-race")
    assert (message["status"], message["errors"][0]["code"], message["pricing"]["category"]) == (
        "delivered",
        131026,
        "marketing",
    )
    assert written is True and message["state_version"] == 3 and "error" not in message
    assert sorted(e["status"] for e in env.events("wamid.RACE")) == ["delivered", "failed", "sent"]
    # And nothing changes for the same events again (no write at all)
    assert deliveries.write(env.ddb, env.table, "m-race", message, failed) is False
    assert env.message("m-race") == message


def test_a_state_without_version_is_advanced_by_the_conditional_updates(env):
    env.ddb.put_item(
        TableName=env.table,
        Item=to_item({**keys.plain(keys.wamid_state("wamid.OLD")), "status": "sent", "status_order": 10**11}),
    )
    found = env.state("wamid.OLD")
    recorded = statuses.advance(env.ddb, env.table, _events(status("wamid.OLD", "read", 1750000003)), found)
    assert recorded.changed and env.state("wamid.OLD")["status"] == "read"


def test_a_batch_costs_less_than_one_dynamodb_call_per_status(env):
    for i in range(50):
        env.claim(f"m-c{i}")
        env.record_send(f"wamid.C{i}", f"m-c{i}")
    items = [
        status(f"wamid.C{i}", name, 1750000000 + k)
        for i in range(50)
        for k, name in enumerate(("sent", "delivered", "read"))
    ]
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client = env.handler.ingestor().client
    client.meta.events.register("before-call.dynamodb", count)
    try:
        assert env.post(envelope(statuses_change(*items)))["statusCode"] == 200
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    # One read (states, links: 100 keys), one read of the 50 linked messages, one message update per wamid
    # (the statuses joined onto the message: no STATE put, no event items) and the number's stream moved (at
    # most once a minute per container): 53 calls for 150 statuses (no orphan: every wamid is linked)
    assert calls - Counter(UpdateItem=1) == {"BatchGetItem": 2, "UpdateItem": 50}
    assert {env.message(f"m-c{i}")["status"] for i in range(50)} == {"read"}
    assert sum(len(env.events(f"wamid.C{i}")) for i in range(50)) == 150


# ---------------------------------------------------------------- status before the sender's record


SENDER_ORDERS = [("msg", "link", "reconcile"), ("link", "msg", "reconcile")]


@pytest.mark.parametrize("sender_order", SENDER_ORDERS, ids=["msg-first", "link-first"])
@pytest.mark.parametrize(
    "hook_order",
    [ORDERED[::2] + ORDERED[3:], (ORDERED[3], ORDERED[0], ORDERED[2])],
    ids=["in-order", "shuffled"],
)
def test_any_interleaving_of_sender_record_and_webhooks_ends_the_same(env, sender_order, hook_order):
    """The sender writes MSG + LINK (BatchWriteItem: no order between them) then reconciles; webhooks may
    land anywhere in between. Every interleaving ends with the message at the best status."""
    steps = [("hook", h) for h in hook_order] + [("sender", s) for s in sender_order]
    finals = set()
    for n, positions in enumerate(itertools.combinations(range(len(steps)), len(sender_order))):
        wamid, message_id = (
            f"wamid.I{n}{sender_order[0]}{hook_order[0][0]}",
            f"m-int-{n}-{sender_order[0]}-{hook_order[0][0]}",
        )
        env.claim(message_id)
        hooks, senders = iter(steps[: len(hook_order)]), iter(steps[len(hook_order) :])
        for i in range(len(steps)):
            kind, what = next(senders) if i in positions else next(hooks)
            if kind == "hook":
                assert env.post(envelope(statuses_change(status(wamid, *what))))["statusCode"] == 200
            elif what == "msg":
                env.record_message(wamid, message_id)
            elif what == "link":
                env.record_link(wamid, message_id)
            else:
                statuses.reconcile(env.ddb, env.table, [(wamid, message_id)])
        message = env.message(message_id)
        finals.add((message["state"], message["status"], message["status_rank"], message.get("path")))
    assert finals == {("accepted", "read", 4, "mm_api")}


def test_reconcile_batches_and_ignores_unknown_wamids(env):
    pairs = []
    for i in range(110):  # more than one BatchGetItem (100 keys)
        wamid = f"wamid.B{i}"
        env.claim(f"m-b{i}")
        if i % 2 == 0:
            env.post(envelope(statuses_change(status(wamid, "delivered", 1750000000))))
        env.record_message(wamid, f"m-b{i}")
        env.record_link(wamid, f"m-b{i}")
        pairs.append((wamid, f"m-b{i}"))
    assert statuses.reconcile(env.ddb, env.table, pairs) == 55
    assert statuses.reconcile(env.ddb, env.table, pairs) == 0  # nothing new: no writes
    assert {env.message(f"m-b{i}")["status"] for i in range(0, 110, 2)} == {"delivered"}
    assert {env.message(f"m-b{i}")["status"] for i in range(1, 110, 2)} == {"accepted"}


# ---------------------------------------------------------------- duplicates and volume


def test_the_same_post_twice_is_stored_once(env):
    payload = envelope(
        statuses_change(status("wamid.D", "sent", 1750000000), status("wamid.D", "sent", 1750000000))
    )
    assert env.post(payload)["statusCode"] == 200
    after_first = env.items()
    assert env.post(payload)["statusCode"] == 200
    assert env.items() == after_first
    assert len(env.events("wamid.D")) == 1


def test_a_batch_of_1000_statuses_is_stored(env):
    # 250 messages x (sent, delivered, read, one duplicate): 1,000 items in one POST
    for i in range(250):
        env.claim(f"m-k{i}")
        env.record_send(f"wamid.K{i}", f"m-k{i}")
    items = []
    for i in range(250):
        wamid = f"wamid.K{i}"
        items += [status(wamid, "sent", 1750000000), status(wamid, "delivered", 1750000001)]
        items += [status(wamid, "read", 1750000002), status(wamid, "sent", 1750000000)]
    started = time.perf_counter()
    response = env.post(envelope(statuses_change(*items)))
    elapsed = time.perf_counter() - started
    assert response["statusCode"] == 200
    print(
        f"\n1,000-status POST against in-process moto: {elapsed:.2f} s"
    )  # measured in benchmarks/, not asserted
    assert sum(len(env.events(f"wamid.K{i}")) for i in range(250)) == 750
    assert {env.message(f"m-k{i}")["status"] for i in range(250)} == {"read"}


# ---------------------------------------------------------------- opt-outs and rests


def test_user_preferences_stop_then_resume_through_the_simulator(env, sim, receiver):
    sim.user_preference("919876543213", "stop")
    sim.wait_for_webhooks_idle(5)
    assert env.prefetch("919876543213").suppressed == {"919876543213"}
    sim.clock.advance(5)
    sim.user_preference("919876543213", "resume")
    sim.wait_for_webhooks_idle(5)
    assert env.prefetch("919876543213").suppressed == frozenset()
    assert env.suppression("919876543213") is None


def test_a_late_stop_older_than_the_resume_does_not_opt_out_again(env):
    def preference(value: str, at: int) -> dict[str, Any]:
        item = {"wa_id": "919876543214", "category": "marketing_messages", "value": value, "timestamp": at}
        return envelope({"field": "user_preferences", "value": {"user_preferences": [item]}})

    env.post(preference("stop", 1750000000))
    env.post(preference("resume", 1750000100))
    env.post(preference("stop", 1750000000))  # Meta's retry of the first, days later
    env.post(
        envelope(
            statuses_change(
                status("wamid.L", "failed", 1750000050, to="919876543214", errors=[{"code": 131050}])
            )
        )
    )
    assert env.prefetch("919876543214").suppressed == frozenset()
    env.post(preference("stop", 1750000200))  # a real, newer stop
    assert env.prefetch("919876543214").suppressed == {"919876543214"}


def test_131050_from_the_simulator_suppresses_and_the_sender_skips_the_next_send(send_env, aws, monkeypatch):
    sim = send_env.sim
    env = wire(aws, send_env.stack, monkeypatch, sim.app_secret)
    receiver = WebhookReceiver(env.invoke)
    sim.config.update(webhook_url=receiver.url, pair_interval_seconds=None, failure_ratios={131050: 1.0})
    try:
        first = {**json.loads(load_event("send_seeds.json")["Records"][1]["body"]), "to": "919876543215"}
        send_env.enqueue({**first, "campaign_id": "c-1"})
        send_env.drain()
        sim.wait_for_webhooks_idle(5)
        assert env.prefetch("919876543215").suppressed == {"919876543215"}
        # When the next campaign reaches the same user
        posts_before = len(sim.requests("marketing_messages"))
        send_env.enqueue({**first, "campaign_id": "c-2"})
        send_env.drain()
    finally:
        receiver.close()
    # Then the sender suppressed it without a POST
    assert len(sim.requests("marketing_messages")) == posts_before
    suppressed = [i for i in _campaign_messages(env) if i.get("campaign_id") == "c-2"]
    assert [m["state"] for m in suppressed] == ["suppressed"]


def test_131049_rests_the_user_for_24_hours(env):
    at = int(time.time()) - 60
    item = status(
        "wamid.U", "failed", at, to="919876543216", errors=[{"code": 131049, "title": "healthy ecosystem"}]
    )
    assert env.post(envelope(statuses_change(item)))["statusCode"] == 200
    rest = env.suppression("919876543216")
    assert rest["until"] == at + 24 * 3600 and rest["code"] == 131049
    assert env.prefetch("919876543216").suppressed == {"919876543216"}
    assert env.prefetch("919876543216", now=at + 24 * 3600 + 1).suppressed == frozenset()
    # a rest never lifts an opt-out
    env.post(
        envelope(
            statuses_change(status("wamid.V", "failed", at + 1, to="919876543216", errors=[{"code": 131050}]))
        )
    )
    env.post(
        envelope(
            statuses_change(status("wamid.W", "failed", at + 2, to="919876543216", errors=[{"code": 131049}]))
        )
    )
    assert "until" not in env.suppression("919876543216")


def test_failed_event_file_suppresses_its_131050_recipient(env):
    assert env.invoke(load_event("webhook_post_failed.json"))["statusCode"] == 200
    assert env.prefetch("919876543211").suppressed == {"919876543211"}
    # its 131049 is from 2025: the 24 h rest is long over, so nothing is written for it
    assert env.suppression("919876543212") is None


def test_bsuid_failed_status_131050_without_recipient_id_suppresses_the_bsuid(env):
    # Given a 131050 on a message sent to a BSUID: no recipient_id, only recipient_user_id [BSUID]
    item = status("wamid.BS", "failed", 1750000000, to="", errors=[{"code": 131050}])
    del item["recipient_id"]
    item["recipient_user_id"] = "US.93738123"
    assert env.post(envelope(statuses_change(item)))["statusCode"] == 200
    assert [e["status"] for e in env.events("wamid.BS")] == ["failed"]
    assert env.delivery("wamid.BS")["user"]["recipient_user_id"] == "US.93738123"
    # Then that user is suppressed under its BSUID
    assert Suppressions(env.ddb, env.table).get("US.93738123")["code"] == 131050


BSUID = "IN.13491208655302741918"  # an Indian user: Meta serves India


def request(to: str | None, **extra: Any) -> dict[str, Any]:
    """A send request of the seeds' ``summer_sale`` template to ``to``."""
    for record in load_event("send_seeds.json")["Records"]:
        body = json.loads(record["body"])
        if body["template"]["name"] == "summer_sale":
            return {**body, "to": to, **extra}
    raise KeyError("summer_sale")


def message_id(body: dict[str, Any]) -> str:
    return parse_send_request({k: v for k, v in body.items() if v is not None}).identity()


def test_a_stop_under_a_bsuid_only_is_never_posted_to_again_under_either_identifier(
    send_env, aws, monkeypatch
):
    """Must show (issue 12): the webhook learns phone <-> BSUID from a status's contacts, then a
    user_preferences stop names the user by user_id only; the sender POSTs to neither identifier."""
    hooks = wire(aws, send_env.stack, monkeypatch, send_env.sim.app_secret)
    phone = "919876543299"
    seen = statuses_change(status("wamid.LINK", "delivered", 1750000000, to=phone))
    seen["value"]["contacts"] = [{"profile": {"name": "A"}, "wa_id": phone, "user_id": BSUID}]
    stop = {
        "field": "user_preferences",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "user_preferences": [
                {
                    "user_id": BSUID,
                    "detail": "User requested to stop marketing messages",
                    "category": "marketing_messages",
                    "value": "stop",
                    "timestamp": 1750000100,
                }
            ],
        },
    }
    for change in (seen, stop):
        assert hooks.post(envelope(change))["statusCode"] == 200
    bodies = [request(phone), request(BSUID), request(None, recipient=BSUID)]
    send_env.enqueue(*bodies)
    send_env.drain()
    for body in bodies:
        assert send_env.message(message_id(body))["state"] == "suppressed"
    assert send_env.sim.sends_by_recipient() == {}  # nothing was POSTed, under either identifier


def test_a_stop_under_a_bsuid_reaches_the_phone_when_the_link_is_learned_later(send_env, aws, monkeypatch):
    # The stop comes first, the link after it (a later status with both ids): the phone is not messaged.
    hooks = wire(aws, send_env.stack, monkeypatch, send_env.sim.app_secret)
    phone = "919876543298"
    stop = {
        "field": "user_preferences",
        "value": {"user_preferences": [{"user_id": BSUID, "value": "stop", "timestamp": 1750000100}]},
    }
    seen = statuses_change(status("wamid.LATE", "read", 1750000200, to=phone, recipient_user_id=BSUID))
    for change in (stop, seen):
        assert hooks.post(envelope(change))["statusCode"] == 200
    send_env.enqueue(request(phone), request("919876543297"))
    send_env.drain()
    assert send_env.message(message_id(request(phone)))["state"] == "suppressed"
    assert send_env.message(message_id(request("919876543297")))["state"] == "accepted"


def test_a_bsuid_send_goes_to_meta_in_recipient_without_delivery_optimization(send_env):
    body = request(BSUID)
    send_env.enqueue(body)
    send_env.drain()
    item = send_env.message(message_id(body))
    assert item["state"] == "accepted"
    assert item["to"] == BSUID and item["country"] == "IN"
    assert "delivery_optimization" in item["disabled_features"]
    [sent] = send_env.sim.requests("marketing_messages")
    assert sent.body["recipient"] == BSUID and "to" not in sent.body
    # a BSUID's country prefix is its country for the region rules: no MM API sends to US users
    us = request("US.13491208655302741918")
    send_env.enqueue(us)
    send_env.drain()
    assert send_env.message(message_id(us))["state"] == "blocked"
    assert len(send_env.sim.requests("marketing_messages")) == 1


def test_meta_bsuid_webhooks_store_the_user_ids_username_and_country(env):
    # Meta's own BSUID examples [BSUID]: a delivered status to a BSUID, and a text from a BSUID-only user
    status_doc = conformance.load("webhooks", "meta_bsuid_status_delivered_bsuid.json")
    text_doc = conformance.load("webhooks", "meta_bsuid_text_from_user.json")
    for document in (status_doc, text_doc):
        assert env.post(document)["statusCode"] == 200
    status_item = status_doc["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert [e["status"] for e in env.events(status_item["id"])] == [status_item["status"]]
    user = env.delivery(status_item["id"])["user"]
    assert user["recipient_user_id"] == status_item["recipient_user_id"]
    assert (user["username"], user["country_code"]) == ("@pablomorales", "US")
    assert "recipient_id" not in user  # "" names nobody
    message = text_doc["entry"][0]["changes"][0]["value"]["messages"][0]
    reply = Replies(env.ddb, env.table).get(message["id"])
    assert (reply["from_user_id"], reply["username"]) == ("user.93737...", "@realsheenanelson")
    assert reply.get("from") is None


def test_user_id_update_moves_a_suppression_to_the_new_bsuid(env, aws):
    # Given a user who opted out under a BSUID, which Meta then reissues (user_id_update) [BSUID]
    stop = {
        "field": "user_preferences",
        "value": {"user_preferences": [{"user_id": "IN.old1", "value": "stop", "timestamp": 1750000100}]},
    }
    update = {
        "field": "user_id_update",
        "value": {
            "user_id_update": [
                {
                    "detail": "x",
                    "user_id": {"previous": "IN.old1", "current": "IN.new1"},
                    "timestamp": 1750000200,
                }
            ]
        },
    }
    for change in (stop, update):
        assert env.post(envelope(change))["statusCode"] == 200
    # Then the new ID is linked to the old one: the sender's prefetch finds the user suppressed under it
    ledger = L.Ledger(env.ddb, env.table)
    assert ledger.prefetch(["IN.new1", "IN.other"], [], 1750000300).suppressed == {"IN.new1"}
    # And a resume under the new ID lifts the opt-out under both
    resume = {
        "field": "user_preferences",
        "value": {"user_preferences": [{"user_id": "IN.new1", "value": "resume", "timestamp": 1750000400}]},
    }
    assert env.post(envelope(resume))["statusCode"] == 200
    assert ledger.prefetch(["IN.new1", "IN.old1"], [], 1750000500).suppressed == frozenset()


# ---------------------------------------------------------------- replies, templates, account


def test_replies_are_stored_and_published_to_eventbridge(env, sim, receiver):
    env.claim("m-reply", campaign="camp-9")
    wamid = sim_send(sim, to="919876543217")
    env.record_send(wamid, "m-reply", campaign="camp-9", to="919876543217")
    sim.wait_for_webhooks_idle(5)
    text_id = sim.inbound_text("919876543217", "Is the offer valid in Pune?", name="Asha")
    tap_id = sim.inbound_button("919876543217", "SHOP_NOW", text="Shop now")
    sim.wait_for_webhooks_idle(5)
    events = {e["detail"]["message"]["id"]: e for e in env.replies(2)}
    assert set(events) == {text_id, tap_id}
    text = events[text_id]
    assert (text["source"], text["detail-type"]) == ("whatsapp.mm", "WhatsApp Message Received")
    assert text["detail"]["message"]["text"]["body"] == "Is the offer valid in Pune?"
    assert text["detail"]["contact"]["profile"]["name"] == "Asha"
    assert text["detail"]["metadata"]["phone_number_id"] == sim.phone_number_id
    tap = events[tap_id]["detail"]
    assert tap["message"]["button"]["payload"] == "SHOP_NOW"
    assert tap["in_reply_to"] == {"wamid": wamid, "message_id": "m-reply", "campaign_id": "camp-9"}
    stored = Replies(env.ddb, env.table).get(tap_id)
    assert (stored["campaign_id"], stored["button_payload"]) == ("camp-9", "SHOP_NOW")


def test_a_reply_delivered_twice_is_stored_and_published_once(env):
    event = load_event("webhook_post_reply.json")
    assert env.invoke(event)["statusCode"] == 200
    assert env.invoke(event)["statusCode"] == 200
    assert len(env.replies(2, timeout=1)) == 2  # two messages in the file, each once
    ids = [m["id"] for m in json.loads(event["body"])["entry"][0]["changes"][0]["value"]["messages"]]
    assert len(ids) == 2 and all(Replies(env.ddb, env.table).get(i) for i in ids)


def test_template_paused_halts_it_and_approved_releases_it(env):
    assert env.invoke(load_event("webhook_post_template_paused.json"))["statusCode"] == 200
    halt = env.halt(Scope.TEMPLATE, template_halt_key(WABA, "summer_sale", "en_US"))
    assert halt.code == 132015 and halt.until > time.time() + 6 * 24 * 3600

    def template(event: str, at: int) -> dict[str, Any]:
        value = {
            "event": event,
            "message_template_id": 1689556908129832,
            "message_template_name": "summer_sale",
            "message_template_language": "en_US",
            "reason": None,
        }
        return envelope({"field": "message_template_status_update", "value": value}, at=at)

    env.post(template("APPROVED", 1750030500))
    assert env.halt(Scope.TEMPLATE, template_halt_key(WABA, "summer_sale", "en_US")) is None
    env.post(template("PAUSED", 1750030400))  # a late retry of the pause: older than the approval
    assert env.halt(Scope.TEMPLATE, template_halt_key(WABA, "summer_sale", "en_US")) is None
    env.post(template("DISABLED", 1750030600))
    halt = env.halt(Scope.TEMPLATE, template_halt_key(WABA, "summer_sale", "en_US"))
    assert halt.code == 132016 and halt.until > time.time() + 29 * 24 * 3600
    assert Templates(env.ddb, env.table, WABA).get("summer_sale", "en_US")["status"] == "DISABLED"
    assert len(env.template_events("summer_sale", "en_US")) == 3  # the late PAUSED: a duplicate


def test_a_template_reason_belongs_to_its_event(env):
    def template(event: str, at: int, reason: str | None) -> dict[str, Any]:
        value = {
            "event": event,
            "message_template_name": "promo",
            "message_template_language": "en",
            "reason": reason,
        }
        return envelope({"field": "message_template_status_update", "value": value}, at=at)

    templates = Templates(env.ddb, env.table, WABA)
    env.post(template("REJECTED", 1750030400, "INCORRECT_CATEGORY"))
    assert templates.get("promo", "en")["reason"] == "INCORRECT_CATEGORY"
    env.post(template("APPROVED", 1750030500, None))
    approved = templates.get("promo", "en")
    assert approved["status"] == "APPROVED" and "reason" not in approved


def test_mm_lite_terms_signed_is_recorded(env):
    assert env.invoke(load_event("webhook_post_account_update.json"))["statusCode"] == 200
    onboarding = Accounts(env.ddb, env.table).onboarding(WABA)
    assert (onboarding["event"], onboarding["owner_business_id"]) == (
        "MM_LITE_TERMS_SIGNED",
        "1001122334455667",
    )


def test_unknown_statuses_categories_fields_and_bad_items_are_kept_and_clicks_counted(env):
    played = status("wamid.X", "played", 1750000000)
    utility = status("wamid.Y", "sent", 1750000000, pricing={**PRICING, "category": "utility", "new_flag": 1})
    broken = {"id": 12, "status": ["sent"]}
    change = statuses_change(played, utility, broken)
    change["value"]["user_actions"] = [
        {"action_type": "marketing_messages_link_click", "timestamp": "1750000000"}
    ]
    other = {"field": "phone_number_quality_update", "value": {"event": "THROUGHPUT_UPGRADE"}}
    assert env.post(envelope(change, other, at=1750000000))["statusCode"] == 200
    assert env.events("wamid.X")[0]["status"] == "played" and env.state("wamid.X") is None
    assert json.loads(env.events("wamid.Y")[0]["raw"])["pricing"]["new_flag"] == 1
    assert env.state("wamid.Y")["path"] == "utility"
    kept = Unhandled(env.ddb, env.table)
    assert all(kept.of_kind(kind) for kind in ("invalid", "phone_number_quality_update"))
    assert not kept.of_kind("messages.unknown") and not kept.of_kind("user_actions")
    assert Clicks(env.ddb, env.table, WABA).counts("2025-06-15") == {
        "106540352242922": {"marketing_messages_link_click": 1}
    }


# ---------------------------------------------------------------- property: mutated envelopes
# Envelopes start valid (every shape Meta sends) and are mutated: keys dropped, values swapped for other JSON
# types, unknown fields added, huge strings, items duplicated, bytes cut. A rejected request (4xx) leaves the
# table exactly as it was; an accepted one stores every event that an independent oracle calls valid.


@pytest.fixture
def fuzz_env(aws, sim, monkeypatch) -> Iterator[WebhookEnv]:
    stack = create_stack(
        aws, "f", access_token=sim.access_token, app_secret=sim.app_secret, verify_token=VERIFY_TOKEN
    )
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "CRITICAL")  # hundreds of kept-raw warnings otherwise
    yield wire(aws, stack, monkeypatch, sim.app_secret)
    clients.reset()


# ---------------------------------------------------------------- valid starting points


def _bases(n: int) -> list[dict[str, Any]]:
    w = f"wamid.FZ{n}"
    contacts = [{"profile": {"name": "A"}, "wa_id": "919876543210", "user_id": "user.1"}]
    reply = statuses_change()
    reply["value"].pop("statuses")
    reply["value"].update(
        contacts=contacts,
        messages=[
            {
                "from": "919876543210",
                "id": f"{w}.in",
                "timestamp": "1750000000",
                "type": "text",
                "text": {"body": "hi"},
            },
            {
                "from": "919876543210",
                "id": f"{w}.tap",
                "timestamp": "1750000001",
                "type": "button",
                "context": {"from": "15550783881", "id": w},
                "button": {"payload": "P", "text": "T"},
            },
        ],
    )
    conversation = {"id": "c1", "expiration_timestamp": "1750086400", "origin": {"type": "marketing_lite"}}
    bsuid = status(w + ".b", "delivered", 1750000002, to="")
    bsuid["recipient_user_id"] = "user.9"
    return [
        envelope(
            statuses_change(
                *(status(w, s, 1750000000 + i) for i, s in enumerate(["sent", "delivered", "read"]))
            )
        ),
        envelope(statuses_change(status(w, "sent", 1750000000, conversation=conversation, pricing=PRICING))),
        envelope(
            statuses_change(status(w, "failed", 1750000003, errors=[{"code": 131050, "title": "stop"}]))
        ),
        envelope(statuses_change(bsuid, status(w, "played", 1750000004))),
        envelope(reply),
        envelope(
            {
                "field": "user_preferences",
                "value": {
                    "user_preferences": [
                        {
                            "wa_id": "919876543210",
                            "category": "marketing_messages",
                            "value": "stop",
                            "timestamp": 1,
                        }
                    ]
                },
            }
        ),
        envelope(
            {
                "field": "message_template_status_update",
                "value": {
                    "event": "PAUSED",
                    "message_template_name": "t",
                    "message_template_language": "en_US",
                },
            },
            at=1750000000,
        ),
        envelope(
            {
                "field": "account_update",
                "value": {"event": "MM_LITE_TERMS_SIGNED", "waba_info": {"waba_id": "1"}},
            }
        ),
    ]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _nodes(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _nodes(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _nodes(child, (*path, index))


def _parent(document: Any, path: tuple) -> tuple[Any, Any]:
    node = document
    for step in path[:-1]:
        node = node[step]
    return node, path[-1]


@st.composite
def posts(draw) -> bytes:
    document = draw(st.sampled_from(_bases(draw(st.integers(0, 10**6)))))
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(0, 4))):
        paths = list(_nodes(document))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["drop", "replace", "extra", "huge", "retype", "duplicate", "empty"]))
        if not path:  # the root
            if op in ("replace", "retype"):
                document = draw(JSON)
            continue
        parent, key = _parent(document, path)
        value = parent[key]
        if op == "drop":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(JSON)
        elif op == "extra" and isinstance(value, dict):
            value[draw(st.text(min_size=1, max_size=10))] = draw(JSON)
        elif op == "huge":
            parent[key] = "x" * draw(st.sampled_from([500, 70_000, 400_000]))
        elif op == "retype":
            parent[key] = (
                str(value) if not isinstance(value, str) else (int(value) if value.isdigit() else [value])
            )
        elif op == "duplicate" and isinstance(value, list) and value:
            value.append(json.loads(json.dumps(value[0])))
        elif op == "empty":
            parent[key] = {} if isinstance(value, dict) else [] if isinstance(value, list) else ""
    raw = json.dumps(document, separators=(",", ":")).encode()
    if draw(st.integers(0, 9)) == 0:  # cut the bytes: not JSON any more
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    return raw


# ---------------------------------------------------------------- an oracle written from the spec, not the code

_STATUS = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _epoch(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 11:
        value = int(value)
    return value if isinstance(value, int) and 0 <= value < 10**11 else None


def _changes(document: Any) -> Iterator[dict[str, Any]]:
    for entry in document.get("entry", []):
        if isinstance(entry, dict) and isinstance(entry.get("changes"), list):
            for change in entry["changes"]:
                field = change.get("field") if isinstance(change, dict) else None
                if (
                    isinstance(field, str)
                    and 1 <= len(field) <= 128
                    and isinstance(change.get("value"), dict)
                ):
                    yield change


def expected_keys(document: Any) -> set[tuple[str, str]]:
    """Items an accepted POST must leave: one per valid status and per valid inbound message."""
    found = set()
    for change in _changes(document):
        if change["field"] != "messages":
            continue
        value = change["value"]
        for item in value.get("statuses") if isinstance(value.get("statuses"), list) else []:
            if not isinstance(item, dict):
                continue
            wamid, name, at = item.get("id"), item.get("status"), _epoch(item.get("timestamp"))
            valid_id = isinstance(wamid, str) and 1 <= len(wamid) <= 400
            if valid_id and isinstance(name, str) and _STATUS.match(name) and at is not None:
                found.add(keys.of(keys.status_event(wamid, at, name.lower())))
        for item in value.get("messages") if isinstance(value.get("messages"), list) else []:
            if isinstance(item, dict) and isinstance(item.get("id"), str) and 1 <= len(item["id"]) <= 400:
                found.add(keys.of(keys.inbound(item["id"])))
    return found


def remembered(items: dict[tuple[str, str], dict[str, Any]]) -> set[tuple[str, str]]:
    """The keys of the status events and inbound messages ``items`` keep: the items themselves, and the event
    a STATE's history remembers (a ranked status has no item of its own), under the key its item would have."""
    found = set(items)
    for (pk, sk), item in items.items():
        if sk == keys.wamid_state("-")["sk"]["S"]:
            for entry in item.get("history") or ():
                at, _, name = str(entry).partition("#")
                found.add(keys.of(keys.status_event(keys.after(pk, keys.WAMID_PREFIX), int(at), name)))
    return found


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(raw=posts())
def test_mutated_envelopes_never_fail_and_never_half_write(fuzz_env, raw):
    before = fuzz_env.items()
    response = fuzz_env.post(raw)
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    is_envelope = isinstance(document, dict) and isinstance(document.get("entry"), list)
    if not is_envelope:
        assert response["statusCode"] == 400
        assert fuzz_env.items() == before
        return
    assert response["statusCode"] == 200, response["body"]
    missing = expected_keys(document) - remembered(fuzz_env.items())
    assert not missing


# ---------------------------------------------------------------- one odd item never fails the POST (issue 16)

ARABIC_INDIC = "٩١٩٨٧٦٥٤٣٢١٠"  # 919876543210 in Arabic-Indic digits: isdigit() is True, the key must not be


@pytest.mark.parametrize(
    "code",
    ["²", "٣١٠٥٠", "9" * 5000, 10**30, -5, "131026\x00", {"a": 1}],
    ids=["superscript", "arabic-indic", "5000-digits", "huge-int", "negative", "nul", "object"],
)
def test_an_odd_error_code_is_stored_without_a_code_and_the_other_statuses_of_the_post_too(env, code):
    # Given a POST with one good status and one failed status whose code is not an ASCII integer Meta uses
    good = status("wamid.GOOD", "delivered", 1750000000)
    odd = status("wamid.ODD", "failed", 1750000001, errors=[{"code": code, "title": "odd"}])
    # Then it is stored (200), not refused for Meta to retry forever
    assert env.post(envelope(statuses_change(good, odd)))["statusCode"] == 200
    assert [e["status"] for e in env.events("wamid.GOOD")] == ["delivered"]
    assert [e["status"] for e in env.events("wamid.ODD")] == ["failed"]
    failed = env.delivery("wamid.ODD")
    assert failed["status"] == "failed" and "code" not in failed["errors"][0]
    assert failed["errors"][0]["title"] == "odd"


def test_a_template_name_too_long_for_a_key_is_kept_raw_and_the_other_changes_are_stored(env):
    # Given one template change whose name (512 four-byte characters) would make a key over DynamoDB's 2 KB
    def change(name: str) -> dict[str, Any]:
        value = {"event": "PAUSED", "message_template_name": name, "message_template_language": "en"}
        return {"field": "message_template_status_update", "value": value}

    body = envelope(change("😀" * 512), change("promo"), at=1750000000)
    # Then the POST is stored (200, not a permanent 503) and the good change lands
    assert env.post(body)["statusCode"] == 200
    assert Templates(env.ddb, env.table, WABA).get("promo", "en")["status"] == "PAUSED"
    invalid = [i for (pk, _), i in env.items().items() if pk.startswith("WEBHOOK#invalid")]
    assert len(invalid) == 1 and "message_template_name" in invalid[0]["reason"]


def test_an_opt_out_in_non_ascii_digits_suppresses_the_number_the_sender_looks_up(env):
    # Given a stop whose wa_id is written in Arabic-Indic digits
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "user_preferences": [
            {
                "wa_id": ARABIC_INDIC,
                "detail": "x",
                "category": "marketing_messages",
                "value": "stop",
                "timestamp": 1750000000,
            }
        ],
    }
    assert env.post(envelope({"field": "user_preferences", "value": value}))["statusCode"] == 200
    # Then the sender's lookup by the ASCII digits finds it
    assert env.prefetch("919876543210").suppressed == {"919876543210"}


def test_a_status_to_a_number_in_non_ascii_digits_is_linked_to_the_ascii_number(env):
    item = status("wamid.AR", "failed", 1750000000, to=ARABIC_INDIC, errors=[{"code": 131050}])
    assert env.post(envelope(statuses_change(item)))["statusCode"] == 200
    assert env.suppression("919876543210")["code"] == 131050
