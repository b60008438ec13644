"""Meta's schema checks: the /marketing_messages body (OAS ``MarketingMessageRequestPayload``) and template
definitions at creation (compiled into what a send must carry; ``parameters`` checks sends against that).

Plain functions over dicts; the hot path does no model parsing. Every failure is a :class:`GraphError` with
Meta's code and details naming the parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import GraphError, invalid, required

# OAS MarketingMessageRequestPayload: additionalProperties false, exactly these properties.
SEND_FIELDS = frozenset(
    {
        "messaging_product",
        "recipient_type",
        "recipient",
        "to",
        "type",
        "template",
        "product_policy",
        "message_activity_sharing",
        "bid_spec",  # max-price multiplier, added in 2026 (meta-2026-updates section 5)
    }
)
# The Cloud API's /messages template body: no MM API field (the conformance sends' /messages examples, [TPL]);
# biz_opaque_callback_data is Cloud API's (reference section 4). Meta's answer to an MM API field there is the
# usual "Unexpected key" 100 (wording UNCONFIRMED for this endpoint).
CLOUD_SEND_FIELDS = (SEND_FIELDS - {"product_policy", "message_activity_sharing", "bid_spec"}) | {
    "biz_opaque_callback_data"
}
REQUIRED_SEND_FIELDS = ("messaging_product", "recipient_type", "type", "template")  # and `to` or `recipient`
# A BSUID: country + "." + <= 128 alphanumerics, "ENT." for a parent (2026); "user.<id>" before [BSUID].
_BSUID = re.compile(r"^(?:[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}|user\.[A-Za-z0-9._-]{1,251})$")
TTL_FIELD = "time_to_live"  # the seeds' per-message TTL; not in Meta's schema (reference 1.3)
PRODUCT_POLICIES = ("CLOUD_API_FALLBACK", "STRICT")
TEMPLATE_FIELDS = frozenset({"name", "language", "components", "namespace"})
LANGUAGE_FIELDS = frozenset({"code", "policy"})

TEXT_PARAM_TYPES = frozenset({"text", "currency", "date_time"})
MEDIA_FORMATS = {"IMAGE": ("image",), "VIDEO": ("video",), "DOCUMENT": ("document",), "GIF": ("video", "gif")}
# Header formats whose one parameter is not text: its send-time type (PRODUCT: single-product messages and
# product cards; LOCATION: a map pin).
OBJECT_FORMATS = {**MEDIA_FORMATS, "PRODUCT": ("product",), "LOCATION": ("location",)}
# Template button type (creation) -> send-time sub_type and the parameter type it takes.
BUTTON_SUB_TYPES = {
    "QUICK_REPLY": ("quick_reply", "payload"),
    "URL": ("url", "text"),
    "COPY_CODE": ("copy_code", "coupon_code"),
    "FLOW": ("flow", "action"),
    "CATALOG": ("catalog", "action"),
    "MPM": ("mpm", "action"),
    "PHONE_NUMBER": ("phone_number", None),
}
# Buttons a send must give a parameter: a copy code, and a multi-product button's sections [TPL mpm].
REQUIRED_BUTTONS = frozenset({"COPY_CODE", "MPM"})

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAMED = re.compile(r"^[a-z_][a-z0-9_]*$")
_NON_DIGITS = re.compile(r"\D")
_TO_CHARS = re.compile(r"^\+?[\d\s().-]+$")


# Template definitions.


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    index: int
    sub_type: str
    param_type: str | None  # the parameter a send must carry; None when it takes none
    required: bool  # a URL with {{1}}, a copy-code or an mpm button must get its parameter at send time


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """The parameters a template (or one of its carousel cards) expects, compiled once at creation."""

    named: bool
    header_format: str | None = None  # TEXT, IMAGE, VIDEO, DOCUMENT, GIF, LOCATION, PRODUCT
    header_params: tuple[str, ...] = ()
    body_params: tuple[str, ...] = ()
    buttons: tuple[ButtonSpec, ...] = ()
    limited_time_offer: bool = False  # an offer with an expiration: sends give `expiration_time_ms`
    cards: tuple[TemplateSpec, ...] = ()  # a carousel's cards, in order


def compile_template(components: Any, parameter_format: str) -> TemplateSpec:
    """Check a template definition (``POST /<WABA_ID>/message_templates``) and compile what sends need."""
    if not isinstance(components, list) or not components:
        raise invalid("Param components must be a non-empty array")
    spec, has_body = _compile(components, parameter_format == "NAMED", "components", card=False)
    if not has_body:
        raise invalid("A template needs a BODY component")
    return spec


def _compile(components: list[Any], named: bool, where: str, *, card: bool) -> tuple[TemplateSpec, bool]:
    """The spec of a template's components, or of one card's, and whether they have a body."""
    header_format: str | None = None
    header_params: tuple[str, ...] = ()
    body_params: tuple[str, ...] | None = None
    buttons: list[ButtonSpec] = []
    offer = False
    cards: tuple[TemplateSpec, ...] = ()
    kinds = ("HEADER", "BODY", "BUTTONS") if card else ("HEADER", "BODY", "FOOTER", "BUTTONS", *_TOP_ONLY)
    for i, component in enumerate(components):
        here = f"{where}[{i}]"
        if not isinstance(component, dict) or not isinstance(component.get("type"), str):
            raise invalid(f"Param {here}['type'] is required")
        kind = component["type"].upper()
        if kind not in kinds:
            raise invalid(f"Param {here}['type'] must be one of {', '.join(kinds)}")
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            if header_format == "TEXT":
                header_params = _placeholders(component.get("text"), named, f"{here}['text']")
                if len(header_params) > 1:
                    raise invalid("A text header supports at most 1 parameter")
            elif header_format not in OBJECT_FORMATS:
                raise invalid(f"Param {here}['format'] must be one of TEXT, {', '.join(OBJECT_FORMATS)}")
        elif kind == "BODY":
            body_params = _placeholders(component.get("text"), named, f"{here}['text']")
        elif kind == "FOOTER":
            if not isinstance(component.get("text"), str):
                raise invalid(f"Param {here}['text'] is required")
        elif kind == "BUTTONS":
            buttons = _compile_buttons(component.get("buttons"), here)
        elif kind == "LIMITED_TIME_OFFER":
            offer = _compile_offer(component.get("limited_time_offer"), here)
        else:
            cards = _compile_cards(component.get("cards"), named, here)
    spec = TemplateSpec(named, header_format, header_params, body_params or (), tuple(buttons), offer, cards)
    return spec, body_params is not None


_TOP_ONLY = ("LIMITED_TIME_OFFER", "CAROUSEL")


def _compile_offer(offer: Any, where: str) -> bool:
    """Whether the offer expires (then each send gives its expiration) [TPL limited-time-offer]."""
    if not isinstance(offer, dict) or not isinstance(offer.get("text"), str) or not offer["text"]:
        raise invalid(f"Param {where}['limited_time_offer']['text'] is required")
    return offer.get("has_expiration") is True


def _compile_cards(cards: Any, named: bool, where: str) -> tuple[TemplateSpec, ...]:
    if not isinstance(cards, list) or not cards:
        raise invalid(f"Param {where}['cards'] must be a non-empty array")
    compiled = []
    for i, card in enumerate(cards):
        here = f"{where}['cards'][{i}]['components']"
        components = card.get("components") if isinstance(card, dict) else None
        if not isinstance(components, list) or not components:
            raise invalid(f"Param {here} must be a non-empty array")
        compiled.append(_compile(components, named, here, card=True)[0])
    return tuple(compiled)


def _placeholders(text: Any, named: bool, where: str) -> tuple[str, ...]:
    if not isinstance(text, str) or not text:
        raise invalid(f"Param {where} is required")
    found = _PLACEHOLDER.findall(text)
    if named:
        if any(not _NAMED.match(name) for name in found):
            raise invalid(f"{where}: named parameters are lowercase letters, digits and underscores")
        if len(set(found)) != len(found):
            raise invalid(f"{where}: named parameters must be unique")
        return tuple(found)
    if found != [str(n) for n in range(1, len(found) + 1)]:
        raise invalid(f"{where}: positional parameters must be {{{{1}}}}, {{{{2}}}}, ... in order")
    return tuple(found)


def _compile_buttons(buttons: Any, where: str) -> list[ButtonSpec]:
    if not isinstance(buttons, list) or not buttons or len(buttons) > 10:
        raise invalid(f"Param {where}['buttons'] must be an array of 1 to 10 buttons")
    compiled = []
    for index, button in enumerate(buttons):
        kind = str(button.get("type", "")).upper() if isinstance(button, dict) else ""
        if kind not in BUTTON_SUB_TYPES:
            raise invalid(
                f"Param {where}['buttons'][{index}]['type'] must be one of {', '.join(BUTTON_SUB_TYPES)}"
            )
        sub_type, param_type = BUTTON_SUB_TYPES[kind]
        required = kind in REQUIRED_BUTTONS or (kind == "URL" and "{{" in str(button.get("url", "")))
        compiled.append(ButtonSpec(index, sub_type, param_type, required))
    return compiled


# The send body.


@dataclass(frozen=True, slots=True)
class SendRequest:
    to: str
    wa_id: str  # digits of a phone number; "" for a BSUID
    template_name: str
    language: str
    components: list[Any]
    product_policy: str | None


def check_send_body(body: Any, *, ttl_on_wire: bool, cloud_api: bool = False) -> SendRequest:
    """Schema checks of ``POST /<PHONE_NUMBER_ID>/marketing_messages`` (``/messages`` with ``cloud_api``: its
    template body, without the MM API fields or a TTL), in the order Meta reports them."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    # First, so a freeform message (its `text` is an unknown key here) gets Meta's documented answer.
    if "type" in body and body["type"] != "template":
        raise GraphError(
            100,
            f'Param type must be "template", got {body["type"]!r}.',
            message="Message must be a template message.",
        )
    allowed = CLOUD_SEND_FIELDS if cloud_api else SEND_FIELDS
    for name in body:
        if name not in allowed and not (ttl_on_wire and not cloud_api and name == TTL_FIELD):
            raise GraphError(100, f'Unexpected key "{name}" on param "<root>".')
    for name in REQUIRED_SEND_FIELDS:
        if name not in body:
            raise required(name)
    _enum(body, "messaging_product", ("whatsapp",))
    _enum(body, "recipient_type", ("individual",))
    if "product_policy" in body:
        _enum(body, "product_policy", PRODUCT_POLICIES)
    if "message_activity_sharing" in body and not isinstance(body["message_activity_sharing"], bool):
        raise invalid("Param message_activity_sharing must be a boolean.")
    if "bid_spec" in body:
        _bid_spec(body["bid_spec"])
    if ttl_on_wire and TTL_FIELD in body:
        ttl = body[TTL_FIELD]
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise invalid("Param time_to_live must be a positive integer (seconds).")
    # Meta: `to` wins when both are sent; neither -> "The parameter to is required." [SEND]
    if "to" in body:
        to = body["to"]
        wa_id = _recipient(to)
    elif "recipient" in body:
        to, wa_id = body["recipient"], ""
        if not isinstance(to, str) or not _BSUID.match(to):
            raise invalid(f"Param recipient is not a valid user ID: {to!r}.")
    else:
        raise required("to")
    template = body["template"]
    if not isinstance(template, dict):
        raise invalid("Param template must be an object.")
    for name in template:
        if name not in TEMPLATE_FIELDS:
            raise GraphError(100, f'Unexpected key "{name}" on param "template".')
    name = template.get("name")
    if not isinstance(name, str) or not name:
        raise required("template['name']")
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str) or not language["code"]:
        raise required("template['language']['code']")
    for key in language:
        if key not in LANGUAGE_FIELDS:
            raise GraphError(100, f'Unexpected key "{key}" on param "template[\'language\']".')
    if "policy" in language and language["policy"] != "deterministic":
        raise invalid("Param template['language']['policy'] must be one of {deterministic}.")
    components = template.get("components", [])
    if not isinstance(components, list):
        raise invalid("Param template['components'] must be an array.")
    return SendRequest(to, wa_id, name, language["code"], components, body.get("product_policy"))


