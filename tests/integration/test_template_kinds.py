"""Every marketing template kind Meta documents, against the Graph simulator: each documented send body, as the
product builds it, is accepted for a template of that kind; a bad one gets Meta's error; and a carousel
campaign with per-recipient card text goes end to end through the campaign API, the queue and the sender."""

from __future__ import annotations

import copy
import json
from typing import Any

import conformance
import httpx
import pytest
from handlers import LambdaContext, load_event, load_handler

from mmapi.simulator import Simulator
from mmcore.meta.messages import parse_send_request, wire_bytes

SENDS = ("sends", "meta_sends.json")

IMAGE, PRODUCT, TEXT = {"type": "HEADER", "format": "IMAGE"}, {"type": "HEADER", "format": "PRODUCT"}, "TEXT"


def body(text: str) -> dict[str, Any]:
    return {"type": "BODY", "text": text}


def buttons(*kinds: tuple[str, str]) -> dict[str, Any]:
    made = []
    for kind, url in kinds:
        made.append({"type": kind, "text": kind.title(), **({"url": url} if url else {})})
    return {"type": "BUTTONS", "buttons": made}


def cards(count: int, *components: dict[str, Any]) -> dict[str, Any]:
    return {"type": "CAROUSEL", "cards": [{"components": list(components)} for _ in range(count)]}


MEDIA_CARD = (
    IMAGE,
    body("Rare succulents."),
    buttons(("QUICK_REPLY", ""), ("URL", "https://shrubs.example/{{1}}")),
)
# The template each documented send fills, as a business would create it (POST /<WABA_ID>/message_templates):
# send name -> (template name, language, parameter format, components).
TEMPLATES: dict[str, tuple[str, str, str, list[dict[str, Any]]]] = {
    "doc_custom_marketing": (
        "welcome_discount_template",
        "en_US",
        "NAMED",
        [IMAGE, body("Hi {{first_name}}, use {{discount_code}} for {{discount_amount}} off.")],
    ),
    "doc_coupon_copy_code": (
        "coupon_code_fall2023_25off",
        "en_US",
        "POSITIONAL",
        [body("Use code {{1}} for {{2}} off."), buttons(("QUICK_REPLY", ""), ("COPY_CODE", ""))],
    ),
    "doc_catalog": (
        "intro_catalog_offer",
        "en_US",
        "POSITIONAL",
        [body("Rs {{1}} off orders above Rs {{2}}, for your first {{3}} orders."), buttons(("CATALOG", ""))],
    ),
    "doc_mpm": (
        "abandoned_cart",
        "en_US",
        "POSITIONAL",
        [
            {"type": "HEADER", "format": TEXT, "text": "Forget something, {{1}}?"},
            body("Use code {{1}} to get 10% off."),
            buttons(("MPM", "")),
        ],
    ),
    "doc_limited_time_offer": (
        "limited_time_offer_caribbean_pkg_2023",
        "en_US",
        "POSITIONAL",
        [
            IMAGE,
            {
                "type": "LIMITED_TIME_OFFER",
                "limited_time_offer": {"text": "Expiring offer!", "has_expiration": True},
            },
            body("Good news, {{1}}! Use code {{2}} to get 25% off."),
            buttons(("COPY_CODE", ""), ("URL", "https://destinations.example/offers?code={{1}}")),
        ],
    ),
    "doc_spm": (
        "spm_template_named_params",
        "en_US",
        "NAMED",
        [PRODUCT, body("Use {{code}} for {{percent}} off.")],
    ),
    "doc_media_card_carousel": (
        "carousel_template_media_cards_v1",
        "en_US",
        "POSITIONAL",
        [body("{{1}}, these are {{2}} off with code {{3}}."), cards(3, *MEDIA_CARD)],
    ),
    "doc_product_card_carousel": (
        "carousel_template_product_cards_v1",
        "en_US",
        "POSITIONAL",
        [body("{{1}}, new arrivals."), cards(3, PRODUCT)],
    ),
    "doc_named_parameters": (
        "order_confirmation",
        "en_US",
        "NAMED",
        [body("Thank you, {{first_name}}! Your order {{order_number}} is confirmed.")],
    ),
    "doc_positional_parameters": (
        "order_confirmation",
        "en_US",
        "POSITIONAL",
        [body("Thank you, {{1}}! Your order {{2}} is confirmed.")],
    ),
    "doc_tap_target_override": ("august_promotion", "en", "POSITIONAL", [IMAGE, body("{{1}}")]),
    "oas_simple_template_message": ("hello_world", "en", "POSITIONAL", [body("Hello World")]),
    "oas_template_with_product_policy": ("welcome_offer", "en_US", "POSITIONAL", [body("Welcome!")]),
    "oas_parameterized_template": ("promotional_offer", "en", "POSITIONAL", [body("Hi {{1}}, {{2}} off.")]),
}


