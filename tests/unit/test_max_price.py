"""Max price (meta-2026-updates section 5): the send-time bid multiplier on the request, on the wire, and off
the wire for recipients a region rule gives no max price."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import conformance
import pytest

from mmcore import webhooks
from mmcore.campaigns.reports import summarize
from mmcore.meta.messages import InvalidSendRequest, parse_send_request, to_wire
from mmcore.sending.decide import parse
from mmcore.sending.outcomes import BatchReport
from mmcore.sending.records import SqsMessage
from mmcore.settings import Settings

BODY = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "919876543210",
    "type": "template",
    "template": {"name": "summer_sale", "language": {"code": "en_US"}},
}
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def with_bid(multiplier, to: str = "919876543210") -> dict:
    return {**BODY, "to": to, "bid_spec": {"per_message_bid_multiplier": multiplier}}


# ---------------------------------------------------------------- the request and its wire body


def test_the_multiplier_goes_on_the_wire_at_the_top_level_as_meta_documents_it():
    wire = to_wire(parse_send_request(with_bid(1.5)))
    assert wire["bid_spec"] == {"per_message_bid_multiplier": 1.5}
    assert list(wire) == [*BODY, "bid_spec"]  # after Meta's own fields, not inside the template


def test_an_integer_multiplier_is_a_positive_number_too():
    assert to_wire(parse_send_request(with_bid(2)))["bid_spec"] == {"per_message_bid_multiplier": 2.0}


def test_without_a_bid_spec_nothing_is_added_to_the_wire():
    assert "bid_spec" not in to_wire(parse_send_request(BODY))


@pytest.mark.parametrize("value", [0, -1.5, True, "1.5", None, float("nan"), float("inf")])
def test_a_multiplier_that_is_not_a_positive_number_is_refused_naming_the_field(value):
    with pytest.raises(InvalidSendRequest) as exc:
        parse_send_request(with_bid(value))
    assert exc.value.field == "bid_spec.per_message_bid_multiplier"


def test_zero_says_it_must_be_positive():
    with pytest.raises(InvalidSendRequest, match="must be a positive number"):
        parse_send_request(with_bid(0))


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "bid_spec.per_message_bid_multiplier"),
        ({"per_message_bid_multiplier": 1.2, "bid_amount": 5000}, "bid_spec.bid_amount"),
        ("1.5", "bid_spec"),
    ],
)
def test_a_malformed_bid_spec_names_its_field(spec, field):
    with pytest.raises(InvalidSendRequest) as exc:
        parse_send_request({**BODY, "bid_spec": spec})
    assert exc.value.field == field


@pytest.mark.parametrize(
    "names",
    [
        {"to": "US.13491208655302741918"},
        {"to": None, "recipient": "US.ENT.11815799212886844830"},
        {"to": "user.3a6d2a2f"},
    ],
)
def test_a_multiplier_for_a_bsuid_is_refused_before_meta_answers_131062(names):
    with pytest.raises(InvalidSendRequest) as exc:
        parse_send_request({**with_bid(1.5), **names})
    assert exc.value.field == "bid_spec" and "131062" in str(exc.value)


def test_a_multiplier_for_a_phone_number_that_also_names_its_bsuid_is_kept():
    request = parse_send_request({**with_bid(1.5), "recipient": "US.13491208655302741918"})
    assert to_wire(request)["bid_spec"] == {"per_message_bid_multiplier": 1.5}


# ---------------------------------------------------------------- the sender and the region rules


def parsed(*bodies: dict):
    settings = Settings(phone_number_id="1", waba_id="2", business_country="IN")
    messages = [SqsMessage(str(i), "rh", json.dumps(b), NOW) for i, b in enumerate(bodies)]
    return parse(messages, settings, BatchReport(), NOW.timestamp())


@pytest.mark.parametrize("to", ["+7 912 345 67 89", "+375 29 123 45 67"])
def test_recipients_in_russia_and_belarus_are_sent_without_the_multiplier(to):
    [work] = parsed(with_bid(1.5, to))
    assert work.ended is None  # still sent
    assert "max_price" in work.fields["disabled_features"]
    assert work.request.bid_spec is None and "bid_spec" not in to_wire(work.request)
    assert work.fields["bid_spec_dropped"]


def test_other_recipients_keep_the_multiplier():
    india, germany = parsed(with_bid(1.5), with_bid(1.5, "+49 1512 3456789"))
    assert to_wire(india.request)["bid_spec"] == {"per_message_bid_multiplier": 1.5}
    assert to_wire(germany.request)["bid_spec"] == {"per_message_bid_multiplier": 1.5}
    assert "bid_spec_dropped" not in india.fields


def test_dropping_the_multiplier_keeps_the_message_identity():
    [work] = parsed(with_bid(1.5, "+7 912 345 67 89"))
    assert work.message_id == parse_send_request(with_bid(1.5, "+7 912 345 67 89")).identity()


# ---------------------------------------------------------------- the cost in delivered/read webhooks


def cost_status(cost, status: str = "delivered") -> bytes:
    # Meta's delivered status (conformance) with the 2026 max-price pricing of meta-2026-updates section 5
    body = conformance.load("webhooks", "meta_bsuid_status_delivered_phone.json")
    item = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    item["status"] = status
    item["pricing"] = {**item["pricing"], "category": "marketing_lite", "cost": cost}
    return json.dumps(body).encode()


def test_the_cost_and_pricing_type_of_a_status_are_parsed_exactly():
    [event] = webhooks.parse(cost_status({"amount": 0.035, "currency": "USD"})).statuses
    assert event.cost == {"amount": Decimal("0.035"), "currency": "USD"}
    assert event.pricing_type == "regular"
    assert event.pricing_map()["cost"] == {"amount": Decimal("0.035"), "currency": "USD"}


@pytest.mark.parametrize(
    "cost",
    [{"amount": "lots", "currency": "USD"}, {"amount": 0.03, "currency": "dollars"}, {"amount": -1}, 5],
)
def test_a_malformed_cost_is_dropped_and_the_status_kept(cost):
    [event] = webhooks.parse(cost_status(cost)).statuses
    assert event.status == "delivered" and event.cost is None
    assert event.pricing_category == "marketing_lite"


def test_a_report_sums_the_spend_by_currency_once_per_message():
    report = summarize(
        [
            {"status": "read", "cost": {"amount": 0.035, "currency": "USD"}},
            {"status": "delivered", "cost": {"amount": 0.035, "currency": "USD"}},
            {"status": "read", "cost": {"amount": 0.87, "currency": "INR"}},
            {"status": "delivered"},  # no max price: standard rate card, no cost in the webhook
            {"status": "read", "cost": {"amount": "x", "currency": "USD"}},
        ]
    )
    assert report["spend_by_currency"] == {"INR": 0.87, "USD": 0.07}


def test_a_report_without_costs_shows_no_spend():
    assert summarize([{"status": "delivered"}])["spend_by_currency"] == {}
