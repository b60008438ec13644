"""The simulator's ``/messages`` (meta-2026-updates section 4): utility and authentication templates with their
own pricing category, marketing templates refused where Meta refuses them (131063, 131061), the WABA's
``disable_marketing_messages_on_cloud_api``, and ``template_category_update`` webhooks from its control API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from simsend import HTTP, template_body

from mmapi.simulator import Simulator

TO = "919876543210"


@pytest.fixture
def sim(webhook_receiver) -> Iterator[Simulator]:
    with Simulator(
        webhook_url=webhook_receiver.url, pair_interval_seconds=None, template_sync_seconds=0, read_ratio=0.0
    ) as simulator:
        yield simulator


def graph(sim: Simulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return HTTP.request(method, f"{sim.base_url}{path}", headers=sim.auth_headers, **kwargs)


def create(sim: Simulator, name: str, category: str, **extra: Any) -> None:
    body = {
        "name": name,
        "language": "en_US",
        "category": category,
        "components": [{"type": "BODY", "text": "Hi."}],
    }
    assert graph(sim, "POST", f"/{sim.waba_id}/message_templates", json={**body, **extra}).status_code == 200


def send(sim: Simulator, name: str, endpoint: str = "messages", to: str = TO, **extra: Any) -> httpx.Response:
    return graph(sim, "POST", f"/{sim.phone_number_id}/{endpoint}", json=template_body(to, name, **extra))


def pricing_categories(receiver, count: int) -> set[str]:
    found = set()
    for hook in receiver.wait_for(count):
        for entry in json.loads(hook.body)["entry"]:
            for change in entry["changes"]:
                found |= {
                    s["pricing"]["category"] for s in change["value"].get("statuses", []) if "pricing" in s
                }
    return found


@pytest.mark.parametrize(
    ("category", "pricing"), [("UTILITY", "utility"), ("AUTHENTICATION", "authentication")]
)
def test_messages_sends_utility_and_authentication_templates_priced_as_such(
    sim, webhook_receiver, category, pricing
):
    create(sim, "notice", category)
    # a US number: the marketing block (131049) does not apply to a utility or authentication message
    answer = send(sim, "notice", to="12025550123")
    assert answer.status_code == 200, answer.text
    assert answer.json()["messages"][0]["id"].startswith("wamid.")
    assert pricing_categories(webhook_receiver, 2) == {pricing}  # sent + delivered, never marketing_lite
    # and /marketing_messages still refuses it (134100)
    assert send(sim, "notice", endpoint="marketing_messages").json()["error"]["code"] == 134100


def test_messages_refuses_the_mm_api_fields(sim):
    create(sim, "notice", "UTILITY")
    answer = send(sim, "notice", product_policy="STRICT")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
    assert "product_policy" in answer.json()["error"]["error_data"]["details"]


def test_a_marketing_template_on_messages_follows_the_waba_setting(sim):
    # off (Meta's default): sent through the Cloud API, priced marketing
    assert send(sim, "summer_sale").status_code == 200
    # on, set as Meta documents it: POST /<WABA_ID> -> {"id": ...}; GET reads it back
    answer = graph(sim, "POST", f"/{sim.waba_id}", json={"disable_marketing_messages_on_cloud_api": True})
    assert answer.json() == {"id": sim.waba_id}
    read = graph(sim, "GET", f"/{sim.waba_id}", params={"fields": "disable_marketing_messages_on_cloud_api"})
    assert read.json() == {"disable_marketing_messages_on_cloud_api": True, "id": sim.waba_id}
    refused = send(sim, "flash_sale", to="919876543211")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 131063
    # while /marketing_messages still takes it
    assert send(sim, "flash_sale", endpoint="marketing_messages", to="919876543211").status_code == 200


def test_a_max_price_template_is_refused_on_messages(sim):
    create(
        sim,
        "capped",
        "MARKETING",
        optimization_spec={"bid_amount": 5000, "bid_strategy": "LOWEST_COST_WITH_BID_CAP"},
    )
    assert send(sim, "capped").json()["error"]["code"] == 131061


def test_the_control_api_recategorises_a_template_and_posts_the_completed_webhook(sim, webhook_receiver):
    answer = HTTP.post(
        f"{sim.root_url}/_sim/templates/category", json={"name": "summer_sale", "category": "UTILITY"}
    )
    assert answer.status_code == 200 and answer.json()["category"] == "UTILITY"
    change = json.loads(webhook_receiver.wait_for(1)[0].body)["entry"][0]["changes"][0]
    assert change["field"] == "template_category_update"
    value = change["value"]
    assert value["previous_category"] == "MARKETING" and value["new_category"] == "UTILITY"
    assert value["message_template_name"] == "summer_sale" and isinstance(value["message_template_id"], int)
    # and the template is now sent as Meta would a utility one: /messages takes it, /marketing_messages not
    assert send(sim, "summer_sale").status_code == 200
    assert send(sim, "summer_sale", endpoint="marketing_messages").json()["error"]["code"] == 134100
