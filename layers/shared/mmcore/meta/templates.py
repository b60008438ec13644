"""A template as Meta lists it (``GET /<WABA_ID>/message_templates``) and what a send of it must carry: pure
functions, no I/O.

:func:`shape` compiles a template's definition (its ``components`` and ``parameter_format``) into what a send
must give: the header's format and placeholders, the body's placeholders (``{{1}}``, ``{{2}}``... or named
``{{first_name}}``), the buttons by index with their send-time ``sub_type`` and parameter, an expiring
limited-time offer, a carousel's cards. :func:`check` holds a send's ``template.components`` against it and
names every mismatch (``(field, reason)``, the field a path into the send request), so a campaign is refused
before Meta answers 132000 (param count), 132012 (parameter format) or 132001 (does not exist).

Sources: Meta's template pages as mirrored in ``conformance/sends/meta_sends.json`` (Dec 2025: named and
positional parameters, coupon, LTO, carousels, catalog, MPM), OAS v23 ``TemplateComponent``, reference
section 2 [TPL components]. Statuses: Meta's ``message_template_status_update`` values (reference 4.3);
only APPROVED templates can be sent (a PAUSED one fails 132015, DISABLED 132016).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SENDABLE = "APPROVED"
# Statuses Meta gives a template that cannot be sent, and why (as a refusal names it).
UNSENDABLE = {
    "PENDING": "still in review",
    "REJECTED": "rejected by Meta",
    "PAUSED": "paused by Meta for low quality (sends fail 132015)",
    "DISABLED": "disabled by Meta (sends fail 132016)",
    "ARCHIVED": "archived",
    "IN_APPEAL": "in appeal",
    "PENDING_DELETION": "being deleted",
    "DELETED": "deleted",
    "LIMIT_EXCEEDED": "over the WABA's template limit",
}

TEXT_TYPES = ("text", "currency", "date_time")  # what fills a body placeholder
# Header format -> the send-time parameter types it takes (GIF headers are sent as video).
OBJECT_HEADERS = {
    "IMAGE": ("image",),
    "VIDEO": ("video",),
    "DOCUMENT": ("document",),
    "GIF": ("video", "gif"),
    "PRODUCT": ("product",),
    "LOCATION": ("location",),
}
# Template button type -> (send-time sub_type, its parameter type; None: takes none).
BUTTONS = {
    "QUICK_REPLY": ("quick_reply", "payload"),
    "URL": ("url", "text"),
    "COPY_CODE": ("copy_code", "coupon_code"),
    "FLOW": ("flow", "action"),
    "CATALOG": ("catalog", "action"),
    "MPM": ("mpm", "action"),
    "PHONE_NUMBER": ("phone_number", None),
    "OTP": ("url", "text"),  # authentication copy-code / one-tap: the code goes as the url parameter
}
MUST_FILL = frozenset(
    {"COPY_CODE", "MPM", "OTP"}
)  # buttons a send must give a parameter [TPL coupon][TPL mpm]

# Send components with no counterpart in the definition: an override of the tap target [TPL tap-target].
SEND_ONLY = frozenset({"tap_target_configuration"})

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Button:
    """One button of a template: its position, the ``sub_type`` a send names it by, and its parameter."""

    index: int
    type: str
    sub_type: str
    parameter: str | None
    required: bool


@dataclass(frozen=True, slots=True)
class Shape:
    """What a send of one template (or of one carousel card) must carry."""

    named: bool
    header_format: str | None = None
    header: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()
    expiring_offer: bool = False
    cards: tuple[Shape, ...] = ()

    def view(self) -> dict[str, Any]:
        """As the registry stores and ``GET /templates`` shows it."""
        view: dict[str, Any] = {
            "parameter_format": "NAMED" if self.named else "POSITIONAL",
            "header_format": self.header_format,
            "placeholders": {"header": list(self.header), "body": list(self.body)},
            "buttons": [
                {"index": b.index, "type": b.type, "sub_type": b.sub_type, "parameter": b.parameter}
                | {"required": b.required}
                for b in self.buttons
            ],
        }
        if self.expiring_offer:
            view["limited_time_offer"] = {"has_expiration": True}
        if self.cards:
            view["cards"] = [card.view() for card in self.cards]
        return view


def shape(components: Any, parameter_format: str | None) -> Shape:
    """Compile a template's ``components`` as Meta lists them. Tolerant: an unknown component or button type
    (one Meta added later) is left out rather than refused."""
    return _shape(components if isinstance(components, list) else [], _is_named(parameter_format))


def _is_named(parameter_format: str | None) -> bool:
    return str(parameter_format or "POSITIONAL").upper() == "NAMED"


def _shape(components: list[Any], named: bool) -> Shape:
    header_format, header, body = None, (), ()
    buttons: tuple[Button, ...] = ()
    offer, cards = False, ()
    for component in components:
        if not isinstance(component, Mapping):
            continue
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format") or "TEXT").upper()
            header = placeholders(component.get("text")) if header_format == "TEXT" else ()
        elif kind == "BODY":
            body = placeholders(component.get("text"))
        elif kind == "BUTTONS":
            buttons = tuple(_buttons(component.get("buttons")))
        elif kind == "LIMITED_TIME_OFFER":
            offer = (component.get("limited_time_offer") or {}).get("has_expiration") is True
        elif kind == "CAROUSEL":
            cards = tuple(
                _shape(card.get("components") or [], named)
                for card in component.get("cards") or []
                if isinstance(card, Mapping)
            )
    return Shape(named, header_format, header, body, buttons, offer, cards)


def placeholders(text: Any) -> tuple[str, ...]:
    """The placeholders of a template text in order: ``("1", "2")`` or ``("first_name",)``."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(text))) if isinstance(text, str) else ()


