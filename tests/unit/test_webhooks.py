"""The webhook's pure parts: handshake, raw body, signature, and reading every envelope shape Meta sends."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from mmapi.simulator import sign as simulator_sign
from mmcore import webhooks
from mmcore.exceptions import Forbidden, Malformed, NotAuthenticated, TooLarge

SECRET = "app-secret"
NOW = 1_750_000_000


def body(*changes: dict, **entry) -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": list(changes), **entry}],
        }
    ).encode()


def messages(**value) -> dict:
    metadata = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
    return {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}


# ---------------------------------------------------------------- handshake


def test_handshake_echoes_the_challenge():
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "tok"}
    assert webhooks.verify_subscription(params, "tok") == "1158201444"


@pytest.mark.parametrize(
    ("params", "token"),
    [
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "bad"}, "tok"),
        ({"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": "tok"}, "tok"),
        ({"hub.mode": "subscribe", "hub.verify_token": "tok"}, "tok"),
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}, ""),  # no token configured
        (None, "tok"),
    ],
)
def test_handshake_refusals_are_forbidden(params, token):
    with pytest.raises(Forbidden):
        webhooks.verify_subscription(params, token)


# ---------------------------------------------------------------- body and signature


def test_raw_body_decodes_base64_and_keeps_text_bytes():
    raw = '{"a":"é"}'.encode()
    assert webhooks.raw_body(base64.b64encode(raw).decode(), True) == raw
    assert webhooks.raw_body(raw.decode(), False) == raw
    assert webhooks.raw_body(None, False) == b""


def test_raw_body_refuses_bad_base64_and_oversized_bodies():
    with pytest.raises(Malformed):
        webhooks.raw_body("not base64!", True)
    with pytest.raises(TooLarge):
        webhooks.raw_body("x" * (webhooks.MAX_BODY_BYTES + 1), False)
    with pytest.raises(TooLarge):
        webhooks.raw_body(base64.b64encode(b"x" * (webhooks.MAX_BODY_BYTES + 1)).decode(), True)


def test_signature_is_hmac_sha256_of_the_raw_bytes():
    raw = b'{"entry":[]}'
    header = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert webhooks.sign(SECRET, raw) == header == simulator_sign(SECRET, raw)
    webhooks.check_signature(raw, header, SECRET)  # no exception


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, NotAuthenticated),
        ("", NotAuthenticated),
        ("sha256=" + "0" * 64, Forbidden),
        ("sha1=abc", Forbidden),
        ("sha256=é", Forbidden),
    ],
)
def test_signature_refusals(header, error):
    with pytest.raises(error):
        webhooks.check_signature(b"{}", header, SECRET)


@pytest.mark.parametrize("secret", ["", "REPLACE_ME"])
def test_an_unconfigured_app_secret_verifies_nothing(secret):
    raw = b"{}"
    with pytest.raises(Forbidden):
        webhooks.check_signature(raw, webhooks.sign(secret, raw), secret)


# ---------------------------------------------------------------- envelope


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"entry": {}}', b'{"entry":[NaN]}', b"\xff\xfe"])
def test_not_json_or_not_an_envelope_is_malformed(raw):
    with pytest.raises(Malformed) as refused:
        webhooks.parse(raw, NOW)
    assert [field for field, _ in refused.value.errors] == ["body"]


def test_v24_status_without_conversation():
    pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing_lite"}
    raw = body(
        messages(
            statuses=[
                {
                    "id": "wamid.1",
                    "status": "delivered",
                    "timestamp": "1750030075",
                    "recipient_id": "919876543210",
                    "pricing": pricing,
                }
            ]
        )
    )
    [event] = webhooks.parse(raw, NOW).statuses
    assert (event.wamid, event.status, event.timestamp, event.rank) == ("wamid.1", "delivered", 1750030075, 3)
    assert (event.pricing_category, event.path, event.billable, event.origin_type) == (
        "marketing_lite",
        "mm_api",
        True,
        None,
    )
    assert (event.phone_number_id, event.waba_id) == ("106540352242922", "102290129340398")
    assert json.loads(event.raw)["pricing"] == pricing


def test_v23_conversation_origin_is_the_path_when_pricing_is_absent():
    conversation = {"id": "c", "expiration_timestamp": "1750116480", "origin": {"type": "marketing"}}
    raw = body(
        messages(
            statuses=[{"id": "w", "status": "sent", "timestamp": 1750030073, "conversation": conversation}]
        )
    )
    [event] = webhooks.parse(raw, NOW).statuses
    assert (event.origin_type, event.path, event.timestamp) == ("marketing", "cloud_api_fallback", 1750030073)


def test_failed_status_errors_are_parsed_and_bounded():
    errors = [{"code": 131049, "title": "t" * 5000, "error_data": {"details": "d"}}, {"code": "oops"}, "junk"]
    raw = body(messages(statuses=[{"id": "w", "status": "failed", "timestamp": "1", "errors": errors}]))
    [event] = webhooks.parse(raw, NOW).statuses
    first, second = event.errors
    assert first["code"] == 131049 and first["details"] == "d" and len(first["title"]) <= 1024
    assert "code" not in second and second["action"] == "permanent"


def test_bsuid_fields_and_unknown_fields_are_tolerated():
    status = {
        "id": "w",
        "status": "read",
        "timestamp": "2",
        "recipient_id": "",
        "recipient_user_id": "user.9",
        "new_field": {"x": 1},
    }
    contacts = [{"profile": {"name": "A", "username": "a"}, "user_id": "user.9"}]
    [event] = webhooks.parse(body(messages(statuses=[status], contacts=contacts)), NOW).statuses
    assert (event.recipient_id, event.recipient_user_id) == ("", "user.9")
    assert json.loads(event.raw)["new_field"] == {"x": 1}


def test_unknown_status_and_category_are_kept():
    items = [
        {"id": "w", "status": "played", "timestamp": "3"},
        {"id": "w", "status": "sent", "timestamp": "3", "pricing": {"category": "referral_conversion"}},
    ]
    played, sent = webhooks.parse(body(messages(statuses=items)), NOW).statuses
    assert (played.status, played.rank) == ("played", 0)
    assert sent.path == "referral_conversion"


def test_bad_items_are_kept_raw_and_their_siblings_read():
    items = [
        {"id": "ok", "status": "sent", "timestamp": "1"},
        {"id": 5},
        {"id": "x" * 500, "status": "sent", "timestamp": "1"},
        {"id": "w", "status": "sent", "timestamp": "99999999999999"},
        "junk",
    ]
    batch = webhooks.parse(body(messages(statuses=items, brand_new_key=[1])), NOW)
    assert [e.wamid for e in batch.statuses] == ["ok"]
    assert [o.kind for o in batch.other].count("invalid") == 4
    assert "messages.unknown" in [o.kind for o in batch.other]


def test_lenient_sub_objects_do_not_lose_the_status():
    item = {
        "id": "w",
        "status": "sent",
        "timestamp": "1",
        "pricing": "free",
        "conversation": [],
        "recipient_id": 5,
    }
    [event] = webhooks.parse(body(messages(statuses=[item])), NOW).statuses
    assert (event.pricing_category, event.origin_type, event.recipient_id) == (None, None, "")


def test_huge_raw_items_are_cut_to_fit_an_item():
    item = {"id": "w", "status": "sent", "timestamp": "1", "note": "x" * 300_000}
    [event] = webhooks.parse(body(messages(statuses=[item])), NOW).statuses
    assert event.raw_truncated and len(event.raw) <= 64_000


def test_replies_with_context_and_contact():
    contacts = [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}]
    tap = {
        "context": {"from": "15550783881", "id": "wamid.T"},
        "from": "16505551234",
        "id": "wamid.R",
        "timestamp": "1749416383",
        "type": "button",
        "button": {"payload": "P", "text": "Yes"},
    }
    [reply] = webhooks.parse(body(messages(contacts=contacts, messages=[tap])), NOW).inbound
    assert (reply.wamid, reply.sender, reply.type, reply.context_id) == (
        "wamid.R",
        "16505551234",
        "button",
        "wamid.T",
    )
    assert reply.contact == contacts[0] and reply.message == tap


def test_user_preferences_template_and_account_updates():
    prefs = {
        "field": "user_preferences",
        "value": {
            "user_preferences": [
                {
                    "wa_id": "919876543210",
                    "detail": "d",
                    "category": "marketing_messages",
                    "value": "stop",
                    "timestamp": 17,
                }
            ]
        },
    }
    template = {
        "field": "message_template_status_update",
        "value": {
            "event": "paused",
            "message_template_id": 123,
            "message_template_name": "summer_sale",
            "message_template_language": "en_US",
            "reason": None,
        },
    }
    account = {
        "field": "account_update",
        "value": {"event": "MM_LITE_TERMS_SIGNED", "waba_info": {"waba_id": 555, "owner_business_id": "9"}},
    }
    other = {"field": "account_update", "value": {"event": "AD_ACCOUNT_LINKED"}}
    batch = webhooks.parse(body(prefs, template, account, other, time=1750000000), NOW)
    [pref] = batch.preferences
    assert (pref.user, pref.value, pref.timestamp) == ("919876543210", "stop", 17)
    [tpl] = batch.templates
    assert (tpl.waba_id, tpl.name, tpl.language, tpl.event, tpl.template_id, tpl.at) == (
        "102290129340398",
        "summer_sale",
        "en_US",
        "PAUSED",
        "123",
        1750000000,
    )
    [signed] = batch.accounts
    assert (signed.waba_id, signed.owner_business_id) == ("555", "9")
    assert [o.kind for o in batch.other] == ["account_update.AD_ACCOUNT_LINKED"]


def test_unknown_fields_and_system_errors_are_kept_raw_and_clicks_are_read():
    clicks = [{"action_type": "marketing_messages_link_click", "timestamp": "1"}]
    batch = webhooks.parse(
        body(
            messages(errors=[{"code": 130429, "title": "Rate limit hit"}], user_actions=clicks),
            {"field": "phone_number_quality_update", "value": {"event": "THROUGHPUT_UPGRADE"}},
        ),
        NOW,
    )
    assert sorted(o.kind for o in batch.other) == ["errors", "phone_number_quality_update"]
    [click] = batch.actions
    assert (click.action_type, click.at, click.click_id) == ("marketing_messages_link_click", 1, None)
    assert len(batch) == 3
