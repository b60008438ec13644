"""Meta's schema checks: the /marketing_messages body (OAS ``MarketingMessageRequestPayload``), template
definitions at creation, and send-time parameters against a template.

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
        "to",
        "type",
        "template",
        "product_policy",
        "message_activity_sharing",
    }
)
REQUIRED_SEND_FIELDS = ("messaging_product", "recipient_type", "to", "type", "template")
TTL_FIELD = "time_to_live"  # the seeds' per-message TTL; not in Meta's schema (reference 1.3)
PRODUCT_POLICIES = ("CLOUD_API_FALLBACK", "STRICT")
TEMPLATE_FIELDS = frozenset({"name", "language", "components", "namespace"})
LANGUAGE_FIELDS = frozenset({"code", "policy"})

TEXT_PARAM_TYPES = frozenset({"text", "currency", "date_time"})
MEDIA_FORMATS = {"IMAGE": ("image",), "VIDEO": ("video",), "DOCUMENT": ("document",), "GIF": ("video", "gif")}
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
MAX_TEXT_PARAM = 32768  # OAS TextParameter.text maxLength
MAX_COUPON = 20

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAMED = re.compile(r"^[a-z_][a-z0-9_]*$")
_NON_DIGITS = re.compile(r"\D")
_TO_CHARS = re.compile(r"^\+?[\d\s().-]+$")
_COUPON = re.compile(r"^[A-Za-z0-9]+$")


# Template definitions.


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    index: int
    sub_type: str
    param_type: str | None  # the parameter a send must carry; None when it takes none
    required: bool  # a URL with {{1}} or a copy-code button must get its parameter at send time


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """The parameters a template expects, compiled once at creation."""

    named: bool
    header_format: str | None = None  # TEXT, IMAGE, VIDEO, DOCUMENT, GIF, LOCATION
    header_params: tuple[str, ...] = ()
    body_params: tuple[str, ...] = ()
    buttons: tuple[ButtonSpec, ...] = ()


def compile_template(components: Any, parameter_format: str) -> TemplateSpec:
    """Check a template definition (``POST /<WABA_ID>/message_templates``) and compile what sends need."""
    named = parameter_format == "NAMED"
    if not isinstance(components, list) or not components:
        raise invalid("Param components must be a non-empty array")
    header_format: str | None = None
    header_params: tuple[str, ...] = ()
    body_params: tuple[str, ...] | None = None
    buttons: list[ButtonSpec] = []
    for i, component in enumerate(components):
        where = f"components[{i}]"
        if not isinstance(component, dict) or not isinstance(component.get("type"), str):
            raise invalid(f"Param {where}['type'] is required")
        kind = component["type"].upper()
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            if header_format == "TEXT":
                header_params = _placeholders(component.get("text"), named, f"{where}['text']")
                if len(header_params) > 1:
                    raise invalid("A text header supports at most 1 parameter")
            elif header_format not in (*MEDIA_FORMATS, "LOCATION"):
                raise invalid(
                    f"Param {where}['format'] must be one of TEXT, IMAGE, VIDEO, DOCUMENT, GIF, LOCATION"
                )
        elif kind == "BODY":
            body_params = _placeholders(component.get("text"), named, f"{where}['text']")
        elif kind == "FOOTER":
            if not isinstance(component.get("text"), str):
                raise invalid(f"Param {where}['text'] is required")
        elif kind == "BUTTONS":
            buttons = _compile_buttons(component.get("buttons"), where)
        else:
            raise invalid(f"Param {where}['type'] must be one of HEADER, BODY, FOOTER, BUTTONS")
    if body_params is None:
        raise invalid("A template needs a BODY component")
    return TemplateSpec(named, header_format, header_params, body_params, tuple(buttons))


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
        required = kind == "COPY_CODE" or (kind == "URL" and "{{" in str(button.get("url", "")))
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


def check_send_body(body: Any, *, ttl_on_wire: bool) -> SendRequest:
    """Schema checks of ``POST /<PHONE_NUMBER_ID>/marketing_messages``, in the order Meta reports them."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    # First, so a freeform message (its `text` is an unknown key here) gets Meta's documented answer.
    if "type" in body and body["type"] != "template":
        raise GraphError(
            100,
            f'Param type must be "template", got {body["type"]!r}.',
            message="Message must be a template message.",
        )
    for name in body:
        if name not in SEND_FIELDS and not (ttl_on_wire and name == TTL_FIELD):
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
    if ttl_on_wire and TTL_FIELD in body:
        ttl = body[TTL_FIELD]
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise invalid("Param time_to_live must be a positive integer (seconds).")
    to = body["to"]
    wa_id = _recipient(to)
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


