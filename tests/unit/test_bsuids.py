"""BSUIDs in send requests (meta-2026-updates section 3) and in webhooks (section 6)."""

from __future__ import annotations

import datetime as dt
import json

import conformance
import pytest

from mmcore import webhooks
from mmcore.meta.bsuids import bsuid_country, evaluate_user, is_bsuid
from mmcore.meta.messages import InvalidSendRequest, parse_send_request, to_wire
from mmcore.store.identities import merge
from mmcore.webhooks.identities import links

TEMPLATE = {"name": "summer_sale", "language": {"code": "en_US"}}
DAY = dt.date(2026, 11, 30)


def send(**fields):
    return parse_send_request({"type": "template", "template": TEMPLATE, **fields})


@pytest.mark.parametrize(
    "value", ["US.13491208655302741918", "US.ENT.1181234567890", "user.9373795779eb6441c8ad"]
)
def test_every_documented_bsuid_form_goes_on_the_wire_in_recipient(value):
    wire = to_wire(send(to=value))
    assert wire["recipient"] == value and "to" not in wire
    assert list(wire)[:3] == ["messaging_product", "recipient_type", "recipient"]
    assert to_wire(send(recipient=value))["recipient"] == value


def test_a_phone_in_to_wins_and_recipient_is_kept_beside_it():
    request = send(to="+91 98765 43210", recipient="IN.1349")
    assert request.user == "919876543210" and not request.by_bsuid
    assert to_wire(request)["to"] == "919876543210"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "to"),
        ({"recipient": "919876543210"}, "recipient"),
        ({"to": "US.111", "recipient": "US.222"}, "recipient"),
        ({"to": "us.111"}, "to"),
    ],
)
def test_a_request_naming_nobody_or_a_bad_bsuid_is_refused_naming_the_field(fields, field):
    with pytest.raises(InvalidSendRequest) as exc:
        send(**fields)
    assert exc.value.field == field


def test_a_bsuid_prefix_is_its_country_and_bsuid_sends_get_no_delivery_optimization():
    assert is_bsuid("US.ENT.11") and bsuid_country("US.ENT.11") == "US" and bsuid_country("user.1") is None
    assert evaluate_user("US.1349", "IN", DAY).allowed is False  # Meta serves no US user on MM API
    india = evaluate_user("IN.1349", "IN", DAY)
    assert india.allowed and "delivery_optimization" in india.disabled_features
    assert evaluate_user("user.1349", "IN", DAY) is None  # no country: no rule can apply


def test_links_from_contacts_statuses_preferences_and_user_id_update():
    value = {
        "contacts": [{"wa_id": "16505551234", "user_id": "US.1"}],
        "statuses": [
            {"recipient_id": "", "recipient_user_id": "US.2", "recipient_parent_user_id": "US.ENT.2"}
        ],
        "messages": [{"from_user_id": "US.3", "from": "16505550000"}],
    }
    assert links("messages", value) == [
        ("16505551234", "US.1"),
        ("US.2", "US.ENT.2"),
        ("16505550000", "US.3"),
    ]
    update = {"user_id_update": [{"user_id": {"previous": "US.old", "current": "US.new"}, "timestamp": 1}]}
    assert links("user_id_update", update) == [("US.old", "US.new")]
    assert merge([("a", "b"), ("c", "d"), ("b", "c")]) == [frozenset("abcd")]


def test_a_user_preferences_stop_with_only_a_user_id_is_a_stop_on_the_bsuid():
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "user_preferences",
                        "value": {"user_preferences": [{"user_id": "US.9", "value": "stop", "timestamp": 5}]},
                    }
                ],
            }
        ],
    }
    [pref] = webhooks.parse(json.dumps(body).encode(), 10).preferences
    assert (pref.user, pref.value) == ("US.9", "stop")


@pytest.mark.parametrize("name", ["meta_bsuid_status_delivered_phone.json", "meta_bsuid_text_from_user.json"])
def test_meta_bsuid_examples_link_what_they_name(name):
    document = conformance.load("webhooks", name)
    batch = webhooks.parse(json.dumps(document).encode(), 10)
    assert not [o for o in batch.other if o.kind == "invalid"]
    if "phone" in name:
        assert (
            "16505551234",
            document["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"],
        ) in batch.links