def _buttons(buttons: Any) -> list[Button]:
    compiled = []
    for index, button in enumerate(buttons if isinstance(buttons, list) else []):
        kind = str(button.get("type", "")).upper() if isinstance(button, Mapping) else ""
        if kind not in BUTTONS:
            continue
        sub_type, parameter = BUTTONS[kind]
        dynamic_url = kind == "URL" and "{{" in str(button.get("url", ""))
        required = kind in MUST_FILL or dynamic_url
        compiled.append(
            Button(index, kind, sub_type, parameter if required or kind != "URL" else None, required)
        )
    return compiled


Problems = list[tuple[str, str]]


def check(template: Shape, components: Sequence[Any] | None, where: str = "template.components") -> Problems:
    """Every way a send's ``components`` (``where`` names them in the request) does not fit ``template``:
    ``(field, reason)`` pairs naming the component, the parameter and what the template expects. Empty: the
    send fits. Values are not judged here (the send request's own validation does that), only their number,
    kind, names, the header's media type and the buttons by index and sub-type."""
    problems: Problems = []
    given: dict[str, tuple[str, list[Any]]] = {}
    buttons: dict[int, tuple[str, str, list[Any]]] = {}
    for i, component in enumerate(components or ()):
        here = f"{where}.{i}"
        if not isinstance(component, Mapping):
            continue  # the send request's own validation names it
        kind = str(component.get("type", "")).lower()
        parameters = component.get("parameters") or []
        parameters = [p for p in parameters if isinstance(p, Mapping)] if isinstance(parameters, list) else []
        if kind == "button":
            index = _index(component.get("index"))
            if index is None:
                continue
            buttons[index] = (here, str(component.get("sub_type", "")).lower(), parameters)
        elif kind == "carousel":
            problems += _check_cards(template, component.get("cards"), here)
        elif kind in ("header", "body", "limited_time_offer"):
            given[kind] = (here, parameters)
        elif kind not in SEND_ONLY:
            kinds = "header, body, button, carousel, limited_time_offer, " + ", ".join(sorted(SEND_ONLY))
            problems.append((f"{here}.type", f"{kind!r}: not a component a send carries ({kinds})"))
    problems += _check_header(template, given.get("header"), where)
    problems += _check_texts("body", template.body, template.named, given.get("body"), where)
    problems += _check_buttons(template, buttons, where)
    offer = given.get("limited_time_offer")
    if template.expiring_offer and offer is None:
        problems.append((where, "limited_time_offer: the offer expires; send its expiration_time_ms"))
    elif offer is not None and not template.expiring_offer:
        problems.append((offer[0], "limited_time_offer: the template has no expiring offer"))
    if template.cards and not any(
        isinstance(c, Mapping) and str(c.get("type", "")).lower() == "carousel" for c in components or ()
    ):
        problems.append((where, f"carousel: the template has {len(template.cards)} cards and none were sent"))
    return problems


