"""Max price end to end (meta-2026-updates section 5): the send function and the campaign API in-process,
moto built from template.yaml, the Graph simulator over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws import create_stack, use_stack
from handlers import LambdaContext, load_event, load_handler
from integration.test_webhook import WABA, envelope, statuses_change, wire

from mmcore import clients
from mmcore.meta.messages import parse_send_request

MULTIPLIER = {"per_message_bid_multiplier": 1.5}
INDIA, RUSSIA, BELARUS = "919876543210", "+7 912 345 67 89", "+375 29 123 45 67"


def send_request(to: str, **extra: Any) -> dict[str, Any]:
    for record in load_event("send_seeds.json")["Records"]:
        body = json.loads(record["body"])
        if body["template"]["name"] == "summer_sale":
            return {**body, "to": to, **extra}
    raise KeyError("summer_sale")


def wire_bodies(sim) -> dict[str, dict[str, Any]]:
    """What Meta received, by recipient digits."""
    return {r.recipient: r.body for r in sim.requests("marketing_messages") if r.status == 200}


# ---------------------------------------------------------------- the send function


def test_the_multiplier_reaches_meta_except_for_recipients_in_russia_and_belarus(send_env):
    # Given three requests with a bid multiplier: India, Russia, Belarus
    bodies = [send_request(to, bid_spec=MULTIPLIER) for to in (INDIA, RUSSIA, BELARUS)]
    send_env.enqueue(*bodies)
    # When the queue is drained
    send_env.drain()
    # Then all three are accepted
    items = [send_env.message(parse_send_request(b).identity()) for b in bodies]
    assert [i["state"] for i in items] == ["accepted"] * 3
    # And Meta got the multiplier for India only: Russia and Belarus get no max price [START]
    sent = wire_bodies(send_env.sim)
    assert sent[INDIA]["bid_spec"] == MULTIPLIER
    assert "bid_spec" not in sent["79123456789"] and "bid_spec" not in sent["375291234567"]
    # And the ledger says why
    assert "bid_spec_dropped" not in items[0]
    for item in items[1:]:
        assert "max_price" in item["disabled_features"] and item["bid_spec_dropped"]


def test_a_bad_multiplier_is_never_posted(send_env):
    send_env.enqueue(send_request(INDIA, bid_spec={"per_message_bid_multiplier": -1}))
    send_env.drain()
    assert send_env.sim.sends_by_recipient() == {}


# ---------------------------------------------------------------- the campaign API


@pytest.fixture
def campaigns(aws, sim, monkeypatch):
    # The simulator is Meta for the template registry the campaign's preflight reads.
    stack = create_stack(aws, "mp", access_token=sim.access_token, app_secret=sim.app_secret)
    use_stack(monkeypatch, stack, sim, PHONE_NUMBER_ID="106540352242922", WABA_ID="102290129340398")
    handler = load_handler("campaigns")
    sqs = aws.client("sqs")

    def post(body: dict[str, Any]) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
        evt = load_event("campaigns_post.json")
        evt["body"] = json.dumps(body)
        answer = handler.lambda_handler(evt, LambdaContext())
        queued = []
        while msgs := sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages"):
            queued += [json.loads(m["Body"]) for m in msgs]
        return answer["statusCode"], json.loads(answer["body"]), queued

    yield post
    clients.reset()


def campaign(**overrides: Any) -> dict[str, Any]:
    return {**json.loads(load_event("campaigns_post.json")["body"]), **overrides}


def test_a_campaign_bid_spec_reaches_every_message(campaigns):
    status, _, queued = campaigns(campaign(bid_spec=MULTIPLIER))
    assert status in (200, 201, 202)
    assert len(queued) == 2
    assert all(body["bid_spec"] == MULTIPLIER for body in queued)


@pytest.mark.parametrize("value", [0, -2, "high", None])
def test_a_campaign_with_a_bad_multiplier_is_a_422_naming_the_field(campaigns, value):
    status, answer, queued = campaigns(campaign(bid_spec={"per_message_bid_multiplier": value}))
    assert status == 422
    assert answer["errors"][0]["field"] == "bid_spec.per_message_bid_multiplier"
    assert queued == []


# ---------------------------------------------------------------- the cost in webhooks, and the report


def cost_status(wamid: str, status: str, at: int, amount: float) -> dict[str, Any]:
    pricing = {"billable": True, "pricing_model": "PMP", "category": "marketing_lite", "type": "regular"}
    cost = {"amount": amount, "currency": "USD"}  # meta-2026-updates section 5, base unit
    return {
        "id": wamid,
        "status": status,
        "timestamp": str(at),
        "recipient_id": "919876543210",
        "pricing": {**pricing, "cost": cost},
    }


def test_delivered_and_read_costs_are_stored_and_the_report_counts_each_message_once(aws, sim, monkeypatch):
    # Given a campaign of two messages, both accepted by Meta
    stack = create_stack(aws, "mpw", access_token=sim.access_token, app_secret=sim.app_secret)
    hooks = wire(aws, stack, monkeypatch, sim.app_secret)
    root, version = sim.base_url.rsplit("/", 1)  # the simulator is Meta for the campaign's preflight
    for var, value in {
        "PHONE_NUMBER_ID": "106540352242922",
        "WABA_ID": WABA,
        "SEND_QUEUE_URL": stack.queue_url,
        "GRAPH_BASE_URL": root,
        "GRAPH_API_VERSION": version,
    }.items():
        monkeypatch.setenv(var, value)
    clients.reset()
    api = load_handler("campaigns")
    evt = load_event("campaigns_post.json")
    evt["body"] = json.dumps(campaign(campaign_id="maxp"))
    assert api.lambda_handler(evt, LambdaContext())["statusCode"] in (200, 201, 202)
    hooks.record_send("wamid.A", "maxp-0", campaign="maxp")
    hooks.record_send("wamid.B", "maxp-1", campaign="maxp")
    # When both get delivered and read webhooks carrying the cost (B's out of order)
    for item in (
        cost_status("wamid.A", "delivered", 1750000001, 0.035),
        cost_status("wamid.A", "read", 1750000002, 0.035),
        cost_status("wamid.B", "read", 1750000004, 0.04),
        cost_status("wamid.B", "delivered", 1750000003, 0.04),
    ):
        assert hooks.post(envelope(statuses_change(item)))["statusCode"] == 200
    # Then each message shows its cost and pricing type
    a = hooks.message("maxp-0")
    assert a["status"] == "read" and a["cost"] == {"amount": 0.035, "currency": "USD"}
    assert a["pricing_type"] == "regular"
    assert hooks.message("maxp-1")["cost"] == {"amount": 0.04, "currency": "USD"}
    # And the campaign report sums the spend once per message, not per webhook
    stack.aggregate(aws)  # the table's stream, delivered to the aggregator as Lambda would
    evt = load_event("campaigns_get.json")
    evt["rawPath"] = evt["requestContext"]["http"]["path"] = "/campaigns/maxp"
    evt["pathParameters"] = {"campaign_id": "maxp"}
    report = json.loads(api.lambda_handler(evt, LambdaContext())["body"])
    assert report["spend_by_currency"] == {"USD": 0.075}
