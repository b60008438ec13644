"""End to end: the local stack driven over HTTP only, as a user would, checked against the simulator's record."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from mmapi.demo import audience
from mmapi.invoke import invoke_in_process
from mmapi.runtime import Runtime
from mmcore.store import messages as ledger

pytestmark = pytest.mark.e2e
EVENTS = Path(__file__).resolve().parents[2] / "events"
FINAL = ledger.FINAL | {"sent", "delivered", "read"}  # the sender's final states, then the webhook's


def wait_until_done(api: httpx.Client, stack: Runtime, campaign_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = api.get(f"/campaigns/{campaign_id}").json()
        if not report["by_status"].get("queued") and stack.queue_depth() == 0:
            stack.sim.wait_for_webhooks_idle(30)
            return api.get(f"/campaigns/{campaign_id}").json()
        time.sleep(0.3)
    raise AssertionError(f"campaign not done: {report}")


def test_campaign_from_post_to_final_report_matches_what_meta_saw(api, stack):
    # Given an audience across countries, with invalid numbers, and two users who opted out earlier
    recipients, opted_out = audience(300, seed=11)
    for wa_id in opted_out[:2]:
        stack.sim.user_preference(wa_id, "stop")
    stack.sim.wait_for_webhooks_idle(10)
    body = {
        "name": "e2e",
        "template": {
            "name": "festival_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{offer}}"}]}],
        },
        "recipients": recipients,
    }
    # When the campaign is posted and the stack runs it
    created = api.post("/campaigns", json=body)
    assert created.status_code == 202, created.text
    campaign_id = created.json()["campaign_id"]
    report = wait_until_done(api, stack, campaign_id)

    # Then every recipient has a final state and the numbers match the simulator's own record
    by_status = report["by_status"]
    assert sum(by_status.values()) == len(recipients)
    assert {s for s, n in by_status.items() if n} <= FINAL, by_status
    assert stack.sim.duplicates() == {}
    accepted_by_meta = sum(stack.sim.sends_by_recipient(accepted_only=True).values())
    sent_ok = sum(by_status.get(s, 0) for s in ("accepted", "sent", "delivered", "read"))
    failed_async = sum(
        n for code, n in report["failures_by_code"].items() if str(code) in {"131026", "131049", "131050"}
    )
    assert accepted_by_meta == sent_ok + failed_async
    assert by_status.get("blocked", 0) >= 1 and by_status.get("invalid", 0) >= 1
    # MM API vs Cloud API fallback, as Meta's webhooks said
    sims = {m.wa_id: m.pricing_category for m in stack.sim.messages()}
    assert report["by_pricing_category"].get("marketing", 0) == pytest.approx(
        sum(1 for c in sims.values() if c == "marketing"), abs=len(sims) * 0.1
    )
    assert report["by_pricing_category"].get("marketing_lite", 0) > 0


def test_optimization_change_round_trip(api, stack):
    template_id = json.loads((EVENTS / "optimizations_template_put.json").read_text())["pathParameters"][
        "template_id"
    ]
    answer = api.put(
        f"/templates/{template_id}/optimizations",
        json={"features": {"auto_promotion_tag": "OPT_IN", "product_extensions": "OPT_OUT"}},
    )
    assert answer.status_code == 200, answer.text
    history = api.get(f"/templates/{template_id}/optimizations/history").json()
    assert history["items"] or history.get("records")


def test_webhook_handshake(api):
    ok = api.get(
        "/webhook",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "local-verify-token",
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert (
        api.get(
            "/webhook", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
        ).status_code
        == 403
    )


def _function_for(stack: Runtime, event: dict) -> str | None:
    if "Records" in event:
        return next(fn for _, fn, _ in stack.stack.sqs_sources())
    method, _, path = event.get("routeKey", " ").partition(" ")
    return next((fn for m, p, fn in stack.stack.http_routes() if m == method and p == path), None)


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.json")))
def test_invoke_matches_the_in_process_handler(stack, name):
    event = json.loads((EVENTS / name).read_text())
    logical = _function_for(stack, event)
    assert logical, f"{name}: no function in template.yaml takes this event"
    if "Records" in event:
        pytest.skip("SQS events send messages: compared by the integration tests")
    fresh = invoke_in_process(stack, logical, event)
    in_process = stack.functions[logical].invoke(json.loads((EVENTS / name).read_text()))
    assert fresh["statusCode"] < 500 and in_process["statusCode"] < 500, (fresh, in_process)
    # a read answers the same in a fresh process and in-process; a write is applied once (a repeat may 409)
    if event["requestContext"]["http"]["method"] == "GET":
        assert fresh["statusCode"] == in_process["statusCode"]
        if "history" not in name:
            assert json.loads(fresh["body"] or "null") == json.loads(in_process["body"] or "null")