def _enum(body: dict, name: str, allowed: tuple[str, ...]) -> None:
    if body[name] not in allowed:
        shown = ", ".join(a.upper() for a in allowed)
        raise invalid(f"Param {name} must be one of {{{shown}}} - got {body[name]!r}.")


def _recipient(to: Any) -> str:
    if not isinstance(to, str) or not to:
        raise invalid("Param to must be a non-empty string.")
    if to.startswith("user.") and 5 < len(to) <= 256:  # business-scoped user ID (reference 1.4)
        return ""
    if not _TO_CHARS.match(to):
        raise invalid(f"Param to is not a valid phone number or user ID: {to!r}.")
    digits = digits_of(to)
    if not 5 <= len(digits) <= 15:
        raise invalid(f"Param to is not a valid phone number: {to!r}.")
    return digits


# Send-time parameters against the template.


def check_parameters(spec: TemplateSpec, components: list[Any]) -> None:
    """132000 when counts, types or names differ from the template; 100 when a component is malformed."""
    header: list[dict] | None = None
    body: list[dict] | None = None
    buttons: dict[int, tuple[str, list[dict]]] = {}
    for i, component in enumerate(components):
        where = f"template['components'][{i}]"
        if not isinstance(component, dict):
            raise invalid(f"Param {where} must be an object.")
        kind = str(component.get("type", "")).lower()
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
            raise invalid(f"Param {where}['parameters'] must be an array of objects.")
        for j, parameter in enumerate(parameters):
            _check_parameter_shape(parameter, f"{where}['parameters'][{j}]")
        if kind == "header":
            header = parameters
        elif kind == "body":
            body = parameters
        elif kind == "button":
            index = component.get("index")
            if isinstance(index, str) and index.isdigit():
                index = int(index)
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 9:
                raise invalid(f"Param {where}['index'] must be an integer from 0 to 9.")
            sub_type = str(component.get("sub_type", "")).lower()
            if not sub_type:
                raise required(f"{where}['sub_type']")
            if index in buttons:
                raise invalid(f"Param {where}: more than one component for button {index}.")
            buttons[index] = (sub_type, parameters)
        else:
            raise invalid(f"Param {where}['type'] must be one of {{HEADER, BODY, BUTTON}}.")
    _check_header(spec, header or [])
    _check_list("body", spec.body_params, body or [], spec.named, TEXT_PARAM_TYPES)
    _check_buttons(spec, buttons)


