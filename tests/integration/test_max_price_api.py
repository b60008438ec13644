"""A template's max price and the reach estimate through the optimizations handler, and max-price templates
through the send handler, against the Graph simulator (meta-2026-updates section 5)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from integration.test_max_price import send_request
from integration.test_optimizations import SUMMER_SALE, OptEnv, make_env  # noqa: F401 (fixture)
from simsend import HTTP

from mmcore.meta.messages import parse_send_request

SPEC = {"bid_amount": 5000, "bid_strategy": "LOWEST_COST_WITH_BID_CAP"}


def create_template(sim, name: str = "max_sale", **extra: Any) -> str:
    """A template created at Meta (the simulator), sendable at once."""
    sim.config.template_sync_seconds = 0
    body = {
        "name": name,
        "language": "en_US",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Prices drop at midnight."}],
        **extra,
    }
    response = HTTP.post(
        f"{sim.base_url}/{sim.waba_id}/message_templates", json=body, headers=sim.auth_headers
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


@pytest.fixture
def api(make_env) -> OptEnv:  # noqa: F811
    return make_env()


def get_price(api: OptEnv, template_id: str):
    return api.call("max_price_get", template_id=template_id)


def put_price(api: OptEnv, template_id: str, body: Any):
    return api.call("max_price_put", template_id=template_id, body=body)


# ---------------------------------------------------------------- reading


def test_a_max_price_is_read_from_optimization_spec_and_shown_per_delivery(api):
    template_id = create_template(api.sim, optimization_spec=SPEC)
    answer = get_price(api, template_id)
    assert answer.status == 200, answer.body
    assert answer.body["max_price"] is True and answer.body["optimization_spec"] == SPEC
    assert answer.body["currency"] == "USD"
    assert answer.body["price"]["display"] == "0.05 USD per delivery"
    assert api.sim.requests(f"/{template_id}")[-1].query == "fields=optimization_spec"


def test_a_template_without_a_max_price_says_the_standard_rate_card_applies(api):
    answer = get_price(api, SUMMER_SALE)
    assert answer.status == 200
    assert answer.body["max_price"] is False and answer.body["price"] is None
    assert "standard rate card" in answer.body["notes"][0]


# ---------------------------------------------------------------- changing


def test_a_display_price_becomes_bid_amount_on_the_wire_and_is_audited(api):
    # Given a template created with a max price of USD 0.05
    template_id = create_template(api.sim, optimization_spec=SPEC)
    # When the price is set to 0.08 USD per delivery
    answer = put_price(api, template_id, {"price": "0.08", "currency": "USD"})
    # Then Meta got optimization_spec with bid_amount 8000, and never bid_spec
    assert answer.status == 200, answer.body
    assert api.graph_posts(template_id) == [
        {"optimization_spec": {"bid_amount": 8000, "bid_strategy": "LOWEST_COST_WITH_BID_CAP"}}
    ]
    # and the answer shows what Meta reports, the conversion, and what it was before
    assert answer.body["optimization_spec"]["bid_amount"] == 8000
    assert answer.body["price"]["display"] == "0.08 USD per delivery"
    assert answer.body["conversion"].endswith("= 8000 (bid_amount)")
    assert answer.body["before"]["bid_amount"] == 5000
    # and the template's audit trail has the change, like every optimization change
    history = api.call("template_history", template_id=template_id).body["items"]
    assert [h["audit_id"] for h in history] == [answer.body["audit_id"]]
    assert history[0]["before"] == {"optimization_spec": SPEC}
    assert history[0]["after"]["optimization_spec"]["bid_amount"] == 8000
    assert history[0]["route"] == "PUT /templates/{template_id}/max-price"


def test_an_inr_waba_converts_87000_to_0_87_per_delivery_and_back(api):
    api.sim.config.waba_currency = "INR"
    template_id = create_template(api.sim, optimization_spec=SPEC)
    by_bid = put_price(api, template_id, {"bid_amount": 87000})
    assert by_bid.status == 200, by_bid.body
    assert by_bid.body["price"] == {"amount": "0.87", "currency": "INR", "display": "0.87 INR per delivery"}
    by_price = put_price(api, template_id, {"price": "0.87", "currency": "INR"})
    assert by_price.body["optimization_spec"]["bid_amount"] == 87000


def test_a_template_created_without_a_max_price_cannot_get_one(api):
    answer = put_price(api, SUMMER_SALE, {"price": "0.05", "currency": "USD"})
    assert answer.status == 409
    assert "created without a max price" in answer.body["message"]
    assert api.graph_posts(SUMMER_SALE) == []
    assert api.audit_items("template", SUMMER_SALE) == []


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"price": "0.000015", "currency": "USD"}, "price", "not a whole number"),
        ({"price": "0.05", "currency": "XTS"}, "currency", "unknown currency"),
        ({"price": "0.05", "currency": "EUR"}, "currency", "billed in USD"),
        ({"bid_amount": 0}, "bid_amount", "greater than 0"),
        ({"bid_amount": 2**31}, "bid_amount", "2147483647"),
        ({"bid_amount": 5000, "bid_strategy": "LOWEST_COST"}, "bid_strategy", "LOWEST_COST_WITH_BID_CAP"),
        ({"bid_spec": {"bid_amount": 5000}}, "bid_spec", "Extra inputs"),
    ],
)
def test_a_price_that_cannot_be_sent_is_a_422_naming_the_field_and_nothing_reaches_meta(
    api, body, field, fragment
):
    template_id = create_template(api.sim, optimization_spec=SPEC)
    answer = put_price(api, template_id, body)
    assert answer.status == 422, answer.body
    assert answer.body["errors"][0]["field"] == field and fragment in answer.body["errors"][0]["reason"]
    assert api.graph_posts(template_id) == []


# ---------------------------------------------------------------- reach estimate


def test_the_reach_estimate_asks_meta_with_a_json_targeting_spec_and_shows_costs_per_delivery(api):
    answer = api.call("reach_estimate_get", query={"countries": "in,BR", "interval": "L28D"})
    assert answer.status == 200, answer.body
    [asked] = api.sim.requests("/reachestimate")
    query = parse_qs(asked.query)
    assert json.loads(query["targeting_spec"][0]) == {"geo_locations": {"countries": ["IN", "BR"]}}
    assert query["date_interval"] == ["L28D"]
    assert answer.body["countries"] == ["IN", "BR"] and answer.body["waba_currency"] == "USD"
    for estimate in answer.body["estimates"]:
        shown = estimate["cost_upper_price"]["display"]
        assert shown.endswith(" USD per delivery")
        assert float(shown.split()[0]) == pytest.approx(estimate["cost_upper_bound"] / 100_000)


def test_the_reach_estimate_interval_defaults_to_seven_days(api):
    assert api.call("reach_estimate_get", query={"countries": "IN"}).status == 200
    assert "date_interval=L7D" in api.sim.requests("/reachestimate")[-1].query


@pytest.mark.parametrize(
    ("query", "field"),
    [({"countries": "IN,XX"}, "countries"), ({"countries": "IN", "interval": "L3D"}, "interval")],
)
def test_a_bad_country_or_interval_is_a_422_without_asking_meta(api, query, field):
    answer = api.call("reach_estimate_get", query=query)
    assert answer.status == 422 and answer.body["errors"][0]["field"] == field
    assert api.sim.requests("/reachestimate") == []


# ---------------------------------------------------------------- sending max-price templates


def test_a_max_price_template_to_a_bsuid_fails_131062_for_good(send_env):
    create_template(send_env.sim, optimization_spec=SPEC)
    body = send_request("IN.13491208655302741918")  # an Indian user: Meta serves India
    body["template"] = {"name": "max_sale", "language": {"code": "en_US"}}
    send_env.enqueue(body)
    send_env.drain()
    item = send_env.message(parse_send_request(body).identity())
    assert item["state"] == "failed" and item["error"]["code"] == 131062
    assert len(send_env.sim.requests("marketing_messages")) == 1


def test_a_max_price_template_falling_back_to_the_cloud_api_fails_131061_for_good(send_env):
    # Given a WABA not onboarded (Meta falls back to the Cloud API) and a template with a max price
    send_env.sim.config.onboarded = False
    create_template(send_env.sim, optimization_spec=SPEC)
    body = send_request("919876543210")
    body["template"] = {"name": "max_sale", "language": {"code": "en_US"}}
    send_env.enqueue(body)
    send_env.drain()
    item = send_env.message(parse_send_request(body).identity())
    assert item["state"] == "failed" and item["error"]["code"] == 131061
    assert item["error"]["action"] == "permanent"
    assert len(send_env.sim.requests("marketing_messages")) == 1  # not retried
