"""The simulator speaks max price as Meta documents it (meta-2026-updates section 5): optimization_spec on
templates, reachestimate, pricing.cost in webhooks, 131061 and 131062."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from simsend import HTTP, sim_send

from mmapi.simulator import Simulator

SPEC = {"bid_amount": 5000, "bid_strategy": "LOWEST_COST_WITH_BID_CAP"}
BODY = [{"type": "BODY", "text": "Prices drop at midnight."}]


@pytest.fixture
def sim(webhook_receiver) -> Iterator[Simulator]:
    with Simulator(
        webhook_url=webhook_receiver.url, pair_interval_seconds=None, template_sync_seconds=0
    ) as simulator:
        yield simulator


def graph(sim: Simulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return HTTP.request(method, f"{sim.base_url}{path}", headers=sim.auth_headers, **kwargs)


def create(sim: Simulator, name: str = "max_sale", **extra: Any) -> httpx.Response:
    body = {"name": name, "language": "en_US", "category": "MARKETING", "components": BODY, **extra}
    return graph(sim, "POST", f"/{sim.waba_id}/message_templates", json=body)


def error_message(response: httpx.Response) -> str:
    """Graph's message and details (where Meta names the parameter)."""
    error = response.json()["error"]
    return f"{error['message']} {(error.get('error_data') or {}).get('details', '')}"


def test_a_template_created_with_a_max_price_reads_it_back_in_metas_shape(sim):
    template_id = create(sim, optimization_spec=SPEC).json()["id"]
    answer = graph(sim, "GET", f"/{template_id}", params={"fields": "optimization_spec"}).json()
    assert answer == {"optimization_spec": SPEC, "id": template_id}
    # and one created without has no optimization_spec at all (standard rate card)
    plain = create(sim, "plain_sale").json()["id"]
    assert graph(sim, "GET", f"/{plain}", params={"fields": "optimization_spec"}).json() == {"id": plain}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"bid_amount": 5000, "bid_strategy": "LOWEST_COST"}, "bid_strategy"),
        ({"bid_amount": 0, "bid_strategy": "LOWEST_COST_WITH_BID_CAP"}, "bid_amount"),
        ({"bid_amount": 2**31, "bid_strategy": "LOWEST_COST_WITH_BID_CAP"}, "bid_amount"),
        ({"bid_amount": 50.5, "bid_strategy": "LOWEST_COST_WITH_BID_CAP"}, "bid_amount"),
        ({"bid_amount": 5000}, "bid_strategy"),
    ],
)
def test_an_invalid_optimization_spec_is_refused(sim, spec, fragment):
    response = create(sim, optimization_spec=spec)
    assert response.status_code == 400 and fragment in error_message(response)


def test_bid_spec_on_a_template_is_refused_as_after_2026_07_31(sim):
    response = create(sim, bid_spec=SPEC)
    assert response.status_code == 400 and "optimization_spec" in error_message(response)
    template_id = create(sim, optimization_spec=SPEC).json()["id"]
    assert graph(sim, "POST", f"/{template_id}", json={"bid_spec": SPEC}).status_code == 400


def test_a_max_price_is_updated_only_on_a_template_created_with_one(sim):
    priced = create(sim, optimization_spec=SPEC).json()["id"]
    new = {**SPEC, "bid_amount": 8000}
    assert graph(sim, "POST", f"/{priced}", json={"optimization_spec": new}).json() == {"success": True}
    read = graph(sim, "GET", f"/{priced}", params={"fields": "optimization_spec"}).json()
    assert read["optimization_spec"]["bid_amount"] == 8000
    plain = create(sim, "plain_sale").json()["id"]
    refused = graph(sim, "POST", f"/{plain}", json={"optimization_spec": SPEC})
    assert refused.status_code == 400 and "created without" in error_message(refused)


def test_reachestimate_answers_metas_shape_with_costs_under_each_bid(sim):
    params = {"targeting_spec": json.dumps({"geo_locations": {"countries": ["IN"]}}), "date_interval": "L7D"}
    answer = graph(sim, "GET", f"/{sim.waba_id}/reachestimate", params=params).json()
    assert answer["waba_currency"] == "USD" and answer["estimates"]
    for estimate in answer["estimates"]:
        assert estimate["users"] == 1000
        assert estimate["deliveries_lower_bound"] <= estimate["deliveries_upper_bound"]
        assert estimate["cost_lower_bound"] <= estimate["cost_upper_bound"] <= estimate["bid_amount"]
    # the same question gets the same numbers
    assert graph(sim, "GET", f"/{sim.waba_id}/reachestimate", params=params).json() == answer
    bad = graph(sim, "GET", f"/{sim.waba_id}/reachestimate", params={**params, "date_interval": "L3D"})
    assert bad.status_code == 400 and "date_interval" in error_message(bad)


def test_delivered_and_read_webhooks_of_a_max_price_message_carry_an_estimated_cost(sim, webhook_receiver):
    sim.config.read_ratio = 1.0
    create(sim, optimization_spec=SPEC)
    wamid = sim_send(sim, name="max_sale", bid_spec={"per_message_bid_multiplier": 1.5})
    received = webhook_receiver.wait_for(3)
    events = {
        s["status"]: s
        for hook in received
        for entry in json.loads(hook.body)["entry"]
        for change in entry["changes"]
        for s in change["value"].get("statuses", [])
        if s["id"] == wamid
    }
    assert "cost" not in events["sent"].get("pricing", {})
    cap = 5000 * 1.5 / 1000 / 100  # bid_amount x multiplier, per delivery, in dollars
    for status in ("delivered", "read"):
        cost = events[status]["pricing"]["cost"]
        assert cost["currency"] == "USD" and 0 < cost["amount"] <= cap


def test_a_max_price_template_on_the_cloud_api_fails_131061(sim):
    create(sim, optimization_spec=SPEC)
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "919876543210",
        "type": "template",
        "template": {"name": "max_sale", "language": {"code": "en_US"}},
    }
    response = graph(sim, "POST", f"/{sim.phone_number_id}/messages", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == 131061
    # a template without a max price goes through /messages, billed as Cloud API marketing
    plain = graph(sim, "POST", f"/{sim.phone_number_id}/messages", json={**body, "template": {
        "name": "summer_sale", "language": {"code": "en_US"}}})  # fmt: skip
    assert plain.status_code == 200


def test_a_max_price_template_to_a_bsuid_fails_131062(sim):
    create(sim, optimization_spec=SPEC)
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": "US.13491208655302741918",
        "type": "template",
        "template": {"name": "max_sale", "language": {"code": "en_US"}},
    }
    response = graph(sim, "POST", f"/{sim.phone_number_id}/marketing_messages", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == 131062