def _check_parameter_shape(parameter: dict, where: str) -> None:
    kind = parameter.get("type")
    if not isinstance(kind, str):
        raise required(f"{where}['type']")
    value = parameter.get(kind)
    if kind in ("text", "payload"):
        if not isinstance(value, str) or not value:
            raise GraphError(131008, f"The parameter {where}['{kind}'] is required.")
        if len(value) > MAX_TEXT_PARAM:
            raise invalid(f"Param {where}['{kind}'] is longer than {MAX_TEXT_PARAM} characters.")
    elif kind == "coupon_code":
        if not isinstance(value, str) or not value:
            raise GraphError(131008, f"The parameter {where}['coupon_code'] is required.")
        if len(value) > MAX_COUPON or not _COUPON.match(value):
            raise invalid(f"Param {where}['coupon_code'] must be at most {MAX_COUPON} letters or digits.")
    elif kind == "currency":
        if not isinstance(value, dict) or not all(
            k in value for k in ("fallback_value", "code", "amount_1000")
        ):
            raise GraphError(131008, f"Param {where}['currency'] needs fallback_value, code and amount_1000.")
    elif kind == "date_time":
        if not isinstance(value, dict) or "fallback_value" not in value:
            raise GraphError(131008, f"The parameter {where}['date_time']['fallback_value'] is required.")
    elif kind in ("image", "video", "document", "gif"):
        if not isinstance(value, dict) or not (value.get("id") or value.get("link")):
            raise GraphError(131008, f"Param {where}['{kind}'] needs an id or a link.")
    elif kind in ("action", "location"):
        if not isinstance(value, dict):
            raise GraphError(131008, f"The parameter {where}['{kind}'] is required.")
    else:
        raise invalid(f"Param {where}['type'] {kind!r} is not a valid parameter type.")


def _check_header(spec: TemplateSpec, parameters: list[dict]) -> None:
    header_format = spec.header_format
    if header_format in MEDIA_FORMATS or header_format == "LOCATION":
        allowed = MEDIA_FORMATS.get(header_format, ("location",))
        _count("header", 1, parameters)
        if parameters[0]["type"] not in allowed:
            raise GraphError(
                132000,
                f"header: parameter type {parameters[0]['type']!r} does not match format {header_format}",
            )
        return
    _check_list("header", spec.header_params, parameters, spec.named, frozenset({"text"}))


def _check_list(
    where: str, expected: tuple[str, ...], parameters: list[dict], named: bool, types: frozenset[str]
) -> None:
    _count(where, len(expected), parameters)
    for parameter in parameters:
        if parameter["type"] not in types:
            raise GraphError(
                132000,
                f"{where}: parameter type {parameter['type']!r} is not allowed; use one of {sorted(types)}",
            )
    given = [p.get("parameter_name") for p in parameters]
    if not named:
        if any(name is not None for name in given):
            raise GraphError(132000, f"{where}: parameter_name is only for templates with named parameters")
        return
    if None in given:
        raise GraphError(132000, f"{where}: every parameter needs a parameter_name (the template is named)")
    if sorted(given) != sorted(expected):
        missing = sorted(set(expected) - set(given))
        unexpected = sorted(set(given) - set(expected))
        raise GraphError(
            132000, f"{where}: parameter_name mismatch; missing {missing}, unexpected {unexpected}"
        )


def _count(where: str, expected: int, parameters: list[dict]) -> None:
    if len(parameters) != expected:
        raise GraphError(
            132000,
            f"{where}: number of localizable_params ({len(parameters)}) does not match the expected number"
            f" of params ({expected})",
        )


def _check_buttons(spec: TemplateSpec, sent: dict[int, tuple[str, list[dict]]]) -> None:
    by_index = {button.index: button for button in spec.buttons}
    for index, (sub_type, parameters) in sent.items():
        button = by_index.get(index)
        if button is None:
            raise GraphError(132000, f"button: the template has no button at index {index}")
        if sub_type != button.sub_type:
            raise GraphError(
                132000, f"button {index}: sub_type {sub_type!r} does not match {button.sub_type!r}"
            )
        if len(parameters) > 1 or (parameters and button.param_type is None):
            raise GraphError(132000, f"button {index}: too many parameters ({len(parameters)})")
        if parameters and parameters[0]["type"] != button.param_type:
            raise GraphError(
                132000,
                f"button {index}: parameter type {parameters[0]['type']!r}, expected {button.param_type!r}",
            )
    for button in spec.buttons:
        if button.required and not sent.get(button.index, ("", []))[1]:
            raise GraphError(
                132000,
                f"button {button.index}: number of localizable_params (0) does not match the expected number"
                " of params (1)",
            )
