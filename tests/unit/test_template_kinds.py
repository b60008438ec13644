"""Every marketing template kind Meta documents: each of Meta's documented send bodies builds byte-for-byte,
and a body breaking one of Meta's limits is refused naming the field and the reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import conformance
import pytest

from mmcore.meta.messages import InvalidSendRequest, parse_send_request, to_wire, wire_bytes

SENDS = ("sends", "meta_sends.json")
# Meta's tap-target page sends to "+1233214532": ten digits after +1 is not a phone number anywhere.
NOT_A_NUMBER = {"doc_tap_target_override"}


def documented() -> list[str]:
    """The names of the sends in the conformance file (none when it is absent: the tests skip)."""
    if not conformance.ROOT.is_dir():
        return []
    return [send["name"] for send in conformance.load(*SENDS)]


def documented_body(name: str) -> dict[str, Any]:
    [send] = [s for s in conformance.load(*SENDS) if s["name"] == name]
    return copy.deepcopy(send["body"])


def expected_wire(body: dict[str, Any]) -> bytes:
    """The documented body with the product's two deliberate changes: ``to`` as the number's digits (the
    ledger's and Meta's ``wa_id`` form) and ``recipient_type``, required by Meta's schema, added when a doc
    omits it. Everything else, key order included, is the documented body."""
    wire = {"messaging_product": body.pop("messaging_product"), "recipient_type": "individual"}
    wire.update(body)
    wire["to"] = "".join(c for c in body["to"] if c.isdigit())
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("name", documented())
def test_each_documented_send_builds_byte_for_byte(name):
    # Given one of the bodies Meta's docs send (carousels, LTO, coupon, catalog, mpm, spm, tap target...)
    body = documented_body(name)
    if name in NOT_A_NUMBER:
        # Then its made-up number is refused, naming `to` and nothing else...
        with pytest.raises(InvalidSendRequest) as exc:
            parse_send_request(body)
        assert [field for field, _ in exc.value.errors] == ["to"]
        body["to"] = "+16505551234"  # ...and with a real one the template builds
    # When the product parses it and builds the wire body
    built = wire_bytes(parse_send_request(body))
    # Then it is the documented body, byte for byte
    assert built == expected_wire(body)


def test_the_documents_cover_every_kind_this_issue_names():
    kinds = {
        c["type"] if c["type"] != "button" else c["sub_type"].lower()
        for name in documented()
        for c in documented_body(name)["template"].get("components", [])
    }
    assert {
        "carousel",
        "limited_time_offer",
        "copy_code",
        "catalog",
        "mpm",
        "tap_target_configuration",
    } <= kinds


def test_upper_case_sub_types_from_meta_examples_reach_the_wire_as_written():
    body = documented_body("doc_catalog")
    wire = to_wire(parse_send_request(body))
    assert wire["template"]["components"][1]["sub_type"] == "CATALOG"


# ---------------------------------------------------------------- kinds without a documented send body


def send(*components: dict[str, Any]) -> dict[str, Any]:
    template = {"name": "spring_sale", "language": {"code": "en_US"}, "components": list(components)}
    return {"messaging_product": "whatsapp", "to": "919876543210", "type": "template", "template": template}


LOCATION = {
    "type": "header",
    "parameters": [
        {
            "type": "location",
            "location": {
                "latitude": "37.483307",
                "longitude": -122.148981,
                "name": "Lucky Shrubs",
                "address": "1 Hacker Way, Menlo Park, CA 94025",
            },
        }
    ],
}
BODY = {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}


def test_location_header_builds_unchanged_with_coordinates_as_sent():
    wire = to_wire(parse_send_request(send(LOCATION, BODY)))
    assert wire["template"]["components"] == [LOCATION, BODY]


def card(index: Any, *components: dict[str, Any]) -> dict[str, Any]:
    return {"card_index": index, "components": list(components)}


IMAGE = {"type": "header", "parameters": [{"type": "image", "image": {"id": "1558081531584829"}}]}
REPLY = {
    "type": "button",
    "sub_type": "quick_reply",
    "index": "0",
    "parameters": [{"type": "payload", "payload": "more"}],
}


def carousel(*cards: dict[str, Any]) -> dict[str, Any]:
    return {"type": "carousel", "cards": list(cards)}


def offer(expiration: Any) -> dict[str, Any]:
    return {
        "type": "limited_time_offer",
        "parameters": [
            {"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": expiration}}
        ],
    }


def button(sub_type: str, parameter: dict[str, Any], index: Any = 0) -> dict[str, Any]:
    return {"type": "button", "sub_type": sub_type, "index": index, "parameters": [parameter]}


def mpm(action: dict[str, Any]) -> dict[str, Any]:
    return button("mpm", {"type": "action", "action": action})


def tap_target(*targets: dict[str, Any]) -> dict[str, Any]:
    parameter = {"type": "tap_target_configuration", "tap_target_configuration": list(targets)}
    return {"type": "tap_target_configuration", "parameters": [parameter]}


SECTION = {"title": "Popular", "product_items": [{"product_retailer_id": "2lc20305pt"}]}


@pytest.mark.parametrize(
    ("components", "field", "reason"),
    [
        # carousels
        ((BODY, carousel()), "template.components.1.cards", "at least 1"),
        ((BODY, carousel(card(0, IMAGE), card(0, IMAGE))), "template.components.1.cards", "unique"),
        ((BODY, carousel(card("0", IMAGE))), "template.components.1.cards.0.card_index", "integer"),
        ((BODY, carousel(card(-1, IMAGE))), "template.components.1.cards.0.card_index", "greater than"),
        ((BODY, carousel(card(0))), "template.components.1.cards.0.components", "at least 1"),
        ((BODY, carousel(card(0, IMAGE, IMAGE))), "template.components.1.cards.0.components", "one header"),
        (
            (BODY, carousel(card(0, IMAGE, REPLY, REPLY))),
            "template.components.1.cards.0.components",
            "unique",
        ),
        ((BODY, carousel(card(0, carousel(card(0, IMAGE))))), "cards.0.components.0", "carousel"),
        (
            (BODY, carousel(card(0, {"type": "header", "parameters": [{"type": "image", "image": {}}]}))),
            "template.components.1.cards.0.components.0.parameters.0.image",
            "exactly one",
        ),
        (
            (BODY, carousel(card(0, IMAGE, button("url", {"type": "text", "text": ""}, 1)))),
            "template.components.1.cards.0.components.1",
            "url button parameter text",
        ),
        ((BODY, carousel(card(0, IMAGE)), carousel(card(0, IMAGE))), "template", "one carousel"),
        # limited-time offers
        (
            (BODY, offer(0)),
            "template.components.1.parameters.0.limited_time_offer.expiration_time_ms",
            "greater",
        ),
        ((BODY, offer("1209600000")), "limited_time_offer.expiration_time_ms", "integer"),
        ((BODY, offer(1.5)), "limited_time_offer.expiration_time_ms", "integer"),
        ((BODY, {"type": "limited_time_offer", "parameters": []}), "template.components.1.parameters", "1"),
        ((BODY, offer(1), offer(2)), "template", "one limited_time_offer"),
        # coupon codes [TPL coupon]: alphanumeric, at most 20
        (
            (button("copy_code", {"type": "coupon_code", "coupon_code": "A" * 21}),),
            "template.components.0",
            "20",
        ),
        (
            (button("COPY_CODE", {"type": "coupon_code", "coupon_code": "25 OFF"}),),
            "components.0",
            "alphanumeric",
        ),
        # catalog and multi-product buttons
        (
            (button("catalog", {"type": "action", "action": {"thumbnail_product_retailer_id": ""}}),),
            "0",
            "1 char",
        ),
        ((button("catalog", {"type": "action", "action": {"sections": [SECTION]}}),), "0", "sections"),
        ((mpm({"thumbnail_product_retailer_id": "2lc20305pt"}),), "template.components.0", "action.sections"),
        ((mpm({"sections": []}),), "template.components.0", "action.sections"),
        ((mpm({"sections": [{"title": "Popular", "product_items": []}]}),), "components.0", "product_items"),
        ((mpm({"sections": [{**SECTION, "title": ""}]}),), "template.components.0", "sections.0.title"),
        ((mpm({"sections": [{"title": "x", "product_items": [{}]}]}),), "0", "product_retailer_id"),
        ((button("spm", {"type": "text", "text": "x"}),), "template.components.0.sub_type", "mpm"),
        # product and location headers
        (
            (
                {
                    "type": "header",
                    "parameters": [{"type": "product", "product": {"product_retailer_id": "x"}}],
                },
            ),
            "template.components.0.parameters.0.product.catalog_id",
            "required",
        ),
        (
            (
                {
                    "type": "header",
                    "parameters": [{"type": "location", "location": {"latitude": 91, "longitude": 0}}],
                },
            ),
            "template.components.0.parameters.0.location.latitude",
            "-90 and 90",
        ),
        (
            (
                {
                    "type": "header",
                    "parameters": [{"type": "location", "location": {"latitude": "N", "longitude": 0}}],
                },
            ),
            "location.latitude",
            "number of degrees",
        ),
        (
            ({"type": "header", "parameters": [{"type": "location", "location": {"latitude": 1}}]},),
            "location.longitude",
            "required",
        ),
        # tap-target title override
        (
            (BODY, tap_target({"url": "ftp://a.b/c", "title": "Offer"})),
            "tap_target_configuration.0.url",
            "pattern",
        ),
        (
            (BODY, tap_target({"url": "https://a.b/", "title": ""})),
            "tap_target_configuration.0.title",
            "1 char",
        ),
        ((BODY, tap_target()), "template.components.1.parameters.0.tap_target_configuration", "at least 1"),
    ],
)
def test_template_kind_limits_name_the_field(components, field, reason):
    with pytest.raises(InvalidSendRequest) as exc:
        parse_send_request(send(*components))
    assert any(field in f for f, _ in exc.value.errors), exc.value.errors
    assert reason in str(exc.value), str(exc.value)