def documented() -> list[str]:
    return [s["name"] for s in conformance.load(*SENDS)] if conformance.ROOT.is_dir() else []


def documented_body(name: str) -> dict[str, Any]:
    [send] = [s for s in conformance.load(*SENDS) if s["name"] == name]
    return copy.deepcopy(send["body"])


def create(sim: Simulator, client: httpx.Client, send_name: str) -> None:
    name, language, parameter_format, components = TEMPLATES[send_name]
    template = {
        "name": name,
        "language": language,
        "category": "MARKETING",
        "parameter_format": parameter_format,
        "components": components,
    }
    response = client.post(f"/{sim.waba_id}/message_templates", json=template)
    assert response.status_code == 200, response.text


@pytest.fixture
def meta(simulator: Simulator, graph_client: httpx.Client) -> tuple[Simulator, httpx.Client]:
    """The simulator with new templates sendable at once. Meta's docs send to US numbers, which Meta blocks
    for marketing (131049); that rule has its own tests, so it is off here."""
    simulator.config.template_sync_seconds = 0
    simulator.config.us_block = False
    return simulator, graph_client


def post(sim: Simulator, client: httpx.Client, wire: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    return client.post(f"/{sim.phone_number_id}/marketing_messages", content=wire, headers=headers)


def test_every_documented_send_has_a_template_here():
    assert set(documented()) <= set(TEMPLATES)


@pytest.mark.parametrize("name", documented())
def test_the_simulator_accepts_each_documented_send_as_the_product_builds_it(meta, name):
    sim, client = meta
    # Given a template of the documented kind
    create(sim, client, name)
    body = documented_body(name)
    if name == "doc_tap_target_override":
        body["to"] = "+16505551234"  # the doc's "+1233214532" is not a phone number (unit-tested)
    # When the product's wire body for Meta's documented send is posted
    response = post(sim, client, wire_bytes(parse_send_request(body)))
    # Then Meta accepts it
    assert response.status_code == 200, response.text
    assert response.json()["messages"][0]["message_status"] == "accepted"


def changed(name: str, path: list[Any], value: Any) -> dict[str, Any]:
    body = documented_body(name)
    node = body
    for part in path[:-1]:
        node = node[part]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


CARDS = ["template", "components", 1, "cards"]
ACTION = ["template", "components", 2, "parameters", 0, "action"]
OFFER = ["template", "components", 2, "parameters", 0, "limited_time_offer", "expiration_time_ms"]


@pytest.mark.parametrize(
    ("name", "path", "value", "code", "detail"),
    [
        ("doc_media_card_carousel", [*CARDS, 2], None, 132000, "number of cards (2)"),
        ("doc_media_card_carousel", [*CARDS, 2, "card_index"], 7, 131009, "card_index"),
        ("doc_media_card_carousel", [*CARDS, 0, "components", 2], None, 132000, "card 0: button 1"),
        (
            "doc_media_card_carousel",
            [*CARDS, 0, "components", 0, "parameters", 0, "image"],
            {},
            131008,
            "image",
        ),
        (
            "doc_product_card_carousel",
            [*CARDS, 1, "components", 0, "parameters", 0, "product", "catalog_id"],
            None,
            131008,
            "catalog_id",
        ),
        ("doc_limited_time_offer", OFFER, -5, 131009, "expiration_time_ms"),
        ("doc_limited_time_offer", OFFER[:-1], {}, 131008, "expiration_time_ms"),
        ("doc_limited_time_offer", ["template", "components", 2], None, 132000, "limited_time_offer"),
        ("doc_mpm", [*ACTION, "sections"], None, 131008, "sections"),
        ("doc_mpm", [*ACTION, "sections", 0, "product_items"], [], 131008, "product_items"),
        ("doc_mpm", ["template", "components", 2, "parameters"], [], 132000, "button 0"),
        (
            "doc_coupon_copy_code",
            ["template", "components", 1, "parameters", 0, "coupon_code"],
            "25-OFF",
            100,
            "coupon_code",
        ),
        (
            "doc_tap_target_override",
            ["template", "components", 2, "parameters", 0, "tap_target_configuration", 0, "url"],
            "luckyshrubs",
            131009,
            "url",
        ),
        (
            "doc_spm",
            ["template", "components", 0, "parameters", 0],
            {"type": "image", "image": {"id": "1"}},
            132000,
            "PRODUCT",
        ),
    ],
)
def test_a_broken_kind_gets_metas_error(meta, name, path, value, code, detail):
    sim, client = meta
    create(sim, client, name)
    bad = changed(name, path, value)
    if name == "doc_tap_target_override":
        bad["to"] = "+16505551234"
    bad.setdefault("recipient_type", "individual")  # the coupon page omits it; Meta's schema requires it
    # The simulator is Meta: the raw body, not the product's (which refuses these before sending).
    response = client.post(f"/{sim.phone_number_id}/marketing_messages", json=bad)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert detail in error["error_data"]["details"]


# ---------------------------------------------------------------- a carousel campaign, end to end


def carousel_campaign(recipients: list[dict[str, Any]]) -> dict[str, Any]:
    def card(index: int) -> dict[str, Any]:
        return {
            "card_index": index,
            "components": [
                {
                    "type": "header",
                    "parameters": [{"type": "image", "image": {"id": f"15580815315848{index}"}}],
                },
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": f"{{{{first_name}}}}, card {index}"}],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": f"{{{{code}}}}{index}"}],
                },
            ],
        }

    return {
        "name": "Succulents carousel",
        "campaign_id": "succulents",
        "template": {
            "name": "succulent_cards",
            "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "{{first_name}}"}]},
                {"type": "carousel", "cards": [card(0), card(1)]},
            ],
        },
        "recipients": recipients,
    }


