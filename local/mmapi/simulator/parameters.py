"""Send-time parameters against the template they fill: Meta's 132000 when counts, types or names differ
from the template, 131008 when a value is missing, 131009 when a value is not valid, 100 when a component is
malformed.

Covers every marketing template kind Meta documents: text, media, product and location headers; body
parameters; url, quick reply, copy code, flow, catalog and multi-product (``mpm``) buttons; media and
product card carousels; limited-time offers; the tap-target URL title override.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import GraphError, invalid, required
from .validation import OBJECT_FORMATS, TEXT_PARAM_TYPES, TemplateSpec

MAX_TEXT_PARAM = 32768  # OAS TextParameter.text maxLength
MAX_COUPON = 20  # reference 2.1 [TPL coupon]

_COUPON = re.compile(r"^[A-Za-z0-9]+$")
_HTTP_URL = re.compile(r"^https?://\S+$")


def not_valid(details: str) -> GraphError:
    """131009, Meta's answer to a parameter value it cannot use."""
    return GraphError(131009, details, message="Parameter value is not valid")


def check_parameters(spec: TemplateSpec, components: list[Any], where: str = "template") -> None:
    """Check a send's ``components`` (the template's, or one card's) against the template's spec."""
    header: list[dict] | None = None
    body: list[dict] | None = None
    buttons: dict[int, tuple[str, list[dict]]] = {}
    offer: list[dict] | None = None
    for i, component in enumerate(components):
        here = f"{where}['components'][{i}]"
        if not isinstance(component, dict):
            raise invalid(f"Param {here} must be an object.")
        kind = str(component.get("type", "")).lower()
        if kind == "carousel" and where == "template":
            _check_carousel(spec, component.get("cards"), here)
            continue
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
            raise invalid(f"Param {here}['parameters'] must be an array of objects.")
        for j, parameter in enumerate(parameters):
            _check_parameter_shape(parameter, f"{here}['parameters'][{j}]")
        if kind == "header":
            header = parameters
        elif kind == "body":
            body = parameters
        elif kind == "button":
            index, sub_type = _button(component, here)
            if index in buttons:
                raise invalid(f"Param {here}: more than one component for button {index}.")
            buttons[index] = (sub_type, parameters)
        elif kind == "limited_time_offer" and where == "template":
            offer = parameters
        elif kind == "tap_target_configuration" and where == "template":
            _count("tap_target_configuration", 1, parameters)
        else:
            kinds = "HEADER, BODY, BUTTON" + (
                ", CAROUSEL, LIMITED_TIME_OFFER, TAP_TARGET_CONFIGURATION" if where == "template" else ""
            )
            raise invalid(f"Param {here}['type'] must be one of {{{kinds}}}.")
    _check_header(spec, header or [])
    _check_list("body", spec.body_params, body or [], spec.named, TEXT_PARAM_TYPES)
    _check_buttons(spec, buttons)
    if where == "template":
        _check_offer(spec, offer)
        if spec.cards and not any(
            isinstance(c, dict) and str(c.get("type", "")).lower() == "carousel" for c in components
        ):
            raise GraphError(132000, f"carousel: the template has {len(spec.cards)} cards and none were sent")


def _button(component: dict, where: str) -> tuple[int, str]:
    index = component.get("index")
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 9:
        raise invalid(f"Param {where}['index'] must be an integer from 0 to 9.")
    sub_type = str(component.get("sub_type", "")).lower()
    if not sub_type:
        raise required(f"{where}['sub_type']")
    return index, sub_type


def _check_carousel(spec: TemplateSpec, cards: Any, where: str) -> None:
    """Every card of the template, once, each with its own parameters."""
    if not spec.cards:
        raise GraphError(132000, "carousel: the template has no carousel")
    if not isinstance(cards, list) or not all(isinstance(c, dict) for c in cards):
        raise GraphError(131008, f"The parameter {where}['cards'] is required.")
    if len(cards) != len(spec.cards):
        raise GraphError(
            132000,
            f"carousel: number of cards ({len(cards)}) does not match the template's ({len(spec.cards)})",
        )
    seen: set[int] = set()
    for i, card in enumerate(cards):
        here = f"{where}['cards'][{i}]"
        index = card.get("card_index")
        if isinstance(index, bool) or not isinstance(index, int):
            raise GraphError(131008, f"The parameter {here}['card_index'] is required.")
        if not 0 <= index < len(spec.cards) or index in seen:
            raise not_valid(f"Param {here}['card_index'] must be a card of the template, once: got {index}.")
        seen.add(index)
        components = card.get("components", [])
        if not isinstance(components, list):
            raise invalid(f"Param {here}['components'] must be an array.")
        try:
            check_parameters(spec.cards[index], components, here)
        except GraphError as error:
            if error.code != 132000:
                raise
            raise GraphError(132000, f"card {index}: {error.details}") from None