def digits_of(to: str) -> str:
    """The digits of a phone number as written (``+91 98765-43210`` -> ``919876543210``)."""
    return to if to.isdigit() else _NON_DIGITS.sub("", to)


def _bid_spec(spec: Any) -> None:
    """``{"per_message_bid_multiplier": <positive float>}`` [MAXP]; Meta's exact wording is not documented."""
    if not isinstance(spec, dict):
        raise invalid("Param bid_spec must be an object.")
    for key in spec:
        if key != "per_message_bid_multiplier":
            raise GraphError(100, f'Unexpected key "{key}" on param "bid_spec".')
    value = spec.get("per_message_bid_multiplier")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise invalid("Param bid_spec['per_message_bid_multiplier'] must be a positive number.")


def _enum(body: dict, name: str, allowed: tuple[str, ...]) -> None:
    if body[name] not in allowed:
        shown = ", ".join(a.upper() for a in allowed)
        raise invalid(f"Param {name} must be one of {{{shown}}} - got {body[name]!r}.")


def _recipient(to: Any) -> str:
    if not isinstance(to, str) or not to:
        raise invalid("Param to must be a non-empty string.")
    if _BSUID.match(to):  # business-scoped user ID
        return ""
    if not _TO_CHARS.match(to):
        raise invalid(f"Param to is not a valid phone number or user ID: {to!r}.")
    digits = digits_of(to)
    if not 5 <= len(digits) <= 15:
        raise invalid(f"Param to is not a valid phone number: {to!r}.")
    return digits
