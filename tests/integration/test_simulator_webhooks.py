"""Status, inbound and user-preference webhooks from the simulator, received by a local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest
from simsend import sim_send

from mmapi.simulator import Simulator

INDIA = "919876543210"


def statuses(received) -> list[dict]:
    return [
        status
        for hook in received
        for entry in json.loads(hook.body)["entry"]
        for change in entry["changes"]
        for status in change["value"].get("statuses", [])
    ]


@pytest.fixture
def sim(webhook_receiver) -> Iterator[Simulator]:
    """Every sent message is delivered; half of those are read (seed 0 picks which)."""
    with Simulator(webhook_url=webhook_receiver.url, pair_interval_seconds=None) as simulator:
        yield simulator


def test_status_webhooks_are_signed_over_the_raw_body(sim, webhook_receiver):
    sim_send(sim)
    sim.wait_for_webhooks_idle(5)
    assert webhook_receiver.received
    for hook in webhook_receiver.received:
        expected = "sha256=" + hmac.new(sim.app_secret.encode(), hook.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(hook.headers["X-Hub-Signature-256"], expected)
        assert hook.headers["Content-Type"] == "application/json"


def test_envelope_and_v24_status_shape(sim, webhook_receiver):
    sim.config.read_ratio = 1.0
    wamid = sim_send(sim)
    received = webhook_receiver.wait_for(3)
    payload = json.loads(received[0].body)
    assert payload["object"] == "whatsapp_business_account"
    [entry] = payload["entry"]
    assert entry["id"] == sim.waba_id
    [change] = entry["changes"]
    assert change["field"] == "messages"
    assert change["value"]["messaging_product"] == "whatsapp"
    assert change["value"]["metadata"] == {
        "display_phone_number": "15550783881",
        "phone_number_id": sim.phone_number_id,
    }
    events = {s["status"]: s for s in statuses(received)}
    assert set(events) == {"sent", "delivered", "read"}
    for event in events.values():
        assert event["id"] == wamid and event["recipient_id"] == INDIA
        assert event["timestamp"].isdigit()
        assert "conversation" not in event
    pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing_lite"}
    assert events["sent"]["pricing"] == pricing and events["delivered"]["pricing"] == pricing
    assert "pricing" not in events["read"]


def test_v23_shape_carries_the_conversation(sim, webhook_receiver):
    sim.config.include_conversation = True
    sim.config.read_ratio = 0.0
    sim_send(sim)
    events = {s["status"]: s for s in statuses(webhook_receiver.wait_for(2))}
    assert events["sent"]["conversation"]["origin"] == {"type": "marketing_lite"}
    assert events["sent"]["conversation"]["expiration_timestamp"].isdigit()
    assert "expiration_timestamp" not in events["delivered"]["conversation"]
    assert events["sent"]["conversation"]["id"] == events["delivered"]["conversation"]["id"]


def test_cloud_api_fallback_is_priced_as_marketing(sim, webhook_receiver):
    sim.set_onboarded(False)
    sim.config.include_conversation = True
    sim_send(sim, product_policy="CLOUD_API_FALLBACK")
    sim.wait_for_webhooks_idle(5)
    sent = next(s for s in statuses(webhook_receiver.received) if s["status"] == "sent")
    assert sent["pricing"]["category"] == "marketing"
    assert sent["conversation"]["origin"]["type"] == "marketing"


def test_failed_status_with_errors_and_no_pricing(sim, webhook_receiver):
    sim.config.failure_ratios = {131049: 1.0}
    wamid = sim_send(sim)
    sim.wait_for_webhooks_idle(5)
    [failed] = statuses(webhook_receiver.received)
    assert (failed["id"], failed["status"]) == (wamid, "failed")
    assert "pricing" not in failed
    [error] = failed["errors"]
    assert error["code"] == 131049
    assert {"title", "message", "error_data", "href"} <= set(error)
    assert error["error_data"]["details"]


def test_undeliverable_and_invalid_numbers_fail_with_131026(sim, webhook_receiver):
    sim_send(sim, to="9100000")  # libphonenumber: not a valid Indian number
    sim.wait_for_webhooks_idle(5)
    [failed] = statuses(webhook_receiver.received)
    assert failed["errors"][0]["code"] == 131026


def test_failures_are_chosen_by_seed_and_recipient():
    def failed_recipients() -> set[str]:
        with Simulator(seed=11, webhook_url="http://127.0.0.1:9/unused", webhook_max_retries=0) as simulator:
            simulator.config.failure_ratios = {131026: 0.3, 131049: 0.2}
            for i in range(30):
                sim_send(simulator, to=f"9198765{i:05d}")
            simulator.wait_for_webhooks_idle(5)
            return {
                s["recipient_id"] + ":" + str(s["errors"][0]["code"])
                for d in simulator.webhook_deliveries()
                for s in d.payload["entry"][0]["changes"][0]["value"]["statuses"]
                if s["status"] == "failed"
            }

    first = failed_recipients()
    assert first == failed_recipients()
    assert 3 <= len(first) <= 27
    assert {r.split(":")[1] for r in first} == {"131026", "131049"}


def test_opt_out_stop_then_send_fails_with_131050(sim, webhook_receiver):
    sim.user_preference(INDIA, "stop", name="Ana")
    [hook] = webhook_receiver.wait_for(1)
    [change] = json.loads(hook.body)["entry"][0]["changes"]
    assert change["field"] == "user_preferences"
    [preference] = change["value"]["user_preferences"]
    assert (preference["wa_id"], preference["value"], preference["category"]) == (
        INDIA,
        "stop",
        "marketing_messages",
    )
    wamid = sim_send(sim)  # accepted, as Meta does; the failure comes by webhook
    sim.wait_for_webhooks_idle(5)
    [failed] = statuses(webhook_receiver.received)
    assert (failed["id"], failed["errors"][0]["code"]) == (wamid, 131050)


def test_inbound_text_and_quick_reply_button(sim, webhook_receiver):
    sim.config.delivered_ratio = 0.0
    wamid = sim_send(sim)
    webhook_receiver.wait_for(1)
    sim.inbound_text(INDIA, "Is the sale on tomorrow?")
    reply_id = sim.inbound_button(INDIA, "STOP_PROMOS", text="Stop promos")
    sim.wait_for_webhooks_idle(5)
    values = [json.loads(h.body)["entry"][0]["changes"][0]["value"] for h in webhook_receiver.received]
    inbound = {v["messages"][0]["type"]: v for v in values if "messages" in v}  # workers may reorder them
    text, button = inbound["text"]["messages"][0], inbound["button"]["messages"][0]
    assert inbound["text"]["contacts"][0]["wa_id"] == INDIA
    assert (text["text"], text["from"]) == ({"body": "Is the sale on tomorrow?"}, INDIA)
    assert button["type"] == "button" and button["id"] == reply_id
    assert button["context"] == {"from": "15550783881", "id": wamid}
    assert button["button"] == {"payload": "STOP_PROMOS", "text": "Stop promos"}


def test_control_endpoints_trigger_inbound_and_preferences(sim, webhook_receiver):
    control = httpx.Client(base_url=sim.root_url + "/_sim")
    assert control.post("/inbound", json={"from": INDIA, "type": "text", "text": "hi"}).status_code == 200
    assert control.post("/user_preferences", json={"wa_id": INDIA, "value": "stop"}).json() == {
        "success": True
    }
    assert control.get("/webhooks/idle", params={"timeout": 5}).json()["idle"] is True
    assert [
        d["payload"]["entry"][0]["changes"][0]["field"] for d in control.get("/webhooks").json()["data"]
    ] == [
        "messages",
        "user_preferences",
    ]
    assert control.get("/state").json()["opted_out"] == [INDIA]
    assert (
        control.post("/inbound", json={"from": "447911123456", "type": "button", "payload": "x"}).status_code
        == 400
    )


def test_non_200_is_retried_with_the_same_signed_bytes(sim, webhook_receiver):
    sim.config.read_ratio = sim.config.delivered_ratio = 0.0
    webhook_receiver.responses = [500, 503]
    sim_send(sim)
    sim.wait_for_webhooks_idle(5)
    attempts = webhook_receiver.received
    assert len(attempts) == 3
    assert len({(a.body, a.headers["X-Hub-Signature-256"]) for a in attempts}) == 1
    assert [d.status for d in sim.webhook_deliveries()] == [500, 503, 200]


def test_retries_are_bounded(sim, webhook_receiver):
    sim.config.read_ratio = sim.config.delivered_ratio = 0.0
    sim.config.webhook_max_retries = 2
    webhook_receiver.responses = [500] * 10
    sim_send(sim)
    sim.wait_for_webhooks_idle(5)
    assert len(webhook_receiver.received) == 3


def test_unreachable_callback_is_given_up_after_retries():
    with Simulator(webhook_url="http://127.0.0.1:9/nothing-listens", webhook_retry_backoff=0.01) as sim:
        sim_send(sim)
        sim.wait_for_webhooks_idle(5)
        deliveries = sim.webhook_deliveries()
        assert deliveries and all(d.status is None and d.error for d in deliveries)
        assert max(d.attempt for d in deliveries) == sim.config.webhook_max_retries


def test_duplicated_deliveries(sim, webhook_receiver):
    sim.config.duplicate_ratio = 1.0
    sim.config.read_ratio = 0.0
    sim_send(sim)
    sim.wait_for_webhooks_idle(5)
    bodies = [hook.body for hook in webhook_receiver.received]
    assert len(bodies) == 4 and len(set(bodies)) == 2


@pytest.fixture
def ordered(webhook_receiver) -> Iterator[Simulator]:
    with Simulator(webhook_url=webhook_receiver.url, webhook_concurrency=1, read_ratio=1.0) as simulator:
        yield simulator


def test_reorder_posts_statuses_newest_first(ordered, webhook_receiver):
    ordered.config.reorder_ratio = 1.0
    sim_send(ordered)
    ordered.wait_for_webhooks_idle(5)
    assert [s["status"] for s in statuses(webhook_receiver.received)] == ["read", "delivered", "sent"]
    timestamps = [int(s["timestamp"]) for s in statuses(webhook_receiver.received)]
    assert timestamps == sorted(timestamps, reverse=True)


def test_in_order_with_one_worker_and_delays(ordered, webhook_receiver):
    ordered.config.sent_delay = ordered.config.delivered_delay = ordered.config.read_delay = 0.02
    sim_send(ordered)
    ordered.wait_for_webhooks_idle(5)
    assert [s["status"] for s in statuses(webhook_receiver.received)] == ["sent", "delivered", "read"]


def test_batching_puts_several_statuses_in_one_post(ordered, webhook_receiver):
    ordered.config.webhook_batch_size = 100
    ordered.config.sent_delay = 0.05  # lets both messages' statuses queue up together
    ordered.config.pair_interval_seconds = None
    sim_send(ordered)
    sim_send(ordered, to="447911123456")
    ordered.wait_for_webhooks_idle(5)
    assert len(statuses(webhook_receiver.received)) == 6
    assert (
        max(
            len(json.loads(h.body)["entry"][0]["changes"][0]["value"]["statuses"])
            for h in webhook_receiver.received
        )
        > 1
    )


def test_no_webhook_url_means_nothing_is_scheduled(simulator):
    sim_send(simulator)
    simulator.wait_for_webhooks_idle(1)
    assert simulator.webhook_deliveries() == []