def _check_offer(spec: TemplateSpec, parameters: list[dict] | None) -> None:
    if parameters is None:
        if spec.limited_time_offer:
            raise GraphError(132000, "limited_time_offer: the offer expires; send its expiration_time_ms")
        return
    if not spec.limited_time_offer:
        raise GraphError(132000, "limited_time_offer: the template has no expiring offer")
    _count("limited_time_offer", 1, parameters)


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
    elif kind in SHAPES:
        if not isinstance(value, dict | list):
            raise GraphError(131008, f"The parameter {where}['{kind}'] is required.")
        SHAPES[kind](value, f"{where}['{kind}']")
    else:
        raise invalid(f"Param {where}['type'] {kind!r} is not a valid parameter type.")


def _text(value: dict, key: str, where: str) -> str:
    text = value.get(key)
    if not isinstance(text, str) or not text:
        raise GraphError(131008, f"The parameter {where}['{key}'] is required.")
    return text


def _product(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise GraphError(131008, f"The parameter {where} is required.")
    _text(value, "product_retailer_id", where)
    _text(value, "catalog_id", where)


def _location(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise GraphError(131008, f"The parameter {where} is required.")
    for key, bound in (("latitude", 90), ("longitude", 180)):
        if key not in value:
            raise GraphError(131008, f"The parameter {where}['{key}'] is required.")
        try:
            degrees = float(value[key])
        except (TypeError, ValueError):
            degrees = float("nan")
        if isinstance(value[key], bool) or not -bound <= degrees <= bound:
            raise not_valid(f"Param {where}['{key}'] must be a number from -{bound} to {bound}.")


def _offer(value: Any, where: str) -> None:
    expiration = value.get("expiration_time_ms") if isinstance(value, dict) else None
    if expiration is None:
        raise GraphError(131008, f"The parameter {where}['expiration_time_ms'] is required.")
    if isinstance(expiration, bool) or not isinstance(expiration, int) or expiration <= 0:
        raise not_valid(f"Param {where}['expiration_time_ms'] must be a positive integer of milliseconds.")


def _tap_targets(value: Any, where: str) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(t, dict) for t in value):
        raise GraphError(131008, f"The parameter {where} must be a non-empty array of {{url, title}}.")
    for i, target in enumerate(value):
        if not _HTTP_URL.match(_text(target, "url", f"{where}[{i}]")):
            raise not_valid(f"Param {where}[{i}]['url'] must be an http(s) URL.")
        _text(target, "title", f"{where}[{i}]")


def _action(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise GraphError(131008, f"The parameter {where} is required.")


# The parameter types whose value is an object (or a list) checked by a function of its own.
SHAPES = {
    "product": _product,
    "location": _location,
    "action": _action,
    "limited_time_offer": _offer,
    "tap_target_configuration": _tap_targets,
}


def _check_multi_product(action: dict, where: str) -> None:
    """A multi-product button's sections, each titled and with products [TPL mpm]."""
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections or not all(isinstance(s, dict) for s in sections):
        raise GraphError(131008, f"The parameter {where}['sections'] is required.")
    for i, section in enumerate(sections):
        here = f"{where}['sections'][{i}]"
        _text(section, "title", here)
        items = section.get("product_items")
        if not isinstance(items, list) or not items or not all(isinstance(p, dict) for p in items):
            raise GraphError(131008, f"The parameter {here}['product_items'] is required.")
        for j, item in enumerate(items):
            _text(item, "product_retailer_id", f"{here}['product_items'][{j}]")


def _check_header(spec: TemplateSpec, parameters: list[dict]) -> None:
    header_format = spec.header_format
    if header_format in OBJECT_FORMATS:
        allowed = OBJECT_FORMATS[header_format]
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
        if sub_type == "mpm" and parameters:
            _check_multi_product(parameters[0]["action"], f"button {index}['action']")
    for button in spec.buttons:
        if button.required and not sent.get(button.index, ("", []))[1]:
            raise GraphError(
                132000,
                f"button {button.index}: number of localizable_params (0) does not match the expected number"
                " of params (1)",
            )
