"""The template checker (mmcore.meta.templates) against Meta's documented sends (conformance/sends): each
fits the template Meta's page defines for it, and each way a send can miss its template is named."""

from __future__ import annotations

import copy

import conformance
import pytest

from mmcore.meta import templates as meta

# The definitions Meta's pages give for the sends of conformance/sends/meta_sends.json (same pages).
DEFINITIONS = {
    "doc_named_parameters": (
        "NAMED",
        [
            {
                "type": "BODY",
                "text": "Thank you, {{first_name}}! Your order number is {{order_number}}.",
            }
        ],
    ),
    "doc_positional_parameters": (
        "POSITIONAL",
        [{"type": "BODY", "text": "Thank you, {{1}}! Your order number is {{2}}."}],
    ),
    "doc_custom_marketing": (
        "NAMED",
        [
            {"type": "HEADER", "format": "IMAGE"},
            {
                "type": "BODY",
                "text": "Hi {{first_name}}! Use {{discount_code}} for {{discount_amount}} off.",
            },
        ],
    ),
    "doc_coupon_copy_code": (
        "POSITIONAL",
        [
            {"type": "BODY", "text": "Use code {{1}} to get {{2}} off."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Unsubscribe"},
                    {"type": "COPY_CODE", "example": "25OFF"},
                ],
            },
        ],
    ),
    "doc_limited_time_offer": (
        "POSITIONAL",
        [
            {"type": "HEADER", "format": "IMAGE"},
            {
                "type": "LIMITED_TIME_OFFER",
                "limited_time_offer": {"text": "Expiring!", "has_expiration": True},
            },
            {"type": "BODY", "text": "Hi {{1}}, use {{2}}."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "COPY_CODE", "example": "CARIBE25"},
                    {"type": "URL", "text": "Book", "url": "https://example.com/{{1}}"},
                ],
            },
        ],
    ),
}


def documented(name: str) -> dict:
    sends = {s["name"]: s for s in conformance.load("sends", "meta_sends.json")}
    return copy.deepcopy(sends[name]["body"]["template"]["components"])


def shape(name: str) -> meta.Shape:
    parameter_format, components = DEFINITIONS[name]
    return meta.shape(components, parameter_format)


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_each_documented_send_fits_its_template(name):
    assert meta.check(shape(name), documented(name)) == []


def test_a_named_template_sent_positional_parameters_names_each_missing_name():
    # Given Meta's positional send of order_confirmation, against the template defined with named parameters
    problems = meta.check(shape("doc_named_parameters"), documented("doc_positional_parameters"))
    fields = {f for f, _ in problems}
    # Then both names are missing, each named with what the template expects
    assert "template.components.0.parameters.first_name" in fields
    assert "template.components.0.parameters.order_number" in fields
    assert all("{{first_name}}, {{order_number}}" in r for _, r in problems if "missing parameter" in r)


def test_a_positional_template_refuses_parameter_names_and_a_wrong_count():
    sent = documented("doc_named_parameters")  # named parameters
    problems = meta.check(shape("doc_positional_parameters"), sent)
    assert ("template.components.0.parameters.0.parameter_name") in {f for f, _ in problems}
    sent[0]["parameters"] = sent[0]["parameters"][:1]
    for p in sent[0]["parameters"]:
        p.pop("parameter_name")
    [(field, reason)] = meta.check(shape("doc_positional_parameters"), sent)
    assert field == "template.components.0.parameters"
    assert reason == "body: 1 parameter sent; the template expects 2 positional parameters ({{1}}, {{2}})"


def test_a_media_header_must_be_of_the_template_s_type():
    sent = documented("doc_custom_marketing")
    sent[0]["parameters"] = [{"type": "video", "video": {"id": "1"}}]
    [(field, reason)] = meta.check(shape("doc_custom_marketing"), sent)
    assert field == "template.components.0.parameters.0.type"
    assert "IMAGE" in reason and "'video'" in reason
    del sent[0]
    assert meta.check(shape("doc_custom_marketing"), sent)[0][1].startswith(
        "header: the template's header is IMAGE"
    )


def test_buttons_are_checked_by_index_and_sub_type():
    sent = documented("doc_coupon_copy_code")
    sent[1]["index"] = 0  # the quick reply's index
    problems = dict(meta.check(shape("doc_coupon_copy_code"), sent))
    assert "button 0: sub_type 'copy_code'; the template's button 0 is quick_reply" in problems.values()
    # and the copy code (index 1) is then missing
    assert any("button 1 (copy_code): missing" in r for r in problems.values())
    sent[1]["index"] = 7
    problems = dict(meta.check(shape("doc_coupon_copy_code"), sent))
    assert "template.components.1.index" in problems


def test_an_expiring_offer_and_a_dynamic_url_must_be_sent():
    sent = [c for c in documented("doc_limited_time_offer") if c["type"] not in ("limited_time_offer",)]
    sent = [c for c in sent if not (c["type"] == "button" and c["sub_type"] == "url")]
    reasons = [r for _, r in meta.check(shape("doc_limited_time_offer"), sent)]
    assert "limited_time_offer: the offer expires; send its expiration_time_ms" in reasons
    assert "button 1 (url): missing; the template expects 1 text parameter" in reasons


def test_a_template_that_is_not_approved_or_not_listed_is_refused_naming_why():
    assert meta.refusal("promo", "en_US", {"listed_at": 1, "status": "APPROVED"}) == []
    [(field, reason)] = meta.refusal("promo", "en_US", {"listed_at": 1, "status": "PAUSED"})
    assert field == "template.name" and "PAUSED" in reason and "132015" in reason
    [(_, reason)] = meta.refusal("promo", "en_US", {}, ["pt_BR"])
    assert reason == "promo (en_US): not found in the WABA's templates (it exists in: pt_BR)"
    [(_, reason)] = meta.refusal("promo", "en_US", {"listed_at": 1, "unlisted_at": 2, "status": "APPROVED"})
    assert "no longer lists" in reason


def test_a_carousel_is_checked_card_by_card():
    card = [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Card {{1}}"}]
    template = meta.shape(
        [{"type": "BODY", "text": "Hi"}, {"type": "CAROUSEL", "cards": [{"components": card}] * 2}],
        "POSITIONAL",
    )
    assert template.view()["cards"][0]["header_format"] == "IMAGE"
    one = {"type": "header", "parameters": [{"type": "image", "image": {"id": "1"}}]}
    cards = [
        {
            "card_index": i,
            "components": [one, {"type": "body", "parameters": [{"type": "text", "text": "x"}]}],
        }
        for i in range(2)
    ]
    assert meta.check(template, [{"type": "carousel", "cards": cards}]) == []
    cards[1]["components"] = [one]
    [(field, reason)] = meta.check(template, [{"type": "carousel", "cards": cards}])
    assert field == "template.components.0.cards.1.components" and reason.startswith("body: 0 parameters")
