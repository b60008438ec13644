"""Payload builders: the seeds' requests build byte-for-byte, every component Meta documents validates,
and bad input is an error naming its field."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mmcore.meta.messages import (
    TTL_MAX,
    TTL_MIN,
    InvalidSendRequest,
    parse_send_request,
    to_wire,
    wire_bytes,
)

SEEDS = Path(__file__).parents[1] / "data" / "seeds"


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def seed(name: str) -> dict:
    return json.loads((SEEDS / name).read_text())


def base(**overrides) -> dict:
    body = seed("summer_sale.json")
    body.update(overrides)
    return body


def with_components(*components) -> dict:
    body = base()
    body["template"]["components"] = list(components)
    return body


def error_fields(data) -> list[str]:
    with pytest.raises(InvalidSendRequest) as exc:
        parse_send_request(data)
    return [field for field, _ in exc.value.errors]


# ---------------------------------------------------------------- the seeds


@pytest.mark.parametrize("name", ["festival_offer.json", "summer_sale.json"])
def test_seed_example_builds_byte_for_byte(name):
    # Given the exact request a seed shows
    raw = (SEEDS / name).read_bytes()
    # When it is parsed and built for the wire
    built = wire_bytes(parse_send_request(raw))
    # Then the body is the seed's, byte for byte
    assert built == compact(json.loads(raw))


def test_full_seed_request_builds_byte_for_byte_minus_ttl():
    body = seed("full_request.json")
    request = parse_send_request(body)
    without_ttl = {k: v for k, v in body.items() if k != "time_to_live"}
    assert wire_bytes(request) == compact(without_ttl)
    assert wire_bytes(request, ttl_on_wire=True) == compact(body)
    assert request.time_to_live == 86400


def test_seed_without_recipient_type_gets_the_required_default():
    request = parse_send_request(seed("flash_sale_ttl.json"))
    wire = to_wire(request)
    assert wire["recipient_type"] == "individual"
    assert "time_to_live" not in wire
    assert list(wire) == ["messaging_product", "recipient_type", "to", "type", "template"]


def test_envelope_fields_never_reach_the_wire():
    request = parse_send_request(
        base(
            campaign_id="c-1",
            message_id="m-1",
            phone_number_id="106540352242922",
            not_after="2030-01-01T00:00:00Z",
        )
    )
    assert set(to_wire(request)) == {"messaging_product", "recipient_type", "to", "type", "template"}
    assert request.phone_number_id == "106540352242922"


# ---------------------------------------------------------------- clear errors naming the field


@pytest.mark.parametrize(
    ("override", "field", "reason"),
    [
        ({"type": "text"}, "type", "must be 'template'"),
        ({"time_to_live": 3600}, "time_to_live", "greater than or equal to 43200"),
        ({"time_to_live": TTL_MAX + 1}, "time_to_live", "less than or equal to 2592000"),
        ({"product_policy": "FALLBACK"}, "product_policy", "CLOUD_API_FALLBACK"),
        ({"to": "12345"}, "to", ""),
        ({"to": "not-a-number"}, "to", ""),
        ({"message_activity_sharing": "yes"}, "message_activity_sharing", "boolean"),
        ({"messaging_product": "sms"}, "messaging_product", "whatsapp"),
        ({"recipient_type": "group"}, "recipient_type", "individual"),
        ({"biz_opaque_callback_data": "x"}, "biz_opaque_callback_data", "unknown field"),
        ({"not_after": "2030-01-01T00:00:00"}, "not_after", "timezone"),
    ],
)
def test_bad_field_is_named_with_its_reason(override, field, reason):
    with pytest.raises(InvalidSendRequest) as exc:
        parse_send_request(base(**override))
    fields = dict(exc.value.errors)
    assert field in fields, exc.value.errors
    assert reason in fields[field]
    assert str(exc.value).startswith(field)


@pytest.mark.parametrize("ttl", [TTL_MIN, 86400, TTL_MAX])
def test_ttl_bounds_are_inclusive(ttl):
    assert parse_send_request(base(time_to_live=ttl)).time_to_live == ttl


def test_missing_template_and_to_are_both_reported():
    assert sorted(error_fields({"messaging_product": "whatsapp", "type": "template"})) == ["template", "to"]


def test_malformed_json_is_an_invalid_request():
    with pytest.raises(InvalidSendRequest):
        parse_send_request(b'{"to": ')


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({"name": "Summer Sale", "language": {"code": "en_US"}}, "template.name"),
        ({"name": "summer_sale", "language": {"code": "english"}}, "template.language.code"),
        (
            {"name": "summer_sale", "language": {"code": "en_US", "policy": "fallback"}},
            "template.language.policy",
        ),
        ({"name": "summer_sale"}, "template.language"),
    ],
)
def test_template_fields_are_validated(template, field):
    assert field in error_fields(base(template=template))


def test_phone_number_is_normalized_to_digits_and_bsuid_passes_through():
    assert parse_send_request(base(to="+91 98765-43210")).to == "919876543210"
    assert parse_send_request(base(to="user.9f3a0c")).to == "user.9f3a0c"


# ---------------------------------------------------------------- every component Meta documents

HEADER_IMAGE = {"type": "header", "parameters": [{"type": "image", "image": {"id": "1339522734477770"}}]}
HEADER_VIDEO = {
    "type": "header",
    "parameters": [{"type": "video", "video": {"link": "https://x.example/v.mp4"}}],
}
HEADER_DOC = {
    "type": "header",
    "parameters": [
        {"type": "document", "document": {"link": "https://x.example/a.pdf", "filename": "a.pdf"}}
    ],
}
HEADER_TEXT = {"type": "header", "parameters": [{"type": "text", "text": "Summer is here"}]}
BODY_ALL = {
    "type": "body",
    "parameters": [
        {"type": "text", "text": "Jessica"},
        {"type": "currency", "currency": {"fallback_value": "$25.00", "code": "USD", "amount_1000": 25000}},
        {"type": "date_time", "date_time": {"fallback_value": "December 25, 2024"}},
    ],
}
BODY_NAMED = {
    "type": "body",
    "parameters": [
        {"type": "text", "parameter_name": "first_name", "text": "Jessica"},
        {"type": "text", "parameter_name": "discount", "text": "20%"},
    ],
}
URL_BUTTON = {
    "type": "button",
    "sub_type": "url",
    "index": "0",
    "parameters": [{"type": "text", "text": "sale-1"}],
}
QUICK_REPLY = {
    "type": "button",
    "sub_type": "quick_reply",
    "index": "1",
    "parameters": [{"type": "payload", "payload": "STOP_PROMOS"}],
}
COPY_CODE = {
    "type": "button",
    "sub_type": "copy_code",
    "index": 2,
    "parameters": [{"type": "coupon_code", "coupon_code": "25OFF"}],
}
FLOW = {
    "type": "button",
    "sub_type": "flow",
    "index": "3",
    "parameters": [{"type": "action", "action": {"flow_token": "T", "flow_action_data": {"a": 1}}}],
}


@pytest.mark.parametrize(
    "components",
    [
        [HEADER_IMAGE, BODY_ALL, URL_BUTTON, QUICK_REPLY, COPY_CODE, FLOW],
        [HEADER_VIDEO, BODY_NAMED],
        [HEADER_DOC],
        [HEADER_TEXT, BODY_ALL],
    ],
    ids=["image+all-buttons", "video+named", "document", "text-header"],
)
def test_documented_components_build_unchanged(components):
    body = with_components(*components)
    assert wire_bytes(parse_send_request(body)) == compact(body)


def test_button_index_keeps_its_json_type():
    wire = to_wire(parse_send_request(with_components(URL_BUTTON, COPY_CODE)))
    assert [c["index"] for c in wire["template"]["components"]] == ["0", 2]


@pytest.mark.parametrize(
    ("components", "field", "reason"),
    [
        ([{"type": "footer", "parameters": []}], "template.components.0", "footer"),
        (
            [{**HEADER_TEXT, "parameters": [{"type": "text", "text": "x" * 61}]}],
            "template.components.0",
            "60",
        ),
        ([{"type": "header", "parameters": [{"type": "image", "image": {}}]}], "image", "exactly one"),
        (
            [
                {
                    "type": "header",
                    "parameters": [{"type": "image", "image": {"id": "1", "link": "https://a.b/c"}}],
                }
            ],
            "image",
            "exactly one",
        ),
        (
            [{"type": "header", "parameters": [{"type": "image", "image": {"link": "ftp://a/b"}}]}],
            "link",
            "pattern",
        ),
        (
            [{"type": "body", "parameters": [{"type": "image", "image": {"id": "1"}}]}],
            "parameters.0",
            "image",
        ),
        (
            [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "a", "parameter_name": "first_name"},
                        {"type": "text", "text": "b"},
                    ],
                }
            ],
            "template.components.0",
            "mix of named and positional",
        ),
        (
            [{"type": "body", "parameters": [{"type": "text", "text": "a", "parameter_name": "First Name"}]}],
            "parameter_name",
            "lowercase",
        ),
        (
            [
                {
                    "type": "body",
                    "parameters": [
                        {
                            "type": "currency",
                            "currency": {"fallback_value": "$1", "code": "usd", "amount_1000": 1},
                        }
                    ],
                }
            ],
            "currency.code",
            "pattern",
        ),
        (
            [{**COPY_CODE, "parameters": [{"type": "coupon_code", "coupon_code": "X" * 21}]}],
            "template.components.0",
            "20",
        ),
        (
            [{**COPY_CODE, "parameters": [{"type": "coupon_code", "coupon_code": "25-OFF"}]}],
            "template.components.0",
            "alphanumeric",
        ),
        ([{**URL_BUTTON, "index": "10"}], "index", "0-9"),
        (
            [{**URL_BUTTON, "parameters": [{"type": "payload", "payload": "x"}]}],
            "template.components.0",
            "url",
        ),
        ([URL_BUTTON, {**QUICK_REPLY, "index": "0"}], "template", "unique"),
        ([BODY_ALL, BODY_NAMED], "template", "one body"),
        ([{**URL_BUTTON, "index": str(i)} for i in range(3)], "template", "url buttons"),
        ([{"type": "body", "parameters": [{"type": "text", "text": ""}]}], "text", "at least 1"),
    ],
)
def test_component_limits_are_enforced(components, field, reason):
    with pytest.raises(InvalidSendRequest) as exc:
        parse_send_request(with_components(*components))
    message = str(exc.value)
    assert any(field in f for f, _ in exc.value.errors), exc.value.errors
    assert reason in message, message


def test_flow_button_without_token_is_accepted():
    flow = {**FLOW, "parameters": [{"type": "action", "action": {}}]}
    assert parse_send_request(with_components(flow)).template.components[0].sub_type == "flow"


def test_copy_code_sub_type_in_upper_case_is_accepted():
    assert parse_send_request(with_components({**COPY_CODE, "sub_type": "COPY_CODE"}))


# ---------------------------------------------------------------- deadline and identity

ENQUEUED = datetime(2026, 1, 1, tzinfo=UTC)


def test_deadline_from_ttl_and_not_after():
    assert parse_send_request(base()).deadline(ENQUEUED) is None
    assert parse_send_request(base(time_to_live=TTL_MIN)).deadline(ENQUEUED) == ENQUEUED + timedelta(hours=12)
    earlier = parse_send_request(base(time_to_live=TTL_MAX, not_after="2026-01-02T00:00:00+00:00"))
    assert earlier.deadline(ENQUEUED) == datetime(2026, 1, 2, tzinfo=UTC)


def test_identity_is_the_producers_message_id_or_a_stable_digest():
    assert parse_send_request(base(message_id="abc")).identity() == "abc"
    one, two = parse_send_request(base()), parse_send_request(json.dumps(base()))
    assert one.identity() == two.identity()
    assert one.identity() != parse_send_request(base(to="+44 7911 123456")).identity()
    assert one.identity() != parse_send_request(base(campaign_id="c-2")).identity()