def _index(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _expects(names: tuple[str, ...], named: bool) -> str:
    if not names:
        return "no parameters"
    kind = "named" if named else "positional"
    listed = ", ".join("{{" + n + "}}" for n in names)
    return f"{len(names)} {kind} parameter{'s' if len(names) != 1 else ''} ({listed})"


def _check_header(template: Shape, given: tuple[str, list[Any]] | None, where: str) -> Problems:
    here, parameters = given or (where, [])
    fmt = template.header_format
    if fmt in OBJECT_HEADERS:
        allowed = OBJECT_HEADERS[fmt]
        if not parameters:
            return [(here, f"header: the template's header is {fmt}: send one {allowed[0]} parameter")]
        if len(parameters) > 1:
            return [(f"{here}.parameters", f"header: the template's {fmt} header takes 1 parameter")]
        sent = parameters[0].get("type")
        if sent not in allowed:
            reason = f"header: a {sent!r} parameter, but the template's header is {fmt} (send {allowed[0]})"
            return [(f"{here}.parameters.0.type", reason)]
        return []
    if given is not None and fmt is None:
        if parameters:
            return [(here, "header: the template has no header")]
        return []
    return _check_texts("header", template.header, template.named, given, where, ("text",))


def _check_texts(
    kind: str,
    expected: tuple[str, ...],
    named: bool,
    given: tuple[str, list[Any]] | None,
    where: str,
    types: tuple[str, ...] = TEXT_TYPES,
) -> Problems:
    here, parameters = given or (where, [])
    problems: Problems = []
    for j, p in enumerate(parameters):
        if p.get("type") not in types:
            reason = (
                f"{kind}: parameter type {p.get('type')!r}; the template's {kind} takes {', '.join(types)}"
            )
            problems.append((f"{here}.parameters.{j}.type", reason))
    names = [p.get("parameter_name") for p in parameters]
    if named:
        if not parameters and expected:
            return [(here, f"{kind}: missing; the template expects {_expects(expected, named)}")]
        for j, name in enumerate(names):
            if name is None:
                why = f"{kind}: parameter_name missing; the template expects {_expects(expected, named)}"
                problems.append((f"{here}.parameters.{j}.parameter_name", why))
            elif name not in expected:
                why = f"{kind}: unknown parameter {{{{{name}}}}}; the template expects {_expects(expected, named)}"
                problems.append((f"{here}.parameters.{j}.parameter_name", why))
        for name in expected:
            if name not in names:
                why = f"{kind}: missing parameter {{{{{name}}}}}; the template expects {_expects(expected, named)}"
                problems.append((f"{here}.parameters.{name}", why))
        return problems
    for j, name in enumerate(names):
        if name is not None:
            why = f"{kind}: parameter_name {name!r} given, but the template's parameters are positional"
            problems.append((f"{here}.parameters.{j}.parameter_name", why))
    if len(parameters) != len(expected):
        got = len(parameters)
        field = here if given is None else f"{here}.parameters"
        why = f"{kind}: {got} parameter{'s' if got != 1 else ''} sent; the template expects {_expects(expected, named)}"
        problems.append((field, why))
    return problems


def _check_buttons(template: Shape, sent: dict[int, tuple[str, str, list[Any]]], where: str) -> Problems:
    problems: Problems = []
    by_index = {b.index: b for b in template.buttons}
    for index, (here, sub_type, parameters) in sorted(sent.items()):
        button = by_index.get(index)
        if button is None:
            have = ", ".join(f"{b.index} ({b.sub_type})" for b in template.buttons) or "none"
            problems.append(
                (f"{here}.index", f"button {index}: the template has no button there (it has: {have})")
            )
            continue
        if sub_type != button.sub_type:
            why = f"button {index}: sub_type {sub_type!r}; the template's button {index} is {button.sub_type}"
            problems.append((f"{here}.sub_type", why))
            continue
        if len(parameters) > 1 or (parameters and button.parameter is None):
            takes = f"1 {button.parameter} parameter" if button.parameter else "no parameters"
            problems.append((f"{here}.parameters", f"button {index} ({button.sub_type}): takes {takes}"))
        elif parameters and parameters[0].get("type") != button.parameter:
            why = f"button {index} ({button.sub_type}): a {parameters[0].get('type')!r} parameter; expects {button.parameter}"
            problems.append((f"{here}.parameters.0.type", why))
    for button in template.buttons:
        if button.required and not (sent.get(button.index) or ("", "", []))[2]:
            why = f"button {button.index} ({button.sub_type}): missing; the template expects 1 {button.parameter} parameter"
            problems.append((where, why))
    return problems


def _check_cards(template: Shape, cards: Any, here: str) -> Problems:
    if not template.cards:
        return [(here, "carousel: the template has no carousel")]
    cards = [c for c in cards if isinstance(c, Mapping)] if isinstance(cards, list) else []
    if len(cards) != len(template.cards):
        return [
            (f"{here}.cards", f"carousel: {len(cards)} cards sent; the template has {len(template.cards)}")
        ]
    problems: Problems = []
    for i, card in enumerate(cards):
        index = _index(card.get("card_index"))
        if index is None or not 0 <= index < len(template.cards):
            problems.append(
                (
                    f"{here}.cards.{i}.card_index",
                    f"must be a card of the template (0-{len(template.cards) - 1})",
                )
            )
            continue
        problems += check(template.cards[index], card.get("components"), f"{here}.cards.{i}.components")
    return problems


def refusal(
    name: str, language: str, known: Mapping[str, Any] | None, languages: Sequence[str] = ()
) -> Problems:
    """Why a template cannot be sent at all (not listed in this language, or not APPROVED); empty: it can."""
    if not known or known.get("unlisted_at") is not None:
        also = f" (it exists in: {', '.join(sorted(languages))})" if languages else ""
        why = "unlisted: Meta no longer lists it" if known else "not found in the WABA's templates"
        return [("template.name", f"{name} ({language}): {why}{also}")]
    status = str(known.get("status") or "").upper()
    if status and status not in (SENDABLE, "REINSTATED"):
        why = UNSENDABLE.get(status, "not approved")
        return [
            ("template.name", f"{name} ({language}) is {status}: {why}; only APPROVED templates can be sent")
        ]
    return []
