"""The routing decision (meta-2026-updates section 4): which endpoint carries a message, the Cloud API body, the
re-routes Meta's answers call for, and what the campaign report counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mmcore.campaigns.models import CampaignDefinition
from mmcore.campaigns.reports import summarize
from mmcore.graph import Accepted
from mmcore.meta.errors import GraphError
from mmcore.meta.messages import InvalidSendRequest, parse_send_request, to_wire
from mmcore.meta.routing import Endpoint, endpoint_for, reroute
from mmcore.sending.classify import classify
from mmcore.sending.decide import Work, fields, halt_scopes
from mmcore.sending.outcomes import Outcome
from mmcore.sending.records import SqsMessage
from mmcore.sending.routing import route
from mmcore.settings import Settings
from mmcore.store import keys
from mmcore.store import messages as L

SETTINGS = Settings(waba_id="102290129340398", phone_number_id="106540352242922")
BODY = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "919876543210",
    "type": "template",
    "template": {"name": "order_update", "language": {"code": "en_US"}},
    "message_id": "m-1",
}


@pytest.mark.parametrize(
    ("category", "hint", "endpoint"),
    [
        ("MARKETING", None, Endpoint.MARKETING_MESSAGES),
        ("UTILITY", None, Endpoint.MESSAGES),
        ("AUTHENTICATION", None, Endpoint.MESSAGES),
        ("UTILITY", "MARKETING", Endpoint.MESSAGES),  # Meta's latest category wins over the request's hint
        ("MARKETING", "UTILITY", Endpoint.MARKETING_MESSAGES),
        (None, "UTILITY", Endpoint.MESSAGES),  # unknown template: the hint
        (None, None, Endpoint.MARKETING_MESSAGES),  # unknown and no hint: marketing
        ("SOME_NEW_CATEGORY", None, Endpoint.MESSAGES),  # [ROUTE]: every other category -> /messages
    ],
)
def test_the_endpoint_follows_the_latest_category_then_the_hint(category, hint, endpoint):
    assert endpoint_for(category, hint) is endpoint


def test_only_the_documented_answers_re_route_and_only_to_the_other_endpoint():
    assert reroute(Endpoint.MESSAGES, 131063) is Endpoint.MARKETING_MESSAGES
    assert reroute(Endpoint.MESSAGES, 131061) is Endpoint.MARKETING_MESSAGES
    assert reroute(Endpoint.MARKETING_MESSAGES, 134100) is Endpoint.MESSAGES
    assert reroute(Endpoint.MARKETING_MESSAGES, 131055) is Endpoint.MESSAGES
    assert (
        reroute(Endpoint.MARKETING_MESSAGES, 131063) is None
    )  # the fallback blocked: a halt, not a re-route
    assert reroute(Endpoint.MESSAGES, 131049) is None


def test_the_cloud_api_body_has_no_mm_api_field_nor_ttl():
    request = parse_send_request(
        {**BODY, "product_policy": "STRICT", "message_activity_sharing": True, "time_to_live": 86_400}
    )
    wire = to_wire(request, ttl_on_wire=True, endpoint=Endpoint.MESSAGES)
    assert wire == {k: v for k, v in BODY.items() if k != "message_id"}
    mm = to_wire(request, ttl_on_wire=True)
    assert mm["product_policy"] == "STRICT" and mm["time_to_live"] == 86_400


@pytest.mark.parametrize(
    "extra",
    [
        {"product_policy": "STRICT"},
        {"message_activity_sharing": False},
        {"bid_spec": {"per_message_bid_multiplier": 2}},
    ],
)
def test_a_utility_request_with_an_mm_api_field_is_refused_naming_it(extra):
    with pytest.raises(InvalidSendRequest) as caught:
        parse_send_request({**BODY, "template_category": "utility", **extra})
    assert caught.value.field == next(iter(extra))
    assert "only for marketing templates" in str(caught.value)


def test_a_campaign_of_an_authentication_template_refuses_a_bid_multiplier_naming_it():
    template = {"name": "otp", "language": {"code": "en_US"}, "category": "AUTHENTICATION"}
    with pytest.raises(ValueError, match="bid_spec") as caught:
        CampaignDefinition.model_validate(
            {"name": "c", "template": template, "bid_spec": {"per_message_bid_multiplier": 2}}
        )
    assert "authentication template goes through /messages" in str(caught.value)
    assert (
        CampaignDefinition.model_validate({"name": "c", "template": template}).template.category
        == template["category"]
    )


def work(body: dict | None = None) -> Work:
    request = parse_send_request(body or BODY)
    msg = SqsMessage("r-1", "h", "{}", datetime(2026, 11, 1, tzinfo=UTC))
    values = fields(request, msg, SETTINGS)
    return Work(
        msg, request, request.identity(), values, halt_scopes(request, values["phone_number_id"], SETTINGS)
    )


def prefetched(
    template: dict | None = None, language: str = "en_US", message: dict | None = None
) -> L.Prefetched:
    templates = {}
    if template is not None:
        templates[keys.template(SETTINGS.waba_id, "order_update", language)["pk"]["S"]] = template
    return L.Prefetched(frozenset(), {}, {"m-1": message} if message else {}, templates)


def test_a_message_is_routed_and_recorded_by_the_category_on_its_template_item():
    w = work()
    route([w], prefetched({"category": "UTILITY", "category_at": 5}), SETTINGS)
    assert w.endpoint is Endpoint.MESSAGES and w.ended is None
    assert w.fields["endpoint"] == "messages" and w.fields["template_category"] == "UTILITY"
    assert "product_policy" not in w.fields  # an MM API policy means nothing on /messages


def test_meta_s_own_language_spelling_of_a_category_update_is_read_too():
    w = work()  # Meta's template_category_update example spells the language en-US [TCU]
    route([w], prefetched({"category": "AUTHENTICATION", "category_at": 5}, language="en-US"), SETTINGS)
    assert w.endpoint is Endpoint.MESSAGES


def test_a_max_price_template_routed_to_the_cloud_api_ends_failed_unsent():
    w = work()
    spec = {"bid_strategy": "LOWEST_COST_WITH_BID_CAP", "bid_amount": 5000}
    route([w], prefetched({"category": "UTILITY", "optimization_spec": spec}), SETTINGS)
    assert w.ended is not None and w.ended.state is L.State.FAILED
    assert w.ended.why["code"] == 131061 and "never goes to /messages" in w.ended.why["details"]
    assert "endpoint" not in w.fields  # no endpoint carried it


def test_a_re_routed_message_keeps_its_endpoint_whatever_the_category_says():
    w = work()
    route(
        [w],
        prefetched({"category": "UTILITY"}, message={"state": "retry", "reroute": "marketing_messages"}),
        SETTINGS,
    )
    assert w.endpoint is Endpoint.MARKETING_MESSAGES and w.fields["reroute"] == "marketing_messages"


def test_131063_on_messages_re_routes_once_then_halts():
    w = work()
    route([w], prefetched({"category": "UTILITY"}), SETTINGS)
    first = classify(w, GraphError("disabled", code=131063), SETTINGS, 1000)
    assert first.result.outcome is Outcome.RETRY and first.halt is None
    assert first.items[0]["reroute"] == {"S": "marketing_messages"}
    # the message comes back re-routed; the same answer again is the catalog's (a halt of the WABA)
    again = work()
    route([again], prefetched({"category": "UTILITY"}, message={"reroute": "marketing_messages"}), SETTINGS)
    second = classify(again, GraphError("disabled", code=131063), SETTINGS, 1000)
    assert second.result.outcome is Outcome.HALTED and second.halt is not None


def test_an_accepted_message_records_the_endpoint_that_carried_it():
    w = work()
    route([w], prefetched({"category": "UTILITY"}), SETTINGS)
    item = classify(w, Accepted("wamid.X", "accepted", "919876543210"), SETTINGS, 1000).items[0]
    assert item["endpoint"] == {"S": "messages"}


def test_the_report_counts_by_endpoint_and_by_the_path_meta_took():
    items = [
        {
            "status": "delivered",
            "endpoint": "marketing_messages",
            "pricing_category": "marketing_lite",
            "path": "mm_api",
        },
        {
            "status": "read",
            "endpoint": "marketing_messages",
            "pricing_category": "marketing",
            "path": "cloud_api_fallback",
        },
        {"status": "delivered", "endpoint": "messages", "pricing_category": "utility", "path": "utility"},
        {"status": "accepted", "endpoint": "messages"},  # no webhook yet: no path
        {
            "status": "delivered",
            "pricing_category": "marketing_lite",
            "path": "mm_api",
        },  # before routing existed
    ]
    report = summarize(items)
    assert report["by_endpoint"] == {"marketing_messages": 2, "messages": 2}
    assert report["by_path"] == {"mm_api": 2, "cloud_api_fallback": 1, "cloud_api": 1}