def test_a_carousel_campaign_personalises_every_card_and_is_sent(send_env):
    sim = send_env.sim
    sim.config.template_sync_seconds = 0
    card = [
        {"type": "HEADER", "format": "IMAGE"},
        body("Hi {{1}}, this one is for you."),
        buttons(("URL", "https://shrubs.example/{{1}}")),
    ]
    template = {
        "name": "succulent_cards",
        "language": "en_US",
        "category": "MARKETING",
        "components": [
            body("{{1}}, our rare succulents:"),
            {"type": "CAROUSEL", "cards": [{"components": card}] * 2},
        ],
    }
    with httpx.Client(base_url=sim.base_url, headers=sim.auth_headers, timeout=5) as client:
        assert client.post(f"/{sim.waba_id}/message_templates", json=template).status_code == 200
    # Given a campaign whose card bodies and button URLs use each recipient's variables
    recipients = [
        {"to": "919876543210", "variables": {"first_name": "Ana", "code": "ana"}},
        {"to": "+91 98123 45678", "variables": {"first_name": "Ravi", "code": "ravi"}},
    ]
    event = load_event("campaigns_post.json")
    event["body"] = json.dumps(carousel_campaign(recipients))
    # When it is created through the campaign API and the sender drains the queue
    answer = load_handler("campaigns").lambda_handler(event, LambdaContext())
    assert answer["statusCode"] == 202, answer["body"]
    assert json.loads(answer["body"])["counts"]["queued"] == 2
    send_env.drain()
    # Then Meta received each recipient's own text in every card, and accepted both
    posted = {r.body["to"]: r.body["template"]["components"] for r in sim.requests("marketing_messages")}
    assert set(posted) == {"919876543210", "919812345678"}
    for to, name, code in (("919876543210", "Ana", "ana"), ("919812345678", "Ravi", "ravi")):
        top, carousel = posted[to]
        assert top["parameters"][0]["text"] == name
        for index, sent in enumerate(carousel["cards"]):
            card_body, url = sent["components"][1], sent["components"][2]
            assert card_body["parameters"][0]["text"] == f"{name}, card {index}"
            assert url["parameters"][0]["text"] == f"{code}{index}"
    assert sim.sends_by_recipient(accepted_only=True) == {"919876543210": 1, "919812345678": 1}
    for i in range(2):
        assert send_env.message(f"succulents-{i}")["state"] == "accepted"
